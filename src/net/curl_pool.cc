#include "net/curl_pool.h"

namespace dbaas::net {

void InitCurlOnce() {
  static std::once_flag initialized;
  std::call_once(initialized, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

CurlHandlePool::~CurlHandlePool() {
  for (CURL* handle : idle_) curl_easy_cleanup(handle);
}

CURL* CurlHandlePool::Take() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      CURL* handle = idle_.back();
      idle_.pop_back();
      return handle;
    }
  }
  return curl_easy_init();
}

void CurlHandlePool::Give(CURL* handle, bool reusable) {
  if (!reusable) {
    curl_easy_cleanup(handle);
    return;
  }
  curl_easy_reset(handle);  // options go; the connection cache stays
  std::lock_guard lock(mu_);
  idle_.push_back(handle);
}

}  // namespace dbaas::net
