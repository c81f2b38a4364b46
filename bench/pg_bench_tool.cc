// dbaas_pg_bench_tool: drives the PostgreSQL engine from shell scripts for
// bench/pg_backup_bench.sh, until dbaasd and its CLI (issue #4) can. JSON on stdout.
#include <iostream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "base/files.h"
#include "base/process.h"
#include "engines/log_spool.h"
#include "engines/postgres/pg_backup.h"
#include "engines/postgres/pg_instance.h"
#include "storage/repository.h"

namespace {

using dbaas::Status;
using nlohmann::json;
namespace engines = dbaas::engines;

int Fail(const Status& st) {
  std::cerr << "error: " << st.ToString() << "\n";
  return 1;
}

json InfoJson(const engines::PgInstance& inst) {
  engines::PgConnectionInfo c = inst.connection();
  json info = {{"name", inst.name()},    {"port", c.port}, {"socket_dir", c.socket_dir},
               {"password", c.password}, {"user", c.user}, {"data_dir", inst.data_dir()}};
  if (auto spool = inst.log_spool()) {
    info["wal_spool"] = spool->dir;
    info["wal_repo"] = spool->repo_path;
    info["wal_archive"] = spool->archive_id;
  }
  return info;
}

// The server detached from this short-lived process: pg_ctl, as the server's user.
Status PgCtl(const engines::PgInstance& inst, const std::string& bin_dir,
             std::vector<std::string> args) {
  dbaas::ProcessOptions o;
  o.argv = {dbaas::JoinPath(bin_dir, "pg_ctl"), "-D", inst.data_dir(), "-w", "-t", "600"};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.cwd = inst.dir();
  return dbaas::CheckExit(inst.RunTool(o, std::chrono::minutes(11)), o.argv[0]).status();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Drives the PostgreSQL engine for benchmarks"};
  app.require_subcommand(1);
  std::string root, name, repo_path, mode = "repository", snapshot, new_name, password;
  uint16_t port = 0;
  bool whole_files = false;
  std::string archive_repo, dbaas_cli;
  auto* create = app.add_subcommand("create", "initdb a new instance (not started)");
  auto* start = app.add_subcommand("start", "start the server detached (pg_ctl)");
  auto* stop = app.add_subcommand("stop", "stop the server (fast shutdown)");
  auto* info = app.add_subcommand("info", "connection details");
  auto* backup = app.add_subcommand("backup", "consistent online backup into a repository");
  auto* restore = app.add_subcommand("restore",
                                     "restore into a new instance, to accepting "
                                     "connections; then stop it");
  auto* usage = app.add_subcommand(
      "usage", "measure the instance's volume usage as dbaasd's VolumeWatcher does (timed)");
  auto* drain = app.add_subcommand(
      "drain", "move the WAL spool into the archive as dbaasd does, summarizing segments (timed)");
  for (auto* c : {create, start, stop, info, backup, restore, usage, drain}) {
    c->add_option("--root", root, "data root")->required();
  }
  for (auto* c : {create, start, stop, info, backup, usage, drain}) {
    c->add_option("--name", name, "instance name")->required();
  }
  create->add_option("--port", port, "port (default: a free one)");
  create->add_option("--archive-repo", archive_repo,
                     "archive WAL into this repository (through the instance's spool)");
  create->add_option("--dbaas", dbaas_cli, "the dbaas CLI, for archive_command (wal-push)");
  for (auto* c : {backup, restore}) c->add_option("--repo", repo_path, "repository")->required();
  backup->add_option("--mode", mode, "repository, thin or auto")
      ->check(CLI::IsMember({"repository", "thin", "auto"}));
  backup->add_flag("--whole-files", whole_files,
                   "an incremental reads changed files whole (not the blocks the WAL names)");
  restore->add_option("--snapshot", snapshot, "snapshot id or name")->required();
  restore->add_option("--new-name", new_name, "name of the new instance")->required();
  restore->add_option("--password", password, "superuser password of the source")->required();
  CLI11_PARSE(app, argc, argv);

  auto bin_dir = engines::FindPgBinDir();
  if (!bin_dir.ok()) return Fail(bin_dir.status());
  if (create->parsed()) {
    engines::PgInstanceSpec spec;
    spec.name = name;
    spec.data_root = root;
    spec.port = port;
    if (!archive_repo.empty()) spec.archiving = {archive_repo, dbaas_cli, "", "", ""};
    auto inst = engines::PgInstance::Create(spec);
    if (!inst.ok()) return Fail(inst.status());
    std::cout << InfoJson(*inst).dump() << std::endl;
    return 0;
  }
  if (restore->parsed()) {
    auto repo = dbaas::storage::Repository::Open(repo_path);
    if (!repo.ok()) return Fail(repo.status());
    auto m = repo.value()->FindSnapshot(snapshot);
    if (!m.ok()) return Fail(m.status());
    engines::PgInstanceSpec spec;
    spec.name = new_name;
    spec.data_root = root;
    auto t0 = std::chrono::steady_clock::now();
    auto inst = engines::RestorePostgres(*repo.value(), m.value(), spec, password);
    if (!inst.ok()) return Fail(inst.status());
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    json j = InfoJson(*inst);
    j["seconds"] = seconds;
    Status stopped = inst->Stop();
    if (!stopped.ok()) return Fail(stopped);
    std::cout << j.dump() << std::endl;
    return 0;
  }
  auto inst = engines::PgInstance::Open(root, name);
  if (!inst.ok()) return Fail(inst.status());
  if (info->parsed()) {
    std::cout << InfoJson(*inst).dump() << std::endl;
    return 0;
  }
  if (usage->parsed()) {
    auto t0 = std::chrono::steady_clock::now();
    auto used = inst->volume_probe()();
    if (!used.ok()) return Fail(used.status());
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << json{{"usedBytes", used->used_bytes}, {"seconds", seconds}}.dump() << std::endl;
    return 0;
  }
  if (drain->parsed()) {
    auto spool = inst->log_spool();
    if (!spool) return Fail(Status::InvalidArgument("the instance does not archive its WAL"));
    auto t0 = std::chrono::steady_clock::now();
    auto drained = engines::DrainLogSpool(*spool);
    if (!drained.ok()) return Fail(drained.status());
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << json{{"files", drained->files},
                      {"rawBytes", drained->raw_bytes},
                      {"seconds", seconds}}
                     .dump()
              << std::endl;
    return 0;
  }
  if (start->parsed()) {
    Status st =
        PgCtl(*inst, bin_dir.value(),
              {"-l", dbaas::JoinPath(inst->connection().socket_dir, "pg_ctl.log"), "start"});
    if (!st.ok()) return Fail(st);
    std::cout << json{{"started", name}}.dump() << std::endl;
    return 0;
  }
  if (stop->parsed()) {
    Status st = PgCtl(*inst, bin_dir.value(), {"-m", "fast", "stop"});
    if (!st.ok()) return Fail(st);
    std::cout << json{{"stopped", name}}.dump() << std::endl;
    return 0;
  }
  auto repo = dbaas::storage::Repository::Open(repo_path);
  if (!repo.ok()) return Fail(repo.status());
  auto snapshot_mode = mode == "thin"   ? dbaas::storage::SnapshotMode::kThin
                       : mode == "auto" ? dbaas::storage::SnapshotMode::kAuto
                                        : dbaas::storage::SnapshotMode::kRepository;
  auto b = engines::BackupPostgres(
      *inst, *repo.value(), name, {.mode = snapshot_mode, .changed_blocks_from_wal = !whole_files});
  if (!b.ok()) return Fail(b.status());
  std::cout << json{{"snapshot", b->snapshot.id},
                    {"kind", dbaas::storage::SnapshotKindName(b->snapshot.kind)},
                    {"seconds", b->seconds},
                    {"seconds_in_backup_mode", b->seconds_in_backup_mode},
                    {"stored_bytes", b->snapshot.stats.stored_bytes},
                    {"logical_bytes", b->snapshot.stats.logical_bytes},
                    {"read_bytes", b->snapshot.stats.read_bytes},
                    {"partial_files", b->snapshot.stats.partial_files},
                    {"patched_chunks", b->snapshot.stats.patched_chunks},
                    {"annotations", b->snapshot.annotations},
                    {"warnings", b->snapshot.warnings},
                    {"start_lsn", b->start_lsn},
                    {"stop_lsn", b->stop_lsn}}
                   .dump()
            << std::endl;
  return 0;
}
