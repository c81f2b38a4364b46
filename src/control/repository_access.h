// The snapshot repository as the service's operations share it. One writer at a time
// (backups, backup deletion, WAL pruning); readers (restores, drills, archive scans) run
// beside the writer; garbage collection runs alone, because it deletes packs a reader may
// be about to open. An operation takes a hold for as long as it uses the repository, and
// opens the repository under it (afresh: it then sees every pack committed before).
//
// Lock order (docs/ARCHITECTURE.md): a hold is taken before Service's mutex, never while
// holding it; within a hold, the writer before the gc lock.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "base/status.h"
#include "storage/repository.h"

namespace dbaas::control {

class RepositoryAccess {
 public:
  explicit RepositoryAccess(std::string path) : path_(std::move(path)) {}
  RepositoryAccess(const RepositoryAccess&) = delete;
  RepositoryAccess& operator=(const RepositoryAccess&) = delete;

  const std::string& path() const { return path_; }

  // A reader's hold: no gc runs while it lasts.
  struct ReadHold {
    std::shared_lock<std::shared_mutex> no_gc;
  };
  // The writer's hold: no other writer, no gc.
  struct WriteHold {
    std::unique_lock<std::mutex> writer;
    std::shared_lock<std::shared_mutex> no_gc;
  };
  // gc's hold: no writer, no reader.
  struct ExclusiveHold {
    std::unique_lock<std::mutex> writer;
    std::unique_lock<std::shared_mutex> gc;
  };
  // Each waits until it can be had.
  ReadHold HoldForRead() const;
  WriteHold HoldForWrite();
  ExclusiveHold HoldExclusive();
  // The writer's hold made exclusive, the writer kept throughout: for what writes beside
  // the readers, then deletes what they may be reading (the compaction after a backup).
  ExclusiveHold MakeExclusive(WriteHold&& hold);
  // The writer only, for what touches no pack (pruning WAL archives).
  std::unique_lock<std::mutex> HoldWriterOnly();

  // Opens the repository; call under a hold.
  Result<std::unique_ptr<storage::Repository>> Open() const;

  // Its sizes for /metrics, read again only when its list of snapshots has changed (a
  // backup, a delete, its gc; an offline `dbaas` command too) or after 10 minutes: summing
  // every snapshot on each scrape would grow with the backups kept. Never waits for a gc:
  // a scrape during one gets the last sizes.
  struct Sizes {
    uint64_t logical_bytes = 0;
    uint64_t stored_bytes = 0;
    bool valid = false;  // read at least once
  };
  Sizes CurrentSizes() const;

 private:
  std::string path_;
  std::mutex writer_;
  mutable std::shared_mutex gc_;

  struct CachedSizes {
    Sizes sizes;
    int64_t snapshots_changed_at = 0;
    std::chrono::steady_clock::time_point read_at;
  };
  mutable std::mutex sizes_mu_;
  mutable CachedSizes cached_;  // guarded by sizes_mu_
};

}  // namespace dbaas::control
