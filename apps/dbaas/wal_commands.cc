// dbaas wal-push / wal-fetch: PostgreSQL's archive_command and restore_command. They run as
// the server's OS user, once per WAL file, without the daemon (archiving must not depend on
// it being up): wal-push into the instance's spool (storage/wal_spool.h), which dbaasd
// drains into the repository; wal-fetch from a copy of the archive staged for the restore.
// dbaas wal-drain does a drain by hand, as root, for when dbaasd is down.
#include <iostream>
#include <memory>

#include "base/log.h"
#include "commands.h"
#include "storage/wal_archive.h"
#include "storage/wal_spool.h"

namespace dbaas::cli {
namespace {

// restore_command: an exit code above 125 makes recovery abort instead of taking the
// failure for the end of the archive; a damaged or unreadable file must not quietly end
// recovery early and lose what follows it.
constexpr int kRecoveryMustAbort = 200;

struct WalArgs {
  std::string spool;
  std::string repo;
  std::string archive;
  std::string status_file;
  std::string path;
  std::string name;
};

void AddWalPush(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "wal-push", "Spool one WAL file for dbaasd to archive (PostgreSQL's archive_command)");
  auto a = std::make_shared<WalArgs>();
  cmd->add_option("--spool", a->spool, "The instance's WAL spool directory")->required();
  cmd->add_option("--status-file", a->status_file,
                  "Where to record the last failure for the daemon (removed on success)");
  cmd->add_option("PATH", a->path, "The file to archive (%p)")->required();
  cmd->add_option("NAME", a->name, "Its name in the archive (%f)")->required();
  cmd->callback([&g, a] {
    g.action = [a] {
      Status st = storage::SpoolWalFile(a->spool, a->path, a->name);
      if (!a->status_file.empty()) {
        if (st.ok()) {
          WarnIfError(storage::ClearArchivingFailure(a->status_file),
                      "clear the recorded archiving failure");
        } else {
          WarnIfError(storage::RecordArchivingFailure(
                          a->status_file, "archiving " + a->name + ": " + st.ToString()),
                      "record the archiving failure");
        }
      }
      if (st.ok()) return 0;
      // PostgreSQL keeps the file and retries; its log gets this line.
      std::cerr << "dbaas wal-push: " << a->name << ": " << st.ToString() << "\n";
      return 1;
    };
  });
}

void AddWalDrain(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "wal-drain",
      "Move a WAL spool's files into the repository's archive (what dbaasd does every second)");
  auto a = std::make_shared<WalArgs>();
  cmd->add_option("--spool", a->spool, "The instance's WAL spool directory")->required();
  cmd->add_option("--repo", a->repo, "Repository directory")->required();
  cmd->add_option("--archive", a->archive, "Archive id of the instance")->required();
  cmd->callback([&g, a] {
    g.action = [&g, a] {
      auto drained = [&]() -> Result<storage::SpoolDrain> {
        ASSIGN_OR_RETURN(storage::WalArchive archive,
                         storage::WalArchive::Open(a->repo, a->archive));
        return storage::DrainWalSpool(a->spool, archive);
      }();
      if (!drained.ok()) return ReportError(drained.status(), g.format);
      if (g.format == OutputFormat::kJson) {
        PrintJson({{"files", drained->files},
                   {"rawBytes", drained->raw_bytes},
                   {"refused", drained->refused}});
      } else {
        std::cout << "stored " << drained->files << " files (" << HumanBytes(drained->raw_bytes)
                  << ") from " << a->spool << "\n";
        for (const auto& r : drained->refused) std::cout << "left in the spool: " << r << "\n";
      }
      return drained->refused.empty() ? 0 : 1;
    };
  });
}

void AddWalFetch(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "wal-fetch", "Restore one WAL file from the repository (PostgreSQL's restore_command)");
  auto a = std::make_shared<WalArgs>();
  cmd->add_option("--repo", a->repo, "Repository directory")->required();
  cmd->add_option("--archive", a->archive, "Archive id to read")->required();
  cmd->add_option("NAME", a->name, "The file PostgreSQL asks for (%f)")->required();
  cmd->add_option("PATH", a->path, "Where to write it (%p)")->required();
  cmd->callback([&g, a] {
    g.action = [a] {
      auto archive = storage::WalArchive::Open(a->repo, a->archive);
      Status st = archive.ok() ? archive->Fetch(a->name, a->path) : archive.status();
      if (st.ok()) return 0;
      // Not there: the normal end of the archive (PostgreSQL asks past it).
      if (st.code() == StatusCode::kNotFound && archive.ok()) return 1;
      std::cerr << "dbaas wal-fetch: " << a->name << ": " << st.ToString() << "\n";
      return kRecoveryMustAbort;
    };
  });
}

}  // namespace

void AddWalCommands(CLI::App& app, GlobalOptions& global) {
  AddWalPush(app, global);
  AddWalDrain(app, global);
  AddWalFetch(app, global);
}

}  // namespace dbaas::cli
