// LocalRuntime end to end on this machine: a placement's volume and identity, a supervised
// server, tools run as the identity, volume snapshots and clones, usage. Real processes and
// (as root) real OS users.
#include "runtime/local_runtime.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "runtime/instance_users.h"
#include "test_hosts.h"
#include "test_util.h"

namespace dbaas::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class LocalRuntimeTest : public ::testing::Test {
 protected:
  Placement Place(const std::string& name) {
    auto placed = runtime_.Provision({name, tmp_ / name, 0, false});
    EXPECT_TRUE(placed.ok()) << placed.status().ToString();
    return placed.value_or(Placement{});
  }
  uid_t ExpectedUid(const Placement& p) const { return p.identity ? p.identity->uid : ::geteuid(); }

  testing::TempDir tmp_;
  LocalRuntime runtime_;
};

TEST_F(LocalRuntimeTest, ProvisionMakesAVolumeAndAnIdentityAndRemoveTakesBoth) {
  Placement p = Place("vol");
  struct stat st;
  ASSERT_EQ(::stat(p.dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);
  EXPECT_EQ(st.st_uid, ::geteuid()) << "the volume's root is the daemon's";
  EXPECT_EQ(p.identity.has_value(), ::geteuid() == 0);
  auto again = runtime_.Provision({"vol", p.dir, 0, false});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(again.status().message().find("'vol'"), std::string::npos);

  // Located again by its recorded identity, as a daemon opening the instance does.
  std::string identity = p.identity ? p.identity->name : "";
  auto located = runtime_.Locate("vol", p.dir, identity, "postgres");
  ASSERT_TRUE(located.ok()) << located.status().ToString();
  EXPECT_EQ(ExpectedUid(*located), ExpectedUid(p));
  EXPECT_FALSE(located->shared_identity);

  ASSERT_TRUE(runtime_.Remove(p).ok());
  EXPECT_FALSE(PathExists(p.dir));
  if (p.identity) {
    EXPECT_EQ(LookupUser(p.identity->name).status().code(), StatusCode::kNotFound);
  }
}

TEST_F(LocalRuntimeTest, RemoveRemainsTakesTheRecordedIdentityAndTheVolume) {
  Placement p = Place("cut-off");
  testing::WriteFile(JoinPath(p.dir, "half-written"), "x");
  ASSERT_TRUE(runtime_.RemoveRemains(p.dir).ok());
  EXPECT_FALSE(PathExists(p.dir));
  if (p.identity) {
    EXPECT_EQ(LookupUser(p.identity->name).status().code(), StatusCode::kNotFound);
  }
  EXPECT_TRUE(runtime_.RemoveRemains(p.dir).ok()) << "nothing there is fine";
}

TEST_F(LocalRuntimeTest, ToolsAndServersRunAsTheIdentityAndServersAreSupervised) {
  Placement p = Place("srv");
  ProcessOptions id;
  id.argv = {"id", "-u"};
  auto ran = runtime_.RunTool(p, id, seconds(10));
  ASSERT_TRUE(ran.ok()) << ran.status().ToString();
  EXPECT_EQ(ran->output, std::to_string(ExpectedUid(p)) + "\n");

  ServerLaunch launch;
  launch.options.argv = {"sleep", "600"};
  launch.options.output_path = JoinPath(p.dir, "server.log");
  launch.instance = "srv";
  launch.engine = "sleep";
  launch.answers = [] { return true; };
  launch.stop_signal = SIGTERM;
  launch.hard_signal = SIGKILL;
  auto started = runtime_.Start(p, launch, seconds(10));
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  std::unique_ptr<Server> server = std::move(started.value());
  ServerHealth health = server->Observe();
  ASSERT_TRUE(health.running);
  struct stat proc;
  ASSERT_EQ(::stat(("/proc/" + std::to_string(health.pid)).c_str(), &proc), 0);
  EXPECT_EQ(proc.st_uid, ExpectedUid(p));

  // A server that dies is started again.
  ASSERT_EQ(::kill(health.pid, SIGKILL), 0);
  auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (server->Observe().restarts == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(server->Observe().restarts, 1);
  ASSERT_TRUE(server->Stop(seconds(5)).ok());
  EXPECT_FALSE(server->Observe().running);
  ASSERT_TRUE(runtime_.Remove(p).ok());
}

TEST_F(LocalRuntimeTest, SnapshotAndCloneCopyTheTreeWithoutFollowingLinks) {
  Placement p = Place("data");
  const std::string data = JoinPath(p.dir, "data");
  ASSERT_TRUE(MakeDirs(JoinPath(data, "base/1"), 0700).ok());
  testing::WriteFile(JoinPath(data, "base/1/16384"), testing::RandomBytes(300000, 7));
  testing::WriteFile(JoinPath(data, "PG_VERSION"), "15\n");
  ASSERT_EQ(::chmod(JoinPath(data, "PG_VERSION").c_str(), 0640), 0);
  // A link the server's user planted: copied as a link, never followed.
  ASSERT_EQ(::symlink("/etc/passwd", JoinPath(data, "escape").c_str()), 0);
  ASSERT_TRUE(runtime_.GiveToInstance(p, data).ok());

  const std::string snap = tmp_ / "snap";
  ASSERT_TRUE(runtime_.SnapshotVolume(p, data, snap).ok());
  EXPECT_EQ(testing::DiffTrees(data, snap), "");
  struct stat st;
  ASSERT_EQ(::lstat(JoinPath(snap, "escape").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  ASSERT_EQ(::stat(JoinPath(snap, "base/1/16384").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, ::geteuid()) << "a snapshot is the daemon's";
  // An existing destination is refused and left as it was.
  auto again = runtime_.SnapshotVolume(p, data, snap);
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);

  Placement q = Place("copy");
  const std::string cloned = JoinPath(q.dir, "data");
  ASSERT_TRUE(runtime_.CloneVolume(snap, q, cloned).ok());
  EXPECT_EQ(testing::DiffTrees(snap, cloned), "");
  ASSERT_EQ(::stat(JoinPath(cloned, "base/1/16384").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, ExpectedUid(q)) << "a clone is its instance's";

  auto usage = runtime_.VolumeUsage(q);
  ASSERT_TRUE(usage.ok()) << usage.status().ToString();
  EXPECT_GE(usage->used_bytes, 300000u);
  EXPECT_LT(usage->used_bytes, 1000000u);

  // A source that cannot be read leaves no destination behind.
  EXPECT_FALSE(runtime_.SnapshotVolume(p, tmp_ / "missing", tmp_ / "none").ok());
  EXPECT_FALSE(PathExists(tmp_ / "none"));
  ASSERT_TRUE(runtime_.Remove(p).ok());
  ASSERT_TRUE(runtime_.Remove(q).ok());
}

TEST_F(LocalRuntimeTest, AllocatedPortsAreFreeLoopbackPorts) {
  auto port = runtime_.AllocatePort();
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  EXPECT_GT(port.value(), 0);
}

// The inode of a network namespace: what /proc/PID/ns/net and /run/netns/NAME share.
ino_t NamespaceInode(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Servers that may run elsewhere are spread over the test hosts, the fewest first, run in
// their namespaces, and are found there again by the host their volume records; the rest
// stay on loopback.
TEST_F(LocalRuntimeTest, TestHostsTakeServersInTheirNamespacesAndVolumesRecordThem) {
  auto hosts = testing::TestHosts::Make(2);
  if (!hosts.ok() && ::geteuid() != 0) GTEST_SKIP() << hosts.status().ToString();
  ASSERT_TRUE(hosts.ok()) << hosts.status().ToString();
  auto parsed = ParseTestHosts((*hosts)->Flag());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  LocalRuntime on_hosts(parsed.value());

  auto a = on_hosts.Provision({"a", tmp_ / "a", 0, true});
  auto b = on_hosts.Provision({"b", tmp_ / "b", 0, true});
  auto local = on_hosts.Provision({"c", tmp_ / "c", 0, false});
  ASSERT_TRUE(a.ok() && b.ok() && local.ok());
  EXPECT_EQ(a->host, (*hosts)->name(0));
  EXPECT_EQ(a->address, (*hosts)->address(0));
  EXPECT_EQ(b->host, (*hosts)->name(1)) << "the host with fewer placements";
  EXPECT_EQ(local->host, "");
  EXPECT_EQ(local->address, "127.0.0.1");

  ServerLaunch launch;
  launch.options.argv = {"sleep", "600"};
  launch.instance = "b";
  launch.engine = "sleep";
  launch.answers = [] { return true; };
  launch.stop_signal = SIGKILL;
  auto started = on_hosts.Start(*b, launch, seconds(10));
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  pid_t pid = (*started)->Observe().pid;
  EXPECT_EQ(NamespaceInode(fmt::format("/proc/{}/ns/net", pid)),
            NamespaceInode("/run/netns/" + (*hosts)->name(1)));
  EXPECT_NE(NamespaceInode(fmt::format("/proc/{}/ns/net", pid)),
            NamespaceInode("/proc/self/ns/net"));
  ASSERT_TRUE((*started)->Stop(seconds(5)).ok());

  // A daemon started again finds b on its host; one without that host says which it needs.
  std::string identity = b->identity ? b->identity->name : "";
  LocalRuntime again(parsed.value());
  auto found = again.Locate("b", b->dir, identity, "postgres");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->address, (*hosts)->address(1));
  auto next = again.Provision({"d", tmp_ / "d", 0, true});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->host, (*hosts)->name(0)) << "b counts once located";
  auto lost = runtime_.Locate("b", b->dir, identity, "postgres");
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(lost.status().ToString().find((*hosts)->name(1)), std::string::npos);
  for (auto* p : {&a.value(), &b.value(), &local.value(), &next.value()}) {
    EXPECT_TRUE(on_hosts.Remove(*p).ok());
  }
}

TEST(ParseTestHostsTest, BadListsAreRefusedWithTheReason) {
  for (const char* bad : {"", "nohost", "x=10.0.0.1", "../x=10.0.0.2", "lo=not-an-address"}) {
    auto parsed = ParseTestHosts(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_FALSE(parsed.status().message().empty());
  }
}

}  // namespace
}  // namespace dbaas::runtime
