// libcurl plumbing the HTTP clients share (the S3 client, the Kubernetes API client): the
// library's one-time global set-up, and a pool of easy handles kept for reuse, each with its
// connections (one TLS handshake per connection, not per request).
#pragma once

#include <curl/curl.h>

#include <mutex>
#include <vector>

namespace dbaas::net {

// curl_global_init, once per process, before the first handle is made.
void InitCurlOnce();

// Thread-safe. A handle is given back reset (no option of the request it served stays, so
// nothing points at that request's buffers), its connections kept.
class CurlHandlePool {
 public:
  CurlHandlePool() = default;
  ~CurlHandlePool();
  CurlHandlePool(const CurlHandlePool&) = delete;
  CurlHandlePool& operator=(const CurlHandlePool&) = delete;

  // An idle handle, or a new one; nullptr only when curl cannot make one.
  CURL* Take();
  // `reusable` false: the handle is closed instead (its connection was left mid-stream, a
  // transfer cut off by its callback).
  void Give(CURL* handle, bool reusable = true);

 private:
  std::mutex mu_;
  std::vector<CURL*> idle_;  // guarded by mu_
};

}  // namespace dbaas::net
