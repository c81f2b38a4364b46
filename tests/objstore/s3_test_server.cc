#include "objstore/s3_test_server.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "test_util.h"

namespace dbaas::testing {

Result<S3TestServer> S3TestServer::Start(const std::string& data_dir, const std::string& bucket) {
  std::string script = std::string(DBAAS_S3SERVER_DIR) + "/server.js";
  if (!std::filesystem::exists(std::string(DBAAS_S3SERVER_DIR) + "/node_modules/s3rver")) {
    return Status::FailedPrecondition("s3rver is not installed in " DBAAS_S3SERVER_DIR,
                                      "run scripts/install-deps.sh (npm ci there)");
  }
  std::string objects = data_dir + "/objects";
  std::string port_file = data_dir + "/port";
  std::filesystem::create_directories(objects);
  ProcessOptions options;
  options.argv = {"node",    "--openssl-legacy-provider",
                  script,    "--dir",
                  objects,   "--port-file",
                  port_file, "--bucket",
                  bucket};
  options.output_path = data_dir + "/server.log";
  ASSIGN_OR_RETURN(Process process, Process::Start(options));
  for (int i = 0; i < 300; ++i) {
    if (std::filesystem::exists(port_file)) {
      int port = std::stoi(ReadFile(port_file));
      return S3TestServer(std::move(process), port, objects);
    }
    if (auto exited = process.Wait(std::chrono::milliseconds(50)); exited.ok()) {
      return Status::Internal("the test S3 server exited: " + ReadFile(data_dir + "/server.log"));
    }
  }
  return Status::Internal("the test S3 server did not start in 15 s: " +
                          ReadFile(data_dir + "/server.log"));
}

Status S3TestServer::Control(const std::string& method, const std::string& body) const {
  ProcessOptions curl;
  curl.argv = {"curl", "-sS", "-f", "-X", method, "--data-binary", body, endpoint() + "/__faults"};
  return CheckExit(RunProcess(curl, std::chrono::seconds(10)), "curl").status();
}

Status S3TestServer::InjectFault(const std::string& fault_json) const {
  return Control("POST", fault_json);
}
Status S3TestServer::ClearFaults() const { return Control("DELETE", ""); }

}  // namespace dbaas::testing
