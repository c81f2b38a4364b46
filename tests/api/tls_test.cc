// dbaasd over HTTPS (--tls-cert/--tls-key): a certificate made here with the openssl
// command, trusted by the test's client and by the CLI through --cacert.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "base/process.h"
#include "daemon.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

using std::chrono::seconds;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeCertificate("server");
    MakeCertificate("other");
  }

  // A self-signed certificate for 127.0.0.1 and its key: <name>.crt, <name>.key.
  void MakeCertificate(const std::string& name) {
    MakeSelfSignedCertificate(root_ / (name + ".crt"), root_ / (name + ".key"), "IP:127.0.0.1");
  }

  std::vector<std::string> TlsArgs(const std::string& cert, const std::string& key) {
    return {"--tls-cert", root_ / cert, "--tls-key", root_ / key};
  }

  // The dbaas CLI against the daemon; exit code and output.
  RunResult Cli(std::vector<std::string> args) {
    ProcessOptions o;
    o.argv = {DBAAS_CLI_BINARY, "--data-root", daemon_.data_root()};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    auto ran = RunProcess(o, seconds(60));
    EXPECT_TRUE(ran.ok()) << ran.status().ToString();
    return ran.ok() ? ran.value() : RunResult{};
  }

  TempDir root_;
  Daemon daemon_{root_ / "data"};
};

TEST_F(TlsTest, ServesHttpsToClientsThatTrustItsCertificateOnly) {
  daemon_.UseTls(root_ / "server.crt");
  Status started = daemon_.Start({}, TlsArgs("server.crt", "server.key"));
  ASSERT_TRUE(started.ok()) << started.ToString();
  auto listed = daemon_.Get("/instances");
  EXPECT_EQ(listed.status, 200) << listed.raw;
  EXPECT_EQ(listed.body["count"], 0);

  // Plain HTTP to the same port gets no answer.
  httplib::Client plain("127.0.0.1", daemon_.port());
  plain.set_connection_timeout(2, 0);
  plain.set_read_timeout(5, 0);
  auto res = plain.Get("/healthz");
  EXPECT_TRUE(!res || res->status != 200);
  // A client that trusts another certificate refuses the server's.
  httplib::Client wrong_ca(fmt::format("https://127.0.0.1:{}", daemon_.port()));
  wrong_ca.set_ca_cert_path((root_ / "other.crt").c_str());
  auto refused = wrong_ca.Get("/healthz");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), httplib::Error::SSLServerVerification);

  // The CLI: with --cacert it works; without, it says what to pass.
  std::string url = fmt::format("https://127.0.0.1:{}", daemon_.port());
  RunResult ok =
      Cli({"--server", url, "--cacert", root_ / "server.crt", "-o", "json", "instance", "ls"});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_TRUE(ok.output.starts_with("[]")) << ok.output;  // no instances, as JSON
  RunResult untrusted = Cli({"--server", url, "instance", "ls"});
  EXPECT_NE(untrusted.exit_code, 0);
  EXPECT_NE(untrusted.output.find("--cacert"), std::string::npos) << untrusted.output;
  RunResult http_ca = Cli({"--server", fmt::format("http://127.0.0.1:{}", daemon_.port()),
                           "--cacert", root_ / "server.crt", "instance", "ls"});
  EXPECT_NE(http_ca.exit_code, 0);
  EXPECT_NE(http_ca.output.find("https://"), std::string::npos) << http_ca.output;
  EXPECT_EQ(daemon_.Stop().value_or(-1), 0);
}

// A connection the server closes after its answer ends with TLS's close_notify, not a bare
// TCP close, which OpenSSL 3 clients report as "unexpected eof while reading".
TEST_F(TlsTest, AClosedConnectionEndsWithCloseNotify) {
  daemon_.UseTls(root_ / "server.crt");
  Status started = daemon_.Start({}, TlsArgs("server.crt", "server.key"));
  ASSERT_TRUE(started.ok()) << started.ToString();
  WriteFile(root_ / "request",
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  ProcessOptions o;
  // -ign_eof: the end of the request file does not end the connection; the server does.
  o.argv = {"openssl",
            "s_client",
            "-connect",
            fmt::format("127.0.0.1:{}", daemon_.port()),
            "-CAfile",
            root_ / "server.crt",
            "-verify_return_error",
            "-quiet",
            "-ign_eof"};
  o.input_path = root_ / "request";
  auto ran = RunProcess(o, seconds(30));
  ASSERT_TRUE(ran.ok()) << ran.status().ToString();
  EXPECT_NE(ran->output.find("200 OK"), std::string::npos) << ran->output;
  EXPECT_EQ(ran->output.find("unexpected eof"), std::string::npos) << ran->output;
  EXPECT_EQ(ran->exit_code, 0) << ran->output;
}

TEST_F(TlsTest, TheConfigFileCanGiveTheCertificateAndKey) {
  std::string config = root_ / "dbaasd.json";
  ASSERT_TRUE(WriteFileAtomic(config,
                              nlohmann::json{{"tlsCert", root_ / "server.crt"},
                                             {"tlsKey", root_ / "server.key"}}
                                  .dump(),
                              0600)
                  .ok());
  daemon_.UseTls(root_ / "server.crt");
  Status started = daemon_.Start({}, {"--config", config});
  ASSERT_TRUE(started.ok()) << started.ToString();
  EXPECT_EQ(daemon_.Get("/instances").status, 200);
  EXPECT_EQ(daemon_.Stop().value_or(-1), 0);
}

// The other way round: an https:// URL for a daemon that serves plain HTTP.
TEST_F(TlsTest, AnHttpsClientOfAPlainDaemonIsToldWhatToCheck) {
  ASSERT_TRUE(daemon_.Start().ok());
  RunResult ran = Cli({"--server", fmt::format("https://127.0.0.1:{}", daemon_.port()), "--cacert",
                       root_ / "server.crt", "instance", "ls"});
  EXPECT_NE(ran.exit_code, 0);
  EXPECT_NE(ran.output.find("--tls-cert"), std::string::npos) << ran.output;
  EXPECT_EQ(daemon_.Stop().value_or(-1), 0);
}

TEST_F(TlsTest, AnUnusableCertificateOrKeyStopsTheStartAndSaysWhy) {
  struct Case {
    std::vector<std::string> args;
    std::string said;
  };
  std::vector<Case> cases = {
      {TlsArgs("server.crt", "other.key"), "cannot use TLS certificate"},
      {TlsArgs("server.crt", "missing.key"), "missing.key"},
      {TlsArgs("server.key", "server.key"), "cannot use TLS certificate"},
      {{"--tls-cert", root_ / "server.crt"}, "both a certificate and a private key"},
  };
  for (const Case& c : cases) {
    Daemon d(root_ / "refused");
    d.UseTls(root_ / "server.crt");
    Status started = d.Start({}, c.args);
    ASSERT_FALSE(started.ok()) << c.said;
    EXPECT_NE(started.message().find(c.said), std::string::npos) << started.ToString();
    // Refused before anything started: no catalog, no token.
    EXPECT_FALSE(PathExists(root_ / "refused/catalog.db"));
    EXPECT_FALSE(PathExists(root_ / "refused/api-token"));
  }
}

}  // namespace
}  // namespace dbaas::testing
