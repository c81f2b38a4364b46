#include "objstore/instance_metadata.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <time.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "base/scope_exit.h"

namespace dbaas::objstore {
namespace {

using nlohmann::json;

constexpr const char* kDefaultEndpoint = "http://169.254.169.254";
constexpr size_t kMaxAnswer = 64 << 10;  // the service's answers are a few hundred bytes

struct Answer {
  long status = 0;
  std::string body;
};

size_t Append(char* data, size_t size, size_t count, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() + size * count > kMaxAnswer) return 0;  // fails the transfer
  body->append(data, size * count);
  return size * count;
}

// One request to the metadata service; no redirect followed, nothing but http.
Result<Answer> Request(const std::string& method, const std::string& url,
                       const std::vector<std::string>& headers, std::chrono::milliseconds timeout) {
  CURL* handle = curl_easy_init();
  if (handle == nullptr) return Status::Internal("curl_easy_init failed");
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  Answer answer;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(handle, CURLOPT_NOPROXY, "*");  // the service is on the machine itself
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "PUT") {  // an empty body, said so (Content-Length: 0)
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, 0L);
  }
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &answer.body);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
  CURLcode code = curl_easy_perform(handle);
  if (code == CURLE_OK) curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &answer.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(handle);
  if (code != CURLE_OK) {
    return Status::IoError(
        fmt::format("{} {}: {}", method, url, error[0] != '\0' ? error : curl_easy_strerror(code)));
  }
  if (answer.status != 200) {
    std::string what = fmt::format("{} {}: HTTP {}", method, url, answer.status);
    // The service answered: no role (404), a token refused (401, 403). Asked again, it
    // answers the same.
    if (answer.status >= 400 && answer.status < 500 && answer.status != 429) {
      return Status::FailedPrecondition(
          what,
          "check that this machine has an IAM role (instance profile) and that the "
          "metadata service allows IMDSv2 with a hop limit that reaches dbaasd");
    }
    return Status::IoError(what);
  }
  return answer;
}

// "2026-11-29T20:00:00Z" (the service's Expiration) -> a time point; nullopt otherwise.
std::optional<std::chrono::system_clock::time_point> ParseExpiration(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end != nullptr && *end == '.') {  // fractions of a second, then the zone
    ++end;
    while (*end >= '0' && *end <= '9') ++end;
  }
  if (end == nullptr || std::string_view(end) != "Z") return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

InstanceMetadataCredentials::InstanceMetadataCredentials(InstanceMetadataOptions options)
    : options_(std::move(options)) {
  if (options_.endpoint.empty()) {
    const char* env = std::getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    options_.endpoint = env != nullptr && *env != '\0' ? env : kDefaultEndpoint;
  }
  while (!options_.endpoint.empty() && options_.endpoint.back() == '/')
    options_.endpoint.pop_back();
}

std::string InstanceMetadataCredentials::Describe() const {
  return fmt::format("the instance metadata service at {}", options_.endpoint);
}

int InstanceMetadataCredentials::fetches() const {
  std::lock_guard lock(mu_);
  return fetches_;
}

Result<Credentials> InstanceMetadataCredentials::Fetch(
    std::chrono::system_clock::time_point& expires) {
  const std::string base = options_.endpoint;
  ASSIGN_OR_RETURN(
      Answer token,
      Request("PUT", base + "/latest/api/token",
              {fmt::format("X-aws-ec2-metadata-token-ttl-seconds: {}", options_.token_ttl.count())},
              options_.timeout));
  if (token.body.empty() || token.body.size() > 1024 ||
      token.body.find_first_of("\r\n") != std::string::npos) {
    return Status::FailedPrecondition(
        fmt::format("{}/latest/api/token answered no usable token", base));
  }
  const std::string with_token = "X-aws-ec2-metadata-token: " + token.body;
  const std::string roles_url = base + "/latest/meta-data/iam/security-credentials/";
  ASSIGN_OR_RETURN(Answer roles, Request("GET", roles_url, {with_token}, options_.timeout));
  std::string role = roles.body.substr(0, roles.body.find('\n'));
  // A role name (IAM: letters, digits and +=,.@_-): anything else would change the path.
  bool valid = !role.empty() && role.size() <= 128 &&
               role.find_first_not_of(
                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789+=,.@_-") == std::string::npos;
  if (!valid) {
    return Status::FailedPrecondition(fmt::format("{} names no IAM role", roles_url),
                                      "attach an IAM role (instance profile) to this machine");
  }
  ASSIGN_OR_RETURN(Answer creds, Request("GET", roles_url + role, {with_token}, options_.timeout));
  json answer = json::parse(creds.body, nullptr, false);
  auto text = [&](const char* key) {
    return answer.is_object() && answer.contains(key) && answer[key].is_string()
               ? answer[key].get<std::string>()
               : std::string();
  };
  if (text("Code") != "Success") {
    return Status::FailedPrecondition(
        fmt::format("{}{}: the service answers Code '{}'", roles_url, role, text("Code")));
  }
  Credentials out{text("AccessKeyId"), text("SecretAccessKey"), text("Token")};
  auto expiration = ParseExpiration(text("Expiration"));
  if (out.access_key_id.empty() || out.secret_access_key.empty() || !expiration) {
    return Status::FailedPrecondition(fmt::format(
        "{}{}: no AccessKeyId, SecretAccessKey and Expiration in the answer", roles_url, role));
  }
  expires = *expiration;
  return out;
}

Result<Credentials> InstanceMetadataCredentials::FetchWithRetries(
    std::chrono::system_clock::time_point& expires) {
  const char* disabled = std::getenv("AWS_EC2_METADATA_DISABLED");
  if (disabled != nullptr && std::string_view(disabled) == "true") {
    return Status::FailedPrecondition(
        "the instance metadata service is disabled (AWS_EC2_METADATA_DISABLED=true)");
  }
  if (!options_.endpoint.starts_with("http://")) {
    return Status::InvalidArgument(fmt::format(
        "instance metadata endpoint '{}' is not an http:// address", options_.endpoint));
  }
  Status last;
  for (int attempt = 1; attempt <= options_.attempts; ++attempt) {
    auto fetched = Fetch(expires);
    if (fetched.ok()) return fetched;
    last = fetched.status();
    if (last.code() != StatusCode::kIoError) break;  // an answer: asking again changes nothing
    if (attempt < options_.attempts) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return last;
}

Result<Credentials> InstanceMetadataCredentials::Current() {
  std::unique_lock lock(mu_);
  for (;;) {
    auto now = std::chrono::system_clock::now();
    const bool valid = !cached_.access_key_id.empty() && now < expires_;
    if (valid && now + options_.refresh_before < expires_) return cached_;
    // Due for a refresh: still valid ones sign while another thread fetches, or while a
    // failed fetch waits to be tried again.
    const bool backing_off = std::chrono::steady_clock::now() < retry_after_;
    if (valid && (fetching_ || backing_off)) return cached_;
    if (!valid && !fetching_ && backing_off) return last_failure_;
    if (!fetching_) break;
    fetched_.wait(lock);
  }
  fetching_ = true;
  lock.unlock();
  std::chrono::system_clock::time_point expires;
  Result<Credentials> fetched = Status::Internal("not fetched");
  {
    // Waiters are woken however the fetch ends.
    ScopeExit done([&] {
      lock.lock();
      fetching_ = false;
      fetched_.notify_all();
    });
    fetched = FetchWithRetries(expires);
  }
  if (fetched.ok()) {
    cached_ = std::move(fetched).value();
    expires_ = expires;
    retry_after_ = {};
    fetches_++;
    return cached_;
  }
  last_failure_ = fetched.status().WithContext("S3 credentials from " + Describe());
  retry_after_ = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  if (!cached_.access_key_id.empty() && std::chrono::system_clock::now() < expires_) return cached_;
  return last_failure_;
}

}  // namespace dbaas::objstore
