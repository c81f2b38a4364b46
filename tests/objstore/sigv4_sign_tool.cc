// Signs requests read as JSON from stdin with our SigV4 (for sigv4_botocore_test.py, which
// signs the same requests with botocore and compares). Input: an array of
// {method, path, query: [[name, value]], headers: [[name, value]], payload_sha256,
//  access_key_id, secret_access_key, region, amz_date}; output: the signatures, in order.
#include <nlohmann/json.hpp>

#include <iostream>

#include "objstore/sigv4.h"

int main() {
  using dbaas::objstore::SignV4;
  nlohmann::json requests = nlohmann::json::parse(std::cin);
  nlohmann::json signatures = nlohmann::json::array();
  for (const auto& r : requests) {
    dbaas::objstore::SigningRequest request{r["method"], r["path"], {}, {}, r["payload_sha256"]};
    for (const auto& q : r["query"]) request.query.emplace_back(q[0], q[1]);
    for (const auto& h : r["headers"]) request.headers.emplace_back(h[0], h[1]);
    signatures.push_back(SignV4(request, {r["access_key_id"], r["secret_access_key"], ""},
                                {r["region"], "s3", r["amz_date"]})
                             .signature);
  }
  std::cout << signatures.dump() << "\n";
}
