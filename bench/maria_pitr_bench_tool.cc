// dbaas_maria_pitr_bench_tool: the benchmark of issue 20, run by bench/maria_pitr_bench.sh.
// A MariaDB instance filled to --size-mb and backed up, then --load-seconds of a steady
// write load (autocommit single-row UPDATEs) while its binlogs are drained into the
// repository once a second, as dbaasd does: the drain's throughput, and the recovery point
// (how old the newest archived commit is, sampled every second: what would be lost if the
// instance vanished then). Then restores: the backup as taken, and to a time near the end
// of the load (the backup plus the binlog replayed). Prints a Markdown report.
#include <sys/stat.h>

#include <algorithm>
#include <iostream>
#include <numeric>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "base/files.h"
#include "engines/engine.h"
#include "engines/mariadb/maria_backup.h"
#include "engines/mariadb/maria_binlog.h"
#include "engines/mariadb/maria_log_archiving.h"
#include "maria_bench_common.h"

namespace {

using namespace dbaas::bench;  // NOLINT: the tools' shared helpers
using dbaas::Status;

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The commit time (seconds) of the newest archived binlog's last transaction, if any.
std::optional<int64_t> NewestArchivedCommit(const dbaas::storage::WalArchive& archive) {
  auto listed = archive.List();
  if (!listed.ok()) return std::nullopt;
  std::vector<dbaas::storage::WalFileInfo> files = std::move(listed).value();
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    auto raw = archive.Read(it->name, dbaas::storage::BlobCheck::kFrameChecksum);
    if (!raw.ok()) return std::nullopt;
    auto scan = engines::ScanBinlogFile(*raw);
    if (scan.ok() && !scan->transactions.empty()) return scan->transactions.back().commit_time;
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"MariaDB point-in-time recovery benchmark (bench/maria_pitr_bench.sh runs it)"};
  std::string dir;
  int size_mb = 1024, writers = 2, load_seconds = 600, rpo_seconds = 60;
  app.add_option("--dir", dir, "work directory")->required();
  app.add_option("--size-mb", size_mb, "data to load, MiB");
  app.add_option("--writers", writers, "write-load connections");
  app.add_option("--load-seconds", load_seconds, "how long the write load runs");
  app.add_option("--rpo-seconds", rpo_seconds,
                 "binlogArchiveSeconds: the file in progress's age limit");
  CLI11_PARSE(app, argc, argv);

  const std::string repo_path = dbaas::JoinPath(dir, "repo");
  (void)dbaas::RemoveTree(dir);
  if (Status st = dbaas::MakeDirs(dir); !st.ok()) return Fail(st);
  ::chmod(dir.c_str(), 0711);
  if (Status st = dbaas::storage::Repository::Init(repo_path, {}); !st.ok()) return Fail(st);
  auto repo = dbaas::storage::Repository::Open(repo_path);
  if (!repo.ok()) return Fail(repo.status());
  auto engine_set = engines::PackagedEngines(dbaas::runtime::Local());
  const engines::Engine* engine = engine_set->For("mariadb").value();

  auto spec_of = [&](const std::string& name) {
    engines::InstanceSpec spec;
    spec.name = name;
    spec.type = "mariadb";
    spec.data_root = dbaas::JoinPath(dir, "instances");
    spec.config = {{"innodb_buffer_pool_size", "512M"}};
    spec.archiving = {repo_path, "/usr/bin/true", "", "", ""};
    return spec;
  };
  auto src = engines::MariaInstance::Create(spec_of("src"));
  if (!src.ok()) return Fail(src.status());
  if (Status st = (*src)->Start(); !st.ok()) return Fail(st);
  auto conn = engines::MariaConnection::Connect((*src)->client());
  if (!conn.ok()) return Fail(conn.status());
  long rows = 0;
  auto fill_started = steady_clock::now();
  if (Status st = FillBenchTable(*conn, size_mb, &rows); !st.ok()) return Fail(st);
  std::cerr << fmt::format("loaded in {:.1f} s\n", Since(fill_started));
  auto archive = dbaas::storage::WalArchive::Open(repo_path, (*src)->log_archive_id()).value();
  auto spool = *(*src)->binlog_spool();
  // What the fill wrote is archived before the backup: the load's binlog is what is measured.
  if (Status st = engines::ArchiveBinlogsNow(spool, archive); !st.ok()) return Fail(st);
  auto backup = engine->Backup(**src, **repo, "base", nullptr);
  if (!backup.ok()) return Fail(backup.status());
  std::cerr << fmt::format("backup ({}) in {:.1f} s\n", backup->facts.method, backup->seconds);

  // The load, with the daemon's drain once a second.
  std::vector<double> lags;
  double drain_seconds = 0;
  uint64_t drained_bytes = 0, drained_files = 0;
  const int64_t load_started_us = NowUs();
  long commits = 0;
  {
    WriteLoad load((*src)->client(), writers, rows);
    auto started = steady_clock::now();
    std::optional<int64_t> newest;
    while (Since(started) < load_seconds) {
      auto tick = steady_clock::now();
      auto drained = engines::DrainBinlogs(spool, archive, std::chrono::seconds(rpo_seconds),
                                           engines::BinlogDrain::kRunning);
      drain_seconds += Since(tick);
      if (!drained.ok()) return Fail(drained.status());
      drained_bytes += drained->raw_bytes;
      drained_files += drained->files;
      if (drained->files > 0) newest = NewestArchivedCommit(archive);
      if (newest) lags.push_back(static_cast<double>(NowUs()) / 1e6 - static_cast<double>(*newest));
      std::this_thread::sleep_for(
          std::chrono::milliseconds(1000) -
          std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - tick));
    }
    commits = load.commits();
  }
  const int64_t target_us = load_started_us + static_cast<int64_t>(load_seconds) * 900000;
  if (Status st = engines::ArchiveBinlogsNow(spool, archive); !st.ok()) return Fail(st);
  uint64_t archived_bytes = 0;
  auto archived = archive.List();
  if (!archived.ok()) return Fail(archived.status());
  for (const auto& f : *archived) archived_bytes += f.stored_bytes;

  auto timed_restore = [&](const std::string& name, engines::RecoveryTarget target) {
    target.archive_id = (*src)->log_archive_id();
    auto t = steady_clock::now();
    auto restored = engine->Restore(**repo, backup->snapshot, spec_of(name),
                                    (*src)->endpoint().password, target, nullptr, nullptr);
    double seconds = Since(t);
    if (!restored.ok()) {
      std::cerr << name << ": " << restored.status().ToString() << "\n";
      return -1.0;
    }
    (void)(*restored)->Delete();
    return seconds;
  };
  double as_taken = timed_restore("as-taken", {});
  engines::RecoveryTarget at_time;
  at_time.kind = engines::RecoveryTarget::Kind::kTime;
  at_time.time_unix_us = target_us;
  double to_time = timed_restore("to-time", at_time);

  std::sort(lags.begin(), lags.end());
  double lag_max = lags.empty() ? -1 : lags.back();
  double lag_median = lags.empty() ? -1 : lags[lags.size() / 2];
  std::cout << fmt::format(
      "| data | load | commits | binlog drained | drain time | drain MB/s | stored (zstd) | "
      "recovery point median / max | restore as taken | restore to time (+{:.0f} s of load) |\n"
      "|---|---|---|---|---|---|---|---|---|---|\n"
      "| {} MiB | {} s, {} writers | {} ({:.0f}/s) | {:.1f} MiB in {} files | {:.2f} s | {:.0f} | "
      "{:.1f} MiB | {:.1f} / {:.1f} s | {:.1f} s | {:.1f} s |\n",
      load_seconds * 0.9, size_mb, load_seconds, writers, commits,
      commits / static_cast<double>(load_seconds), drained_bytes / 1048576.0, drained_files,
      drain_seconds, drain_seconds > 0 ? drained_bytes / 1048576.0 / drain_seconds : 0,
      archived_bytes / 1048576.0, lag_median, lag_max, as_taken, to_time);
  (void)(*src)->Delete();
  return as_taken < 0 || to_time < 0 ? 1 : 0;
}
