#include "engines/log_spool.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "storage/wal_archive.h"

namespace dbaas::engines {
namespace {

// Whether the status file says `failure` already ("<time> <failure>").
bool RecordedAlready(const std::string& status_path, const std::string& failure) {
  auto line = storage::ReadArchivingFailure(status_path);
  if (!line) return false;
  std::string one_line = failure;  // as RecordArchivingFailure writes it
  for (char& c : one_line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  size_t space = line->find(' ');  // after the RFC 3339 time, which has none
  return space != std::string::npos && line->compare(space + 1, std::string::npos, one_line) == 0;
}

}  // namespace

Result<storage::SpoolDrain> DrainLogSpool(const LogSpool& spool) {
  auto drained = [&]() -> Result<storage::SpoolDrain> {
    ASSIGN_OR_RETURN(storage::WalArchive archive,
                     storage::WalArchive::Open(spool.repo_path, spool.archive_id));
    if (spool.drain) return spool.drain(archive, spool.close_after);
    storage::StoredWalFile stored;
    if (spool.summarize) {
      stored = [&](const std::string& name, std::span<const uint8_t> raw) {
        spool.summarize(archive, name, raw);
      };
    }
    return storage::DrainWalSpool(spool.dir, archive, storage::kSpoolTempStaleAfter, stored);
  }();
  const std::string failure = DrainFailure(spool, drained);
  // The status file is ours (root's, beside the spool): no tenant can plant anything there.
  // Written only when what it says changes: a drain failing every second must not sync a
  // file every second.
  Status recorded;
  if (failure.empty()) {
    recorded = storage::ClearArchivingFailure(spool.status_path);
  } else if (!RecordedAlready(spool.status_path, failure)) {
    recorded = storage::RecordArchivingFailure(spool.status_path, failure);
  }
  if (!recorded.ok()) {
    spdlog::warn("event=spool_status_unwritable instance={} error=\"{}\"", spool.instance,
                 recorded.ToString());
  }
  if (drained.ok() && drained->files > 0) {
    spdlog::debug("event=spool_drained instance={} files={} bytes={}", spool.instance,
                  drained->files, drained->raw_bytes);
  }
  return drained;
}

void DrainLogSpoolOrWarn(const LogSpool& spool) {
  if (auto drained = DrainLogSpool(spool); !drained.ok()) {
    spdlog::warn("event=spool_drain_failed instance={} error=\"{}\"", spool.instance,
                 drained.status().ToString());
  }
}

std::string DrainFailure(const LogSpool& spool, const Result<storage::SpoolDrain>& drained) {
  if (!drained.ok()) return drained.status().ToString();
  if (drained->refused.empty()) return "";
  return fmt::format("the spool {} holds what no server writes, left there: {}", spool.dir,
                     fmt::join(drained->refused, "; "));
}

std::string PushNote(const LogSpool& spool) {
  if (spool.push_status_path.empty()) return "";
  auto failure = storage::ReadArchivingFailure(spool.push_status_path);
  if (!failure) return "";
  return "WAL archiving is failing (PostgreSQL keeps the WAL and retries): " + *failure;
}

std::string DrainNote(const std::string& failure) {
  if (failure.empty()) return "";
  return "the database's log (WAL, binlog) cannot be moved from the instance into the repository "
         "(the instance keeps it): " +
         failure;
}

std::string LogSpoolNote(const LogSpool& spool) {
  if (std::string push = PushNote(spool); !push.empty()) return push;
  return DrainNote(storage::ReadArchivingFailure(spool.status_path).value_or(""));
}

}  // namespace dbaas::engines
