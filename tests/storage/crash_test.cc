// Crash safety: a writer killed (SIGKILL) at random points leaves a repository that opens,
// verifies, lists only complete snapshots, and whose garbage gc removes.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "storage/repo_maintenance.h"
#include "storage/repository.h"
#include "storage/snapshot_create.h"
#include "storage/snapshot_restore.h"
#include "test_util.h"

namespace dbaas::storage {
namespace {

using testing::TempDir;

TEST(CrashTest, KilledWriterLeavesRepositoryValid) {
  TempDir tmp;
  std::string source = tmp / "src";
  // 48 MiB of data that compresses a little, in files of several sizes.
  for (int i = 0; i < 12; ++i) {
    std::string data = testing::RandomBytes(4 << 20, static_cast<unsigned>(i));
    for (size_t p = 0; p < data.size(); p += 4096) data[p] = 0;
    testing::WriteFile(source + "/base/" + std::to_string(i), data);
  }
  std::string repo_path = tmp / "repo";
  RepoConfig config;
  config.pack_target_size = 1 << 20;  // many packs: many points to be killed at
  ASSERT_TRUE(Repository::Init(repo_path, config).ok());

  std::mt19937 rng(12345);
  int killed_mid_way = 0, completed = 0;
  for (int round = 0; round < 12; ++round) {
    // Each round changes a file so the writer has new data to store.
    testing::WriteFile(source + "/base/" + std::to_string(round % 12),
                       testing::RandomBytes(4 << 20, 1000u + round));
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto repo = Repository::Open(repo_path);
      if (!repo.ok()) _exit(2);
      CreateOptions o;
      o.source = source;
      o.mode = SnapshotMode::kRepository;
      o.full_read = round % 2 == 0;
      _exit(CreateSnapshot(*repo.value(), o).ok() ? 0 : 1);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 60000));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status)) {
      ASSERT_EQ(WEXITSTATUS(status), 0) << "writer failed on its own in round " << round;
      ++completed;
    } else {
      ++killed_mid_way;
    }
    auto report = VerifyRepository(repo_path);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    ASSERT_TRUE(report->ok()) << "round " << round << ": " << report->errors[0];
    auto repo = Repository::Open(repo_path);
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    auto list = repo.value()->ListSnapshots();
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(static_cast<int>(list->size()), completed) << "a half snapshot is listed";
  }
  EXPECT_GT(killed_mid_way, 0) << "no round was killed mid-way: the test proved nothing";

  // Every listed snapshot restores; gc then clears the crashed writers' garbage.
  auto repo = Repository::Open(repo_path);
  ASSERT_TRUE(repo.ok());
  auto snapshots = repo.value()->ListSnapshots();
  ASSERT_TRUE(snapshots.ok());
  for (const Manifest& m : snapshots.value()) {
    RestoreOptions o;
    o.target = tmp / ("out-" + m.id);
    ASSERT_TRUE(RestoreSnapshot(*repo.value(), m, o).ok());
  }
  auto gc = CollectGarbage(*repo.value());
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  auto report = VerifyRepository(repo_path);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok());
  std::error_code ec;
  EXPECT_TRUE(std::filesystem::is_empty(repo.value()->TmpDir(), ec));
}

}  // namespace
}  // namespace dbaas::storage
