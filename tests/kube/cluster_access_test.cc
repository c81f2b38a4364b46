// Kubeconfig and in-cluster access: what is taken, and what is refused with the reason.
#include "kube/cluster_access.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "base/base64.h"
#include "base/files.h"
#include "test_util.h"

namespace dbaas::kube {
namespace {

std::string Kubeconfig(const std::string& cluster_extra, const std::string& user) {
  return "apiVersion: v1\nkind: Config\ncurrent-context: main\n"
         "clusters:\n- name: c\n  cluster:\n    server: https://10.0.0.1:6443\n" +
         cluster_extra + "users:\n- name: u\n  user:\n" + user +
         "contexts:\n- name: main\n  context:\n    cluster: c\n    user: u\n"
         "    namespace: ops\n- name: other\n  context:\n    cluster: c\n    user: nobody\n";
}

class ClusterAccessTest : public ::testing::Test {
 protected:
  Result<ClusterAccess> Load(const std::string& text, const std::string& context = {}) {
    EXPECT_TRUE(WriteFileAtomic(dir_ / "config", text).ok());
    return LoadKubeconfig(dir_ / "config", context);
  }
  testing::TempDir dir_;
};

TEST_F(ClusterAccessTest, TakesTheCurrentContextsServerCaAndToken) {
  auto access = Load(Kubeconfig("    certificate-authority-data: " + Base64Encode("CA PEM") + "\n",
                                "    token: abc\n"));
  ASSERT_TRUE(access.ok()) << access.status().ToString();
  EXPECT_EQ(access->server, "https://10.0.0.1:6443");
  EXPECT_EQ(access->ca_pem, "CA PEM");
  EXPECT_EQ(access->token, "abc");
  EXPECT_EQ(access->namespace_name, "ops");
}

TEST_F(ClusterAccessTest, FilesAreReadBesideTheKubeconfig) {
  ASSERT_TRUE(WriteFileAtomic(dir_ / "ca.crt", "CA FROM FILE").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ / "token", "tok-from-file\n").ok());
  auto access = Load(Kubeconfig("    certificate-authority: ca.crt\n", "    tokenFile: token\n"));
  ASSERT_TRUE(access.ok()) << access.status().ToString();
  EXPECT_EQ(access->ca_pem, "CA FROM FILE");
  EXPECT_EQ(access->token, "tok-from-file");
  EXPECT_EQ(access->token_file, dir_ / "token");
}

TEST_F(ClusterAccessTest, RefusesWhatADaemonMustNotTrustOrCannotUse) {
  struct Case {
    std::string text, context, expected;
  };
  const Case cases[] = {
      {Kubeconfig("    insecure-skip-tls-verify: true\n", "    token: a\n"), "",
       "insecure-skip-tls-verify"},
      {Kubeconfig("", "    exec:\n      command: aws\n"), "", "exec or auth-provider"},
      {Kubeconfig("", "    username: admin\n"), "", "neither a token nor a client certificate"},
      {Kubeconfig("", "    token: a\n"), "missing", "no context named 'missing'"},
      {Kubeconfig("", "    token: a\n"), "other", "no user named 'nobody'"},
      {"apiVersion: v1\nclusters: [\n", "", "kubeconfig"},
  };
  for (const auto& c : cases) {
    auto access = Load(c.text, c.context);
    ASSERT_FALSE(access.ok()) << c.expected;
    EXPECT_EQ(access.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(access.status().message().find(c.expected), std::string::npos)
        << access.status().ToString();
  }
  std::string plain = Kubeconfig("", "    token: a\n");
  plain.replace(plain.find("https://"), 8, "http://");
  auto access = Load(plain);
  EXPECT_NE(access.status().message().find("not an https:// address"), std::string::npos);
}

TEST_F(ClusterAccessTest, InClusterReadsTheServiceAccountAndTheServiceAddress) {
  ASSERT_TRUE(WriteFileAtomic(dir_ / "token", "sa-token\n").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ / "ca.crt", "CLUSTER CA").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ / "namespace", "dbaas-system").ok());
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  EXPECT_EQ(InClusterAccess(dir_.path()).status().code(), StatusCode::kFailedPrecondition);
  ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto access = InClusterAccess(dir_.path());
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(access.ok()) << access.status().ToString();
  EXPECT_EQ(access->server, "https://10.96.0.1:443");
  EXPECT_EQ(access->token, "sa-token");
  EXPECT_EQ(access->ca_pem, "CLUSTER CA");
  EXPECT_EQ(access->namespace_name, "dbaas-system");
}

TEST(Base64Test, RoundTripsAndRefusesWhatIsNotBase64) {
  for (const std::string& text :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    auto decoded = Base64Decode(Base64Encode(text));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, text);
  }
  EXPECT_EQ(Base64Decode("YWJj\nZA==").value(), "abcd");
  EXPECT_FALSE(Base64Decode("YWJ").has_value());
  EXPECT_FALSE(Base64Decode("YW=j").has_value());
  EXPECT_FALSE(Base64Decode("YWJ*").has_value());
}

}  // namespace
}  // namespace dbaas::kube
