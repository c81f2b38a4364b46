// 1,000 malformed or hostile requests against a running dbaasd: broken HTTP on raw
// sockets, bad JSON, huge and deeply nested bodies, wrong types, path tricks in names,
// wrong methods and tokens. The daemon must answer each with a 4xx (or close the
// connection), keep running, and change nothing.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "daemon.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

using nlohmann::json;

std::set<std::string> DirEntries(const std::string& path) {
  std::set<std::string> out;
  if (DIR* d = ::opendir(path.c_str())) {
    while (dirent* e = ::readdir(d)) out.insert(e->d_name);
    ::closedir(d);
  }
  return out;
}

TEST(HostileTest, AThousandBadRequestsLeaveTheDaemonRunningAndTheStateUnchanged) {
  TempDir root;
  ::chmod(root.path().c_str(), 0711);
  Daemon daemon(root / "data");
  ASSERT_TRUE(daemon.Start().ok());
  ASSERT_EQ(daemon.Post("/instances", json{{"name", "keep"}, {"type", "postgresql"}}).status, 201);
  ASSERT_EQ(daemon.Post("/instances/keep/backup", json{{"backupName", "b"}}).status, 201);
  auto state = [&] {
    return daemon.Get("/instances").raw + daemon.Get("/instances/keep/backups").raw +
           std::to_string(daemon.Get("/jobs").body["count"].get<int>());
  };
  const std::string before = state();
  const auto dirs_before = DirEntries(root / "data/instances");
  const std::string token = daemon.token();
  const int port = daemon.port();

  std::mt19937 rng(20261124);
  auto random_bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xff);
    return s;
  };
  const std::string auth = "Authorization: Bearer " + token + "\r\n";
  const std::vector<std::string> names = {"..",
                                          "../../etc",
                                          "%2e%2e",
                                          "%2e%2e%2fetc",
                                          "a%2fb",
                                          "a%00b",
                                          "UPPER",
                                          "-lead",
                                          "trail-",
                                          "a_b",
                                          "a.b",
                                          std::string(64, 'a'),
                                          "%C3%A9t%C3%A9",
                                          "%20",
                                          "a%0d%0aX-Injected:%201",
                                          "keep%2f..%2f..",
                                          "%252e%252e",
                                          "*",
                                          "$(id)",
                                          "`id`",
                                          "a;rm",
                                          "'or'1'='1"};
  const std::vector<std::string> bodies = {
      "",
      "{",
      "}",
      "[",
      "nul",
      "{\"name\":",
      "{\"name\":\"x\",}",
      "\"just a string\"",
      "42",
      "{\"name\":\"x\",\"type\":\"postgresql\"",
      "{\"name\":null,\"type\":null}",
      "{\"name\":[],\"type\":{}}",
      "{\"name\":\"x\",\"type\":\"postgresql\",\"config\":[1]}",
      "{\"name\":\"x\",\"type\":\"postgresql\",\"config\":{\"port\":\"5432\"}}",
      "{\"name\":\"x\",\"type\":\"postgresql\",\"config\":{\"listen_addresses\":\"*\"}}",
      "{\"name\":\"x\",\"type\":\"postgresql\",\"config\":{\"work_mem\":\"1'\\n\"}}",
      "{\"name\":\"x\",\"type\":\"postgresql\",\"config\":{\"a b\":\"1\"}}",
      "{\"name\":\"x\",\"type\":\"postgresql\",\"size\":\"99999999999999999999Gi\"}",
      "{\"name\":\"x\",\"type\":\"postgresql\",\"size\":-1}",
      "{\"backupName\":\"b\",\"newInstanceName\":\"keep\"}",
      "{\"backupName\":1,\"newInstanceName\":true}",
      "{\"retentionDays\":-5}",
      "{\"retentionDays\":99999999999}",
      "{\"retentionDays\":1.5}",
      "\xff\xfe\x00\x01"};

  int requests = 0;
  int server_errors = 0;
  auto check = [&](int status, const std::string& what) {
    ++requests;
    if (status >= 500) {
      ++server_errors;
      ADD_FAILURE() << what << " -> " << status;
    }
    if (status >= 200 && status < 300) ADD_FAILURE() << what << " was accepted: " << status;
  };

  httplib::Client c("127.0.0.1", port);
  c.set_bearer_token_auth(token.c_str());
  c.set_read_timeout(30, 0);
  while (requests < 1000) {
    // Broken HTTP on a raw socket.
    static const std::vector<std::string> raw = {
        "GARBAGE\r\n\r\n",
        "GET\r\n\r\n",
        "GET /instances HTTP/9.9\r\n\r\n",
        "GET /instances\r\n" + auth + "\r\n",
        "POST /instances HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: -5\r\n\r\n{}",
        "POST /instances HTTP/1.1\r\nHost: x\r\n" + auth +
            "Content-Length: 99999999999999999999\r\n\r\n{}",
        "POST /instances HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: abc\r\n\r\n{}",
        "POST /instances HTTP/1.1\r\nHost: x\r\n" + auth +
            "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        "POST /instances HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 100\r\n\r\n{\"na",
        "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /instances HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100000, 'b') + "\r\n\r\n",
        "GET /instances HTTP/1.1\r\nHost: x\r\nNoColonHeader\r\n\r\n",
        "GET /instances/a\0b HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n",
        random_bytes(64),
        random_bytes(2048),
    };
    for (const auto& r : raw) {
      int status = RawRequest(port, r);
      check(status, "raw request " +
                        json(r.substr(0, 60)).dump(-1, ' ', true, json::error_handler_t::replace));
    }
    // Bad bodies on every route that takes one.
    for (const auto& body : bodies) {
      for (const char* path : {"/instances", "/instances/keep/backup", "/instances/keep/restore"}) {
        // An empty body is a valid backup request; everything else here is bad.
        if (body.empty() && std::string_view(path) == "/instances/keep/backup") continue;
        auto res = c.Post(path, body, "application/json");
        if (!res) {
          ADD_FAILURE() << "no answer to POST " << path;
          continue;
        }
        check(res->status,
              fmt::format("POST {} {}", path,
                          json(body).dump(-1, ' ', true, json::error_handler_t::replace)));
        json j = json::parse(res->body, nullptr, false);
        EXPECT_TRUE(j.is_object() && j.contains("error")) << res->body;
      }
    }
    // Names with path tricks in every route that takes one.
    for (const auto& name : names) {
      for (const std::string& path : {"/instances/" + name, "/instances/" + name + "/backups",
                                      "/instances/keep/backups/" + name, "/jobs/" + name}) {
        auto res = c.Get(path);
        check(res ? res->status : 0, "GET " + path);
        auto del = c.Delete(path);
        check(del ? del->status : 0, "DELETE " + path);
      }
      auto res = c.Post("/instances", json{{"name", name}, {"type", "postgresql"}}.dump(),
                        "application/json");
      check(res ? res->status : 0, "POST /instances name " + name);
    }
    // Huge and deeply nested bodies.
    auto huge = c.Post("/instances", std::string(4 << 20, '{'), "application/json");
    check(huge ? huge->status : 0, "4 MiB body");
    auto deep = c.Post("/instances", std::string(400000, '[') + std::string(400000, ']'),
                       "application/json");
    check(deep ? deep->status : 0, "400,000 nested arrays");
    // Wrong methods, tokens, query values.
    httplib::Client anon("127.0.0.1", port);
    check(anon.Get("/instances")->status, "no token");
    httplib::Client wrong("127.0.0.1", port);
    // Change the last digit: appending a fixed "0" matched the real token one time in 16.
    const char last = token.back() == '0' ? '1' : '0';
    wrong.set_bearer_token_auth((token.substr(0, token.size() - 1) + last).c_str());
    check(wrong.Get("/instances")->status, "wrong token");
    check(wrong.Post("/instances", "{}", "application/json")->status, "wrong token POST");
    check(c.Put("/instances", "{}", "application/json")->status, "PUT /instances");
    check(c.Patch("/instances/keep", "{}", "application/json")->status, "PATCH");
    check(c.Delete("/instances")->status, "DELETE /instances");
    check(c.Get("/instances?showSecrets=maybe")->status, "showSecrets=maybe");
    check(c.Delete("/instances/keep?deleteBackups=2")->status, "deleteBackups=2");
  }

  auto health = c.Get("/healthz");
  ASSERT_TRUE(health) << "dbaasd stopped answering";
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(::kill(daemon.pid(), 0), 0) << "dbaasd is gone";
  EXPECT_EQ(state(), before) << "the state changed";
  EXPECT_EQ(DirEntries(root / "data/instances"), dirs_before);
  EXPECT_EQ(server_errors, 0);
  std::cout << requests << " hostile requests, " << server_errors << " server errors\n";
  EXPECT_GE(requests, 1000);
  auto code = daemon.Stop();
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(code.value(), 0);
}

}  // namespace
}  // namespace dbaas::testing
