// dbaas remote ...: copies of a local repository's snapshots in an S3 bucket (offline
// commands; dbaasd does the same from its `repositories` configuration).

#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/process.h"
#include "commands.h"
#include "progress_bar.h"
#include "storage/remote_spec.h"
#include "storage/repository.h"
#include "storage/wal_archive.h"

namespace dbaas::cli {
namespace {

using nlohmann::json;
using storage::RemoteRepository;
using storage::Repository;

struct RemoteArgs {
  std::string spec_path;
  std::string repo_path;  // the local repository: the writer's identity, and pull's target
  bool take_over = false;
};

void AddSpecOption(CLI::App* cmd, RemoteArgs& args) {
  cmd->add_option("--remote", args.spec_path,
                  "JSON file describing the bucket: {name, endpoint, bucket, region, pathStyle, "
                  "credentialsFile, encryption: {keyFile | passphraseFile}}")
      ->required();
}

void AddWriterOptions(CLI::App* cmd, RemoteArgs& args) {
  cmd->add_option("--repo", args.repo_path, "The local repository (its id names the writer)")
      ->required();
  cmd->add_flag(
      "--take-over", args.take_over,
      "Take the bucket's writer lease from another daemon (disaster recovery: stop it first)");
}

// Runs `body` with the remote repository opened (and, for writers, leased).
int WithRemote(const GlobalOptions& g, const RemoteArgs& args, bool writes,
               const std::function<Status(RemoteRepository&)>& body) {
  auto run = [&]() -> Status {
    ASSIGN_OR_RETURN(auto spec, storage::LoadRemoteSpec(args.spec_path));
    ASSIGN_OR_RETURN(auto client, storage::ConnectRemote(spec));
    ASSIGN_OR_RETURN(auto remote, RemoteRepository::Open(*client, spec.key));
    if (writes) {
      ASSIGN_OR_RETURN(auto local, Repository::Open(args.repo_path));
      RETURN_IF_ERROR(remote->AcquireLease(local->config().id, HostName(), args.take_over));
    }
    return body(*remote);
  };
  Status st = run();
  return st.ok() ? 0 : ReportError(st, g.format);
}

void AddInit(CLI::App& group, GlobalOptions& g) {
  auto* cmd = group.add_subcommand("init", "Make an empty remote repository in the bucket");
  auto args = std::make_shared<RemoteArgs>();
  auto create_bucket = std::make_shared<bool>(false);
  AddSpecOption(cmd, *args);
  cmd->add_flag("--create-bucket", *create_bucket, "Create the bucket first");
  cmd->callback([&g, args, create_bucket] {
    g.action = [&g, args, create_bucket] {
      auto run = [&]() -> Status {
        ASSIGN_OR_RETURN(auto spec, storage::LoadRemoteSpec(args->spec_path));
        ASSIGN_OR_RETURN(auto client, storage::ConnectRemote(spec));
        if (*create_bucket) RETURN_IF_ERROR(client->CreateBucket());
        RETURN_IF_ERROR(RemoteRepository::Init(*client, spec.key));
        if (g.format == OutputFormat::kJson) {
          PrintJson({{"repository", spec.name},
                     {"bucket", spec.location.bucket},
                     {"encrypted", spec.key.kind != storage::RemoteKeySpec::Kind::kNone}});
        } else {
          std::cout << "initialized remote repository " << client->Describe() << "\n";
        }
        return Status::Ok();
      };
      Status st = run();
      return st.ok() ? 0 : ReportError(st, g.format);
    };
  });
}

void AddPush(CLI::App& group, GlobalOptions& g) {
  auto* cmd = group.add_subcommand("push", "Copy a local snapshot to the bucket (what it lacks)");
  auto args = std::make_shared<RemoteArgs>();
  auto ref = std::make_shared<std::string>();
  AddSpecOption(cmd, *args);
  AddWriterOptions(cmd, *args);
  cmd->add_option("SNAPSHOT", *ref, "Snapshot id, unique id prefix or name")->required();
  cmd->callback([&g, args, ref] {
    g.action = [&g, args, ref] {
      return WithRemote(g, *args, true, [&](RemoteRepository& remote) -> Status {
        ASSIGN_OR_RETURN(auto local, Repository::Open(args->repo_path));
        ASSIGN_OR_RETURN(auto manifest, local->FindSnapshot(*ref));
        storage::Progress progress;
        Result<storage::PushStats> pushed = Status::Internal("not run");
        {
          ProgressBar bar("push", progress, g.format == OutputFormat::kTable);
          pushed = remote.Push(*local, manifest.id, &progress);
        }
        if (!pushed.ok()) return pushed.status();
        const auto& s = pushed.value();
        if (g.format == OutputFormat::kJson) {
          PrintJson({{"id", manifest.id},
                     {"already_there", s.already_there},
                     {"blobs", s.blobs},
                     {"blobs_sent", s.blobs_sent},
                     {"bytes_sent", s.bytes_sent},
                     {"packs_sent", s.packs_sent},
                     {"seconds", s.seconds}});
        } else if (s.already_there) {
          std::cout << fmt::format("{} is in {} already\n", manifest.id, remote.Describe());
        } else {
          std::cout << fmt::format(
              "pushed {} to {}: {} of {} blobs sent, {} in {} packs, {:.2f} s\n", manifest.id,
              remote.Describe(), s.blobs_sent, s.blobs, HumanBytes(s.bytes_sent), s.packs_sent,
              s.seconds);
        }
        return Status::Ok();
      });
    };
  });
}

void AddPull(CLI::App& group, GlobalOptions& g) {
  auto* cmd = group.add_subcommand(
      "pull", "Copy a snapshot from the bucket into a local repository (then restore it there)");
  auto args = std::make_shared<RemoteArgs>();
  auto ref = std::make_shared<std::string>();
  AddSpecOption(cmd, *args);
  cmd->add_option("--repo", args->repo_path, "The local repository to copy into")->required();
  cmd->add_option("SNAPSHOT", *ref, "Snapshot id, unique id prefix or name")->required();
  cmd->callback([&g, args, ref] {
    g.action = [&g, args, ref] {
      return WithRemote(g, *args, false, [&](RemoteRepository& remote) -> Status {
        ASSIGN_OR_RETURN(auto local, Repository::Open(args->repo_path));
        ASSIGN_OR_RETURN(auto lock, local->LockForWrite());
        ASSIGN_OR_RETURN(auto manifest, remote.FindSnapshot(*ref));
        storage::Progress progress;
        Result<storage::PullStats> pulled = Status::Internal("not run");
        {
          ProgressBar bar("pull", progress, g.format == OutputFormat::kTable);
          pulled = remote.Pull(manifest.id, *local, &progress);
        }
        if (!pulled.ok()) return pulled.status();
        const auto& s = pulled.value();
        if (g.format == OutputFormat::kJson) {
          PrintJson({{"id", manifest.id},
                     {"blobs", s.blobs},
                     {"blobs_fetched", s.blobs_fetched},
                     {"bytes_fetched", s.bytes_fetched},
                     {"packs_fetched", s.packs_fetched},
                     {"seconds", s.seconds}});
        } else {
          std::cout << fmt::format(
              "pulled {} into {}: {} of {} blobs fetched, {} from {} packs, {:.2f} s\n",
              manifest.id, args->repo_path, s.blobs_fetched, s.blobs, HumanBytes(s.bytes_fetched),
              s.packs_fetched, s.seconds);
        }
        return Status::Ok();
      });
    };
  });
}

void AddLs(CLI::App& group, GlobalOptions& g) {
  auto* cmd = group.add_subcommand("ls", "List the bucket's snapshots, newest first");
  auto args = std::make_shared<RemoteArgs>();
  AddSpecOption(cmd, *args);
  cmd->callback([&g, args] {
    g.action = [&g, args] {
      return WithRemote(g, *args, false, [&](RemoteRepository& remote) -> Status {
        ASSIGN_OR_RETURN(auto manifests, remote.ListSnapshots());
        if (g.format == OutputFormat::kJson) {
          json out = json::array();
          for (const auto& m : manifests) {
            out.push_back({{"id", m.id},
                           {"name", m.name},
                           {"parent", m.parent},
                           {"source", m.source},
                           {"created_at", storage::FormatUnixTime(m.created_unix_ns)},
                           {"logical_bytes", m.stats.logical_bytes},
                           {"annotations", m.annotations}});
          }
          PrintJson(out);
        } else {
          std::vector<std::vector<std::string>> rows;
          for (const auto& m : manifests) {
            rows.push_back({m.id, m.name, storage::FormatUnixTime(m.created_unix_ns),
                            HumanBytes(m.stats.logical_bytes), m.source});
          }
          PrintTable({"ID", "NAME", "CREATED", "SIZE", "SOURCE"}, rows);
        }
        return Status::Ok();
      });
    };
  });
}

void AddVerify(CLI::App& group, GlobalOptions& g) {
  auto* cmd = group.add_subcommand("verify", "Read every object of the bucket and check it");
  auto args = std::make_shared<RemoteArgs>();
  AddSpecOption(cmd, *args);
  cmd->callback([&g, args] {
    g.action = [&g, args] {
      int code = 0;
      int failed = WithRemote(g, *args, false, [&](RemoteRepository& remote) -> Status {
        ASSIGN_OR_RETURN(auto r, remote.Verify());
        code = PrintVerifyReport(g.format, r.packs, r.blobs, r.bytes, r.snapshots, r.errors);
        return Status::Ok();
      });
      return failed != 0 ? failed : code;
    };
  });
}

void AddRm(CLI::App& group, GlobalOptions& g) {
  auto* cmd = group.add_subcommand("rm", "Unlist a snapshot in the bucket (gc frees its data)");
  auto args = std::make_shared<RemoteArgs>();
  auto ref = std::make_shared<std::string>();
  AddSpecOption(cmd, *args);
  AddWriterOptions(cmd, *args);
  cmd->add_option("SNAPSHOT", *ref, "Snapshot id, unique id prefix or name")->required();
  cmd->callback([&g, args, ref] {
    g.action = [&g, args, ref] {
      return WithRemote(g, *args, true, [&](RemoteRepository& remote) -> Status {
        ASSIGN_OR_RETURN(auto manifest, remote.FindSnapshot(*ref));
        RETURN_IF_ERROR(remote.RemoveSnapshot(manifest.id));
        if (g.format == OutputFormat::kJson) {
          PrintJson({{"removed", manifest.id}});
        } else {
          std::cout << "removed " << manifest.id << "\n";
        }
        return Status::Ok();
      });
    };
  });
}

void AddGc(CLI::App& group, GlobalOptions& g) {
  auto* cmd = group.add_subcommand("gc", "Delete the bucket's packs no snapshot needs");
  auto args = std::make_shared<RemoteArgs>();
  AddSpecOption(cmd, *args);
  AddWriterOptions(cmd, *args);
  auto grace = std::make_shared<int64_t>(3600);
  cmd->add_option("--grace", *grace,
                  "Seconds during which new objects are left alone (a push may be writing them)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->callback([&g, args, grace] {
    g.action = [&g, args, grace] {
      return WithRemote(g, *args, true, [&](RemoteRepository& remote) -> Status {
        ASSIGN_OR_RETURN(auto r, remote.CollectGarbage(std::chrono::seconds(*grace)));
        if (g.format == OutputFormat::kJson) {
          PrintJson({{"packs_deleted", r.packs_deleted},
                     {"incomplete_packs_deleted", r.incomplete_packs_deleted},
                     {"bytes_freed", r.bytes_freed}});
        } else {
          std::cout << fmt::format("freed {}: {} packs deleted, {} left by interrupted pushes\n",
                                   HumanBytes(r.bytes_freed), r.packs_deleted,
                                   r.incomplete_packs_deleted);
        }
        return Status::Ok();
      });
    };
  });
}

void AddRekey(CLI::App& group, GlobalOptions& g) {
  auto* cmd = group.add_subcommand(
      "rekey", "Wrap the bucket's data key under another key (no data is rewritten)");
  auto args = std::make_shared<RemoteArgs>();
  auto new_key = std::make_shared<std::string>();
  auto new_passphrase = std::make_shared<std::string>();
  AddSpecOption(cmd, *args);
  AddWriterOptions(cmd, *args);
  auto* key_opt =
      cmd->add_option("--new-key-file", *new_key, "The new key file (64 hex digits, 0600)");
  auto* pass_opt =
      cmd->add_option("--new-passphrase-file", *new_passphrase, "The new passphrase file (0600)");
  key_opt->excludes(pass_opt);
  cmd->callback([&g, args, new_key, new_passphrase] {
    g.action = [&g, args, new_key, new_passphrase] {
      return WithRemote(g, *args, true, [&](RemoteRepository& remote) -> Status {
        storage::RemoteKeySpec spec;
        if (!new_key->empty()) spec = {storage::RemoteKeySpec::Kind::kKeyFile, *new_key};
        if (!new_passphrase->empty())
          spec = {storage::RemoteKeySpec::Kind::kPassphraseFile, *new_passphrase};
        if (spec.kind == storage::RemoteKeySpec::Kind::kNone) {
          return Status::InvalidArgument("give --new-key-file or --new-passphrase-file");
        }
        RETURN_IF_ERROR(remote.RotateKey(spec));
        if (g.format == OutputFormat::kJson) {
          PrintJson({{"rekeyed", remote.Describe()}});
        } else {
          std::cout << "re-keyed " << remote.Describe()
                    << "; point the configuration's encryption at the new file\n";
        }
        return Status::Ok();
      });
    };
  });
}

void AddLease(CLI::App& group, GlobalOptions& g) {
  auto* cmd = group.add_subcommand(
      "lease",
      "Take the bucket's writer lease for a local repository (--take-over: from another daemon)");
  auto args = std::make_shared<RemoteArgs>();
  AddSpecOption(cmd, *args);
  AddWriterOptions(cmd, *args);
  cmd->callback([&g, args] {
    g.action = [&g, args] {
      return WithRemote(g, *args, true, [&](RemoteRepository& remote) -> Status {
        ASSIGN_OR_RETURN(auto local, Repository::Open(args->repo_path));
        if (g.format == OutputFormat::kJson) {
          PrintJson({{"repository", remote.Describe()},
                     {"owner", local->config().id},
                     {"host", HostName()}});
        } else {
          std::cout << fmt::format("{} is leased to {} ({}, {})\n", remote.Describe(),
                                   local->config().id, args->repo_path, HostName());
        }
        return Status::Ok();
      });
    };
  });
}

void AddWalPush(CLI::App& group, GlobalOptions& g) {
  auto* cmd =
      group.add_subcommand("wal-push", "Copy the local repository's archived WAL the bucket lacks");
  auto args = std::make_shared<RemoteArgs>();
  auto archive = std::make_shared<std::string>();
  AddSpecOption(cmd, *args);
  AddWriterOptions(cmd, *args);
  cmd->add_option("--archive", *archive, "One WAL archive id (<instance>.<8 hex>); default: all");
  cmd->callback([&g, args, archive] {
    g.action = [&g, args, archive] {
      return WithRemote(g, *args, true, [&](RemoteRepository& remote) -> Status {
        std::vector<std::string> ids = {*archive};
        if (archive->empty()) {
          ASSIGN_OR_RETURN(ids, storage::WalArchive::ListIds(args->repo_path));
        }
        storage::WalCopyStats total;
        for (const auto& id : ids) {
          ASSIGN_OR_RETURN(auto copied, remote.PushWal(args->repo_path, id));
          total.files += copied.files;
          total.bytes += copied.bytes;
        }
        if (g.format == OutputFormat::kJson) {
          PrintJson({{"archives", ids.size()}, {"files", total.files}, {"bytes", total.bytes}});
        } else {
          std::cout << fmt::format("{} WAL files ({}) of {} archives sent to {}\n", total.files,
                                   HumanBytes(total.bytes), ids.size(), remote.Describe());
        }
        return Status::Ok();
      });
    };
  });
}

void AddWalPull(CLI::App& group, GlobalOptions& g) {
  auto* cmd =
      group.add_subcommand("wal-pull", "Copy a WAL archive of the bucket into a local repository");
  auto args = std::make_shared<RemoteArgs>();
  auto archive = std::make_shared<std::string>();
  AddSpecOption(cmd, *args);
  cmd->add_option("--repo", args->repo_path, "The local repository to copy into")->required();
  cmd->add_option("--archive", *archive, "The WAL archive id (<instance>.<8 hex>)")->required();
  cmd->callback([&g, args, archive] {
    g.action = [&g, args, archive] {
      return WithRemote(g, *args, false, [&](RemoteRepository& remote) -> Status {
        ASSIGN_OR_RETURN(auto copied, remote.PullWal(*archive, args->repo_path));
        if (g.format == OutputFormat::kJson) {
          PrintJson({{"files", copied.files}, {"bytes", copied.bytes}});
        } else {
          std::cout << fmt::format("{} WAL files ({}) fetched into {}\n", copied.files,
                                   HumanBytes(copied.bytes), args->repo_path);
        }
        return Status::Ok();
      });
    };
  });
}

}  // namespace

void AddRemoteCommands(CLI::App& app, GlobalOptions& global) {
  auto* remote = app.add_subcommand("remote",
                                    "Copies in an S3 bucket: init, push, pull, ls, verify, rm, gc, "
                                    "rekey, lease, wal-push, wal-pull");
  remote->require_subcommand(1);
  AddInit(*remote, global);
  AddPush(*remote, global);
  AddPull(*remote, global);
  AddLs(*remote, global);
  AddVerify(*remote, global);
  AddRm(*remote, global);
  AddGc(*remote, global);
  AddRekey(*remote, global);
  AddLease(*remote, global);
  AddWalPush(*remote, global);
  AddWalPull(*remote, global);
}

}  // namespace dbaas::cli
