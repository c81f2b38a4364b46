// The daemon's CA for its agents (kube_runtime/agent_authority.h): made once, kept 0600,
// refused when half of it is missing or its halves differ; what it issues is checked by
// OpenSSL's own verifier (the openssl command) for the names it was issued for only.
#include <sys/stat.h>

#include <chrono>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "base/process.h"
#include "kube_runtime/agent_authority.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

using kube_runtime::AgentAuthority;

// `openssl verify` of `cert` against `ca` for `host`; its exit code.
int Verify(const std::string& dir, const std::string& ca, const std::string& cert,
           const std::string& host) {
  WriteFile(dir + "/ca.pem", ca);
  WriteFile(dir + "/cert.pem", cert);
  ProcessOptions o;
  o.argv = {"openssl", "verify",   "-CAfile",   dir + "/ca.pem",  "-verify_hostname",
            host,      "-purpose", "sslserver", dir + "/cert.pem"};
  auto ran = RunProcess(o, std::chrono::seconds(30));
  EXPECT_TRUE(ran.ok()) << ran.status().ToString();
  return ran.ok() ? ran->exit_code : -1;
}

TEST(AgentAuthorityTest, IsMadeOnceKeptPrivateAndIssuesCertificatesForTheirNamesOnly) {
  TempDir dir;
  auto made = AgentAuthority::LoadOrCreate(dir.path());
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  struct stat st {};
  ASSERT_EQ(::stat((dir / "agent-ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = AgentAuthority::LoadOrCreate(dir.path());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->ca_pem(), made->ca_pem());

  const std::string name = "orders-postgresql-local-0.orders-hl.dbaas-orders.svc";
  auto issued = again->Issue({name, name + ".cluster.local"});
  ASSERT_TRUE(issued.ok()) << issued.status().ToString();
  EXPECT_NE(issued->key_pem.find("PRIVATE KEY"), std::string::npos);
  TempDir work;
  EXPECT_EQ(Verify(work.path(), made->ca_pem(), issued->cert_pem, name), 0);
  EXPECT_EQ(Verify(work.path(), made->ca_pem(), issued->cert_pem, name + ".cluster.local"), 0);
  // Another name, or another CA, is not vouched for.
  EXPECT_NE(Verify(work.path(), made->ca_pem(), issued->cert_pem,
                   "shop-postgresql-local-0.shop-hl.dbaas-shop.svc"),
            0);
  TempDir other_dir;
  auto other = AgentAuthority::LoadOrCreate(other_dir.path());
  ASSERT_TRUE(other.ok());
  EXPECT_NE(Verify(work.path(), other->ca_pem(), issued->cert_pem, name), 0);
  EXPECT_FALSE(again->Issue({}).ok());
  // The longest instance name (35 characters) makes the longest DNS name.
  const std::string longest = std::string(35, 'a');
  const std::string long_name =
      fmt::format("{0}-postgresql-local-0.{0}-hl.dbaas-{0}.svc.cluster.local", longest);
  auto long_issued = again->Issue({long_name});
  ASSERT_TRUE(long_issued.ok()) << long_issued.status().ToString();
  EXPECT_EQ(Verify(work.path(), made->ca_pem(), long_issued->cert_pem, long_name), 0);
}

TEST(AgentAuthorityTest, AKeyWithoutItsCertificateGetsItAgainAndWhatItIssuedStillVerifies) {
  TempDir dir, work;
  auto made = AgentAuthority::LoadOrCreate(dir.path());
  ASSERT_TRUE(made.ok());
  const std::string name = "orders-postgresql-local-0.orders-hl.dbaas-orders.svc";
  auto issued = made->Issue({name});
  ASSERT_TRUE(issued.ok());
  // A daemon killed between writing the key and the certificate.
  ASSERT_EQ(::unlink((dir / "agent-ca.crt").c_str()), 0);
  auto again = AgentAuthority::LoadOrCreate(dir.path());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(PathExists(dir / "agent-ca.crt"));
  EXPECT_EQ(Verify(work.path(), again->ca_pem(), issued->cert_pem, name), 0);
}

TEST(AgentAuthorityTest, AHalfMissingOrMismatchedIsRefusedWithTheReason) {
  TempDir dir, other;
  ASSERT_TRUE(AgentAuthority::LoadOrCreate(dir.path()).ok());
  ASSERT_TRUE(AgentAuthority::LoadOrCreate(other.path()).ok());
  // The other CA's key beside this certificate.
  WriteFile(dir / "agent-ca.key", ReadFile(other / "agent-ca.key"));
  auto mismatched = AgentAuthority::LoadOrCreate(dir.path());
  ASSERT_FALSE(mismatched.ok());
  EXPECT_EQ(mismatched.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(mismatched.status().message().find("is not the key of"), std::string::npos)
      << mismatched.status().ToString();
  // The key lost: refused, not replaced (a new CA would cut the daemon off every agent).
  ASSERT_EQ(::unlink((dir / "agent-ca.key").c_str()), 0);
  auto half = AgentAuthority::LoadOrCreate(dir.path());
  ASSERT_FALSE(half.ok());
  EXPECT_NE(half.status().message().find("but not its key"), std::string::npos)
      << half.status().ToString();
  EXPECT_FALSE(PathExists(dir / "agent-ca.key"));
}

}  // namespace
}  // namespace dbaas::testing
