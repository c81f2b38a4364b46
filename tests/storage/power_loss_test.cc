// Power loss. A SIGKILL loses nothing written (the kernel keeps it); a power cut loses what
// was not synced. PowerCut (a test observer of base/files' steps, after LevelDB's
// fault-injection env) cuts the power before a chosen sync, fails every step after it, and
// then drops what was not durable: every write to a file since its last fsync, and every
// name created, renamed, linked or unlinked in a directory since that directory's last
// fsync. The test cuts the repository's writers (snapshots, a delete and its gc, a WAL file
// stored from a spool) before each of their syncs in turn, every one the dry run counted,
// so a sync point added to the code is a case here without anyone writing it: after each
// cut the repository opens, verifies, lists only complete snapshots, has kept everything
// that was acknowledged, and takes new work.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "base/process.h"
#include "storage/repo_maintenance.h"
#include "storage/repository.h"
#include "storage/snapshot_create.h"
#include "storage/snapshot_restore.h"
#include "storage/wal_archive.h"
#include "test_util.h"

namespace dbaas::storage {
namespace {

using Kind = FileStep::Kind;
using testing::TempDir;

// Cuts the power before the `cut_at`-th sync under `root` (0: never; it only counts).
class PowerCut final : public FileStepObserver {
 public:
  PowerCut(std::string root, int cut_at) : root_(std::move(root) + "/"), cut_at_(cut_at) {}
  ~PowerCut() override {
    for (const Op& op : ops_) {
      if (!op.aside.empty()) ::unlink(op.aside.c_str());
    }
  }

  Status Before(const FileStep& step) override {
    std::lock_guard lock(mu_);
    if (!Under(step.path) && !Under(step.to)) return Status::Ok();
    if (cut_) return Status::IoError(fmt::format("power cut: {} not done", step.path));
    if (step.kind == Kind::kSyncFile || step.kind == Kind::kSyncDir) {
      if (++syncs_ == cut_at_) {
        cut_ = true;
        return Status::IoError(fmt::format("power cut before syncing {}", step.path));
      }
    }
    if (step.kind == Kind::kCreate) existed_[step.path] = PathExists(step.path);
    // What a rename replaces or an unlink removes is kept aside, to come back if the step
    // never became durable.
    std::string doomed = step.kind == Kind::kRename   ? step.to
                         : step.kind == Kind::kUnlink ? step.path
                                                      : "";
    if (!doomed.empty() && PathExists(doomed)) {
      std::string aside = fmt::format("{}.powercut-{}", doomed, ++asides_);
      if (::link(doomed.c_str(), aside.c_str()) == 0) pending_aside_[doomed] = aside;
    }
    return Status::Ok();
  }

  void After(const FileStep& step, bool done) override {
    std::lock_guard lock(mu_);
    if (!Under(step.path) && !Under(step.to)) return;
    std::string doomed = step.kind == Kind::kRename ? step.to : step.path;
    std::string aside;
    if (auto it = pending_aside_.find(doomed); it != pending_aside_.end()) {
      aside = it->second;
      pending_aside_.erase(it);
    }
    if (!done) {
      if (!aside.empty()) ::unlink(aside.c_str());
      return;
    }
    switch (step.kind) {
      case Kind::kCreate:
        if (!existed_[step.path]) ops_.push_back({Kind::kCreate, step.path, "", ""});
        dirty_.insert(step.path);
        break;
      case Kind::kWrite:
        dirty_.insert(step.path);
        break;
      case Kind::kSyncFile: {
        struct stat st;
        synced_size_[step.path] = ::stat(step.path.c_str(), &st) == 0 ? st.st_size : 0;
        dirty_.erase(step.path);
        break;
      }
      case Kind::kSyncDir:
        // Every name made or removed in this directory is durable now.
        std::erase_if(ops_, [&](const Op& op) {
          if (DirName(op.kind == Kind::kRename || op.kind == Kind::kLink ? op.to : op.path) !=
              step.path) {
            return false;
          }
          if (!op.aside.empty()) ::unlink(op.aside.c_str());
          return true;
        });
        break;
      case Kind::kRename:
      case Kind::kLink:
        ops_.push_back({step.kind, step.path, step.to, aside});
        synced_size_[step.to] = synced_size_[step.path];
        if (dirty_.count(step.path)) dirty_.insert(step.to);
        if (step.kind == Kind::kRename) dirty_.erase(step.path);
        break;
      case Kind::kUnlink:
        ops_.push_back({Kind::kUnlink, step.path, "", aside});
        break;
    }
  }

  // After the cut: what was not durable goes. Names first, newest first; then what files
  // got after their last sync.
  void DropWhatWasNotDurable() {
    std::lock_guard lock(mu_);
    for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
      switch (it->kind) {
        case Kind::kCreate:
          ::unlink(it->path.c_str());
          break;
        case Kind::kRename:
          if (PathExists(it->to)) ::rename(it->to.c_str(), it->path.c_str());
          if (!it->aside.empty()) ::link(it->aside.c_str(), it->to.c_str());
          break;
        case Kind::kLink:
          ::unlink(it->to.c_str());
          break;
        case Kind::kUnlink:
          if (!it->aside.empty()) ::link(it->aside.c_str(), it->path.c_str());
          break;
        default:
          break;
      }
      if (!it->aside.empty()) ::unlink(it->aside.c_str());
      it->aside.clear();
    }
    for (const std::string& path : dirty_) {
      if (PathExists(path)) {
        EXPECT_EQ(::truncate(path.c_str(), synced_size_[path]), 0) << path;
      }
    }
  }

  int syncs() const { return syncs_; }
  bool cut() const { return cut_; }

 private:
  struct Op {
    Kind kind;
    std::string path;
    std::string to;
    std::string aside;  // what it replaced or removed, kept to be brought back
  };
  bool Under(const std::string& path) const { return path.starts_with(root_); }

  const std::string root_;
  const int cut_at_;
  std::mutex mu_;
  int syncs_ = 0;
  bool cut_ = false;
  int asides_ = 0;
  std::map<std::string, bool> existed_;
  std::map<std::string, std::string> pending_aside_;
  std::map<std::string, off_t> synced_size_;
  std::set<std::string> dirty_;
  std::vector<Op> ops_;
};

// Sets the observer for a scope.
struct Observing {
  explicit Observing(FileStepObserver* o) { SetFileStepObserver(o); }
  ~Observing() { SetFileStepObserver(nullptr); }
};

constexpr char kArchive[] = "db.00000001";
constexpr char kSegment[] = "000000010000000000000003";

// What the writers said was done before the power went.
struct Acknowledged {
  bool a = false, b = false, a_removed = false, gc = false, wal = false;
};

class PowerLossTest : public ::testing::Test {
 protected:
  // The source as it is, mtimes included (restores give them back; DiffTrees compares them).
  static void CopyKeepingTimes(const std::string& from, const std::string& to) {
    ProcessOptions cp;
    cp.argv = {"cp", "-a", from, to};
    auto ran = RunProcess(cp, std::chrono::seconds(30));
    ASSERT_TRUE(ran.ok() && ran->exit_code == 0) << "cp -a " << from;
  }

  // A fresh repository (the smallest packs: several per snapshot, each synced), a source
  // in state A, an archive for WAL.
  void Prepare(const std::string& dir) {
    repo_ = dir + "/repo";
    source_ = dir + "/src";
    for (int i = 0; i < 3; ++i) {
      testing::WriteFile(fmt::format("{}/f{}", source_, i), testing::RandomBytes(640 << 10, i));
    }
    RepoConfig config;
    config.pack_target_size = 1 << 20;  // the smallest
    ASSERT_TRUE(Repository::Init(repo_, config).ok());
    ASSERT_TRUE(WalArchive::Create(repo_, kArchive).ok());
  }

  // Snapshot a (source A), source to state B, snapshot b, delete a, gc, store a WAL
  // segment; stops at the first step that fails.
  Acknowledged Run() {
    Acknowledged ack;
    auto snapshot = [&](const char* name) {
      auto repo = Repository::Open(repo_);
      if (!repo.ok()) return false;
      CreateOptions o;
      o.source = source_;
      o.name = name;
      o.mode = SnapshotMode::kRepository;
      o.threads = 1;  // the same order of syncs every run
      return CreateSnapshot(**repo, o).ok();
    };
    if (!(ack.a = snapshot("a"))) return ack;
    testing::WriteFile(source_ + "/f1", testing::RandomBytes(640 << 10, 101));
    testing::WriteFile(source_ + "/f3", testing::RandomBytes(256 << 10, 103));
    if (!(ack.b = snapshot("b"))) return ack;
    auto repo = Repository::Open(repo_);
    if (!repo.ok()) return ack;
    auto a = (*repo)->FindSnapshot("a");
    if (!a.ok() || !(ack.a_removed = (*repo)->RemoveSnapshot(a->id).ok())) return ack;
    if (!(ack.gc = CollectGarbage(**repo).ok())) return ack;
    auto archive = WalArchive::Open(repo_, kArchive);
    std::string wal = testing::RandomBytes(1 << 20, 7);
    ack.wal =
        archive.ok() &&
        archive->Store({reinterpret_cast<const uint8_t*>(wal.data()), wal.size()}, kSegment).ok();
    return ack;
  }

  // The repository after the power came back: it opens and verifies, lists what was
  // acknowledged and nothing half-made, each listed snapshot restores to its source state,
  // and new work succeeds.
  void ExpectRecovered(const Acknowledged& ack, const std::string& dir, const std::string& a_tree,
                       const std::string& b_tree, const std::string& what) {
    auto report = VerifyRepository(repo_);
    ASSERT_TRUE(report.ok()) << what << ": " << report.status().ToString();
    ASSERT_TRUE(report->ok()) << what << ": " << report->errors[0];
    auto repo = Repository::Open(repo_);
    ASSERT_TRUE(repo.ok()) << what << ": " << repo.status().ToString();
    auto listed = (*repo)->ListSnapshots();
    ASSERT_TRUE(listed.ok()) << what;
    std::set<std::string> names;
    for (const Manifest& m : *listed) {
      names.insert(m.name);
      RestoreOptions o;
      o.target = dir + "/out-" + m.id;
      ASSERT_TRUE(RestoreSnapshot(**repo, m, o).ok()) << what << ": snapshot " << m.name;
      EXPECT_EQ(testing::DiffTrees(m.name == "a" ? a_tree : b_tree, o.target), "")
          << what << ": snapshot " << m.name;
    }
    if (ack.a && !ack.a_removed) {
      EXPECT_TRUE(names.count("a")) << what << ": a was acknowledged";
    }
    if (ack.a_removed) {
      EXPECT_FALSE(names.count("a")) << what << ": a's delete was acknowledged";
    }
    if (ack.b) {
      EXPECT_TRUE(names.count("b")) << what << ": b was acknowledged";
    }
    if (ack.wal) {
      auto archive = WalArchive::Open(repo_, kArchive);
      ASSERT_TRUE(archive.ok());
      ASSERT_TRUE(archive->Fetch(kSegment, dir + "/fetched").ok()) << what;
      EXPECT_EQ(testing::ReadFile(dir + "/fetched"), testing::RandomBytes(1 << 20, 7)) << what;
    }
    CreateOptions o;
    o.source = source_;
    o.name = "after";
    o.mode = SnapshotMode::kRepository;
    ASSERT_TRUE(CreateSnapshot(**repo, o).ok()) << what << ": a snapshot after the power came back";
    auto reopened = Repository::Open(repo_);
    ASSERT_TRUE(reopened.ok());
    ASSERT_TRUE(CollectGarbage(**reopened).ok()) << what;
    auto again = VerifyRepository(repo_);
    ASSERT_TRUE(again.ok() && again->ok()) << what << ": after new work";
  }

  std::string repo_;
  std::string source_;
};

TEST_F(PowerLossTest, EverySyncPointOfTheWritersLosesNothingAcknowledged) {
  // The dry run: every step done, the syncs counted, and the source's two states kept to
  // compare restores with.
  TempDir dry;
  Prepare(dry.path());
  int points = 0;
  {
    PowerCut count(repo_, 0);
    Observing observing(&count);
    Acknowledged all = Run();
    ASSERT_TRUE(all.a && all.b && all.a_removed && all.gc && all.wal)
        << "the dry run failed: " << all.a << all.b << all.a_removed << all.gc << all.wal;
    points = count.syncs();
  }
  // Two snapshots of several packs, a delete, a gc, a WAL file: if the writers stopped
  // telling the file layer, this would fall.
  ASSERT_GE(points, 12) << "the writers' syncs do not go through base/files";

  for (int k = 1; k <= points; ++k) {
    TempDir dir;
    Prepare(dir.path());
    // The source's first state, mtimes included; its second is the source after the run.
    const std::string a_tree = dir / "a-state";
    CopyKeepingTimes(source_, a_tree);
    PowerCut cut(repo_, k);
    Acknowledged ack;
    {
      Observing observing(&cut);
      ack = Run();
    }
    ASSERT_TRUE(cut.cut()) << "sync point " << k << " of " << points << " was never reached";
    cut.DropWhatWasNotDurable();
    ExpectRecovered(ack, dir.path(), a_tree, source_,
                    fmt::format("power cut before sync {} of {}", k, points));
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace dbaas::storage
