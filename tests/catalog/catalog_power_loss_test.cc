// Power loss under the catalog. SQLite writes through its own VFS, not base/files, so the
// catalog gets its own fault-injecting layer: PowerCutVfs, a VFS shim (SQLite's documented
// way to wrap its OS layer; LevelDB's fault-injection env is the model) over the default
// unix VFS. It passes every call through, keeps each file's content as of its last sync
// (what survives a power cut), cuts the power before a chosen sync (that sync and every
// write, sync, truncate and delete after it fail), and then puts every file back as it was
// at its last sync: unsynced writes and files never synced are gone, deletes that SQLite
// did not make durable are undone. The test walks every sync point of a run of the
// catalog's updates (the dry run counts them: a new one is a case without anyone writing
// it); after each cut the catalog opens, passes PRAGMA integrity_check, holds every update
// that was acknowledged, and takes new ones.
#include <sqlite3.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "catalog/catalog.h"
#include "test_util.h"

namespace dbaas::catalog {
namespace {

// What the power cut knows; one at a time (the VFS is process-wide).
struct PowerState {
  std::mutex mu;
  int cut_at = 0;  // 0: never (count only)
  int syncs = 0;
  bool cut = false;
  // Each file's content as a power cut would leave it; nullopt: it would not exist.
  std::map<std::string, std::optional<std::string>> durable;
};
PowerState g_power;

std::optional<std::string> ContentOf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct ShimFile {
  sqlite3_file base;
  sqlite3_file* real;  // the unix VFS's file, right after this struct
  std::string* path;
};

sqlite3_vfs* g_real = nullptr;

sqlite3_file* Real(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f)->real; }
const std::string& PathOf(sqlite3_file* f) { return *reinterpret_cast<ShimFile*>(f)->path; }

bool Cut() {
  std::lock_guard lock(g_power.mu);
  return g_power.cut;
}

int ShimClose(sqlite3_file* f) {
  int rc = Real(f)->pMethods ? Real(f)->pMethods->xClose(Real(f)) : SQLITE_OK;
  delete reinterpret_cast<ShimFile*>(f)->path;
  return rc;
}
int ShimRead(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return Real(f)->pMethods->xRead(Real(f), buf, n, off);
}
int ShimWrite(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  if (Cut()) return SQLITE_IOERR_WRITE;
  return Real(f)->pMethods->xWrite(Real(f), buf, n, off);
}
int ShimTruncate(sqlite3_file* f, sqlite3_int64 size) {
  if (Cut()) return SQLITE_IOERR_TRUNCATE;
  return Real(f)->pMethods->xTruncate(Real(f), size);
}
int ShimSync(sqlite3_file* f, int flags) {
  {
    std::lock_guard lock(g_power.mu);
    if (g_power.cut) return SQLITE_IOERR_FSYNC;
    if (++g_power.syncs == g_power.cut_at) {
      g_power.cut = true;
      return SQLITE_IOERR_FSYNC;
    }
  }
  int rc = Real(f)->pMethods->xSync(Real(f), flags);
  if (rc == SQLITE_OK) {
    // Its content and (the unix VFS syncs a new journal's directory here) its name.
    std::lock_guard lock(g_power.mu);
    g_power.durable[PathOf(f)] = ContentOf(PathOf(f));
  }
  return rc;
}
int ShimFileSize(sqlite3_file* f, sqlite3_int64* size) {
  return Real(f)->pMethods->xFileSize(Real(f), size);
}
int ShimLock(sqlite3_file* f, int level) { return Real(f)->pMethods->xLock(Real(f), level); }
int ShimUnlock(sqlite3_file* f, int level) { return Real(f)->pMethods->xUnlock(Real(f), level); }
int ShimCheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
}
int ShimFileControl(sqlite3_file* f, int op, void* arg) {
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int ShimSectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int ShimDeviceCharacteristics(sqlite3_file* f) {
  return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
}
int ShimShmMap(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
  return Real(f)->pMethods->xShmMap(Real(f), page, size, extend, out);
}
int ShimShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void ShimShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int ShimShmUnmap(sqlite3_file* f, int delete_flag) {
  return Real(f)->pMethods->xShmUnmap(Real(f), delete_flag);
}

// Version 2: no memory-mapped reads (the catalog sets no mmap_size), so every read is seen.
const sqlite3_io_methods kShimMethods = {2,
                                         ShimClose,
                                         ShimRead,
                                         ShimWrite,
                                         ShimTruncate,
                                         ShimSync,
                                         ShimFileSize,
                                         ShimLock,
                                         ShimUnlock,
                                         ShimCheckReservedLock,
                                         ShimFileControl,
                                         ShimSectorSize,
                                         ShimDeviceCharacteristics,
                                         ShimShmMap,
                                         ShimShmLock,
                                         ShimShmBarrier,
                                         ShimShmUnmap,
                                         nullptr,
                                         nullptr};

int ShimOpen(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto* shim = reinterpret_cast<ShimFile*>(f);
  shim->real = reinterpret_cast<sqlite3_file*>(shim + 1);
  shim->path = new std::string(name ? name : "");
  shim->base.pMethods = nullptr;
  bool existed = name && PathExists(name);
  int rc = g_real->xOpen(g_real, name, shim->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    delete shim->path;
    return rc;
  }
  shim->base.pMethods = &kShimMethods;
  std::lock_guard lock(g_power.mu);
  if (name && !g_power.durable.count(name)) {
    // A file there before the run is durable as it is; one made now, not until synced.
    g_power.durable[name] = existed ? ContentOf(name) : std::nullopt;
  }
  return SQLITE_OK;
}

int ShimDelete(sqlite3_vfs*, const char* name, int sync_dir) {
  if (Cut()) return SQLITE_IOERR_DELETE;
  int rc = g_real->xDelete(g_real, name, sync_dir);
  if (rc == SQLITE_OK && sync_dir) {
    std::lock_guard lock(g_power.mu);
    g_power.durable[name] = std::nullopt;
  }
  return rc;
}

int ShimAccess(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real->xAccess(g_real, name, flags, out);
}
int ShimFullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real->xFullPathname(g_real, name, n, out);
}
int ShimRandomness(sqlite3_vfs*, int n, char* out) { return g_real->xRandomness(g_real, n, out); }
int ShimSleep(sqlite3_vfs*, int us) { return g_real->xSleep(g_real, us); }
int ShimCurrentTime(sqlite3_vfs*, double* out) { return g_real->xCurrentTime(g_real, out); }
int ShimGetLastError(sqlite3_vfs*, int n, char* out) {
  return g_real->xGetLastError(g_real, n, out);
}

// Registers the shim as the default VFS for a scope (Catalog::Open uses the default).
class PowerCutVfs {
 public:
  explicit PowerCutVfs(int cut_at) {
    g_real = sqlite3_vfs_find("unix");
    {
      std::lock_guard lock(g_power.mu);
      g_power.cut_at = cut_at;
      g_power.syncs = 0;
      g_power.cut = false;
      g_power.durable.clear();
    }
    vfs_.iVersion = 1;
    vfs_.szOsFile = static_cast<int>(sizeof(ShimFile)) + g_real->szOsFile;
    vfs_.mxPathname = g_real->mxPathname;
    vfs_.zName = "powercut";
    vfs_.xOpen = ShimOpen;
    vfs_.xDelete = ShimDelete;
    vfs_.xAccess = ShimAccess;
    vfs_.xFullPathname = ShimFullPathname;
    vfs_.xRandomness = ShimRandomness;
    vfs_.xSleep = ShimSleep;
    vfs_.xCurrentTime = ShimCurrentTime;
    vfs_.xGetLastError = ShimGetLastError;
    EXPECT_EQ(sqlite3_vfs_register(&vfs_, 1), SQLITE_OK);
  }
  ~PowerCutVfs() { sqlite3_vfs_unregister(&vfs_); }

  int syncs() const {
    std::lock_guard lock(g_power.mu);
    return g_power.syncs;
  }
  bool cut() const {
    std::lock_guard lock(g_power.mu);
    return g_power.cut;
  }
  // Every connection must be closed: the files go back to what their last sync made
  // durable, and the shared-memory index (rebuilt from the WAL by the next opener) goes.
  void DropWhatWasNotDurable() {
    std::lock_guard lock(g_power.mu);
    for (const auto& [path, content] : g_power.durable) {
      if (!content) {
        ::unlink(path.c_str());
        continue;
      }
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << *content;
    }
    for (const auto& [path, content] : g_power.durable) ::unlink((path + "-shm").c_str());
  }

 private:
  sqlite3_vfs vfs_{};
};

// What the catalog said was done before the power went.
struct Acknowledged {
  int steps = 0;  // how many of the run's updates returned Ok
};

InstanceRecord Instance(const std::string& name) {
  InstanceRecord r;
  r.name = name;
  r.type = "postgresql";
  r.status = InstanceState::kCreating;
  r.created_at = r.updated_at = NowRfc3339();
  return r;
}

BackupRecord Backup(const std::string& name) {
  BackupRecord b;
  b.name = name;
  b.instance = "i1";
  b.instance_type = "postgresql";
  b.status = BackupState::kCreating;
  b.created_at = NowRfc3339();
  return b;
}

// The service's updates in the order a day of work makes them, reopened half-way (the
// last connection's close checkpoints the WAL into the database and removes it: those
// syncs are points too). Stops at the first update that fails.
Acknowledged RunUpdates(const std::string& path) {
  Acknowledged ack;
  auto cat = Catalog::Open(path);
  if (!cat.ok()) return ack;
  std::vector<std::function<Status(Catalog&)>> steps = {
      [](Catalog& c) { return c.InsertInstance(Instance("i1")); },
      [](Catalog& c) { return c.UpdateInstanceStatus("i1", InstanceState::kRunning); },
      [](Catalog& c) { return c.InsertBackup(Backup("b1")); },
      [](Catalog& c) {
        BackupRecord b = Backup("b1");
        b.status = BackupState::kReady;
        b.snapshot_id = "0123456789abcdef";
        return c.UpdateBackup(b);
      },
      [](Catalog& c) { return c.InsertInstance(Instance("i2")); },
      [](Catalog& c) { return c.InsertBackup(Backup("b2")); },
      [](Catalog& c) { return c.DeleteBackup("b2"); },
      [](Catalog& c) { return c.DeleteInstance("i2"); },
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    if (i == 4) {  // close (checkpoint) and open again
      cat->reset();
      cat = Catalog::Open(path);
      if (!cat.ok()) return ack;
    }
    if (!steps[i](**cat).ok()) return ack;
    ++ack.steps;
  }
  cat->reset();  // the final checkpoint
  return ack;
}

// Each acknowledged step's effect is there (a step not acknowledged may or may not be).
void ExpectAcknowledged(Catalog& c, const Acknowledged& ack, const std::string& what) {
  auto i1 = c.GetInstance("i1");
  if (ack.steps >= 1) {
    ASSERT_TRUE(i1.ok()) << what << ": i1 was acknowledged";
  }
  if (ack.steps >= 2) {
    EXPECT_EQ(i1->status, InstanceState::kRunning) << what;
  }
  auto b1 = c.GetBackup("b1");
  if (ack.steps >= 3) {
    ASSERT_TRUE(b1.ok()) << what << ": b1 was acknowledged";
  }
  if (ack.steps >= 4) {
    EXPECT_EQ(b1->status, BackupState::kReady) << what;
    EXPECT_EQ(b1->snapshot_id, "0123456789abcdef") << what;
  }
  if (ack.steps >= 5 && ack.steps < 8) {
    EXPECT_TRUE(c.GetInstance("i2").ok()) << what;
  }
  if (ack.steps == 6) {
    EXPECT_TRUE(c.GetBackup("b2").ok()) << what;
  }
  if (ack.steps >= 7) {
    EXPECT_FALSE(c.GetBackup("b2").ok()) << what << ": b2's delete";
  }
  if (ack.steps >= 8) {
    EXPECT_FALSE(c.GetInstance("i2").ok()) << what << ": i2's delete";
  }
}

std::string IntegrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  std::string result;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_exec(
        db, "PRAGMA integrity_check",
        [](void* out, int, char** values, char**) {
          *static_cast<std::string*>(out) += values[0] ? values[0] : "null";
          return 0;
        },
        &result, nullptr);
  } else {
    result = sqlite3_errmsg(db);
  }
  sqlite3_close_v2(db);
  return result;
}

TEST(CatalogPowerLossTest, EverySyncPointOfTheCatalogLosesNothingAcknowledged) {
  int points = 0;
  {
    testing::TempDir dry;
    const std::string path = dry / "catalog.db";
    ASSERT_TRUE(Catalog::Open(path).ok());  // made (and migrated) before the run
    PowerCutVfs count(0);
    Acknowledged all = RunUpdates(path);
    ASSERT_EQ(all.steps, 8) << "the dry run failed";
    points = count.syncs();
  }
  // A sync per commit at least: if SQLite stopped going through the shim, this would fall.
  ASSERT_GE(points, 8) << "the catalog's syncs do not go through the shim";

  for (int k = 1; k <= points; ++k) {
    const std::string what = fmt::format("power cut before sync {} of {}", k, points);
    testing::TempDir dir;
    const std::string path = dir / "catalog.db";
    ASSERT_TRUE(Catalog::Open(path).ok());
    Acknowledged ack;
    {
      PowerCutVfs cut(k);
      ack = RunUpdates(path);
      ASSERT_TRUE(cut.cut()) << what << " was never reached";
      cut.DropWhatWasNotDurable();
    }
    EXPECT_EQ(IntegrityCheck(path), "ok") << what;
    auto reopened = Catalog::Open(path);
    ASSERT_TRUE(reopened.ok()) << what << ": " << reopened.status().ToString();
    ExpectAcknowledged(**reopened, ack, what);
    EXPECT_TRUE((*reopened)->InsertInstance(Instance("after")).ok()) << what << ": new work";
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace dbaas::catalog
