// The HTTP front under slow and hostile clients (issue 12), against a real dbaasd: header
// limits (431 in the API's error shape), a deadline for a whole request, connection caps,
// and authenticated requests answered at once while unauthenticated clients misbehave.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "daemon.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

bool SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// What the server sends until it closes (or the receive timeout passes).
std::string ReadAll(int fd) {
  std::string answer;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<size_t>(n));
  return answer;
}

// One request on a fresh connection; the whole answer ("" when none came).
std::string Exchange(int port, const std::string& request) {
  int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  SendAll(fd, request);
  ::shutdown(fd, SHUT_WR);
  std::string answer = ReadAll(fd);
  ::close(fd);
  return answer;
}

int StatusOf(const std::string& answer) {
  return answer.starts_with("HTTP/1.") ? std::atoi(answer.c_str() + 9) : 0;
}

json BodyOf(const std::string& answer) {
  auto end = answer.find("\r\n\r\n");
  if (end == std::string::npos) return json();
  return json::parse(answer.substr(end + 4), nullptr, false);
}

long VmRssKb(pid_t pid) {
  auto status = ReadFileToString(fmt::format("/proc/{}/status", pid));
  if (!status.ok()) return -1;
  auto at = status->find("VmRSS:");
  return at == std::string::npos ? -1 : std::atol(status->c_str() + at + 6);
}

// Open sockets of a process (its listener and connections).
int SocketsOf(pid_t pid) {
  int n = 0;
  std::string dir = fmt::format("/proc/{}/fd", pid);
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      char target[256];
      ssize_t len = ::readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
      if (len > 0 && std::string_view(target, static_cast<size_t>(len)).starts_with("socket:")) {
        ++n;
      }
    }
    ::closedir(d);
  }
  return n;
}

// Whether the server has closed `fd` (without waiting).
bool ClosedByServer(int fd) {
  char c;
  ssize_t n = ::recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

class HttpFrontTest : public ::testing::Test {
 protected:
  void SetUp() override { ::chmod(root_.path().c_str(), 0711); }
  void TearDown() override {
    auto code = daemon_.Stop();
    EXPECT_TRUE(code.ok() && code.value() == 0) << "dbaasd did not exit cleanly on SIGTERM";
  }
  void Start(const std::vector<std::string>& args = {}) {
    Status st = daemon_.Start({}, args);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  std::string Auth() const { return "Authorization: Bearer " + daemon_.token() + "\r\n"; }

  TempDir root_;
  Daemon daemon_{root_ / "data"};
};

TEST_F(HttpFrontTest, FortyMegabytesOfHeaderLinesAreRefusedWithoutGrowingTheDaemon) {
  Start();
  ASSERT_EQ(daemon_.Get("/instances").status, 200);
  const long before = VmRssKb(daemon_.pid());
  ASSERT_GT(before, 0);

  // 400,000 lines of 100 bytes, unauthenticated, sent as fast as the daemon takes them.
  int fd = ConnectLoopback(daemon_.port());
  ASSERT_GE(fd, 0);
  const std::string line = "X-a: " + std::string(93, 'b') + "\r\n";
  std::string chunk;
  for (int i = 0; i < 10000; ++i) chunk += line;
  size_t sent = 0;
  bool sending = SendAll(fd, "GET /instances HTTP/1.1\r\nHost: x\r\n");
  for (int i = 0; i < 40 && sending; ++i) {
    sending = SendAll(fd, chunk);
    if (sending) sent += chunk.size();
  }
  if (sending) SendAll(fd, "\r\n");
  std::string answer = ReadAll(fd);
  ::close(fd);
  const long after = VmRssKb(daemon_.pid());
  std::cout << "sent " << sent / (1 << 20) << " MiB of header lines; RSS " << before << " -> "
            << after << " kB; answer: " << answer.substr(0, answer.find("\r\n")) << "\n";

  // Refused (431), or cut off while still sending: either way the headers were not kept.
  int status = StatusOf(answer);
  EXPECT_TRUE(status == 431 || status == 0) << answer.substr(0, 300);
  if (status == 431) {
    EXPECT_EQ(BodyOf(answer)["error"]["code"], "header_too_large") << answer;
  }
  EXPECT_LT(after - before, 64 * 1024) << "kB of RSS";
  EXPECT_EQ(daemon_.Get("/instances").status, 200) << "the daemon still answers";
}

TEST_F(HttpFrontTest, SlowClientsDoNotDelayAnAuthenticatedRequest) {
  constexpr int kSlow = 300;
  constexpr int kPerPeer = 100;
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  if (lim.rlim_cur < 2048 && lim.rlim_max >= 2048) {
    lim.rlim_cur = 2048;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lim), 0);
  }
  Start({"--http-max-connections-per-peer", std::to_string(kPerPeer)});
  // Each connects and sends part of a request, then idles: more than the 128 handler
  // threads, and more than one address may hold at once.
  std::vector<int> slow;
  for (int i = 0; i < kSlow; ++i) {
    int fd = ConnectLoopback(daemon_.port());
    ASSERT_GE(fd, 0) << "connection " << i;
    ASSERT_TRUE(SendAll(fd, "GET /instances HTTP/1.1\r\nHost: x\r\nX-Slow: "));
    slow.push_back(fd);
  }
  std::this_thread::sleep_for(milliseconds(300));

  for (int i = 0; i < 3; ++i) {
    auto started = steady_clock::now();
    HttpAnswer a = daemon_.Get("/instances");
    auto took = steady_clock::now() - started;
    EXPECT_EQ(a.status, 200) << a.raw;
    EXPECT_LT(took, seconds(1)) << "request " << i << " waited behind the slow clients: "
                                << std::chrono::duration_cast<milliseconds>(took).count() << " ms";
  }
  // The daemon holds at most kPerPeer connections from this address (and its listener):
  // the ones that waited longest were closed to make room.
  int sockets = SocketsOf(daemon_.pid());
  EXPECT_LE(sockets, kPerPeer + 5);
  int closed = 0;
  for (int fd : slow) closed += ClosedByServer(fd) ? 1 : 0;
  EXPECT_GE(closed, kSlow - kPerPeer);
  EXPECT_TRUE(ClosedByServer(slow.front())) << "the oldest slow client keeps its connection";
  EXPECT_FALSE(ClosedByServer(slow.back())) << "the newest slow client lost its connection";
  std::cout << kSlow << " slow clients: the daemon holds " << sockets << " sockets, closed "
            << closed << " of them\n";
  for (int fd : slow) ::close(fd);
}

TEST_F(HttpFrontTest, TooManyOrTooLargeHeaderFieldsAre431WithTheErrorShape) {
  Start();
  std::string many = "GET /instances HTTP/1.1\r\nHost: x\r\n" + Auth();
  for (int i = 0; i < 200; ++i) many += fmt::format("X-Field-{}: v\r\n", i);
  std::string large = "GET /instances HTTP/1.1\r\nHost: x\r\n" + Auth() +
                      "X-Large: " + std::string(20000, 'v') + "\r\n";
  for (const std::string& request : {many, large}) {
    std::string answer = Exchange(daemon_.port(), request + "\r\n");
    ASSERT_EQ(StatusOf(answer), 431) << answer.substr(0, 300);
    json body = BodyOf(answer);
    ASSERT_TRUE(body.is_object()) << answer;
    EXPECT_EQ(body["success"], false);
    EXPECT_EQ(body["error"]["code"], "header_too_large");
    EXPECT_FALSE(body["error"]["message"].get<std::string>().empty());
    EXPECT_FALSE(body["error"]["hint"].get<std::string>().empty());
  }
  // Within the limits: served.
  std::string fine = "GET /instances HTTP/1.1\r\nHost: x\r\n" + Auth();
  for (int i = 0; i < 50; ++i) fine += fmt::format("X-Field-{}: {}\r\n", i, std::string(100, 'v'));
  EXPECT_EQ(StatusOf(Exchange(daemon_.port(), fine + "\r\n")), 200);
}

TEST_F(HttpFrontTest, TheTokenAndTheBodySizeAreCheckedBeforeTheBodyIsRead) {
  Start();
  // A 100 MB body is announced and never sent: the answers come at once.
  const std::string post = "POST /instances HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n";
  for (auto [request, want] :
       {std::pair{post + "\r\n{", 401}, std::pair{post + Auth() + "\r\n{", 413}}) {
    auto started = steady_clock::now();
    int status = RawRequest(daemon_.port(), request, /*close_sending=*/false);
    EXPECT_EQ(status, want);
    EXPECT_LT(steady_clock::now() - started, seconds(2));
  }
}

TEST_F(HttpFrontTest, AWholeRequestHasADeadlineAndIdleConnectionsClose) {
  // The deadlines as the flags set them (10 s and 5 s by default).
  Start({"--http-request-timeout", "3", "--http-idle-timeout", "1.5"});
  // A header line every second, each well within any per-read timeout: the request as a
  // whole is cut off at its deadline, not served and not kept.
  int fd = ConnectLoopback(daemon_.port());
  ASSERT_GE(fd, 0);
  auto started = steady_clock::now();
  ASSERT_TRUE(SendAll(fd, "GET /instances HTTP/1.1\r\nHost: x\r\n" + Auth()));
  bool cut = false;
  std::string answer;
  while (steady_clock::now() - started < seconds(20)) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) > 0) {
      answer = ReadAll(fd);
      cut = true;
      break;
    }
    if (!SendAll(fd, "X-Drip: 1\r\n")) {
      cut = true;
      break;
    }
  }
  auto took = steady_clock::now() - started;
  ::close(fd);
  EXPECT_TRUE(cut) << "the dribbling request was still open after 20 s";
  EXPECT_EQ(StatusOf(answer), 0) << "it was answered: " << answer.substr(0, 200);
  EXPECT_GE(took, seconds(2));
  EXPECT_LE(took, seconds(6));

  // A kept-alive connection that idles after its answer is closed at its idle deadline.
  fd = ConnectLoopback(daemon_.port(), seconds(15));
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  started = steady_clock::now();
  answer = ReadAll(fd);  // the answer, then the end when the server closes
  took = steady_clock::now() - started;
  ::close(fd);
  EXPECT_EQ(StatusOf(answer), 200) << answer;
  EXPECT_GE(took, std::chrono::milliseconds(1000));
  EXPECT_LE(took, seconds(4));
  EXPECT_EQ(daemon_.Get("/instances").status, 200);
}

}  // namespace
}  // namespace dbaas::testing
