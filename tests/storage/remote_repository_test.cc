// A remote repository on a real S3 API server (s3rver on loopback, behind the test front
// that checks every signature with the AWS SDK's signer): snapshots pushed and pulled back
// restore byte for byte; encryption leaves nothing readable in the bucket and detects any
// change; an interrupted push leaves no snapshot; one writer per bucket.
#include "storage/remote_repository.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "base/bytes.h"
#include "objstore/s3_client.h"
#include "objstore/s3_test_server.h"
#include "storage/remote_spec.h"
#include "storage/snapshot_create.h"
#include "storage/snapshot_restore.h"
#include "storage/wal_archive.h"
#include "test_util.h"

namespace dbaas::storage {
namespace {

namespace fs = std::filesystem;
using testing::S3TestServer;

constexpr std::string_view kMarker = "ROW-THAT-MUST-NOT-LEAK-7f3a9c";

// Every file under `dir` whose content contains `needle`.
std::vector<std::string> FilesContaining(const std::string& dir, std::string_view needle) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    if (testing::ReadFile(entry.path()).find(needle) != std::string::npos)
      found.push_back(entry.path());
  }
  return found;
}

class RemoteRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = S3TestServer::Start(dir_ / "s3", "backups");
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_.emplace(std::move(server).value());
    objstore::S3Options options;
    options.first_backoff = std::chrono::milliseconds(5);
    options.max_backoff = std::chrono::milliseconds(20);
    options.max_attempts = 3;
    auto client = objstore::S3Client::Create(server_->Location("backups"),
                                             S3TestServer::GoodCredentials(), options);
    ASSERT_TRUE(client.ok());
    client_ = std::move(client).value();

    key_file_ = dir_ / "remote.key";
    testing::WriteFile(key_file_, std::string(64, 'c'));
    chmod(key_file_.c_str(), 0600);
    // A source whose big file does not compress: its chunks are stored raw, so a pack that
    // is not encrypted shows the marker as it is.
    source_ = dir_ / "source";
    fs::create_directories(source_ + "/sub");
    std::string big = testing::RandomBytes(3 << 20, 11);
    big.replace(100000, kMarker.size(), kMarker);
    testing::WriteFile(source_ + "/big", big);
    testing::WriteFile(source_ + "/sub/small", "small file\n");
    RepoConfig config;
    config.chunk_size = 65536;
    ASSERT_TRUE(Repository::Init(dir_ / "local", config).ok());
    local_ = Repository::Open(dir_ / "local").value();
  }

  Manifest Snapshot(const std::string& parent = "") {
    CreateOptions options;
    options.source = source_;
    options.mode = SnapshotMode::kRepository;
    options.parent = parent;
    auto m = CreateSnapshot(*local_, options);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? m.value() : Manifest{};
  }

  std::unique_ptr<RemoteRepository> InitAndOpen(RemoteKeySpec key) {
    Status made = RemoteRepository::Init(*client_, key);
    EXPECT_TRUE(made.ok()) << made.ToString();
    auto remote = RemoteRepository::Open(*client_, key);
    EXPECT_TRUE(remote.ok()) << remote.status().ToString();
    if (!remote.ok()) return nullptr;
    Status leased = (*remote)->AcquireLease("writer-a", "host-a", false);
    EXPECT_TRUE(leased.ok()) << leased.ToString();
    return std::move(remote).value();
  }

  RemoteKeySpec KeyFile() const { return {RemoteKeySpec::Kind::kKeyFile, key_file_}; }

  // Pulls `id` into a fresh local repository and restores it; empty when equal to
  // `expected` (by default the source as it is now).
  std::string PullRestoreAndDiff(RemoteRepository& remote, const std::string& id,
                                 const std::string& name, const std::string& expected = "") {
    std::string path = dir_ / name;
    EXPECT_TRUE(Repository::Init(path, {}).ok());
    auto other = Repository::Open(path).value();
    auto pulled = remote.Pull(id, *other);
    if (!pulled.ok()) return pulled.status().ToString();
    auto manifest = other->LoadSnapshot(id);
    if (!manifest.ok()) return manifest.status().ToString();
    RestoreOptions options;
    options.target = dir_ / (name + "-restored");
    auto restored = RestoreSnapshot(*other, *manifest, options);
    if (!restored.ok()) return restored.status().ToString();
    return testing::DiffTrees(expected.empty() ? source_ : expected, options.target);
  }

  testing::TempDir dir_;
  std::optional<S3TestServer> server_;
  std::unique_ptr<objstore::S3Client> client_;
  std::string key_file_;
  std::string source_;
  std::unique_ptr<Repository> local_;
};

TEST_F(RemoteRepositoryTest, PushedSnapshotsPullBackAndRestoreByteForByte) {
  auto remote = InitAndOpen(KeyFile());
  ASSERT_TRUE(remote);
  EXPECT_TRUE(remote->encrypted());
  Manifest first = Snapshot();
  auto pushed = remote->Push(*local_, first.id);
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  EXPECT_GT(pushed->blobs_sent, 40u);
  EXPECT_EQ(pushed->blobs_sent, pushed->blobs);
  EXPECT_EQ(PullRestoreAndDiff(*remote, first.id, "b"), "");

  // A change of one chunk: the second push sends what changed, not the data again.
  std::fstream big(source_ + "/big", std::ios::in | std::ios::out | std::ios::binary);
  big.seekp(2 << 20);
  big << "changed";
  big.close();
  Manifest second = Snapshot(first.id);
  auto again = remote->Push(*local_, second.id);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_LE(again->blobs_sent, 3u) << "one chunk and the file's chunk list";
  EXPECT_LT(again->bytes_sent, pushed->bytes_sent / 10);
  auto repeat = remote->Push(*local_, second.id);
  ASSERT_TRUE(repeat.ok());
  EXPECT_TRUE(repeat->already_there);
  EXPECT_EQ(PullRestoreAndDiff(*remote, second.id, "c"), "");

  auto listed = remote->ListSnapshots();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id, second.id) << "newest first";
  EXPECT_EQ(remote->FindSnapshot(second.id.substr(0, 6))->id, second.id);
  auto report = remote->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->errors[0];
  EXPECT_EQ(report->snapshots, 2u);
}

TEST_F(RemoteRepositoryTest, NothingPlaintextReachesAnEncryptedBucket) {
  std::string objects = server_->BucketDir("backups");
  {
    // The negative control: a bucket that is not encrypted shows the row.
    auto plain =
        objstore::S3Client::Create(server_->Location("plain"), S3TestServer::GoodCredentials())
            .value();
    ASSERT_TRUE(plain->CreateBucket().ok());
    ASSERT_TRUE(RemoteRepository::Init(*plain, {}).ok());
    auto remote = RemoteRepository::Open(*plain, {}).value();
    ASSERT_TRUE(remote->AcquireLease("w", "h", false).ok());
    Manifest m = Snapshot();
    ASSERT_TRUE(remote->Push(*local_, m.id).ok());
    EXPECT_FALSE(FilesContaining(server_->BucketDir("plain"), kMarker).empty());
  }
  auto remote = InitAndOpen(KeyFile());
  ASSERT_TRUE(remote);
  Manifest m = Snapshot();
  ASSERT_TRUE(remote->Push(*local_, m.id).ok());
  EXPECT_EQ(FilesContaining(objects, kMarker), std::vector<std::string>{});
  EXPECT_EQ(FilesContaining(objects, source_), std::vector<std::string>{})
      << "manifests are sealed too";
}

TEST_F(RemoteRepositoryTest, AChangedByteInAnyPackIsReportedWithItsName) {
  auto remote = InitAndOpen(KeyFile());
  ASSERT_TRUE(remote);
  Manifest m = Snapshot();
  ASSERT_TRUE(remote->Push(*local_, m.id).ok());
  // s3rver keeps each object's bytes in a file named after its key.
  std::string damaged;
  for (const auto& entry : fs::recursive_directory_iterator(server_->BucketDir("backups"))) {
    std::string path = entry.path();
    if (entry.is_regular_file() && path.find(".pack") != std::string::npos &&
        fs::file_size(entry.path()) > 1000000) {
      damaged = path;
      break;
    }
  }
  ASSERT_FALSE(damaged.empty());
  {
    std::fstream f(damaged, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(500000);
    char c = 0;
    f.get(c);
    f.seekp(500000);
    f.put(static_cast<char>(c ^ 0x04));
  }
  auto report = remote->Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_FALSE(report->ok());
  EXPECT_NE(report->errors[0].find("packs/"), std::string::npos) << report->errors[0];
  EXPECT_NE(report->errors[0].find("fails authentication"), std::string::npos) << report->errors[0];
  std::string pulled = PullRestoreAndDiff(*remote, m.id, "b");
  EXPECT_NE(pulled.find("packs/"), std::string::npos) << pulled;
}

TEST_F(RemoteRepositoryTest, TheKeyIsCheckedAndCanBeRotatedWithoutRewritingData) {
  auto remote = InitAndOpen(KeyFile());
  ASSERT_TRUE(remote);
  Manifest m = Snapshot();
  ASSERT_TRUE(remote->Push(*local_, m.id).ok());

  auto no_key = RemoteRepository::Open(*client_, {});
  EXPECT_EQ(no_key.status().code(), StatusCode::kFailedPrecondition);
  std::string wrong = dir_ / "wrong.key";
  testing::WriteFile(wrong, std::string(64, 'd'));
  chmod(wrong.c_str(), 0600);
  auto wrong_key = RemoteRepository::Open(*client_, {RemoteKeySpec::Kind::kKeyFile, wrong});
  EXPECT_EQ(wrong_key.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(wrong_key.status().message().find("does not open"), std::string::npos);

  std::string passphrase = dir_ / "passphrase";
  testing::WriteFile(passphrase, "a long passphrase for the bucket\n");
  chmod(passphrase.c_str(), 0600);
  RemoteKeySpec by_passphrase{RemoteKeySpec::Kind::kPassphraseFile, passphrase};
  auto before = client_->List("packs/").value();
  ASSERT_TRUE(remote->RotateKey(by_passphrase).ok());
  auto after = client_->List("packs/").value();
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i)
    EXPECT_EQ(before[i].etag, after[i].etag) << "no pack rewritten";
  EXPECT_FALSE(RemoteRepository::Open(*client_, KeyFile()).ok())
      << "the old key no longer opens it";
  auto reopened = RemoteRepository::Open(*client_, by_passphrase);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(PullRestoreAndDiff(**reopened, m.id, "b"), "");
}

TEST_F(RemoteRepositoryTest, AnInterruptedPushLeavesNoSnapshotAndGcFreesItsPacks) {
  auto remote = InitAndOpen({});
  ASSERT_TRUE(remote);
  Manifest m = Snapshot();
  // The manifest's put fails every time: the push fails after its packs went up.
  ASSERT_TRUE(
      server_
          ->InjectFault(R"({"method":"PUT","pathContains":".manifest","status":503,"count":100})")
          .ok());
  auto pushed = remote->Push(*local_, m.id);
  EXPECT_FALSE(pushed.ok());
  ASSERT_TRUE(server_->ClearFaults().ok());
  EXPECT_TRUE(remote->ListSnapshots()->empty()) << "no half-visible snapshot";
  EXPECT_FALSE(client_->List("packs/")->empty());
  // A push's put of a pack lost between pack and index: invisible, then collected.
  ASSERT_TRUE(
      client_->Put("packs/00112233445566778899aabbccddeeff.pack", std::vector<uint8_t>(100, 1))
          .ok());

  auto reopened = RemoteRepository::Open(*client_, {}).value();
  ASSERT_TRUE(reopened->AcquireLease("writer-a", "host-a", false).ok());
  // Within the grace period, what a push may still be writing is left alone.
  auto young = reopened->CollectGarbage();
  ASSERT_TRUE(young.ok()) << young.status().ToString();
  EXPECT_EQ(young->packs_deleted + young->incomplete_packs_deleted, 0u);
  auto gc = reopened->CollectGarbage(std::chrono::seconds(0));
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_GE(gc->packs_deleted, 1u);
  EXPECT_EQ(gc->incomplete_packs_deleted, 1u);
  EXPECT_TRUE(client_->List("packs/")->empty());
  EXPECT_TRUE(client_->List("snapshots/")->empty()) << "the orphan blob list too";

  ASSERT_TRUE(reopened->Push(*local_, m.id).ok());
  EXPECT_EQ(PullRestoreAndDiff(*reopened, m.id, "b"), "");
}

TEST_F(RemoteRepositoryTest, GcKeepsWhatRemainingSnapshotsNeed) {
  auto remote = InitAndOpen(KeyFile());
  ASSERT_TRUE(remote);
  Manifest first = Snapshot();
  ASSERT_TRUE(remote->Push(*local_, first.id).ok());
  // The first as it was (the source's directory times move with what follows).
  RestoreOptions as_it_was;
  as_it_was.target = dir_ / "first";
  ASSERT_TRUE(RestoreSnapshot(*local_, first, as_it_was).ok());
  testing::WriteFile(source_ + "/sub/new", testing::RandomBytes(300000, 5));
  Manifest second = Snapshot(first.id);
  ASSERT_TRUE(remote->Push(*local_, second.id).ok());
  fs::remove(source_ + "/sub/new");
  Manifest third = Snapshot(second.id);
  ASSERT_TRUE(remote->Push(*local_, third.id).ok());

  ASSERT_TRUE(remote->RemoveSnapshot(second.id).ok());
  auto gc = remote->CollectGarbage(std::chrono::seconds(0));
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->packs_deleted, 1u) << "the pack only the removed snapshot used";
  auto report = remote->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->errors[0];
  EXPECT_EQ(PullRestoreAndDiff(*remote, first.id, "b", dir_ / "first"), "");

  // A snapshot whose blob list is lost: verify says so, and gc refuses rather than free
  // its data.
  ASSERT_TRUE(client_->Delete("snapshots/" + third.id + ".blobs").ok());
  auto damaged = remote->Verify();
  ASSERT_TRUE(damaged.ok());
  ASSERT_FALSE(damaged->ok());
  EXPECT_NE(damaged->errors[0].find(third.id), std::string::npos) << damaged->errors[0];
  auto refused = remote->CollectGarbage(std::chrono::seconds(0));
  EXPECT_EQ(refused.status().code(), StatusCode::kCorruption) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("no blob list"), std::string::npos);
}

TEST_F(RemoteRepositoryTest, ASnapshotsRecordIsSealedKeptAndRemovedWithIt) {
  auto remote = InitAndOpen(KeyFile());
  ASSERT_TRUE(remote);
  const std::string record = R"({"backup": "b1", "secret": "SECRET-IN-RECORD-41d2"})";
  Manifest with = Snapshot();
  ASSERT_TRUE(remote->Push(*local_, with.id, nullptr, AsBytes(record)).ok());
  auto read = remote->ReadRecord(with.id);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ(std::string(read->value().begin(), read->value().end()), record);
  EXPECT_EQ(FilesContaining(server_->BucketDir("backups"), "SECRET-IN-RECORD"),
            std::vector<std::string>{})
      << "sealed like every other object";

  // Pushed without one (an earlier build): none, until a push that has one.
  Manifest without = Snapshot(with.id);
  ASSERT_TRUE(remote->Push(*local_, without.id).ok());
  EXPECT_FALSE(remote->ReadRecord(without.id)->has_value());
  auto again = remote->Push(*local_, without.id, nullptr, AsBytes(record));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_there);
  EXPECT_TRUE(remote->ReadRecord(without.id)->has_value());
  EXPECT_TRUE(remote->Verify()->ok());

  // A changed byte is found by verify and by the read, with the object's name.
  auto stored = client_->Get("snapshots/" + with.id + ".record");
  ASSERT_TRUE(stored.ok());
  stored->back() ^= 1;
  ASSERT_TRUE(client_->Put("snapshots/" + with.id + ".record", stored.value()).ok());
  EXPECT_FALSE(remote->ReadRecord(with.id).ok());
  auto report = remote->Verify();
  ASSERT_TRUE(report.ok());
  ASSERT_FALSE(report->ok());
  EXPECT_NE(report->errors[0].find(with.id + ".record"), std::string::npos) << report->errors[0];

  // Removed with its snapshot; one whose manifest never came is garbage after the grace.
  ASSERT_TRUE(remote->RemoveSnapshot(with.id).ok());
  EXPECT_TRUE(client_->List("snapshots/" + with.id)->empty());
  ASSERT_TRUE(client_->Put("snapshots/" + std::string(16, 'a') + ".record", AsBytes(record)).ok());
  ASSERT_TRUE(remote->CollectGarbage(std::chrono::seconds(0)).ok());
  EXPECT_TRUE(client_->List("snapshots/" + std::string(16, 'a'))->empty());
  EXPECT_TRUE(remote->ReadRecord(without.id)->has_value());
}

TEST_F(RemoteRepositoryTest, AConfigOrLeaseThatIsNotOursIsRefusedNotFollowed) {
  // Plaintext objects a bucket's holder can write: wrong types are corruption, not a crash.
  std::string bad_config = R"({"format": 7, "version": "1", "id": [], "encryption": null})";
  ASSERT_TRUE(client_->Put("config.json", AsBytes(bad_config)).ok());
  EXPECT_EQ(RemoteRepository::Open(*client_, {}).status().code(), StatusCode::kCorruption);
  ASSERT_TRUE(client_->Delete("config.json").ok());
  // A bucket that lost its config.json but holds a repository's objects is not made anew
  // (a new data key would orphan every sealed object).
  ASSERT_TRUE(client_->Put("packs/00.pack", std::vector<uint8_t>(10, 0)).ok());
  Status made = RemoteRepository::Init(*client_, KeyFile());
  EXPECT_EQ(made.code(), StatusCode::kFailedPrecondition) << made.ToString();
  ASSERT_TRUE(client_->Delete("packs/00.pack").ok());
  auto remote = InitAndOpen({});
  ASSERT_TRUE(remote);
  std::string bad_lease = R"({"owner": {"not": "a string"}, "host": 5})";
  ASSERT_TRUE(client_->Put("lease.json", AsBytes(bad_lease)).ok());
  Manifest m = Snapshot();
  auto pushed = remote->Push(*local_, m.id);
  EXPECT_EQ(pushed.status().code(), StatusCode::kFailedPrecondition) << pushed.status().ToString();
  ASSERT_TRUE(client_->Delete("lease.json").ok());
  auto gone = remote->AcquireLease("writer-a", "host-a", false);
  EXPECT_TRUE(gone.ok()) << "a missing lease is taken";
  ASSERT_TRUE(client_->Delete("lease.json").ok());
  auto lost = remote->Push(*local_, m.id);
  EXPECT_NE(lost.status().message().find("lease.json) is gone"), std::string::npos)
      << lost.status().ToString();
}

TEST_F(RemoteRepositoryTest, OneWriterPerBucketUnlessTakenOverExplicitly) {
  auto a = InitAndOpen({});
  ASSERT_TRUE(a);
  auto b = RemoteRepository::Open(*client_, {}).value();
  Status refused = b->AcquireLease("writer-b", "dr-host", false);
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("writer-a"), std::string::npos) << refused.ToString();
  Manifest m = Snapshot();
  EXPECT_FALSE(b->Push(*local_, m.id).ok()) << "no lease, no writes";
  ASSERT_TRUE(b->AcquireLease("writer-b", "dr-host", true).ok());
  // The old writer finds out at its next write.
  auto stale = a->Push(*local_, m.id);
  EXPECT_EQ(stale.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(stale.status().message().find("taken over by writer 'writer-b'"), std::string::npos);
  EXPECT_FALSE(a->CollectGarbage().ok());
  EXPECT_TRUE(b->Push(*local_, m.id).ok());
}

TEST_F(RemoteRepositoryTest, ThrottlingDuringAPushIsRidden) {
  auto remote = InitAndOpen(KeyFile());
  ASSERT_TRUE(remote);
  Manifest m = Snapshot();
  ASSERT_TRUE(
      server_->InjectFault(R"({"method":"PUT","status":503,"code":"SlowDown","count":2})").ok());
  ASSERT_TRUE(server_->InjectFault(R"({"method":"GET","status":500,"count":1})").ok());
  auto pushed = remote->Push(*local_, m.id);
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  EXPECT_EQ(PullRestoreAndDiff(*remote, m.id, "b"), "");
  EXPECT_GE(client_->counters().retries.load(), 3u);
}

TEST_F(RemoteRepositoryTest, WalGoesBothWaysAsItIsStored) {
  auto remote = InitAndOpen(KeyFile());
  ASSERT_TRUE(remote);
  const std::string id = "pg1.0011aabb";
  ASSERT_TRUE(WalArchive::Create(local_->path(), id).ok());
  auto archive = WalArchive::Open(local_->path(), id).value();
  std::vector<std::string> names = {"000000010000000000000001", "000000010000000000000002",
                                    "00000002.history", "000000010000000000000003"};
  std::map<std::string, std::string> contents;
  for (size_t i = 0; i < 3; ++i) {
    contents[names[i]] = testing::RandomBytes(200000 + i, static_cast<unsigned>(i));
    ASSERT_TRUE(archive.Store(AsBytes(contents[names[i]]), names[i]).ok());
  }
  auto pushed = remote->PushWal(local_->path(), id);
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  EXPECT_EQ(pushed->files, 3u);
  EXPECT_EQ(remote->PushWal(local_->path(), id)->files, 0u) << "only what the remote lacks";
  contents[names[3]] = "the fourth";
  ASSERT_TRUE(archive.Store(AsBytes(contents[names[3]]), names[3]).ok());
  EXPECT_EQ(remote->PushWal(local_->path(), id)->files, 1u);
  EXPECT_EQ(remote->ListWalArchives().value(), std::vector<std::string>{id});

  std::string other = dir_ / "other";
  ASSERT_TRUE(Repository::Init(other, {}).ok());
  auto pulled = remote->PullWal(id, other);
  ASSERT_TRUE(pulled.ok()) << pulled.status().ToString();
  EXPECT_EQ(pulled->files, 4u);
  auto copy = WalArchive::Open(other, id).value();
  for (const auto& [name, content] : contents) {
    auto read = copy.Read(name);
    ASSERT_TRUE(read.ok()) << name << ": " << read.status().ToString();
    EXPECT_EQ(std::string(read->begin(), read->end()), content) << name;
  }
  EXPECT_EQ(remote->PullWal(id, other)->files, 0u);

  // A remote file changed in the bucket is refused by its seal before it reaches the archive.
  ASSERT_TRUE(
      client_->Put("wal/" + id + "/000000010000000000000009", std::vector<uint8_t>(100, 7)).ok());
  auto refused = remote->PullWal(id, other);
  EXPECT_EQ(refused.status().code(), StatusCode::kCorruption) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("000000010000000000000009"), std::string::npos);
  EXPECT_FALSE(copy.Read("000000010000000000000009").ok());
  EXPECT_EQ(remote->PushWal(local_->path(), "../etc").status().code(),
            StatusCode::kInvalidArgument);

  // What no backup there needs any longer: removed, history kept, and not shipped again.
  auto removed = remote->RemoveWalBefore(id, "0000000000000003");
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(removed.value(), 2u) << "segments 1 and 2";
  std::set<std::string> left;
  auto listed = client_->List("wal/" + id + "/");
  ASSERT_TRUE(listed.ok());
  for (const auto& o : *listed) left.insert(o.key);
  EXPECT_EQ(left, (std::set<std::string>{"wal/" + id + "/00000002.history",
                                         "wal/" + id + "/000000010000000000000003",
                                         "wal/" + id + "/000000010000000000000009"}));
  EXPECT_EQ(remote->PushWal(local_->path(), id, "0000000000000003")->files, 0u)
      << "the local archive still has 1 and 2: not sent back";
  EXPECT_EQ(remote->PushWal(local_->path(), id)->files, 2u) << "without a position, all";
}

TEST(RemoteSpecTest, EveryFieldIsCheckedBeforeAnythingIsRead) {
  nlohmann::json good = {{"name", "offsite"},
                         {"endpoint", "https://s3.eu-west-1.amazonaws.com"},
                         {"bucket", "acme-backups"},
                         {"region", "eu-west-1"},
                         {"pathStyle", false},
                         {"credentialsFile", "/etc/dbaas/s3.credentials"},
                         {"caFile", "/etc/dbaas/ca.pem"},
                         {"encryption", {{"passphraseFile", "/etc/dbaas/pass"}}},
                         {"retentionDays", 90}};
  auto spec = ParseRemoteSpec(good);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->retention_days, 90);
  EXPECT_FALSE(spec->location.path_style);
  EXPECT_EQ(spec->key.kind, RemoteKeySpec::Kind::kPassphraseFile);
  EXPECT_EQ(spec->ca_file, "/etc/dbaas/ca.pem");
  struct Bad {
    nlohmann::json patch;
    std::string says;
  };
  for (const Bad& bad : std::vector<Bad>{
           {{{"colour", "blue"}}, "unknown field 'colour'"},
           {{{"name", "Off Site"}}, "repository name"},
           {{{"type", "gcs"}}, "type 'gcs'"},
           {{{"endpoint", "s3.amazonaws.com"}}, "http:// or https://"},
           {{{"bucket", "Bad_Bucket"}}, "not a valid bucket name"},
           {{{"region", 7}}, "'region' must be a string"},
           {{{"pathStyle", "yes"}}, "pathStyle"},
           {{{"credentialsFile", "relative/creds"}}, "absolute path"},
           {{{"caFile", "ca.pem"}}, "caFile must be an absolute path"},
           {{{"retentionDays", 0}}, "retentionDays must be 1 to 36500"},
           {{{"retentionDays", "90"}}, "retentionDays must be 1 to 36500"},
           {{{"encryption", {{"keyFile", "/k"}, {"passphraseFile", "/p"}}}},
            "one of keyFile or passphraseFile"},
           {{{"encryption", {{"keyFile", "k"}, {"passphraseFile", nullptr}}}}, "must be absolute"},
       }) {
    nlohmann::json j = good;
    j.merge_patch(bad.patch);
    auto refused = ParseRemoteSpec(j);
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << bad.patch.dump();
    EXPECT_NE(refused.status().ToString().find(bad.says), std::string::npos)
        << bad.patch.dump() << ": " << refused.status().ToString();
  }
}

}  // namespace
}  // namespace dbaas::storage
