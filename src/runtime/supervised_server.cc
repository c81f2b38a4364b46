#include "runtime/supervised_server.h"

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/files.h"
#include "base/log.h"

namespace dbaas::runtime {

using std::chrono::milliseconds;

// Shared by the handle and its supervisor thread; on the heap so the thread's pointer
// stays good whatever happens to the handle.
struct SupervisedServer::State {
  ServerLaunch launch;
  mutable std::mutex mutex;
  std::condition_variable wake;
  std::optional<Process> process;  // guarded by mutex
  bool stopping = false;           // guarded by mutex
  int restarts = 0;                // guarded by mutex
  std::thread supervisor;
};

namespace {

std::string LogTail(const std::string& path) {
  auto log = ReadFileToString(path);
  if (!log.ok()) return "";
  return log->substr(log->size() > 1500 ? log->size() - 1500 : 0);
}

// Starts the server process and waits until it answers.
Status Launch(SupervisedServer::State& s, milliseconds timeout) {
  const ServerLaunch& l = s.launch;
  ASSIGN_OR_RETURN(Process p, Process::Start(l.options));
  pid_t pid = p.pid();
  {
    std::lock_guard lock(s.mutex);
    s.process.emplace(std::move(p));
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    bool answers = l.answers();
    std::lock_guard lock(s.mutex);
    if (!s.process || s.process->pid() != pid) return Status::Internal("server replaced");
    // Ready only if the server answering is ours (not one left by an earlier daemon).
    auto exited = s.process->Wait(milliseconds(answers ? 0 : 50));
    if (!exited.ok() && answers) return Status::Ok();
    if (exited.ok()) {
      s.process.reset();
      std::string log = LogTail(l.options.output_path);
      StatusCode code = l.refused_config && l.refused_config(log) ? StatusCode::kInvalidArgument
                                                                  : StatusCode::kIoError;
      return Status(code,
                    fmt::format("{} for '{}' exited with code {} while starting: {}", l.engine,
                                l.instance, exited.value(), log),
                    "see " + l.options.output_path);
    }
  }
  std::lock_guard lock(s.mutex);
  s.process.reset();  // kills its process group
  return Status::IoError(fmt::format("{} for '{}' did not accept connections within {} ms",
                                     l.engine, l.instance, timeout.count()),
                         "see " + l.options.output_path);
}

void Supervise(SupervisedServer::State& s) {
  using std::chrono::seconds;
  constexpr auto kMaxBackoff = seconds(30);
  auto backoff = seconds(1);
  auto healthy_since = std::chrono::steady_clock::now();
  std::unique_lock lock(s.mutex);
  while (true) {
    if (s.wake.wait_for(lock, milliseconds(200), [&] { return s.stopping; })) return;
    if (s.process && !s.process->Wait(milliseconds(0)).ok()) {  // still running
      if (std::chrono::steady_clock::now() - healthy_since > seconds(60)) backoff = seconds(1);
      continue;
    }
    s.process.reset();
    ++s.restarts;
    spdlog::warn("instance {}: {} is not running; restarting in {} s (restart {})",
                 s.launch.instance, s.launch.engine, backoff.count(), s.restarts);
    if (s.wake.wait_for(lock, backoff, [&] { return s.stopping; })) return;
    backoff = std::min(backoff * 2, kMaxBackoff);
    lock.unlock();
    Status st = Launch(s, milliseconds(seconds(120)));
    if (!st.ok())
      spdlog::error("instance {}: restart failed: {}", s.launch.instance, st.ToString());
    healthy_since = std::chrono::steady_clock::now();
    lock.lock();
  }
}

}  // namespace

SupervisedServer::SupervisedServer(std::unique_ptr<State> state) : state_(std::move(state)) {}

Result<std::unique_ptr<SupervisedServer>> SupervisedServer::Start(ServerLaunch launch,
                                                                  milliseconds timeout) {
  auto state = std::make_unique<State>();
  state->launch = std::move(launch);
  RETURN_IF_ERROR(Launch(*state, timeout));
  State* raw = state.get();
  state->supervisor = std::thread([raw] { Supervise(*raw); });
  return std::unique_ptr<SupervisedServer>(new SupervisedServer(std::move(state)));
}

SupervisedServer::~SupervisedServer() {
  WarnIfError(Stop(std::chrono::seconds(10)), "stop the server");
}

ServerHealth SupervisedServer::Observe() const {
  std::lock_guard lock(state_->mutex);
  ServerHealth health;
  health.running = state_->process && state_->process->running();
  health.restarts = state_->restarts;
  health.pid = state_->process ? state_->process->pid() : -1;
  return health;
}

Status SupervisedServer::Stop(milliseconds timeout) {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  if (state_->supervisor.joinable()) state_->supervisor.join();
  std::optional<Process>& process = state_->process;  // the supervisor has ended
  if (!process || !process->running()) return Status::Ok();
  RETURN_IF_ERROR(process->Signal(state_->launch.stop_signal));
  if (!process->Wait(timeout).ok()) {
    RETURN_IF_ERROR(process->Signal(state_->launch.hard_signal));
    // As long again at most (10 s): a server stopped in a hurry (a failover's fence) is then
    // killed, as is a hung one, which a pending signal does not reach.
    WarnIfError(process->Wait(std::min(timeout, milliseconds(10000))),
                fmt::format("wait for {} of {} after {}", state_->launch.engine,
                            state_->launch.instance, strsignal(state_->launch.hard_signal)));
  }
  process.reset();  // kills the group if anything is left
  return Status::Ok();
}

bool ProcessAlive(pid_t pid) {
  // An orphan's zombie may linger where pid 1 does not reap: not alive.
  auto stat = ReadFileToString(fmt::format("/proc/{}/stat", pid));
  if (!stat.ok()) return false;
  auto paren = stat->rfind(')');
  return paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] != 'Z';
}

Status StopLeftoverServer(const std::string& pid_file, const std::string& program,
                          const std::string& marker, const std::string& instance,
                          const std::optional<UserIds>& owner, int stop_signal, int hard_signal) {
  auto text = ReadFileToString(pid_file, 4096);
  if (!text.ok()) return Status::Ok();
  pid_t pid = std::atoi(text->substr(0, text->find('\n')).c_str());
  if (pid <= 0 || !ProcessAlive(pid)) return Status::Ok();
  struct stat proc;
  uid_t expected = owner ? owner->uid : ::geteuid();
  if (::stat(fmt::format("/proc/{}", pid).c_str(), &proc) != 0 || proc.st_uid != expected) {
    return Status::Ok();  // not the server's user's: never signalled on the file's word
  }
  auto cmdline = ReadFileToString(fmt::format("/proc/{}/cmdline", pid));
  if (!cmdline.ok() || cmdline->find(program) == std::string::npos ||
      (cmdline->find(marker) == std::string::npos && text->find(marker) == std::string::npos)) {
    return Status::Ok();  // a stale file: the pid belongs to someone else now
  }
  spdlog::warn("instance {}: stopping a server (pid {}) left running by an earlier dbaasd",
               instance, pid);
  for (int sig : {stop_signal, hard_signal, SIGKILL}) {
    ::kill(pid, sig);
    for (int i = 0; i < 300 && ProcessAlive(pid); ++i) {
      std::this_thread::sleep_for(milliseconds(100));
    }
    if (!ProcessAlive(pid)) return Status::Ok();
  }
  return Status::IoError(
      fmt::format("server (pid {}) left by an earlier dbaasd for '{}' does not stop", pid,
                  instance),
      "stop it by hand");
}

}  // namespace dbaas::runtime
