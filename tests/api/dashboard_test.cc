// The dashboard's files as dbaasd serves them (api/dashboard_routes.h): without the token,
// under the Content-Security-Policy, only plain names from the build's folder, no link
// followed; the API itself still wants the token. The pages themselves are tested in a
// browser (ui/tests/dashboard.test.mjs).
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>

#include "base/files.h"
#include "daemon.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

struct Answer {
  int status = 0;
  std::string body;
  httplib::Headers headers;
  std::string header(const char* name) const {
    auto it = headers.find(name);  // case-insensitive
    return it == headers.end() ? "" : it->second;
  }
};

// A request without the bearer token.
Answer Anonymous(const Daemon& daemon, const std::string& method, const std::string& path) {
  httplib::Client client("127.0.0.1", daemon.port());
  httplib::Result res =
      method == "POST" ? client.Post(path, "{}", "application/json") : client.Get(path);
  if (!res) return {};
  return {res->status, res->body, res->headers};
}

TEST(DashboardRoutesTest, FilesAreServedWithoutTheTokenUnderTheCspAndNothingElse) {
  TempDir root;
  const std::string ui = root / "ui";
  ASSERT_TRUE(MakeDirs(JoinPath(ui, "assets"), 0755).ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(ui, "index.html"), "<!doctype html><p>dash</p>", 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(ui, "assets/app-1a2b.js"), "console.log(1)", 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(root / "secret.txt", "not for the web", 0644).ok());
  ASSERT_EQ(::symlink((root / "secret.txt").c_str(), JoinPath(ui, "assets/link.js").c_str()), 0);
  Daemon daemon(root / "data");
  ASSERT_TRUE(daemon.Start({}, {"--ui-dir", ui}).ok());

  // No Authorization header on any of these.
  auto page = Anonymous(daemon, "GET", "/ui/");
  EXPECT_EQ(page.status, 200) << page.body;
  EXPECT_NE(page.body.find("<p>dash</p>"), std::string::npos);
  EXPECT_EQ(page.header("Content-Security-Policy").rfind("default-src 'self'", 0), 0u) << page.body;
  EXPECT_EQ(page.header("Cache-Control"), "no-cache");
  auto script = Anonymous(daemon, "GET", "/ui/assets/app-1a2b.js");
  EXPECT_EQ(script.status, 200);
  EXPECT_EQ(script.header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_NE(script.header("Cache-Control").find("immutable"), std::string::npos);
  EXPECT_EQ(Anonymous(daemon, "GET", "/ui").status, 308);

  // Nothing outside the folder, nothing hidden, no link followed, no other method.
  for (const char* path :
       {"/ui/assets/link.js", "/ui/..%2fsecret.txt", "/ui/assets/..%2f..%2fsecret.txt",
        "/ui/.hidden", "/ui/assets/missing.js"}) {
    auto got = Anonymous(daemon, "GET", path);
    EXPECT_EQ(got.status, 404) << path << ": " << got.body;
    EXPECT_EQ(got.body.find("not for the web"), std::string::npos) << path;
  }
  EXPECT_EQ(Anonymous(daemon, "POST", "/ui/").status, 401);
  // The API behind the pages still asks for the token.
  EXPECT_EQ(Anonymous(daemon, "GET", "/instances").status, 401);
  EXPECT_TRUE(daemon.Stop().ok());

  // Not built: the page says how to build it.
  Daemon unbuilt(root / "data2");
  ASSERT_TRUE(unbuilt.Start({}, {"--ui-dir", root / "nothing"}).ok());
  auto none = Anonymous(unbuilt, "GET", "/ui/");
  EXPECT_EQ(none.status, 404);
  EXPECT_NE(none.body.find("npm run build"), std::string::npos) << none.body;
  EXPECT_TRUE(unbuilt.Stop().ok());
}

}  // namespace
}  // namespace dbaas::testing
