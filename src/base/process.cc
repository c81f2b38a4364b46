#include "base/process.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "base/files.h"
#include "base/log.h"

extern char** environ;

namespace dbaas {
namespace {

constexpr size_t kMaxCapturedOutput = 1 << 20;

// What a child inherits of our environment: only these names (locale, time zone, where
// programs are, and the sanitizers' options in a test build). Anything else of the daemon's
// (tokens, credentials an operator exported) never reaches a server, whose OS user is
// hostile (docs/SECURITY.md).
bool Inherited(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "PATH", "LANG", "LANGUAGE", "TZ", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
  for (std::string_view n : kNames) {
    if (name == n) return true;
  }
  return name.starts_with("LC_");
}

std::vector<std::string> ChildEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view entry(*e);
    std::string_view name = entry.substr(0, entry.find('='));
    if (!Inherited(name)) continue;
    bool replaced = false;
    for (const std::string& x : extra) {
      if (x.compare(0, name.size() + 1, std::string(name) + "=") == 0) replaced = true;
    }
    if (!replaced) env.emplace_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// In the child, between fork and exec: only async-signal-safe calls. On failure, writes
// errno to `error_fd` and exits; the parent reads it to report why exec failed.
[[noreturn]] void ChildExec(const ProcessOptions& o, char** argv, char** envp, int input_fd,
                            int output_fd, int netns_fd, int error_fd) {
  int step = 0;
  auto fail = [&](int which) {
    int err[2] = {which, errno};
    (void)!::write(error_fd, err, sizeof(err));
    ::_exit(127);
  };
  ::setpgid(0, 0);
  int input = input_fd >= 0 ? input_fd : ::open("/dev/null", O_RDONLY);
  if (input >= 0) ::dup2(input, STDIN_FILENO);
  if (output_fd >= 0) {
    ::dup2(output_fd, STDOUT_FILENO);
    ::dup2(output_fd, STDERR_FILENO);
  }
  // Nothing of ours but 0-2 reaches the program: sockets of API clients, the repository's
  // lock and open files stay with us whatever their close-on-exec flag (close_range marks
  // them so; error_fd must stay open until exec succeeds).
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < 65536; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  step = 1;
  if (!o.cwd.empty() && ::chdir(o.cwd.c_str()) != 0) fail(step);
  step = 4;
  if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) fail(step);
  step = 2;
  if (o.user) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(o.user->gid) != 0 || ::setuid(o.user->uid) != 0) {
      fail(step);
    }
  }
  // Signals the parent ignored or blocked (dbaasd blocks SIGTERM/SIGINT in every thread to
  // wait for them in one) stay so across exec unless reset.
  ::signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  step = 3;
  ::execvpe(argv[0], argv, envp);
  fail(step);
  ::_exit(127);
}

}  // namespace

sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return signals;
}

void RaiseOpenFileLimit() {
  struct rlimit lim;
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

std::string SelfExecutable() {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  return n > 0 ? std::string(self, static_cast<size_t>(n)) : "";
}

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

Result<UserIds> LookupUser(const std::string& name) {
  struct passwd pw;
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0) return ErrnoStatus("look up user", name, rc);
  if (!found) {
    return Status::NotFound(fmt::format("user '{}' does not exist", name),
                            "create it (useradd --system " + name + ")");
  }
  return UserIds{pw.pw_uid, pw.pw_gid, pw.pw_dir ? pw.pw_dir : "", pw.pw_name};
}

Result<Process> Process::Start(const ProcessOptions& o) {
  UniqueFd output;
  if (!o.output_path.empty()) {
    ASSIGN_OR_RETURN(output, OpenFile(o.output_path, O_WRONLY | O_CREAT | O_APPEND, 0640));
  } else {
    ASSIGN_OR_RETURN(output, OpenFile("/dev/null", O_WRONLY));
  }
  return StartWithOutput(o, output.get());
}

Result<Process> Process::StartWithOutput(const ProcessOptions& o, int output_fd) {
  if (o.argv.empty()) return Status::InvalidArgument("no program to run");
  std::vector<std::string> args = o.argv;
  std::vector<std::string> env = ChildEnvironment(o.env);
  std::vector<char*> argv = CStrings(args);
  std::vector<char*> envp = CStrings(env);
  int error_pipe[2];
  if (::pipe2(error_pipe, O_CLOEXEC) != 0) return ErrnoStatus("pipe", o.argv[0], errno);
  UniqueFd error_read(error_pipe[0]), error_write(error_pipe[1]);
  UniqueFd input;
  if (!o.input_path.empty()) {
    ASSIGN_OR_RETURN(input, OpenFile(o.input_path, O_RDONLY));
  }
  UniqueFd netns;
  if (!o.network_namespace.empty()) {
    ASSIGN_OR_RETURN(netns, OpenFile(o.network_namespace, O_RDONLY));
  }
  const char* steps[] = {"start", "chdir", "switch user", "exec", "join the network namespace"};
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus("fork for", o.argv[0], errno);
  if (pid == 0) {
    ChildExec(o, argv.data(), envp.data(), input.get(), output_fd, netns.get(), error_write.get());
  }
  ::setpgid(pid, pid);  // also here, so the group exists before we might signal it
  error_write.Reset();
  int err[2] = {0, 0};
  ssize_t n;
  do {
    n = ::read(error_read.get(), err, sizeof(err));
  } while (n < 0 && errno == EINTR);
  Process process(pid);
  if (n == sizeof(err)) {  // the child failed before or at exec
    WarnIfError(process.Wait(), "reap a child that failed before exec");
    std::string what = fmt::format("{} for", steps[std::clamp(err[0], 0, 4)]);
    return ErrnoStatus(what, o.argv[0], err[1]);
  }
  return process;
}

Process::Process(Process&& other) noexcept : pid_(other.pid_) { other.pid_ = -1; }

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    this->~Process();
    pid_ = other.pid_;
    other.pid_ = -1;
  }
  return *this;
}

Process::~Process() {
  if (pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
}

Status Process::Signal(int signal) {
  if (pid_ <= 0) return Status::FailedPrecondition("process is not running");
  if (::kill(-pid_, signal) != 0 && errno != ESRCH) {
    return ErrnoStatus("signal", std::to_string(pid_), errno);
  }
  return Status::Ok();
}

Result<int> Process::Wait(std::optional<std::chrono::milliseconds> timeout) {
  if (pid_ <= 0) return Status::FailedPrecondition("process is not running");
  auto deadline = timeout ? std::chrono::steady_clock::now() + *timeout
                          : std::chrono::steady_clock::time_point::max();
  auto pause = std::chrono::milliseconds(1);
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, timeout ? WNOHANG : 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("wait for", std::to_string(pid_), errno);
    }
    if (r == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Busy(fmt::format("process {} still runs after {} ms", pid_, timeout->count()));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

Result<RunResult> RunProcess(const ProcessOptions& options, std::chrono::milliseconds timeout) {
  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return ErrnoStatus("pipe", options.argv.at(0), errno);
  UniqueFd out_read(out_pipe[0]), out_write(out_pipe[1]);
  ASSIGN_OR_RETURN(Process process, Process::StartWithOutput(options, out_write.get()));
  out_write.Reset();
  RunResult result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return Status::Busy(fmt::format("'{}' did not finish within {} ms", options.argv[0],
                                      timeout.count()));  // ~Process kills it
    }
    struct pollfd p = {out_read.get(), POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) return ErrnoStatus("poll", options.argv[0], errno);
    if (ready <= 0) continue;
    ssize_t n = ::read(out_read.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // every writer closed: the child (and its children) are done
    size_t keep =
        std::min<size_t>(static_cast<size_t>(n), kMaxCapturedOutput - result.output.size());
    result.output.append(buf, keep);
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  ASSIGN_OR_RETURN(result.exit_code, process.Wait(std::max(left, std::chrono::milliseconds(1))));
  return result;
}

Result<std::string> CheckExit(Result<RunResult> ran, const std::string& program) {
  RETURN_IF_ERROR(ran.status());
  RunResult& r = ran.value();
  if (r.exit_code != 0) {
    std::string tail = r.output.size() > 2000 ? r.output.substr(r.output.size() - 2000) : r.output;
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
    return Status::IoError(fmt::format("'{}' exited with code {}: {}", program, r.exit_code, tail));
  }
  return std::move(r.output);
}

Result<std::string> RunChecked(const ProcessOptions& options, std::chrono::milliseconds timeout) {
  return CheckExit(RunProcess(options, timeout), options.argv[0]);
}

}  // namespace dbaas
