// The CLI's connection to dbaasd: JSON requests with the bearer token, and the API's
// errors turned back into Status values (so they print and exit like local errors).
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace httplib {
class Client;
}

namespace dbaas::cli {

struct ServerOptions {
  std::string server;      // http://127.0.0.1:3000 unless given (or $DBAAS_SERVER)
  std::string token;       // $DBAAS_TOKEN, else read from token_file
  std::string token_file;  // else <data_root>/api-token
  std::string data_root;   // else $DBAAS_DATA_ROOT
  std::string ca_cert;     // PEM CA to check an https:// server with (else $DBAAS_CACERT,
                           // else the system's)
};

class ApiClient {
 public:
  static Result<std::unique_ptr<ApiClient>> Connect(const ServerOptions& options);
  ~ApiClient();

  // The response body of a 2xx answer; otherwise the API's error as a Status.
  Result<nlohmann::json> Get(const std::string& path);
  Result<nlohmann::json> Post(const std::string& path, const nlohmann::json& body);
  Result<nlohmann::json> Delete(const std::string& path);
  Result<nlohmann::json> Patch(const std::string& path, const nlohmann::json& body);

  // Polls GET /jobs/:id until the job ends; draws a progress bar labelled `label` on a
  // terminal when `show_progress`. Returns the ended job, or its error if it failed.
  Result<nlohmann::json> WaitForJob(const std::string& id, const std::string& label,
                                    bool show_progress);

 private:
  ApiClient(std::string base, std::string token, const std::string& ca_cert);
  // Why a request got no answer, and what to do about it.
  Status Unreachable(int error) const;
  Result<nlohmann::json> Handle(const std::string& what, int status, const std::string& body);

  std::string base_;
  std::string token_;
  std::unique_ptr<httplib::Client> http_;
};

// Percent-encodes a path segment (names are validated by the server; this keeps odd input
// from changing the route).
std::string PathSegment(const std::string& s);

}  // namespace dbaas::cli
