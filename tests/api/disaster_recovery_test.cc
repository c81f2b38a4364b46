// Disaster recovery on a new host, end to end: a real dbaasd copies a PostgreSQL backup and
// ships its WAL to S3 buckets (a loopback s3rver behind the signature-checking front); the
// host is lost (dbaasd and its servers killed, the data root deleted); a fresh dbaasd with
// only the buckets' configuration lists the backups, imports them, restores to the last
// WAL the bucket holds, and takes the bucket over before it writes there.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "catalog/catalog.h"
#include "daemon.h"
#include "objstore/s3_client.h"
#include "objstore/s3_test_server.h"
#include "storage/wal_archive.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Every file under `dir` whose content contains `needle`.
std::vector<std::string> FilesContaining(const std::string& dir, const std::string& needle) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && ReadFile(entry.path()).find(needle) != std::string::npos)
      found.push_back(entry.path());
  }
  return found;
}

// The names of the files in `dir` (none if it does not exist).
std::set<std::string> FileNames(const std::string& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) names.insert(entry.path().filename());
  return names;
}

// The position (log and segment number: a WAL file name's last 16 hex digits) of the
// 16 MiB segment that holds `lsn` ("0/3000028").
std::string SegmentPosition(const std::string& lsn) {
  const uint64_t at = (std::stoull(lsn.substr(0, lsn.find('/')), nullptr, 16) << 32) |
                      std::stoull(lsn.substr(lsn.find('/') + 1), nullptr, 16);
  return fmt::format("{:08X}{:08X}", at >> 32, (at & 0xffffffff) >> 24);
}

class DisasterRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(root_.path().c_str(), 0711);
    auto server = S3TestServer::Start(root_ / "s3", "offsite");
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_.emplace(std::move(server).value());
    // A second bucket, not encrypted.
    auto plain =
        objstore::S3Client::Create(server_->Location("plain"), S3TestServer::GoodCredentials());
    ASSERT_TRUE(plain.ok() && (*plain)->CreateBucket().ok());
    config_ = WriteOffsiteConfig(root_.path(), server_->endpoint(), {{"copyIntervalSeconds", 0.5}});
    json config = json::parse(ReadFile(config_));
    json second = config["repositories"][0];
    second["name"] = second["bucket"] = "plain";
    second.erase("encryption");
    config["repositories"].push_back(second);
    WriteFile(config_, config.dump());
  }
  void TearDown() override {
    for (Daemon* d : {&lost_, &fresh_}) {
      if (d->pid() > 0) {
        EXPECT_TRUE(d->Stop().ok());
      }
    }
  }

  TempDir root_;
  std::optional<S3TestServer> server_;
  std::string config_;
  Daemon lost_{root_ / "lost-host"};
  Daemon fresh_{root_ / "new-host"};
};

TEST_F(DisasterRecoveryTest, ANewHostListsImportsAndRestoresTheBucketsBackupsToTheLastWal) {
  ASSERT_TRUE(lost_.Start({}, {"--config", config_}).ok());
  ASSERT_EQ(lost_.Post("/instances", json{{"name", "orders"}, {"type", "postgresql"}}).status, 201);
  ASSERT_TRUE(Psql(lost_, "orders",
                   "create table t as select g as id, md5(g::text) as v "
                   "from generate_series(1, 2000) g")
                  .ok());
  auto b1 = lost_.Post("/instances/orders/backup",
                       json{{"backupName", "b1"}, {"repositories", {"offsite", "plain"}}});
  ASSERT_EQ(b1.status, 201) << b1.raw;
  ASSERT_EQ(b1.body["backup"]["copies"]["offsite"]["state"], "copied") << b1.raw;
  ASSERT_EQ(b1.body["backup"]["copies"]["plain"]["state"], "copied") << b1.raw;
  // Rows after the backup: only the WAL carries them. A second backup, kept on this host
  // alone, makes the server archive the segment that holds them.
  ASSERT_TRUE(
      Psql(lost_, "orders", "insert into t select g, 'after' from generate_series(2001, 2500) g")
          .ok());
  auto local_only = lost_.Post("/instances/orders/backup", json{{"backupName", "local-only"}});
  ASSERT_EQ(local_only.status, 201) << local_only.raw;
  // The segment its stop LSN is in: it holds those rows or follows them.
  const std::string stop_segment =
      fmt::format("{:08X}{}", local_only.body["backup"]["timeline"].get<uint32_t>(),
                  SegmentPosition(local_only.body["backup"]["stopLsn"]));
  // The bucket needs the WAL from b1's start on (what is before, no backup there uses).
  const std::string b1_start = SegmentPosition(b1.body["backup"]["startLsn"]);
  // Wait until the bucket holds every WAL file the host archived.
  const std::string wal_dir = lost_.data_root() + "/repository/wal";
  auto archives = FileNames(wal_dir);
  ASSERT_EQ(archives.size(), 1u);
  const std::string archive = *archives.begin();
  auto bucket =
      objstore::S3Client::Create(server_->Location("offsite"), S3TestServer::GoodCredentials())
          .value();
  // The WAL files (segments, history files) the host archived that the bucket lacks.
  auto not_shipped = [&] {
    std::set<std::string> there;
    for (const auto& o :
         bucket->List("wal/" + archive + "/").value_or(std::vector<objstore::ObjectInfo>{})) {
      there.insert(o.key.substr(o.key.rfind('/') + 1));
    }
    std::string missing;
    for (const auto& name : FileNames(wal_dir + "/" + archive)) {
      auto parsed = storage::ParseWalFileName(name);
      if (parsed.ok() && parsed->position >= b1_start && !there.count(name)) missing += name + " ";
    }
    return missing;
  };
  for (int i = 0; i < 150 && (!FileNames(wal_dir + "/" + archive).count(stop_segment) ||
                              !not_shipped().empty());
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(FileNames(wal_dir + "/" + archive).count(stop_segment)) << stop_segment;
  ASSERT_EQ(not_shipped(), "") << "never reached the bucket";

  // The superuser password is in the encrypted bucket (sealed), never in the plain one.
  std::string secret;
  {
    auto catalog = catalog::Catalog::Open(lost_.data_root() + "/catalog.db");
    ASSERT_TRUE(catalog.ok());
    secret = (*catalog)->GetBackup("b1")->secret;
  }
  ASSERT_FALSE(secret.empty());
  EXPECT_EQ(FilesContaining(server_->BucketDir("plain"), secret), std::vector<std::string>{});
  EXPECT_EQ(FilesContaining(server_->BucketDir("offsite"), secret), std::vector<std::string>{});

  // The host is lost: the daemon and its servers killed, the data root gone.
  lost_.Kill();
  RemoveInstanceUsersUnder(lost_.data_root());
  fs::remove_all(lost_.data_root());

  ASSERT_TRUE(fresh_.Start({}, {"--config", config_}).ok());
  auto repositories = fresh_.Get("/repositories");
  ASSERT_EQ(repositories.status, 200) << repositories.raw;
  ASSERT_EQ(repositories.body["count"], 2);
  EXPECT_EQ(repositories.body["repositories"][0]["name"], "offsite");
  EXPECT_EQ(repositories.body["repositories"][0]["encrypted"], true);
  EXPECT_EQ(repositories.body["repositories"][1]["encrypted"], false);

  auto listed = fresh_.Get("/repositories/offsite/backups");
  ASSERT_EQ(listed.status, 200) << listed.raw;
  ASSERT_EQ(listed.body["count"], 1) << listed.raw;
  const json& found = listed.body["backups"][0];
  EXPECT_EQ(found["importable"], true) << listed.raw;
  EXPECT_EQ(found["inCatalog"], false);
  EXPECT_EQ(found["backup"]["backupName"], "b1");
  EXPECT_EQ(found["backup"]["instanceName"], "orders");
  EXPECT_EQ(found["backup"]["snapshotId"], b1.body["backup"]["snapshotId"]);
  EXPECT_EQ(found["backup"]["dataBytes"], b1.body["backup"]["dataBytes"]);
  EXPECT_FALSE(found["backup"].contains("secret"));
  // The plain bucket's copy is listed, but it has no password to restore with.
  auto plain = fresh_.Get("/repositories/plain/backups");
  ASSERT_EQ(plain.status, 200) << plain.raw;
  ASSERT_EQ(plain.body["count"], 1);
  EXPECT_EQ(plain.body["backups"][0]["importable"], false);
  EXPECT_NE(plain.body["backups"][0]["unavailable"].get<std::string>().find("not encrypted"),
            std::string::npos)
      << plain.raw;

  // Bad input changes nothing.
  EXPECT_EQ(fresh_.Get("/repositories/elsewhere/backups").status, 400);
  EXPECT_EQ(fresh_.Post("/repositories/offsite/import", json{{"instance", "../x"}}).status, 400);
  EXPECT_EQ(fresh_.Post("/repositories/offsite/import", json{{"backups", "b1"}}).status, 400);
  EXPECT_EQ(fresh_.Post("/repositories/offsite/lease", json::object()).status, 400);
  // Not imported yet: this host's catalog has no such backup.
  EXPECT_EQ(
      fresh_
          .Post("/instances/orders/restore",
                json{{"backupName", "b1"}, {"newInstanceName", "early"}, {"repository", "offsite"}})
          .status,
      404);
  auto skipped = fresh_.Post("/repositories/plain/import", json::object());
  ASSERT_EQ(skipped.status, 200) << skipped.raw;
  EXPECT_EQ(skipped.body["imported"], json::array());
  ASSERT_EQ(skipped.body["skipped"].size(), 1u);

  auto imported = fresh_.Post("/repositories/offsite/import", json{{"instance", "orders"}});
  ASSERT_EQ(imported.status, 200) << imported.raw;
  EXPECT_EQ(imported.body["imported"], json({"b1"})) << imported.raw;
  auto again = fresh_.Post("/repositories/offsite/import", json::object());
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(again.body["imported"], json::array()) << "an import twice imports nothing";
  EXPECT_EQ(fresh_.Get("/repositories/offsite/backups").body["backups"][0]["inCatalog"], true);
  auto backups = fresh_.Get("/instances/orders/backups");
  ASSERT_EQ(backups.status, 200);
  ASSERT_EQ(backups.body["backups"].size(), 1u);
  EXPECT_EQ(backups.body["backups"][0]["status"], "completed");
  EXPECT_EQ(backups.body["backups"][0]["copies"]["offsite"]["state"], "copied");

  // Point-in-time recovery to the last WAL in the bucket, with nothing of it on this host.
  auto restored = fresh_.Post(
      "/instances/orders/restore",
      json{{"target", "latest"}, {"newInstanceName", "orders"}, {"repository", "offsite"}});
  ASSERT_EQ(restored.status, 201) << restored.raw;
  EXPECT_EQ(restored.body["instance"]["restoredFrom"]["backupName"], "b1");
  EXPECT_EQ(Psql(fresh_, "orders", "select count(*), count(*) filter (where v = 'after') from t")
                .value_or("query failed"),
            "2500|500");

  // Writing to the bucket needs its lease, which the lost host held: a copy fails and says
  // so until this host takes the lease over.
  auto next = fresh_.Post("/instances/orders/backup",
                          json{{"backupName", "b2"}, {"repositories", {"offsite"}}});
  ASSERT_EQ(next.status, 201) << next.raw;
  EXPECT_EQ(next.body["backup"]["copies"]["offsite"]["state"], "failed");
  EXPECT_NE(next.body["backup"]["copies"]["offsite"]["error"].get<std::string>().find("leased"),
            std::string::npos)
      << next.raw;
  const size_t old_wal =
      bucket->List("wal/" + archive + "/").value_or(std::vector<objstore::ObjectInfo>{}).size();
  auto taken = fresh_.Post("/repositories/offsite/lease", json{{"takeOver", true}});
  ASSERT_EQ(taken.status, 200) << taken.raw;
  EXPECT_EQ(fresh_.Get("/repositories").body["repositories"][0]["leased"], true);
  auto copied = fresh_.Post("/instances/orders/backups/b2/copy", json{{"to", "offsite"}});
  ASSERT_EQ(copied.status, 200) << copied.raw;
  EXPECT_EQ(copied.body["copy"]["state"], "copied");
  EXPECT_EQ(fresh_.Get("/repositories/offsite/backups").body["count"], 2);
  // The lost host's archive is no instance of this host's: its WAL in the bucket stays
  // whole (backups there this host never imported may need it).
  std::this_thread::sleep_for(std::chrono::seconds(2));  // copy ticks every 0.5 s
  EXPECT_EQ(
      bucket->List("wal/" + archive + "/").value_or(std::vector<objstore::ObjectInfo>{}).size(),
      old_wal);
}

// A repository with a retention of its own (30 days) keeps a copy after the local one
// expired (restored from there without being asked), and lets go of copies older than that,
// whatever the local repository keeps.
TEST_F(DisasterRecoveryTest, ABucketKeepsItsCopiesForItsOwnRetention) {
  json config = json::parse(ReadFile(config_));
  config["repositories"][0]["retentionDays"] = 30;
  WriteFile(config_, config.dump());
  Daemon& host = fresh_;
  ASSERT_TRUE(host.Start({}, {"--config", config_}).ok());
  ASSERT_EQ(host.Post("/instances", json{{"name", "shop"}, {"type", "postgresql"}}).status, 201);
  ASSERT_TRUE(
      Psql(host, "shop", "create table t as select g from generate_series(1, 1000) g").ok());
  auto old =
      host.Post("/instances/shop/backup",
                json{{"backupName", "old"}, {"retentionDays", 1}, {"repositories", {"offsite"}}});
  ASSERT_EQ(old.status, 201) << old.raw;
  ASSERT_TRUE(Psql(host, "shop", "insert into t select g from generate_series(1001, 1500) g").ok());
  auto newest = host.Post("/instances/shop/backup",
                          json{{"backupName", "newest"}, {"repositories", {"offsite"}}});
  ASSERT_EQ(newest.status, 201) << newest.raw;
  const std::string old_snapshot = old.body["backup"]["snapshotId"];
  const std::string newest_snapshot = newest.body["backup"]["snapshotId"];
  auto bucket =
      objstore::S3Client::Create(server_->Location("offsite"), S3TestServer::GoodCredentials())
          .value();
  auto in_bucket = [&](const std::string& snapshot) {
    return !bucket->List("snapshots/" + snapshot)
                .value_or(std::vector<objstore::ObjectInfo>{})
                .empty();
  };
  // Time passes while the daemon is down: the backups were made days ago.
  auto age = [&](const std::vector<std::string>& names, int days) {
    ASSERT_TRUE(host.Stop().ok());
    {
      auto catalog = catalog::Catalog::Open(host.data_root() + "/catalog.db").value();
      auto then = std::chrono::system_clock::now() - std::chrono::hours(24) * days;
      for (const auto& name : names) {
        auto b = catalog->GetBackup(name).value();
        b.created_at = catalog::FormatRfc3339(then);
        if (b.retention_days) b.expires_at = catalog::FormatRfc3339(then + std::chrono::hours(24));
        ASSERT_TRUE(catalog->UpdateBackup(b).ok());
      }
    }
    ASSERT_TRUE(host.Start({}, {"--config", config_}).ok());
  };
  auto wait_for = [&](const std::function<bool()>& done) {
    for (int i = 0; i < 150 && !done(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return done();
  };

  // Ten days on: "old" expired here, the bucket keeps it.
  age({"old"}, 10);
  ASSERT_TRUE(wait_for([&] {
    return host.Get("/instances/shop/backups/old").body["backup"]["local"] == false;
  })) << host.Get("/instances/shop/backups/old").raw;
  auto kept = host.Get("/instances/shop/backups/old").body["backup"];
  EXPECT_EQ(kept["status"], "completed");
  EXPECT_EQ(kept["copies"]["offsite"]["state"], "copied");
  EXPECT_FALSE(fs::exists(host.data_root() + "/repository/snapshots/" + old_snapshot + ".manifest"))
      << "the local copy went";
  EXPECT_TRUE(in_bucket(old_snapshot));
  EXPECT_EQ(host.Post("/instances/shop/backups/old/verify", json::object()).status, 409)
      << "a drill needs the local copy";
  auto restored = host.Post("/instances/shop/restore",
                            json{{"backupName", "old"}, {"newInstanceName", "then"}});
  ASSERT_EQ(restored.status, 201) << restored.raw;
  EXPECT_EQ(Psql(host, "then", "select count(*) from t").value_or(""), "1000");
  ASSERT_EQ(host.Delete("/instances/then").status, 200);

  // Forty days on: the bucket's retention ends for both copies. "old" goes whole; "newest",
  // which the local rules keep (the instance's newest good backup), loses its copy only.
  age({"old", "newest"}, 40);
  ASSERT_TRUE(wait_for([&] { return host.Get("/instances/shop/backups/old").status == 404; }));
  ASSERT_TRUE(wait_for([&] {
    return !host.Get("/instances/shop/backups/newest").body["backup"]["copies"].contains("offsite");
  }));
  EXPECT_EQ(host.Get("/instances/shop/backups/newest").body["backup"]["local"], true);
  EXPECT_TRUE(wait_for([&] { return !in_bucket(old_snapshot) && !in_bucket(newest_snapshot); }))
      << "the expired copies stayed in the bucket";

  // The bucket's WAL follows its backups: with "fresh" the only one there, what is before
  // its start goes from the bucket (the local archive still has it for "newest").
  auto fresh = host.Post("/instances/shop/backup",
                         json{{"backupName", "fresh"}, {"repositories", {"offsite"}}});
  ASSERT_EQ(fresh.status, 201) << fresh.raw;
  const std::string keep = SegmentPosition(fresh.body["backup"]["startLsn"]);
  const std::string wal_dir = host.data_root() + "/repository/wal";
  const std::string archive = *FileNames(wal_dir).begin();
  auto positions_before_keep = [&](const std::set<std::string>& names) {
    int n = 0;
    for (const auto& name : names) {
      auto parsed = storage::ParseWalFileName(name);
      n += parsed.ok() && parsed->kind != storage::WalFileName::Kind::kHistory &&
           parsed->position < keep;
    }
    return n;
  };
  auto bucket_names = [&] {
    std::set<std::string> names;
    for (const auto& o :
         bucket->List("wal/" + archive + "/").value_or(std::vector<objstore::ObjectInfo>{}))
      names.insert(o.key.substr(o.key.rfind('/') + 1));
    return names;
  };
  EXPECT_GT(positions_before_keep(FileNames(wal_dir + "/" + archive)), 0)
      << "the local archive keeps what \"newest\" needs";
  EXPECT_TRUE(wait_for([&] { return positions_before_keep(bucket_names()) == 0; }))
      << "the bucket kept WAL no backup there needs";
  EXPECT_TRUE(wait_for([&] {
    auto names = bucket_names();
    return std::any_of(names.begin(), names.end(),
                       [&](const std::string& n) { return n.find(keep) != std::string::npos; });
  })) << "the segment \"fresh\" starts in is there";
}

}  // namespace
}  // namespace dbaas::testing
