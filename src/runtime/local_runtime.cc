#include "runtime/local_runtime.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/files.h"
#include "base/log.h"
#include "base/names.h"
#include "runtime/instance_users.h"
#include "runtime/supervised_server.h"
#include "runtime/volume_copy.h"
#include "storage/reflink.h"

namespace dbaas::runtime {

Result<Placement> LocalRuntime::Provision(const ProvisionRequest& request) {
  RETURN_IF_ERROR(MakeDirs(DirName(request.dir), 0711));
  // 0711 whatever the umask: the server's user passes through to its own directories and
  // lists nothing.
  Status made = MakeDir(request.dir, 0711);
  if (made.code() == StatusCode::kAlreadyExists) {
    return Status::AlreadyExists(fmt::format("instance '{}' already exists", request.instance),
                                 "choose another name, or delete that instance first");
  }
  RETURN_IF_ERROR(made);
  Placement placement;
  placement.instance = request.instance;
  placement.dir = request.dir;
  const TestHost* host = request.any_host ? PlaceOnLeastUsedHost(request.dir) : nullptr;
  if (host != nullptr) {
    Status recorded = WriteFileAtomic(JoinPath(request.dir, kHostRecord), host->name + "\n", 0644);
    if (!recorded.ok()) {
      WarnIfError(RemoveRemains(request.dir), "remove the instance that could not be placed");
      return recorded;
    }
    placement.host = host->name;
    placement.address = host->address;
    placement.clients = "samenet";
  }
  PlaceInPod(placement);
  auto user = MakeInstanceUser(request.instance, JoinPath(request.dir, kOsUserRecord));
  if (!user.ok()) {
    WarnIfError(RemoveRemains(request.dir), "remove the instance that could not be placed");
    return user.status();
  }
  placement.identity = std::move(user.value());
  return placement;
}

Result<Placement> LocalRuntime::Locate(const std::string& instance, const std::string& dir,
                                       const std::string& identity,
                                       const std::string& shared_identity) {
  Placement placement;
  placement.instance = instance;
  placement.dir = dir;
  RETURN_IF_ERROR(PlaceOnRecordedHost(placement));
  PlaceInPod(placement);
  if (!identity.empty()) {
    ASSIGN_OR_RETURN(placement.identity, InstanceUser(identity));
    return placement;
  }
  ASSIGN_OR_RETURN(placement.identity, ServerUser(shared_identity));
  placement.shared_identity = placement.identity.has_value();  // not root: ourselves
  return placement;
}

Result<Placement> LocalRuntime::GiveOwnIdentity(const Placement& placement,
                                                const std::vector<std::string>& owned) {
  if (!placement.shared_identity) return placement;
  ASSIGN_OR_RETURN(std::optional<UserIds> own,
                   MakeInstanceUser(placement.instance, JoinPath(placement.dir, kOsUserRecord)));
  for (const std::string& path : owned) {
    if (PathExists(path)) RETURN_IF_ERROR(ChownTree(path, own));
  }
  spdlog::info("instance {}: now runs as OS user {} (uid {}) instead of {}", placement.instance,
               own->name, own->uid, placement.identity->name);
  Placement moved = placement;
  moved.identity = std::move(own);
  moved.shared_identity = false;
  return moved;
}

const TestHost* LocalRuntime::PlaceOnLeastUsedHost(const std::string& dir) {
  std::lock_guard lock(mu_);
  const TestHost* least = nullptr;
  size_t fewest = 0;
  for (const TestHost& host : hosts_) {
    size_t placed =
        static_cast<size_t>(std::count_if(host_of_.begin(), host_of_.end(), [&](const auto& entry) {
          return entry.second == host.name;
        }));
    if (least == nullptr || placed < fewest) {
      least = &host;
      fewest = placed;
    }
  }
  if (least != nullptr) host_of_[dir] = least->name;
  return least;
}

Status LocalRuntime::PlaceOnRecordedHost(Placement& placement) {
  const std::string record = JoinPath(placement.dir, kHostRecord);
  if (!PathExists(record)) return Status::Ok();
  ASSIGN_OR_RETURN(std::string name, ReadFileToString(record));
  while (!name.empty() && name.back() == '\n') name.pop_back();
  auto host =
      std::find_if(hosts_.begin(), hosts_.end(), [&](const TestHost& h) { return h.name == name; });
  if (host == hosts_.end()) {
    return Status::FailedPrecondition(
        fmt::format("instance '{}' runs on test host '{}', which this daemon was not given",
                    placement.instance, name),
        fmt::format("start dbaasd with --test-hosts naming '{}' and its address", name));
  }
  placement.host = host->name;
  placement.address = host->address;
  placement.clients = "samenet";
  std::lock_guard lock(mu_);
  host_of_[placement.dir] = host->name;
  return Status::Ok();
}

void LocalRuntime::PlaceInPod(Placement& placement) const {
  if (!pod_) return;
  placement.address = pod_->address;
  placement.clients = "all";
}

Status LocalRuntime::Remove(const Placement& placement) {
  RETURN_IF_ERROR(RemoveTree(placement.dir));
  {
    std::lock_guard lock(mu_);
    host_of_.erase(placement.dir);
  }
  if (placement.shared_identity) return Status::Ok();  // the package's user stays
  return RemoveInstanceUser(placement.identity);
}

Status LocalRuntime::RemoveRemains(const std::string& dir) {
  RETURN_IF_ERROR(RemoveRecordedInstanceUser(JoinPath(dir, kOsUserRecord)));
  RETURN_IF_ERROR(RemoveTree(dir));
  std::lock_guard lock(mu_);
  host_of_.erase(dir);
  return Status::Ok();
}

Result<std::unique_ptr<Server>> LocalRuntime::Start(const Placement& placement, ServerLaunch launch,
                                                    std::chrono::milliseconds timeout) {
  launch.options.user = placement.identity;
  if (!placement.host.empty()) launch.options.network_namespace = "/run/netns/" + placement.host;
  ASSIGN_OR_RETURN(std::unique_ptr<SupervisedServer> server,
                   SupervisedServer::Start(std::move(launch), timeout));
  return std::unique_ptr<Server>(std::move(server));
}

Status LocalRuntime::StopLeftover(const Placement& placement, const LeftoverServer& leftover) {
  return StopLeftoverServer(leftover.pid_file, leftover.program, leftover.marker,
                            placement.instance, placement.identity, leftover.stop_signal,
                            leftover.hard_signal);
}

Result<RunResult> LocalRuntime::RunTool(const Placement& placement, ProcessOptions options,
                                        std::chrono::milliseconds timeout) {
  options.user = placement.identity;
  return RunProcess(options, timeout);
}

Status LocalRuntime::GiveToInstance(const Placement& placement, const std::string& path) {
  return ChownTree(path, placement.identity);
}

// The daemon reads every instance's volume as root: the placement adds nothing here.
Status LocalRuntime::SnapshotVolume(const Placement& /*placement*/, const std::string& path,
                                    const std::string& destination) {
  return CopyVolumeTree(path, destination);
}

Status LocalRuntime::CloneVolume(const std::string& source, const Placement& placement,
                                 const std::string& path) {
  RETURN_IF_ERROR(CopyVolumeTree(source, path));
  if (Status given = GiveToInstance(placement, path); !given.ok()) {
    WarnIfError(RemoveTree(path), "remove the clone that could not be given to the instance");
    return given;
  }
  return Status::Ok();
}

namespace {

// Of a file's `allocated` bytes, those it shares with no other file (storage::UnsharedBytes).
// Opened by descriptor, never followed, and checked to be the file walked: the server may
// have swapped it since. What cannot be measured counts as its own.
uint64_t OwnBytes(int dir_fd, const std::string& name, const std::string& path,
                  const struct stat& st, uint64_t allocated) {
  if (!S_ISREG(st.st_mode) || allocated == 0) return allocated;
  int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : allocated;  // gone meanwhile: it uses nothing now
  UniqueFd file(fd);
  struct stat now;
  if (::fstat(file.get(), &now) != 0 || !S_ISREG(now.st_mode) || now.st_ino != st.st_ino ||
      now.st_dev != st.st_dev) {
    return allocated;
  }
  auto unshared = storage::UnsharedBytes(file.get(), path);
  // Where FIEMAP is not offered, nothing can be shared either.
  return unshared.ok() ? std::min(*unshared, allocated) : allocated;
}

}  // namespace

Result<VolumeStats> LocalRuntime::VolumeUsage(const Placement& placement) {
  VolumeStats stats;
  RETURN_IF_ERROR(VisitTreeBelow(
      placement.dir,
      [&](int dir_fd, const std::string& name, const std::string& path, const struct stat& st) {
        uint64_t allocated = static_cast<uint64_t>(st.st_blocks) * 512;
        stats.used_bytes += allocated;
        stats.exclusive_bytes += OwnBytes(dir_fd, name, path, st, allocated);
        return Status::Ok();
      }));
  return stats;
}

Result<uint16_t> LocalRuntime::AllocatePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket", "127.0.0.1", errno);
  UniqueFd guard(fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ErrnoStatus("bind", "127.0.0.1:0", errno);
  }
  return ntohs(addr.sin_port);
}

Result<std::vector<TestHost>> ParseTestHosts(const std::string& list) {
  std::vector<TestHost> hosts;
  const std::string hint =
      "give NAME=ADDRESS[,NAME=ADDRESS...]: a namespace made with `ip netns "
      "add NAME` and an IPv4 address it has";
  for (size_t start = 0; start <= list.size();) {
    size_t comma = std::min(list.find(',', start), list.size());
    std::string item = list.substr(start, comma - start);
    start = comma + 1;
    size_t eq = item.find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument(fmt::format("test host '{}' has no address", item), hint);
    }
    TestHost host{item.substr(0, eq), item.substr(eq + 1)};
    RETURN_IF_ERROR(ValidateName("test host", host.name));
    in_addr parsed{};
    if (::inet_pton(AF_INET, host.address.c_str(), &parsed) != 1) {
      return Status::InvalidArgument(
          fmt::format("test host '{}': '{}' is not an IPv4 address", host.name, host.address),
          hint);
    }
    struct stat st;
    if (::stat(("/run/netns/" + host.name).c_str(), &st) != 0) {
      return ErrnoStatus("find the network namespace of test host", "/run/netns/" + host.name,
                         errno);
    }
    for (const TestHost& seen : hosts) {
      if (seen.name == host.name || seen.address == host.address) {
        return Status::InvalidArgument(
            fmt::format("test host '{}' ({}) is given twice", host.name, host.address), hint);
      }
    }
    hosts.push_back(std::move(host));
  }
  return hosts;
}

Runtime& Local() {
  static LocalRuntime local;
  return local;
}

}  // namespace dbaas::runtime
