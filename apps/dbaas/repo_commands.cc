// dbaas repo ... and dbaas snapshot ...: offline commands on a snapshot repository.
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "progress_bar.h"
#include "storage/repo_maintenance.h"
#include "storage/repository.h"
#include "storage/snapshot_create.h"
#include "storage/snapshot_restore.h"

namespace dbaas::cli {
namespace {

using nlohmann::json;
using storage::Manifest;
using storage::Repository;

// Runs `body` with an opened repository, turning any error into an exit code.
int WithRepo(const GlobalOptions& g, const std::string& path,
             const std::function<Status(Repository&)>& body) {
  auto repo = Repository::Open(path);
  if (!repo.ok()) return ReportError(repo.status(), g.format);
  Status st = body(*repo.value());
  return st.ok() ? 0 : ReportError(st, g.format);
}

json SnapshotJson(const Manifest& m) {
  return {{"id", m.id},
          {"name", m.name},
          {"parent", m.parent},
          {"kind", storage::SnapshotKindName(m.kind)},
          {"source", m.source},
          {"created_at", storage::FormatUnixTime(m.created_unix_ns)},
          {"files", m.stats.files},
          {"directories", m.stats.directories},
          {"symlinks", m.stats.symlinks},
          {"logical_bytes", m.stats.logical_bytes},
          {"read_bytes", m.stats.read_bytes},
          {"stored_bytes", m.stats.stored_bytes},
          {"new_blobs", m.stats.new_blobs},
          {"reused_files", m.stats.reused_files},
          {"partial_files", m.stats.partial_files},
          {"patched_chunks", m.stats.patched_chunks},
          {"seconds", m.stats.seconds},
          {"warnings", m.warnings}};
}

void AddInit(CLI::App& repo_cmd, GlobalOptions& g) {
  auto* cmd = repo_cmd.add_subcommand("init", "Create an empty repository");
  auto path = std::make_shared<std::string>();
  auto config = std::make_shared<storage::RepoConfig>();
  cmd->add_option("REPO", *path, "Directory of the new repository")->required();
  cmd->add_option("--chunk-size", config->chunk_size,
                  "Chunk size in bytes, a power of two from 4096")
      ->capture_default_str();
  cmd->add_option("--compression-level", config->compression_level, "zstd level (-7..19)")
      ->capture_default_str();
  cmd->callback([&g, path, config] {
    g.action = [&g, path, config] {
      Status st = Repository::Init(*path, *config);
      if (!st.ok()) return ReportError(st, g.format);
      if (g.format == OutputFormat::kJson) {
        PrintJson({{"path", *path},
                   {"chunk_size", config->chunk_size},
                   {"compression_level", config->compression_level}});
      } else {
        std::cout << "initialized repository " << *path << "\n";
      }
      return 0;
    };
  });
}

void AddVerify(CLI::App& repo_cmd, GlobalOptions& g) {
  auto* cmd = repo_cmd.add_subcommand("verify", "Re-read every chunk and check its hash");
  auto path = std::make_shared<std::string>();
  cmd->add_option("REPO", *path, "Repository directory")->required();
  cmd->callback([&g, path] {
    g.action = [&g, path] {
      storage::Progress progress;
      auto report = storage::VerifyRepository(*path, g.threads, &progress);
      if (!report.ok()) return ReportError(report.status(), g.format);
      const auto& r = report.value();
      return PrintVerifyReport(g.format, r.packs, r.blobs, r.bytes, r.snapshots, r.errors);
    };
  });
}

// `repo gc` and `repo compact`: `run` under the repository, its report printed.
void AddMaintenance(CLI::App& repo_cmd, GlobalOptions& g, const std::string& name,
                    const std::string& description, Result<storage::GcReport> (*run)(Repository&)) {
  auto* cmd = repo_cmd.add_subcommand(name, description);
  auto path = std::make_shared<std::string>();
  cmd->add_option("REPO", *path, "Repository directory")->required();
  cmd->callback([&g, path, run] {
    g.action = [&g, path, run] {
      return WithRepo(g, *path, [&g, run](Repository& repo) -> Status {
        ASSIGN_OR_RETURN(auto r, run(repo));
        if (g.format == OutputFormat::kJson) {
          PrintJson({{"packs_deleted", r.packs_deleted},
                     {"packs_rewritten", r.packs_rewritten},
                     {"bytes_freed", r.bytes_freed},
                     {"temp_files_removed", r.temp_files_removed},
                     {"thin_trees_removed", r.thin_trees_removed},
                     {"patches_compacted", r.patches_compacted},
                     {"patch_bytes_saved", r.patch_bytes_saved}});
        } else {
          std::cout << fmt::format(
              "freed {}: {} packs deleted, {} rewritten, {} temporary "
              "files and {} thin trees removed; {} page patches compacted (saving {})\n",
              HumanBytes(r.bytes_freed), r.packs_deleted, r.packs_rewritten, r.temp_files_removed,
              r.thin_trees_removed, r.patches_compacted, HumanBytes(r.patch_bytes_saved));
        }
        return Status::Ok();
      });
    };
  });
}

void AddStats(CLI::App& repo_cmd, GlobalOptions& g) {
  auto* cmd = repo_cmd.add_subcommand("stats", "Sizes, deduplication and compression");
  auto path = std::make_shared<std::string>();
  cmd->add_option("REPO", *path, "Repository directory")->required();
  cmd->callback([&g, path] {
    g.action = [&g, path] {
      return WithRepo(g, *path, [&g](Repository& repo) -> Status {
        ASSIGN_OR_RETURN(auto s, storage::ComputeStats(repo));
        if (g.format == OutputFormat::kJson) {
          PrintJson({{"snapshots", s.snapshots},
                     {"packs", s.packs},
                     {"blobs", s.blobs},
                     {"logical_bytes", s.logical_bytes},
                     {"unique_bytes", s.unique_bytes},
                     {"stored_bytes", s.stored_bytes},
                     {"dedup_ratio", s.dedup_ratio},
                     {"compression_ratio", s.compression_ratio},
                     {"chunk_size", repo.config().chunk_size},
                     {"compression_level", repo.config().compression_level}});
        } else {
          PrintTable(
              {"snapshots", "packs", "blobs", "logical", "unique", "stored", "dedup",
               "compression"},
              {{std::to_string(s.snapshots), std::to_string(s.packs), std::to_string(s.blobs),
                HumanBytes(s.logical_bytes), HumanBytes(s.unique_bytes), HumanBytes(s.stored_bytes),
                fmt::format("{:.2f}x", s.dedup_ratio),
                fmt::format("{:.2f}x", s.compression_ratio)}});
        }
        return Status::Ok();
      });
    };
  });
}

void AddSnapshotCreate(CLI::App& snap, GlobalOptions& g) {
  auto* cmd = snap.add_subcommand("create", "Snapshot a directory tree");
  auto repo_path = std::make_shared<std::string>();
  auto o = std::make_shared<storage::CreateOptions>();
  auto mode = std::make_shared<std::string>("auto");
  cmd->add_option("--repo", *repo_path, "Repository directory")->required();
  cmd->add_option("--source", o->source, "Directory to snapshot")->required();
  cmd->add_option("--name", o->name, "A label for the snapshot");
  cmd->add_option("--parent", o->parent,
                  "Parent snapshot for the incremental check (default: the newest of the "
                  "same source)");
  cmd->add_flag("--full-read", o->full_read, "Read every file, even unchanged ones");
  cmd->add_option("--mode", *mode,
                  "auto: reflink clones where the filesystem allows, else the repository; "
                  "repository; thin")
      ->check(CLI::IsMember({"auto", "repository", "thin"}))
      ->capture_default_str();
  cmd->callback([&g, repo_path, o, mode] {
    g.action = [&g, repo_path, o, mode] {
      o->mode = *mode == "thin"         ? storage::SnapshotMode::kThin
                : *mode == "repository" ? storage::SnapshotMode::kRepository
                                        : storage::SnapshotMode::kAuto;
      o->threads = g.threads;
      return WithRepo(g, *repo_path, [&g, o](Repository& repo) -> Status {
        storage::Progress progress;
        o->progress = &progress;
        Result<Manifest> m = Status::Internal("not run");
        {
          ProgressBar bar("snapshot", progress, g.format == OutputFormat::kTable);
          m = storage::CreateSnapshot(repo, *o);
        }
        if (!m.ok()) return m.status();
        if (g.format == OutputFormat::kJson) {
          PrintJson(SnapshotJson(m.value()));
        } else {
          std::cout << m->id << "\n";
        }
        return Status::Ok();
      });
    };
  });
}

void AddSnapshotLs(CLI::App& snap, GlobalOptions& g) {
  auto* cmd = snap.add_subcommand("ls", "List snapshots, newest first");
  auto repo_path = std::make_shared<std::string>();
  cmd->add_option("--repo", *repo_path, "Repository directory")->required();
  cmd->callback([&g, repo_path] {
    g.action = [&g, repo_path] {
      return WithRepo(g, *repo_path, [&g](Repository& repo) -> Status {
        ASSIGN_OR_RETURN(auto all, repo.ListSnapshotHeaders());
        if (g.format == OutputFormat::kJson) {
          json list = json::array();
          for (const Manifest& m : all) list.push_back(SnapshotJson(m));
          PrintJson(list);
          return Status::Ok();
        }
        std::vector<std::vector<std::string>> rows;
        for (const Manifest& m : all) {
          rows.push_back({m.id, m.name, std::string(storage::SnapshotKindName(m.kind)),
                          storage::FormatUnixTime(m.created_unix_ns), std::to_string(m.stats.files),
                          HumanBytes(m.stats.logical_bytes), HumanBytes(m.stats.stored_bytes),
                          m.source});
        }
        PrintTable({"ID", "NAME", "KIND", "CREATED", "FILES", "SIZE", "ADDED", "SOURCE"}, rows);
        return Status::Ok();
      });
    };
  });
}

void AddSnapshotRestore(CLI::App& snap, GlobalOptions& g) {
  auto* cmd = snap.add_subcommand("restore", "Restore a snapshot into a directory");
  auto repo_path = std::make_shared<std::string>();
  auto ref = std::make_shared<std::string>();
  auto o = std::make_shared<storage::RestoreOptions>();
  cmd->add_option("--repo", *repo_path, "Repository directory")->required();
  cmd->add_option("SNAPSHOT", *ref, "Snapshot id, unique id prefix, or name")->required();
  cmd->add_option("TARGET_DIR", o->target, "Empty or new directory")->required();
  cmd->add_flag("--delta", o->delta,
                "Restore over an existing directory, rewriting only what differs");
  cmd->add_flag("--sync", o->sync,
                "Make the restore durable before returning (files of 1 MiB and more written "
                "with O_DIRECT, then syncfs)");
  cmd->callback([&g, repo_path, ref, o] {
    g.action = [&g, repo_path, ref, o] {
      o->threads = g.threads;
      return WithRepo(g, *repo_path, [&g, ref, o](Repository& repo) -> Status {
        ASSIGN_OR_RETURN(Manifest m, repo.FindSnapshot(*ref));
        storage::Progress progress;
        o->progress = &progress;
        Result<storage::RestoreStats> r = Status::Internal("not run");
        {
          ProgressBar bar("restore", progress, g.format == OutputFormat::kTable);
          r = storage::RestoreSnapshot(repo, m, *o);
        }
        if (!r.ok()) return r.status();
        const auto& s = r.value();
        if (g.format == OutputFormat::kJson) {
          PrintJson({{"id", m.id},
                     {"target", o->target},
                     {"files", s.files},
                     {"bytes_written", s.bytes_written},
                     {"bytes_direct", s.bytes_direct},
                     {"bytes_unchanged", s.bytes_unchanged},
                     {"entries_removed", s.entries_removed},
                     {"files_cloned", s.files_cloned},
                     {"seconds", s.seconds}});
        } else {
          std::cout << fmt::format(
              "restored {} into {}: {} files, {} written, {} unchanged "
              "in {:.2f} s\n",
              m.id, o->target, s.files, HumanBytes(s.bytes_written), HumanBytes(s.bytes_unchanged),
              s.seconds);
        }
        return Status::Ok();
      });
    };
  });
}

void AddSnapshotRm(CLI::App& snap, GlobalOptions& g) {
  auto* cmd = snap.add_subcommand("rm", "Remove a snapshot (its data goes at the next gc)");
  auto repo_path = std::make_shared<std::string>();
  auto ref = std::make_shared<std::string>();
  cmd->add_option("--repo", *repo_path, "Repository directory")->required();
  cmd->add_option("SNAPSHOT", *ref, "Snapshot id, unique id prefix, or name")->required();
  cmd->callback([&g, repo_path, ref] {
    g.action = [&g, repo_path, ref] {
      return WithRepo(g, *repo_path, [&g, ref](Repository& repo) -> Status {
        ASSIGN_OR_RETURN(storage::WriteLock lock, repo.LockForWrite());
        ASSIGN_OR_RETURN(Manifest m, repo.FindSnapshot(*ref));
        RETURN_IF_ERROR(repo.RemoveSnapshot(m.id));
        if (g.format == OutputFormat::kJson) {
          PrintJson({{"removed", m.id}});
        } else {
          std::cout << "removed " << m.id << "\n";
        }
        return Status::Ok();
      });
    };
  });
}

}  // namespace

void AddRepoCommands(CLI::App& app, GlobalOptions& g) {
  auto* repo = app.add_subcommand("repo", "Snapshot repository: init, verify, gc, compact, stats");
  repo->require_subcommand(1);
  AddInit(*repo, g);
  AddVerify(*repo, g);
  AddMaintenance(*repo, g, "gc",
                 "Remove data no snapshot references, and compact incrementals' page patches",
                 storage::CollectGarbage);
  AddMaintenance(*repo, g, "compact",
                 "Store incrementals' page patches as deltas of their base chunks (what dbaasd "
                 "does after each backup that stored patches)",
                 [](storage::Repository& r) { return storage::CompactPagePatches(r); });
  AddStats(*repo, g);
  auto* snap = app.add_subcommand("snapshot", "Snapshots: create, ls, restore, rm");
  snap->require_subcommand(1);
  AddSnapshotCreate(*snap, g);
  AddSnapshotLs(*snap, g);
  AddSnapshotRestore(*snap, g);
  AddSnapshotRm(*snap, g);
}

}  // namespace dbaas::cli
