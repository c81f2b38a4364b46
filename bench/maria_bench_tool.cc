// dbaas_maria_bench_tool: the benchmark of issue #5, run by bench/mariadb_backup_bench.sh.
// One MariaDB instance filled to --size-mb, then, side by side in one run and under the
// same write load: this project's backup by reflink clones and by its mariadb-backup
// method, and plain `mariadb-backup --backup` (+ --prepare) as users run it; then the
// restores. Prints a Markdown report.
//
// The write load: --writers connections doing autocommit single-row UPDATEs as fast as
// they can. Per backup: how many commits went through during it (vs the rate before), and
// the longest a single commit took: what a user of the database feels as the backup's
// stall, whatever the tool claims.
#include <sys/stat.h>

#include <atomic>
#include <iostream>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "base/files.h"
#include "base/process.h"
#include "engines/mariadb/maria_backup.h"
#include "maria_bench_common.h"
#include "storage/reflink.h"

namespace {

using namespace dbaas::bench;  // NOLINT: the tools' shared helpers
using dbaas::Result;
using dbaas::Status;
using std::chrono::steady_clock;
namespace engines = dbaas::engines;

struct Row {
  std::string what;
  double seconds = 0;
  double blocked_reported = -1;  // -1: the tool does not say
  double max_commit = 0;
  double commit_rate = 0;  // commits/s during the backup
  uint64_t bytes = 0;      // what it wrote
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"MariaDB backup benchmark (bench/mariadb_backup_bench.sh runs it)"};
  std::string dir;
  int size_mb = 1024, writers = 2, runs = 1;
  app.add_option("--dir", dir, "work directory (XFS with reflink=1 for the reflink rows)")
      ->required();
  app.add_option("--size-mb", size_mb, "data to load, MiB");
  app.add_option("--writers", writers, "write-load connections during the backups");
  app.add_option("--runs", runs, "backups per method (the median by time is reported)");
  CLI11_PARSE(app, argc, argv);

  std::string root = dbaas::JoinPath(dir, "instances");
  std::string repo_path = dbaas::JoinPath(dir, "repo");
  (void)dbaas::RemoveTree(dir);
  if (Status st = dbaas::MakeDirs(dir); !st.ok()) return Fail(st);
  ::chmod(dir.c_str(), 0711);
  if (Status st = dbaas::storage::Repository::Init(repo_path, {}); !st.ok()) return Fail(st);
  auto repo = dbaas::storage::Repository::Open(repo_path);
  if (!repo.ok()) return Fail(repo.status());

  engines::InstanceSpec spec;
  spec.name = "src";
  spec.type = "mariadb";
  spec.data_root = root;
  spec.config = {{"innodb_buffer_pool_size", "512M"}};
  auto src = engines::MariaInstance::Create(spec);
  if (!src.ok()) return Fail(src.status());
  if (Status st = (*src)->Start(); !st.ok()) return Fail(st);
  auto conn = engines::MariaConnection::Connect((*src)->client());
  if (!conn.ok()) return Fail(conn.status());

  long rows = 0;
  auto load_started = steady_clock::now();
  if (Status st = FillBenchTable(*conn, size_mb, &rows); !st.ok()) return Fail(st);
  uint64_t data_bytes = DirBytes((*src)->data_dir());
  std::cerr << fmt::format("loaded in {:.1f} s; datadir {:.2f} GiB\n", Since(load_started),
                           data_bytes / double(1ull << 30));

  bool reflink = dbaas::storage::ReflinkWorks(dbaas::JoinPath((*src)->data_dir(), "ibdata1"),
                                              (*repo)->TmpDir());
  std::vector<Row> results;
  std::vector<std::pair<std::string, dbaas::storage::Manifest>> snapshots;
  auto load_ptr = std::make_unique<WriteLoad>((*src)->client(), writers, rows);
  WriteLoad& load = *load_ptr;
  std::this_thread::sleep_for(std::chrono::seconds(3));
  auto rate_window = steady_clock::now();
  long rate_commits = load.commits();
  std::this_thread::sleep_for(std::chrono::seconds(5));
  double base_rate = (load.commits() - rate_commits) / Since(rate_window);

  auto measure = [&](const std::string& what, const std::function<Result<Row>()>& backup) {
    std::vector<Row> samples;
    for (int i = 0; i < runs; ++i) {
      (void)load.TakeMaxLatency();
      long before = load.commits();
      auto t = steady_clock::now();
      auto row = backup();
      if (!row.ok()) {
        std::cerr << what << ": " << row.status().ToString() << "\n";
        return false;
      }
      row->seconds = Since(t);
      row->commit_rate = (load.commits() - before) / row->seconds;
      row->max_commit = load.TakeMaxLatency();
      row->what = what;
      samples.push_back(row.value());
      std::cerr << fmt::format("{}: {:.2f} s, longest commit {:.3f} s\n", what, row->seconds,
                               row->max_commit);
      std::this_thread::sleep_for(std::chrono::seconds(2));
    }
    std::sort(samples.begin(), samples.end(),
              [](const Row& a, const Row& b) { return a.seconds < b.seconds; });
    Row median = samples[samples.size() / 2];
    // Bytes: the first run's (later ones into the same repository store only changes).
    for (const Row& x : samples) median.bytes = std::max(median.bytes, x.bytes);
    results.push_back(median);
    return true;
  };
  int n = 0;
  auto dbaas_backup = [&](engines::MariaBackupMethod method) {
    return [&, method]() -> Result<Row> {
      std::string name = fmt::format("b{}", n++);
      auto info = engines::BackupMaria(**src, **repo, name, method);
      if (!info.ok()) return info.status();
      snapshots.emplace_back(info->method, info->snapshot);
      Row r;
      r.blocked_reported = info->seconds_writes_blocked;
      r.bytes = info->snapshot.stats.stored_bytes;
      return r;
    };
  };
  if (reflink) measure("dbaas, reflink", dbaas_backup(engines::MariaBackupMethod::kReflink));
  measure("dbaas, mariadb-backup method", dbaas_backup(engines::MariaBackupMethod::kMariaBackup));
  std::string target = dbaas::JoinPath(dir, "baseline");
  measure("mariadb-backup --backup", [&]() -> Result<Row> {
    (void)dbaas::RemoveTree(target);
    auto out = Run({"mariadb-backup", "--defaults-file=" + (*src)->client_option_file(), "--backup",
                    "--target-dir=" + target});
    if (!out.ok()) return out.status();
    Row r;
    r.bytes = DirBytes(target);
    return r;
  });
  auto prepare_started = steady_clock::now();
  if (auto out = Run({"mariadb-backup", "--prepare", "--target-dir=" + target}); !out.ok()) {
    return Fail(out.status());
  }
  double prepare_seconds = Since(prepare_started);
  load_ptr.reset();  // restores run on a quiet machine

  // Restores, to a started server that passed CHECK TABLE (dbaas) or accepts connections
  // (mariadb-backup --copy-back: users check by hand).
  struct Restore {
    std::string what;
    double seconds;
  };
  std::vector<Restore> restores;
  int r = 0;
  std::set<std::string> restored_methods;
  for (const auto& [method, snap] : snapshots) {
    if (!restored_methods.insert(method).second) continue;
    engines::InstanceSpec copy = spec;
    copy.name = fmt::format("copy{}", r++);
    auto t = steady_clock::now();
    auto restored = engines::RestoreMaria(**repo, snap, copy, (*src)->endpoint().password);
    if (!restored.ok()) return Fail(restored.status());
    restores.push_back({"dbaas, " + method + " (incl. CHECK TABLE)", Since(t)});
    (void)(*restored)->Delete();
  }
  {
    engines::InstanceSpec copy = spec;
    copy.name = "copyback";
    auto t = steady_clock::now();
    auto restored = engines::MariaInstance::CreateFrom(
        copy, (*src)->endpoint().password, [&](const std::string& data_dir) {
          return Run({"mariadb-backup", "--copy-back", "--target-dir=" + target,
                      "--datadir=" + data_dir})
              .status();
        });
    if (!restored.ok()) return Fail(restored.status());
    if (Status st = (*restored)->Start(std::chrono::minutes(10)); !st.ok()) return Fail(st);
    restores.push_back({"mariadb-backup --copy-back + start", Since(t)});
    auto bad = engines::CheckAllTables((*restored)->client());
    if (!bad.ok()) return Fail(bad.status());
    restores.push_back({"mariadb-backup --copy-back + start + CHECK TABLE", Since(t)});
    (void)(*restored)->Delete();
  }

  std::cout << fmt::format(
      "datadir {:.2f} GiB ({} MiB of rows), {} writer connections at {:.0f} commits/s before "
      "the backups; median of {} run(s); reflink {}\n\n",
      data_bytes / double(1ull << 30), size_mb, writers, base_rate, runs,
      reflink ? "available" : "not available here");
  std::cout << "| backup | wall s | writes blocked (reported) s | longest commit s | commits/s "
               "during | bytes written (first run) |\n|---|---|---|---|---|---|\n";
  for (const Row& x : results) {
    std::cout << fmt::format(
        "| {} | {:.2f} | {} | {:.3f} | {:.0f} | {:.2f} GiB |\n", x.what, x.seconds,
        x.blocked_reported < 0 ? "-" : fmt::format("{:.3f}", x.blocked_reported), x.max_commit,
        x.commit_rate, x.bytes / double(1ull << 30));
  }
  std::cout << fmt::format("| mariadb-backup --prepare (after) | {:.2f} | - | - | - | - |\n\n",
                           prepare_seconds);
  std::cout << "| restore | wall s |\n|---|---|\n";
  for (const Restore& x : restores)
    std::cout << fmt::format("| {} | {:.2f} |\n", x.what, x.seconds);
  if (Status st = (*src)->Delete(); !st.ok()) return Fail(st);  // its OS user goes with it
  return 0;
}
