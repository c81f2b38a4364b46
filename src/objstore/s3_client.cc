#include "objstore/s3_client.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <pugixml.hpp>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <random>
#include <thread>

#include "base/bytes.h"
#include "base/parallel.h"
#include "base/sha256.h"
#include "net/curl_pool.h"

namespace dbaas::objstore {

struct S3Client::Request {
  std::string method;  // GET HEAD PUT POST DELETE
  std::string key;     // "" for the bucket itself
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::span<const uint8_t> body;
};

struct S3Client::Response {
  CURLcode transport = CURLE_OK;
  std::string transport_error;
  long status = 0;
  std::vector<uint8_t> body;
  std::string etag;
  uint64_t content_length = 0;
};

namespace {

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  auto* body = static_cast<std::vector<uint8_t>*>(out);
  body->insert(body->end(), data, data + size * count);
  return size * count;
}

struct Upload {
  std::span<const uint8_t> body;
  size_t offset = 0;
};

size_t ReadBody(char* buffer, size_t size, size_t count, void* in) {
  auto* upload = static_cast<Upload*>(in);
  size_t n = std::min(size * count, upload->body.size() - upload->offset);
  std::copy_n(upload->body.data() + upload->offset, n, buffer);
  upload->offset += n;
  return n;
}

size_t KeepEtag(char* data, size_t size, size_t count, void* out) {
  std::string_view line(data, size * count);
  constexpr std::string_view kName = "etag:";
  if (line.size() > kName.size()) {
    std::string name(line.substr(0, kName.size()));
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    if (name == kName) {
      std::string_view value = line.substr(kName.size());
      while (!value.empty() && (value.front() == ' ')) value.remove_prefix(1);
      while (!value.empty() &&
             (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
        value.remove_suffix(1);
      }
      *static_cast<std::string*>(out) = std::string(value);
    }
  }
  return size * count;
}

// S3's error document: <Error><Code>..</Code><Message>..</Message></Error>.
std::pair<std::string, std::string> ErrorCodeAndMessage(const std::vector<uint8_t>& body) {
  pugi::xml_document doc;
  if (!doc.load_buffer(body.data(), body.size())) return {};
  pugi::xml_node error = doc.child("Error");
  return {error.child_value("Code"), error.child_value("Message")};
}

bool TransportErrorIsPermanent(CURLcode code) {
  switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return true;
    default:
      return false;
  }
}

bool StatusIsRetryable(long status, std::string_view code) {
  return status >= 500 || status == 429 || code == "RequestTimeout" || code == "SlowDown";
}

std::chrono::milliseconds Backoff(const S3Options& options, int attempt) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  auto cap = std::min<int64_t>(options.max_backoff.count(), options.first_backoff.count()
                                                                << std::min(attempt, 20));
  return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, cap)(random));
}

// "2026-11-29T14:00:00.000Z" -> seconds since the epoch; 0 when it is not that.
int64_t ParseIso8601(const char* text) {
  std::tm tm{};
  const char* end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
  return end == nullptr ? 0 : static_cast<int64_t>(timegm(&tm));
}

}  // namespace

bool IsValidBucketName(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-')) {
      return false;
    }
  }
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  if (name.find("..") != std::string_view::npos) return false;
  bool ipv4_like = std::all_of(name.begin(), name.end(), [](char c) {
    return c == '.' || std::isdigit(static_cast<unsigned char>(c));
  });
  return !ipv4_like;
}

Result<std::unique_ptr<S3Client>> S3Client::Create(S3Location location, Credentials credentials,
                                                   S3Options options) {
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return Status::InvalidArgument("s3 credentials are empty",
                                   "give an access key id and a secret access key");
  }
  return Create(std::move(location), FixedCredentials(std::move(credentials)), std::move(options));
}

Result<std::unique_ptr<S3Client>> S3Client::Create(S3Location location,
                                                   std::shared_ptr<CredentialsSource> credentials,
                                                   S3Options options) {
  std::string_view endpoint = location.endpoint;
  std::string scheme;
  for (std::string_view candidate : {"https://", "http://"}) {
    if (endpoint.starts_with(candidate)) scheme = std::string(candidate);
  }
  if (scheme.empty()) {
    return Status::InvalidArgument(
        fmt::format("s3 endpoint '{}' is not an http:// or https:// address", location.endpoint),
        "give the endpoint as https://host[:port]");
  }
  std::string host(endpoint.substr(scheme.size()));
  while (!host.empty() && host.back() == '/') host.pop_back();
  if (host.empty() || host.find_first_of("/?#@ ") != std::string::npos) {
    return Status::InvalidArgument(fmt::format(
        "s3 endpoint '{}' must be a scheme and a host[:port], nothing more", location.endpoint));
  }
  if (!IsValidBucketName(location.bucket)) {
    return Status::InvalidArgument(
        fmt::format("'{}' is not a valid bucket name", location.bucket),
        "3 to 63 of a-z 0-9 . -, beginning and ending with a letter or digit");
  }
  if (location.region.empty() ||
      location.region.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") !=
          std::string::npos) {
    return Status::InvalidArgument(fmt::format("'{}' is not a region name", location.region));
  }
  if (credentials == nullptr) return Status::InvalidArgument("no source of s3 credentials");
  if (options.part_size < (5ull << 20) || options.multipart_threshold < options.part_size ||
      options.max_attempts < 1) {
    return Status::InvalidArgument(
        "s3 options: parts must be 5 MiB or more, the multipart threshold at least a part, "
        "and at least one attempt");
  }
  net::InitCurlOnce();
  std::string base_url;
  if (location.path_style) {
    base_url = scheme + host;
  } else {
    host = location.bucket + "." + host;
    base_url = scheme + host;
  }
  return std::unique_ptr<S3Client>(new S3Client(std::move(location), std::move(credentials),
                                                std::move(options), std::move(host),
                                                std::move(base_url)));
}

S3Client::S3Client(S3Location location, std::shared_ptr<CredentialsSource> credentials,
                   S3Options options, std::string host, std::string base_url)
    : location_(std::move(location)),
      credentials_(std::move(credentials)),
      options_(std::move(options)),
      host_(std::move(host)),
      base_url_(std::move(base_url)),
      handles_(std::make_unique<net::CurlHandlePool>()) {}

S3Client::~S3Client() = default;

std::string S3Client::Describe() const {
  return fmt::format("s3://{} ({})", location_.bucket, location_.endpoint);
}

std::string S3Client::Describe(const Request& request) const {
  return fmt::format("s3 {} '{}/{}'", request.method, location_.bucket, request.key);
}

Result<S3Client::Response> S3Client::SendOnce(const Request& request) {
  std::string path = location_.path_style ? "/" + location_.bucket : "";
  if (!request.key.empty() || !location_.path_style) path += "/" + request.key;
  // Credentials first: fetching them may take a moment, and the date signed is now.
  ASSIGN_OR_RETURN(Credentials credentials, credentials_->Current());
  std::string payload_sha256 = Sha256(request.body).Hex();
  std::string amz_date = AmzDate(std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  SigningRequest signing{request.method, path, request.query, request.headers, payload_sha256};
  signing.headers.emplace_back("host", host_);
  signing.headers.emplace_back("x-amz-date", amz_date);
  signing.headers.emplace_back("x-amz-content-sha256", payload_sha256);
  if (!credentials.session_token.empty()) {
    signing.headers.emplace_back("x-amz-security-token", credentials.session_token);
  }
  Signature signature = SignV4(signing, credentials, {location_.region, "s3", amz_date});

  std::string url = base_url_ + UriEncode(path, true);
  for (size_t i = 0; i < request.query.size(); ++i) {
    url += (i == 0 ? "?" : "&") + UriEncode(request.query[i].first, false) + "=" +
           UriEncode(request.query[i].second, false);
  }
  curl_slist* headers = nullptr;
  for (const auto& [name, value] : signing.headers) {
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  }
  headers = curl_slist_append(headers, ("Authorization: " + signature.authorization).c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  if (request.method == "POST")
    headers = curl_slist_append(headers, "Content-Type: application/xml");

  CURL* handle = handles_->Take();
  if (handle == nullptr) return Status::Internal("curl_easy_init failed");
  Response response;
  Upload upload{request.body};
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, KeepEtag);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &response.etag);
  if (!options_.ca_file.empty()) curl_easy_setopt(handle, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (request.method == "HEAD") {
    curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT") {
    curl_easy_setopt(handle, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(handle, CURLOPT_READFUNCTION, ReadBody);
    curl_easy_setopt(handle, CURLOPT_READDATA, &upload);
    curl_easy_setopt(handle, CURLOPT_INFILESIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  } else if (request.method == "POST") {
    curl_easy_setopt(handle, CURLOPT_POST, 1L);
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  } else if (request.method != "GET") {
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
  response.transport = curl_easy_perform(handle);
  if (response.transport == CURLE_OK) {
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response.status);
    curl_off_t length = 0;
    curl_easy_getinfo(handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    response.content_length = length > 0 ? static_cast<uint64_t>(length) : 0;
  } else {
    response.transport_error = error[0] != '\0' ? error : curl_easy_strerror(response.transport);
  }
  handles_->Give(handle);  // reset there: the error buffer and headers are let go
  curl_slist_free_all(headers);
  counters_.requests++;
  counters_.bytes_sent += upload.offset + (request.method == "POST" ? request.body.size() : 0);
  counters_.bytes_received += response.body.size();
  return response;
}

Result<S3Client::Response> S3Client::Send(const Request& request) {
  for (int attempt = 1;; ++attempt) {
    ASSIGN_OR_RETURN(Response response, SendOnce(request));
    bool last = attempt >= options_.max_attempts;
    if (response.transport != CURLE_OK) {
      if (!TransportErrorIsPermanent(response.transport) && !last) {
        counters_.retries++;
        std::this_thread::sleep_for(Backoff(options_, attempt));
        continue;
      }
      counters_.failures++;
      return Status::IoError(
          fmt::format("{}: {} (after {} attempt{})", Describe(request), response.transport_error,
                      attempt, attempt == 1 ? "" : "s"),
          fmt::format("check that the endpoint {} is reachable", location_.endpoint));
    }
    if (response.status >= 200 && response.status < 300) return response;
    auto [code, message] = ErrorCodeAndMessage(response.body);
    if (StatusIsRetryable(response.status, code) && !last) {
      counters_.retries++;
      std::this_thread::sleep_for(Backoff(options_, attempt));
      continue;
    }
    counters_.failures++;
    std::string what =
        fmt::format("{}: HTTP {}{}{}{}{}", Describe(request), response.status,
                    code.empty() ? "" : " ", code, message.empty() ? "" : ": ", message);
    if (response.status == 404) return Status::NotFound(what);
    if (response.status == 403) {
      return Status::FailedPrecondition(
          what, "check the credentials, the region and the bucket's policy");
    }
    if (StatusIsRetryable(response.status, code)) {
      return Status::IoError(fmt::format("{} (after {} attempts)", what, attempt),
                             "the object store is failing or throttling; try again later");
    }
    return Status::FailedPrecondition(what);
  }
}

Status S3Client::Put(std::string_view key, std::span<const uint8_t> body) {
  if (body.size() >= options_.multipart_threshold) return PutMultipart(key, body);
  Request request{"PUT", std::string(key), {}, {}, body};
  return Send(request).status();
}

Status S3Client::PutMultipart(std::string_view key, std::span<const uint8_t> body) {
  Request create{"POST", std::string(key), {{"uploads", ""}}, {}, {}};
  ASSIGN_OR_RETURN(Response created, Send(create));
  pugi::xml_document doc;
  doc.load_buffer(created.body.data(), created.body.size());
  std::string upload_id = doc.child("InitiateMultipartUploadResult").child_value("UploadId");
  if (upload_id.empty()) {
    return Status::IoError(fmt::format("{}: no UploadId in the answer", Describe(create)));
  }
  size_t parts = (body.size() + options_.part_size - 1) / options_.part_size;
  std::vector<std::string> etags(parts);
  Status uploaded =
      ParallelFor(parts, options_.parallel_parts, [&](size_t part, unsigned) -> Status {
        uint64_t offset = part * options_.part_size;
        Request put{
            "PUT",
            std::string(key),
            {{"partNumber", std::to_string(part + 1)}, {"uploadId", upload_id}},
            {},
            body.subspan(offset, std::min<uint64_t>(options_.part_size, body.size() - offset))};
        ASSIGN_OR_RETURN(Response response, Send(put));
        if (response.etag.empty()) {
          return Status::IoError(fmt::format("{}: part {} has no ETag", Describe(put), part + 1));
        }
        etags[part] = response.etag;
        return Status::Ok();
      });
  Status completed = uploaded;
  if (uploaded.ok()) {
    std::string xml = "<CompleteMultipartUpload>";
    for (size_t part = 0; part < parts; ++part) {
      xml += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", part + 1,
                         etags[part]);
    }
    xml += "</CompleteMultipartUpload>";
    Request complete{"POST", std::string(key), {{"uploadId", upload_id}}, {}, AsBytes(xml)};
    Result<Response> response = Send(complete);
    completed = response.status();
    // S3 may answer 200 and put the error in the body.
    if (completed.ok()) {
      auto [code, message] = ErrorCodeAndMessage(response->body);
      if (!code.empty()) {
        completed = Status::IoError(fmt::format("{}: {}: {}", Describe(complete), code, message));
      }
    }
  }
  if (!completed.ok()) {
    // Best effort: parts of an abandoned upload cost storage until aborted.
    Request abort{"DELETE", std::string(key), {{"uploadId", upload_id}}, {}, {}};
    (void)Send(abort);
  }
  return completed;
}

Result<std::vector<uint8_t>> S3Client::Get(std::string_view key) {
  Request request{"GET", std::string(key), {}, {}, {}};
  ASSIGN_OR_RETURN(Response response, Send(request));
  return std::move(response.body);
}

Result<std::vector<uint8_t>> S3Client::GetRange(std::string_view key, uint64_t offset,
                                                uint64_t length) {
  if (length == 0) return std::vector<uint8_t>{};
  Request request{"GET",
                  std::string(key),
                  {},
                  {{"range", fmt::format("bytes={}-{}", offset, offset + length - 1)}},
                  {}};
  ASSIGN_OR_RETURN(Response response, Send(request));
  if (response.status != 206 || response.body.size() != length) {
    return Status::Corruption(fmt::format("{}: asked for {} bytes at {}, got {} (HTTP {})",
                                          Describe(request), length, offset, response.body.size(),
                                          response.status));
  }
  return std::move(response.body);
}

Result<std::optional<ObjectInfo>> S3Client::Head(std::string_view key) {
  Request request{"HEAD", std::string(key), {}, {}, {}};
  Result<Response> response = Send(request);
  if (!response.ok()) {
    if (response.status().code() == StatusCode::kNotFound) return std::optional<ObjectInfo>();
    return response.status();
  }
  return std::optional<ObjectInfo>(
      ObjectInfo{std::string(key), response->content_length, response->etag});
}

Status S3Client::Delete(std::string_view key) {
  Request request{"DELETE", std::string(key), {}, {}, {}};
  Result<Response> response = Send(request);
  if (!response.ok() && response.status().code() == StatusCode::kNotFound) return Status::Ok();
  return response.status();
}

Result<std::vector<ObjectInfo>> S3Client::List(std::string_view prefix) {
  std::vector<ObjectInfo> objects;
  std::string token;
  for (;;) {
    Request request{"GET",
                    "",
                    {{"list-type", "2"},
                     {"prefix", std::string(prefix)},
                     {"max-keys", std::to_string(options_.list_page_size)}},
                    {},
                    {}};
    if (!token.empty()) request.query.emplace_back("continuation-token", token);
    ASSIGN_OR_RETURN(Response response, Send(request));
    pugi::xml_document doc;
    pugi::xml_node result;
    if (doc.load_buffer(response.body.data(), response.body.size())) {
      result = doc.child("ListBucketResult");
    }
    if (!result) {
      return Status::IoError(
          fmt::format("{}: the answer is not a ListBucketResult", Describe(request)));
    }
    for (pugi::xml_node contents : result.children("Contents")) {
      objects.push_back(
          {contents.child_value("Key"), std::strtoull(contents.child_value("Size"), nullptr, 10),
           contents.child_value("ETag"), ParseIso8601(contents.child_value("LastModified"))});
    }
    if (std::string_view(result.child_value("IsTruncated")) != "true") break;
    token = result.child_value("NextContinuationToken");
    if (token.empty()) {
      return Status::IoError(
          fmt::format("{}: a truncated listing without a continuation token", Describe(request)));
    }
  }
  return objects;
}

Status S3Client::CreateBucket() {
  std::string xml;
  if (location_.region != "us-east-1") {
    xml = fmt::format(
        "<CreateBucketConfiguration><LocationConstraint>{}</LocationConstraint>"
        "</CreateBucketConfiguration>",
        location_.region);
  }
  Request request{"PUT", "", {}, {}, AsBytes(xml)};
  Status created = Send(request).status();
  if (created.ok() || created.message().find("BucketAlreadyOwnedByYou") != std::string::npos) {
    return Status::Ok();
  }
  if (created.message().find("BucketAlreadyExists") != std::string::npos) {
    // Some servers say so for a bucket of ours too: ours if we may read it.
    Request head{"HEAD", "", {}, {}, {}};
    if (Send(head).ok()) return Status::Ok();
  }
  return created;
}

}  // namespace dbaas::objstore
