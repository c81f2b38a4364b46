// Child processes started from an argv vector: no shell ever sees an argument, so no input
// can inject a command. Used to run the database servers and their tools (initdb, pg_ctl,
// pgbench, mariadb-install-db) as an unprivileged user.
#pragma once

#include <signal.h>

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace dbaas {

struct UserIds {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
  std::string name;
};

// Looks up a user by name ("postgres").
Result<UserIds> LookupUser(const std::string& name);

// The running program's own path (/proc/self/exe): what a server it starts runs of it
// (an archive_command's `dbaas wal-push`); "" if unknown.
std::string SelfExecutable();

// This machine's host name (what a bucket's lease records of its writer); "" if unknown.
std::string HostName();

// What a long-running process (dbaasd, the in-pod agent) does before its first thread:
// SIGTERM and SIGINT blocked in this thread, and so in every thread made from here on, for
// one thread to sigwait for the returned set; SIGPIPE ignored (a peer gone is an error
// from write, not a death).
sigset_t BlockStopSignals();
// The open-files limit raised to its maximum (a repository keeps packs open; a server many
// connections).
void RaiseOpenFileLimit();

struct ProcessOptions {
  std::vector<std::string> argv;  // argv[0]: a path, or a name looked up in PATH
  // The child's environment: ours cut down to PATH, the locale (LANG, LANGUAGE, LC_*), TZ
  // and the sanitizers' options, plus these "NAME=value" entries (which win).
  std::vector<std::string> env;
  std::string cwd;              // empty: ours
  std::optional<UserIds> user;  // run as this user (we must be root)
  // Where stdout and stderr go (appended): a file path, or empty to capture them (RunProcess)
  // or discard them (Process::Start).
  std::string output_path;
  // A file read as the child's stdin (opened by us, so it may be ours alone); empty:
  // /dev/null.
  std::string input_path;
  // A network namespace the child joins before exec (/run/netns/NAME, made by `ip netns
  // add`); empty: ours. Opened by us (root's), so the child follows no path it is given.
  std::string network_namespace;
};

struct RunResult {
  int exit_code = 0;
  std::string output;  // stdout and stderr interleaved (capped at 1 MiB)
};

// A started child in its own process group, with stdin on /dev/null and no other
// descriptor of ours: every descriptor above 2 is closed at exec. Destroying a Process that still
// runs kills its group (SIGKILL) and reaps it: no child outlives its owner by accident.
class Process {
 public:
  static Result<Process> Start(const ProcessOptions& options);

  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  // Waits for the exit. Returns the exit code, or 128 + signal number if killed by one.
  // Fails with kBusy if `timeout` passes first (the child keeps running).
  Result<int> Wait(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // Sends `signal` to the child's process group.
  Status Signal(int signal);

 private:
  explicit Process(pid_t pid) : pid_(pid) {}
  // Starts with stdout and stderr on `output_fd`.
  static Result<Process> StartWithOutput(const ProcessOptions& options, int output_fd);
  friend Result<RunResult> RunProcess(const ProcessOptions&, std::chrono::milliseconds);
  pid_t pid_ = -1;
};

// Runs to completion, capturing output; kills the child and fails with kBusy on timeout.
// A non-zero exit is not an error here: the caller judges the exit code.
Result<RunResult> RunProcess(const ProcessOptions& options, std::chrono::milliseconds timeout);

// Runs and requires exit code 0; otherwise an error naming the program, the exit code and
// the last lines of its output.
Result<std::string> RunChecked(const ProcessOptions& options, std::chrono::milliseconds timeout);
// The output of a run that exited 0; else what failed, naming `program`, with the end of
// its output.
Result<std::string> CheckExit(Result<RunResult> ran, const std::string& program);

}  // namespace dbaas
