#include "base/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "test_util.h"

namespace dbaas {
namespace {

using std::chrono::milliseconds;

ProcessOptions Cmd(std::vector<std::string> argv) {
  ProcessOptions o;
  o.argv = std::move(argv);
  return o;
}

TEST(ProcessTest, RunsArgvWithoutAShell) {
  // Shell syntax in an argument reaches the program verbatim.
  auto r = RunProcess(Cmd({"echo", "$(touch /tmp/pwned); a b"}), milliseconds(5000));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->output, "$(touch /tmp/pwned); a b\n");
}

TEST(ProcessTest, ReportsExitCodesAndOutput) {
  auto r = RunProcess(Cmd({"sh", "-c", "echo out; echo err >&2; exit 3"}), milliseconds(5000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_NE(r->output.find("out"), std::string::npos);
  EXPECT_NE(r->output.find("err"), std::string::npos);
  auto checked = RunChecked(Cmd({"sh", "-c", "echo why it failed; exit 4"}), milliseconds(5000));
  ASSERT_FALSE(checked.ok());
  EXPECT_NE(checked.status().message().find("exited with code 4: why it failed"), std::string::npos)
      << checked.status().message();
}

TEST(ProcessTest, MissingProgramIsAClearError) {
  auto r = RunProcess(Cmd({"/nonexistent/initdb"}), milliseconds(5000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/initdb"), std::string::npos);
}

TEST(ProcessTest, TimeoutKillsTheChildAndItsGroup) {
  auto start = std::chrono::steady_clock::now();
  auto r = RunProcess(Cmd({"sh", "-c", "sleep 31.25 & sleep 31.25"}), milliseconds(300));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kBusy);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  // The background grandchild went with the group.
  auto left = RunProcess(Cmd({"pgrep", "-f", "sleep 31.25"}), milliseconds(5000));
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->exit_code, 1) << "still running: " << left->output;
}

TEST(ProcessTest, WaitAndSignal) {
  auto p = Process::Start(Cmd({"sleep", "30"}));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->Wait(milliseconds(50)).status().code(), StatusCode::kBusy);
  ASSERT_TRUE(p->Signal(SIGTERM).ok());
  auto code = p->Wait(milliseconds(5000));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 128 + SIGTERM);
}

TEST(ProcessTest, EnvironmentAndWorkingDirectory) {
  testing::TempDir dir;
  ProcessOptions o = Cmd({"sh", "-c", "echo $DBAAS_X; pwd"});
  o.env = {"DBAAS_X=42"};
  o.cwd = dir.path();
  auto r = RunProcess(o, milliseconds(5000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->output, "42\n" + dir.path() + "\n");
}

TEST(ProcessTest, RunsAsAnotherUser) {
  if (geteuid() != 0) GTEST_SKIP() << "not root: cannot switch users";
  auto nobody = LookupUser("nobody");
  ASSERT_TRUE(nobody.ok()) << nobody.status().ToString();
  ProcessOptions o = Cmd({"id", "-u"});
  o.user = nobody.value();
  auto r = RunProcess(o, milliseconds(5000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->output, std::to_string(nobody->uid) + "\n");
  EXPECT_EQ(LookupUser("no-such-user-xyz").status().code(), StatusCode::kNotFound);
}

// The child of a daemon holding API connections and the repository's lock keeps none of
// them: only 0-2 are open in it, whether or not ours were close-on-exec.
TEST(ProcessTest, TheChildHoldsNoDescriptorOfOurs) {
  int leaky = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC, as cpp-httplib's sockets
  ASSERT_GE(leaky, 0);
  int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  auto p = Process::Start(Cmd({"sleep", "30"}));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  // Wait for the exec (the descriptors are closed by it).
  std::string exe;
  for (int i = 0; i < 500 && exe.find("sleep") == std::string::npos; ++i) {
    exe = std::filesystem::read_symlink(fmt::format("/proc/{}/exe", p->pid())).string();
    std::this_thread::sleep_for(milliseconds(2));
  }
  ASSERT_NE(exe.find("sleep"), std::string::npos);
  std::set<std::string> fds;
  for (const auto& e : std::filesystem::directory_iterator(fmt::format("/proc/{}/fd", p->pid()))) {
    fds.insert(e.path().filename().string());
  }
  EXPECT_EQ(fds, (std::set<std::string>{"0", "1", "2"}));
  ::close(leaky);
  ::close(sock);
}

// Only the listed part of our environment reaches a child (a token or credential the
// operator exported never reaches a server); what the caller passes does.
TEST(ProcessTest, TheChildGetsOnlyTheListedEnvironment) {
  ::setenv("DBAAS_CANARY_SECRET", "canary-3f9a", 1);
  ProcessOptions o = Cmd({"env"});
  o.env = {"DBAAS_GIVEN=1"};
  auto r = RunProcess(o, milliseconds(5000));
  ::unsetenv("DBAAS_CANARY_SECRET");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->output.find("canary-3f9a"), std::string::npos) << r->output;
  EXPECT_NE(r->output.find("DBAAS_GIVEN=1\n"), std::string::npos) << r->output;
  EXPECT_NE(r->output.find("PATH="), std::string::npos) << r->output;
}

}  // namespace
}  // namespace dbaas
