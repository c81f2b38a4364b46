// The daemon's drain of a pod's log spool (kube_runtime/pod_log_spool.h) against a FAKE
// AGENT (kube/fake_agent.h) that lists another archive, junk, wrong sizes, or answers
// slowly. What reaches the archive is only what a server writes.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "base/files.h"
#include "kube/fake_agent.h"
#include "kube_runtime/pod_log_spool.h"
#include "storage/wal_archive.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr char kArchive[] = "orders.0a0b0c0d";

class PodSpoolDrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(agent_.error(), "");
    httplib::SSLServer& server = agent_.server();
    server.Get("/v1/wal", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      close_after_ = req.get_param_value("closeAfter");
      res.set_content(listing_.dump(), "application/json");
    });
    server.Get("/v1/wal/file", [this](const httplib::Request& req, httplib::Response& res) {
      std::this_thread::sleep_for(milliseconds(file_delay_ms_.load()));
      std::lock_guard lock(mu_);
      fetched_.push_back(req.get_param_value("name"));
      auto it = files_.find(req.get_param_value("name"));
      if (it == files_.end()) {
        res.status = 410;
        return;
      }
      res.set_content(it->second, "application/octet-stream");
    });
    server.Delete("/v1/wal/file", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      deleted_.push_back(req.get_param_value("name"));
      res.status = 204;
    });
    ASSERT_TRUE(agent_.Start()) << agent_.error();
    ASSERT_TRUE(storage::WalArchive::Create(root_ / "repo", kArchive).ok());
    auto archive = storage::WalArchive::Open(root_ / "repo", kArchive);
    ASSERT_TRUE(archive.ok());
    archive_.emplace(std::move(archive).value());
  }

  // What the fake agent lists and serves: `name` of `listed` bytes, sending `content`.
  void Offer(const std::string& name, uint64_t listed, std::string content, bool regular = true) {
    std::lock_guard lock(mu_);
    listing_["files"].push_back({{"name", name}, {"size", listed}, {"regular", regular}});
    files_[name] = std::move(content);
  }

  Result<storage::SpoolDrain> Drain(
      milliseconds budget = milliseconds(seconds(30)),
      kube_runtime::PodSpool::Log log = kube_runtime::PodSpool::Log::kWal) {
    kube_runtime::PodSpool spool;
    spool.archive_id = kArchive;
    spool.log = log;
    spool.close_after = seconds(log == kube_runtime::PodSpool::Log::kBinlog ? 60 : 0);
    return kube_runtime::DrainPodSpool(agent_.client(), agent_.endpoint(), *archive_, spool, {},
                                       steady_clock::now() + budget);
  }
  Result<storage::SpoolDrain> DrainBinlogs() {
    return Drain(milliseconds(seconds(30)), kube_runtime::PodSpool::Log::kBinlog);
  }

  bool Stored(const std::string& name) { return archive_->RawSize(name).ok(); }

  TempDir root_;
  std::optional<storage::WalArchive> archive_;
  std::mutex mu_;
  json listing_ = {{"archiveId", kArchive}, {"files", json::array()}};  // guarded by mu_
  std::map<std::string, std::string> files_;                            // guarded by mu_
  std::vector<std::string> deleted_;                                    // guarded by mu_
  std::string close_after_;           // the last listing's closeAfter, guarded by mu_
  std::vector<std::string> fetched_;  // guarded by mu_
  std::atomic<int> file_delay_ms_{0};
  // Last: destroyed (stopped) first, before what its routes use.
  FakeAgent agent_{root_ / "agent"};
};

TEST_F(PodSpoolDrainTest, OnlyWhatAServerWritesIsStoredAndTheRestIsNamedAndLeft) {
  const std::string segment(16 << 20, 'w');
  Offer("000000010000000000000001", 16 << 20, segment);
  Offer("000000010000000000000002", 100, "short");                          // no segment's size
  Offer("000000010000000000000003", 16 << 20, segment, /*regular=*/false);  // a link
  Offer("000000010000000000000004", 16 << 20, segment.substr(1));           // less than listed
  Offer("../../etc/passwd", 100, "x");                                      // no WAL name
  Offer("000000010000000000000005", uint64_t{128} << 20, "");               // over 64 MiB
  Offer("000000010000000000000009", 16 << 20, segment);                     // gone meanwhile
  {
    std::lock_guard lock(mu_);
    files_.erase("000000010000000000000009");
  }
  auto drained = Drain();
  ASSERT_TRUE(drained.ok()) << drained.status().ToString();
  EXPECT_EQ(drained->files, 1u);
  EXPECT_TRUE(Stored("000000010000000000000001"));
  for (const char* junk :
       {"000000010000000000000002", "000000010000000000000003", "000000010000000000000004",
        "000000010000000000000005", "000000010000000000000009"}) {
    EXPECT_FALSE(Stored(junk)) << junk;
  }
  ASSERT_EQ(drained->refused.size(), 5u) << json(drained->refused).dump();
  const std::string refused = json(drained->refused).dump();
  for (const char* why : {"000000010000000000000002: 100 bytes",
                          "000000010000000000000003: not a "
                          "regular file",
                          "000000010000000000000004: 16777216 bytes listed",
                          "../../etc/passwd: not a WAL file name", "000000010000000000000005"}) {
    EXPECT_NE(refused.find(why), std::string::npos) << why << " in " << refused;
  }
  std::lock_guard lock(mu_);
  EXPECT_EQ(deleted_, std::vector<std::string>{"000000010000000000000001"})
      << "only what was stored leaves the pod";
}

TEST_F(PodSpoolDrainTest, AListingForAnotherArchiveIsRefusedAndNothingIsStored) {
  Offer("000000010000000000000001", 16 << 20, std::string(16 << 20, 'w'));
  {
    std::lock_guard lock(mu_);
    listing_["archiveId"] = "billing.01020304";
  }
  auto drained = Drain();
  ASSERT_FALSE(drained.ok());
  EXPECT_EQ(drained.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(drained.status().message().find("billing.01020304"), std::string::npos)
      << drained.status().ToString();
  EXPECT_FALSE(Stored("000000010000000000000001"));
  // A listing that is no list: the pod's failure, not the caller's bad request.
  {
    std::lock_guard lock(mu_);
    listing_ = {{"archiveId", kArchive}, {"files", "everything"}};
  }
  drained = Drain();
  ASSERT_FALSE(drained.ok());
  EXPECT_EQ(drained.status().code(), StatusCode::kIoError) << drained.status().ToString();
}

// A MariaDB server's spool (its finished binlogs): any size a binlog has is stored; the
// pod purges every binlog up to the one the daemon deletes, so a binlog refused stops the
// drain there (a later one stored and deleted would purge it unarchived), and the drain goes
// on once it is mended. The recovery point objective reaches the pod (closeAfter). WAL files
// are no binlogs, binlogs no WAL files.
TEST_F(PodSpoolDrainTest, BinlogsAreStoredInOrderAndNoneIsPurgedPastOneRefused) {
  Offer("binlog.000001", 300, std::string(300, 'a'));
  Offer("binlog.000002", 5, "bbbbb");
  Offer("binlog.000003", 7, "ccccccc", /*regular=*/false);  // planted: a link
  Offer("binlog.000004", 4, "dddd");
  auto drained = DrainBinlogs();
  ASSERT_TRUE(drained.ok()) << drained.status().ToString();
  EXPECT_EQ(drained->files, 2u);
  EXPECT_TRUE(Stored("binlog.000001"));
  EXPECT_TRUE(Stored("binlog.000002"));
  EXPECT_FALSE(Stored("binlog.000003"));
  EXPECT_FALSE(Stored("binlog.000004")) << "stored past a binlog that was refused";
  ASSERT_EQ(drained->refused.size(), 1u) << json(drained->refused).dump();
  EXPECT_NE(drained->refused[0].find("binlog.000003: not a regular file"), std::string::npos)
      << drained->refused[0];
  {
    std::lock_guard lock(mu_);
    EXPECT_EQ(deleted_, (std::vector<std::string>{"binlog.000001", "binlog.000002"}));
    EXPECT_EQ(close_after_, "60");
    listing_["files"][2]["regular"] = true;  // the server wrote it after all
    deleted_.clear();
  }
  drained = DrainBinlogs();
  ASSERT_TRUE(drained.ok()) << drained.status().ToString();
  EXPECT_TRUE(Stored("binlog.000003"));
  EXPECT_TRUE(Stored("binlog.000004"));

  // A WAL file's name where binlogs are expected stops the drain too; a binlog in a WAL
  // spool is refused and left.
  {
    std::lock_guard lock(mu_);
    listing_["files"] = json::array();
    files_.clear();
  }
  Offer("000000010000000000000001", 16 << 20, std::string(16 << 20, 'w'));
  drained = DrainBinlogs();
  ASSERT_TRUE(drained.ok()) << drained.status().ToString();
  EXPECT_EQ(drained->files, 0u);
  ASSERT_EQ(drained->refused.size(), 1u);
  EXPECT_NE(drained->refused[0].find("not a binlog's name"), std::string::npos);
  {
    std::lock_guard lock(mu_);
    listing_["files"] = json::array();
  }
  Offer("binlog.000005", 5, "eeeee");
  drained = Drain();
  ASSERT_TRUE(drained.ok()) << drained.status().ToString();
  EXPECT_FALSE(Stored("binlog.000005"));
  ASSERT_EQ(drained->refused.size(), 1u);
  EXPECT_NE(drained->refused[0].find("binlog"), std::string::npos) << drained->refused[0];
}

// Binlogs in the order of their numbers, not their names (binlog.999999 before
// binlog.1000000: the first purge would take the other unstored); one gone at its fetch (410)
// stops the drain (the next one's purge would take it, stored or not); one stored by an
// earlier drain whose purge did not happen is purged again, not fetched again.
TEST_F(PodSpoolDrainTest, BinlogsGoInTheirNumbersOrderAndOneGoneStopsTheDrain) {
  Offer("binlog.1000000", 3, "new");
  Offer("binlog.999999", 3, "old");
  auto drained = DrainBinlogs();
  ASSERT_TRUE(drained.ok()) << drained.status().ToString();
  EXPECT_EQ(drained->files, 2u);
  {
    std::lock_guard lock(mu_);
    EXPECT_EQ(deleted_, (std::vector<std::string>{"binlog.999999", "binlog.1000000"}));
    listing_["files"] = json::array();
    files_.clear();
    deleted_.clear();
    fetched_.clear();
  }
  Offer("binlog.1000000", 3, "new");  // the server was down: stored, not purged
  Offer("binlog.1000001", 4, "gone");
  Offer("binlog.1000002", 4, "next");
  {
    std::lock_guard lock(mu_);
    files_.erase("binlog.1000001");
  }
  drained = DrainBinlogs();
  ASSERT_TRUE(drained.ok()) << drained.status().ToString();
  EXPECT_FALSE(Stored("binlog.1000002")) << "stored past a binlog that was gone";
  std::lock_guard lock(mu_);
  EXPECT_EQ(fetched_, std::vector<std::string>{"binlog.1000001"})
      << "a binlog stored already was fetched again";
  EXPECT_EQ(deleted_, std::vector<std::string>{"binlog.1000000"});
}

// An agent that answers slowly (on purpose or not) costs a drain its budget, not more: the
// files not reached wait in the pod for the next drain.
TEST_F(PodSpoolDrainTest, ADrainEndsAtItsDeadlineLeavingTheRestForTheNext) {
  for (const char* name : {"000000010000000000000001", "000000010000000000000002",
                           "000000010000000000000003", "000000010000000000000004"}) {
    Offer(name, 1 << 20, std::string(1 << 20, 'w'));
  }
  file_delay_ms_ = 700;
  const auto began = steady_clock::now();
  auto drained = Drain(milliseconds(1000));
  const auto took = steady_clock::now() - began;
  ASSERT_TRUE(drained.ok()) << drained.status().ToString();
  EXPECT_GE(drained->files, 1u);
  EXPECT_LT(drained->files, 4u) << "the budget did not stop the drain";
  EXPECT_TRUE(drained->more);
  EXPECT_LT(took, seconds(3));
  EXPECT_FALSE(Stored("000000010000000000000004"));
  file_delay_ms_ = 0;
  drained = Drain();
  ASSERT_TRUE(drained.ok()) << drained.status().ToString();
  EXPECT_TRUE(Stored("000000010000000000000004")) << "the next drain takes the rest";
  EXPECT_FALSE(drained->more);
}

}  // namespace
}  // namespace dbaas::testing
