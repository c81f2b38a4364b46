#include "test_hosts.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include <fmt/format.h>

#include "base/files.h"
#include "base/process.h"

namespace dbaas::testing {
namespace {

// `ip ARGS...`; its output is the error when it fails.
Status Ip(std::vector<std::string> args) {
  ProcessOptions o;
  o.argv = {"ip"};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  auto ran = RunProcess(o, std::chrono::seconds(20));
  if (!ran.ok()) return ran.status();
  if (ran->exit_code != 0) {
    std::string command = "ip";
    for (const std::string& a : args) command += " " + a;
    return Status::IoError(fmt::format("`{}` failed: {}", command, ran->output),
                           "the test hosts need root and a kernel with network namespaces");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<TestHosts>> TestHosts::Make(int count) {
  std::unique_ptr<TestHosts> hosts(new TestHosts());
  Status made = Status::Ok();
  for (int n = 1; n <= 250 && hosts->bridge_.empty(); ++n) {
    // Taking the bridge's name is the lock on its subnet.
    made = Ip({"link", "add", fmt::format("dbaasbr{}", n), "type", "bridge"});
    if (made.ok()) {
      hosts->subnet_ = n;
      hosts->bridge_ = fmt::format("dbaasbr{}", n);
    }
  }
  if (hosts->bridge_.empty()) return made;
  const std::string net = fmt::format("10.214.{}", hosts->subnet_);
  RETURN_IF_ERROR(Ip({"addr", "add", net + ".1/24", "dev", hosts->bridge_}));
  RETURN_IF_ERROR(Ip({"link", "set", hosts->bridge_, "up"}));
  for (int i = 0; i < count; ++i) {
    std::string name = fmt::format("dbaas-t{}-{}", hosts->subnet_, i);
    std::string address = fmt::format("{}.{}", net, 2 + i);
    RETURN_IF_ERROR(Ip({"netns", "add", name}));
    hosts->names_.push_back(name);
    hosts->addresses_.push_back(address);
    const std::string link = hosts->LinkOf(i);
    RETURN_IF_ERROR(
        Ip({"link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", name}));
    RETURN_IF_ERROR(Ip({"link", "set", link, "master", hosts->bridge_, "up"}));
    RETURN_IF_ERROR(Ip({"-n", name, "addr", "add", address + "/24", "dev", "eth0"}));
    RETURN_IF_ERROR(Ip({"-n", name, "link", "set", "eth0", "up"}));
    RETURN_IF_ERROR(Ip({"-n", name, "link", "set", "lo", "up"}));
  }
  return hosts;
}

TestHosts::~TestHosts() {
  for (int i = 0; i < size(); ++i) {
    (void)Ip({"link", "del", LinkOf(i)});
    (void)Ip({"netns", "del", names_[i]});
  }
  if (!bridge_.empty()) (void)Ip({"link", "del", bridge_});
}

std::string TestHosts::LinkOf(int i) const { return fmt::format("dbaas{}h{}", subnet_, i); }

int TestHosts::IndexOf(const std::string& address) const {
  auto it = std::find(addresses_.begin(), addresses_.end(), address);
  return it == addresses_.end() ? -1 : static_cast<int>(it - addresses_.begin());
}

std::string TestHosts::Flag() const {
  std::string flag;
  for (int i = 0; i < size(); ++i) {
    flag += fmt::format("{}{}={}", flag.empty() ? "" : ",", names_[i], addresses_[i]);
  }
  return flag;
}

Status TestHosts::Cut(int i) { return Ip({"link", "set", LinkOf(i), "down"}); }

Status TestHosts::Reconnect(int i) { return Ip({"link", "set", LinkOf(i), "up"}); }

Result<int> TestHosts::Listen(int i, uint16_t port) {
  // A thread of its own joins the namespace (setns moves the calling thread only); the
  // socket stays in the namespace it was made in.
  int fd = -1;
  int err = 0;
  std::thread([&] {
    UniqueFd ns(::open(("/run/netns/" + names_[i]).c_str(), O_RDONLY | O_CLOEXEC));
    if (ns.get() < 0 || ::setns(ns.get(), CLONE_NEWNET) != 0) {
      err = errno;
      return;
    }
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, addresses_[i].c_str(), &addr.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 1) != 0) {
      err = errno;
      ::close(fd);
      fd = -1;
    }
  }).join();
  if (fd < 0)
    return ErrnoStatus("listen in test host", fmt::format("{}:{}", addresses_[i], port), err);
  return fd;
}

}  // namespace dbaas::testing
