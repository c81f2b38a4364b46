#include "kube/api_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/names.h"
#include "kube/json_fields.h"
#include "net/curl_pool.h"

namespace dbaas::kube {

using nlohmann::json;

struct ApiClient::Request {
  std::string method;  // GET, POST, PUT, PATCH, DELETE
  std::string path;    // with its query string
  std::string body;
  std::string content_type = "application/json";
  std::string verb;  // the RBAC verb, for messages
  std::string what;  // the object or collection, for messages
  // A watch: each line of the body as it arrives; false stops the request.
  std::function<bool(std::string_view line)> on_line;
  std::chrono::milliseconds timeout{0};              // 0: the options' request timeout
  const std::function<bool()>* cancelled = nullptr;  // true: abort the transfer
};

struct ApiClient::Response {
  long status = 0;
  std::string body;
  std::vector<std::string> warnings;  // the Warning headers' texts
  int retry_after_seconds = 0;        // a 429's or 503's Retry-After
  CURLcode transport = CURLE_OK;      // the transfer's own failure, if any
  std::string transport_error;
};

namespace {

std::string Escape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

struct Transfer {
  CURL* handle;
  std::string* body;
  std::string pending;  // a watch's partial line
  const std::function<bool(std::string_view)>* on_line;
  bool stopped = false;
  std::string failure;  // what a line's handler threw
};

// libcurl's progress callback, called about once a second even on an idle stream: a
// non-zero answer aborts the transfer.
int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* cancelled = static_cast<const std::function<bool()>*>(user);
  try {
    return (*cancelled)() ? 1 : 0;
  } catch (...) {
    return 1;
  }
}

size_t OnData(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  size_t n = size * count;
  long status = 0;
  curl_easy_getinfo(transfer->handle, CURLINFO_RESPONSE_CODE, &status);
  // A watch's events are lines of a 200; any other answer is one Status object.
  if (transfer->on_line == nullptr || *transfer->on_line == nullptr || status != 200) {
    transfer->body->append(data, n);
    return n;
  }
  transfer->pending.append(data, n);
  size_t start = 0;
  for (size_t nl; (nl = transfer->pending.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string_view line(transfer->pending.data() + start, nl - start);
    bool go_on = true;
    try {  // nothing may unwind through libcurl's C frames
      go_on = line.empty() || (*transfer->on_line)(line);
    } catch (const std::exception& e) {
      transfer->failure = e.what();
      go_on = false;
    }
    if (!go_on) {
      transfer->stopped = true;
      return 0;  // curl ends the transfer
    }
  }
  transfer->pending.erase(0, start);
  return n;
}

// Whether `line` is the header `name` (lowercase, with its colon); its value then.
std::optional<std::string_view> HeaderValue(std::string_view line, std::string_view name) {
  if (line.size() <= name.size()) return std::nullopt;
  for (size_t i = 0; i < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return std::nullopt;
  }
  return line.substr(name.size());
}

struct Headers {
  std::vector<std::string>* warnings;
  int* retry_after_seconds;
};

// Keeps the text of each "Warning: 299 - \"text\"" header, and a Retry-After in seconds.
size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* headers = static_cast<Headers*>(user);
  std::string_view line(data, size * count);
  if (auto value = HeaderValue(line, "warning:")) {
    size_t open = value->find('"');
    size_t close = value->rfind('"');
    headers->warnings->emplace_back(open != std::string_view::npos && close > open
                                        ? value->substr(open + 1, close - open - 1)
                                        : *value);
  } else if (auto after = HeaderValue(line, "retry-after:")) {
    int seconds = 0;
    for (char c : *after) {
      if (c >= '0' && c <= '9' && seconds < 3600) seconds = seconds * 10 + (c - '0');
    }
    *headers->retry_after_seconds = seconds;
  }
  return size * count;
}

// RBAC names a group's resources as "statefulsets.apps"; the core group has none.
std::string RbacHint(const json& details, const std::string& verb) {
  std::string resource = TextField(details, "kind");
  std::string group = TextField(details, "group");
  if (resource.empty()) return {};
  return fmt::format(
      "grant dbaasd's account the verb '{}' on '{}{}' (deploy/rbac.yaml holds the rules dbaasd "
      "needs)",
      verb, resource, group.empty() ? "" : "." + group);
}

}  // namespace

Status ApiError(long http_status, const std::string& body, const std::string& verb,
                const std::string& what, const std::string& server) {
  json status = json::parse(body, nullptr, false);
  if (TextField(status, "kind") != "Status") status = json::object();
  std::string message = TextField(status, "message");
  std::string reason = TextField(status, "reason");
  json details = ObjectField(status, "details");
  if (message.empty()) {
    message = body.substr(0, 300);
    while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back()))) {
      message.pop_back();
    }
  }
  std::string head = fmt::format("{} {} on {}: ", verb, what, server);
  switch (http_status) {
    case 400:
      return Status::InvalidArgument(head + "the API server refused the request: " + message);
    case 401:
      return Status::FailedPrecondition(
          head + "the API server did not accept the credentials (401 Unauthorized)",
          "the token or client certificate is wrong or expired; give dbaasd a current one");
    case 403:
      // RBAC, a quota, or a namespace being deleted: the server's message says which.
      return Status::FailedPrecondition(
          head + "forbidden: " + message,
          reason == "Forbidden" && message.find("cannot ") != std::string::npos
              ? RbacHint(details, verb)
              : std::string());
    case 404:
      return Status::NotFound(head + "not found: " + message);
    case 409:
      if (reason == "AlreadyExists") return Status::AlreadyExists(head + message);
      return Status::Busy(head + "conflict: " + message,
                          "another writer changed it since it was read; read it again and retry");
    case 410:
      return Status::FailedPrecondition(head + "gone: " + message);
    case 422: {
      std::string causes;
      for (const auto& cause : ArrayField(details, "causes")) {
        causes += fmt::format("\n  {}: {}", TextField(cause, "field"), TextField(cause, "message"));
      }
      return Status::InvalidArgument(head + "invalid: " + message + causes);
    }
    case 429:  // not kBusy: that is a conflict, which Update answers by reading again
      return Status::IoError(head + "the API server is throttling requests (429): " + message,
                             "it was asked again with back-off; try later");
    default:
      return Status::IoError(fmt::format("{}HTTP {}: {}", head, http_status, message));
  }
}

ApiClient::ApiClient(ClusterAccess access, ApiOptions options)
    : access_(std::move(access)),
      options_(std::move(options)),
      handles_(std::make_unique<net::CurlHandlePool>()) {}

ApiClient::~ApiClient() = default;

Result<std::unique_ptr<ApiClient>> ApiClient::Create(ClusterAccess access, ApiOptions options) {
  if (access.server.rfind("https://", 0) != 0) {
    return Status::InvalidArgument(
        fmt::format("Kubernetes API server '{}' is not an https:// address", access.server));
  }
  while (!access.server.empty() && access.server.back() == '/') access.server.pop_back();
  net::InitCurlOnce();
  return std::unique_ptr<ApiClient>(new ApiClient(std::move(access), std::move(options)));
}

Result<ApiClient::Response> ApiClient::SendOnce(const Request& request) {
  std::string token = access_.token;
  if (!access_.token_file.empty()) {
    auto fresh = ReadTokenFile(access_.token_file);
    if (fresh.ok()) token = std::move(*fresh);
  }
  CURL* handle = handles_->Take();
  if (handle == nullptr) return Status::Internal("curl_easy_init failed");
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  if (!request.body.empty()) {
    headers = curl_slist_append(headers, ("Content-Type: " + request.content_type).c_str());
  }
  if (!token.empty())
    headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
  std::string url = access_.server + request.path;
  Response response;
  Transfer transfer{handle, &response.body, {}, &request.on_line, false, {}};
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  auto timeout = request.timeout.count() > 0 ? request.timeout : options_.request_timeout;
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, OnData);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, OnHeader);
  if (request.cancelled != nullptr && *request.cancelled) {
    curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(handle, CURLOPT_XFERINFODATA, request.cancelled);
  }
  Headers seen{&response.warnings, &response.retry_after_seconds};
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &seen);
  curl_blob ca{};
  if (!access_.ca_pem.empty()) {
    ca = {access_.ca_pem.data(), access_.ca_pem.size(), CURL_BLOB_NOCOPY};
    curl_easy_setopt(handle, CURLOPT_CAINFO_BLOB, &ca);
  }
  curl_blob cert{}, key{};
  if (!access_.client_cert_pem.empty()) {
    cert = {access_.client_cert_pem.data(), access_.client_cert_pem.size(), CURL_BLOB_NOCOPY};
    key = {access_.client_key_pem.data(), access_.client_key_pem.size(), CURL_BLOB_NOCOPY};
    curl_easy_setopt(handle, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(handle, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(handle, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(handle, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (request.method == "GET") {
    curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.c_str());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  }
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
  CURLcode code = curl_easy_perform(handle);
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response.status);
  curl_slist_free_all(headers);
  // A watch cut off by us leaves its connection mid-stream: that one is not kept.
  handles_->Give(handle, /*reusable=*/code == CURLE_OK);
  if (!transfer.failure.empty()) {
    return Status::Internal(fmt::format("{} {}: handling an event failed: {}", request.verb,
                                        request.what, transfer.failure));
  }
  if (request.on_line && response.status == 200) {
    // A watch ends however its stream does (the server's timeout, ours, a dropped
    // connection): what was delivered stands, and the caller goes on from it. A last line
    // without its newline is still a line.
    if (!transfer.stopped && !transfer.pending.empty()) {
      try {
        (*transfer.on_line)(transfer.pending);
      } catch (const std::exception& e) {
        return Status::Internal(fmt::format("{} {}: handling an event failed: {}", request.verb,
                                            request.what, e.what()));
      }
    }
    return response;
  }
  if (code != CURLE_OK) {
    response.transport = code;
    response.transport_error = error[0] != '\0' ? error : curl_easy_strerror(code);
  }
  return response;
}

Result<ApiClient::Response> ApiClient::Send(const Request& request) {
  std::mt19937_64 rng(std::random_device{}());
  auto backoff = options_.first_backoff;
  // Asked again after a lost answer, a create would find its own object (409) and a delete
  // its own absence (404): those are sent again only when the first surely never arrived.
  // Reads and server-side apply (idempotent) are sent again after any transport failure.
  const bool idempotent = request.method == "GET" || request.method == "PATCH";
  for (int attempt = 1;; ++attempt) {
    ASSIGN_OR_RETURN(Response response, SendOnce(request));
    const CURLcode t = response.transport;
    const bool never_sent = t == CURLE_COULDNT_RESOLVE_HOST || t == CURLE_COULDNT_CONNECT;
    const bool retry = t != CURLE_OK
                           ? (idempotent || never_sent) && t != CURLE_PEER_FAILED_VERIFICATION
                           : response.status == 429 || response.status == 503 ||
                                 (idempotent && response.status >= 500);
    // A watch is not replayed here: its caller resumes from what it saw.
    if (!retry || attempt >= options_.max_attempts || request.on_line) {
      if (t != CURLE_OK) {
        return Status::IoError(
            fmt::format("{} {} on {}: {}", request.verb, request.what, access_.server,
                        response.transport_error),
            "check that the API server is reachable and that its certificate is signed by the "
            "CA given");
      }
      return response;
    }
    auto wait =
        std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, backoff.count())(rng));
    // The server's own Retry-After (429, 503), within reason.
    wait = std::max(wait,
                    std::chrono::milliseconds(1000 * std::min(response.retry_after_seconds, 30)));
    std::this_thread::sleep_for(wait);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

Result<json> ApiClient::SendForObject(const Request& request) {
  ASSIGN_OR_RETURN(Response response, Send(request));
  for (const auto& warning : response.warnings) {
    if (options_.on_warning) {
      options_.on_warning(warning);
    } else {
      spdlog::warn("{} {}: the Kubernetes API server warns: {}", request.verb, request.what,
                   warning);
    }
  }
  if (response.status < 200 || response.status > 299) {
    return ApiError(response.status, response.body, request.verb, request.what, access_.server);
  }
  json object = json::parse(response.body, nullptr, false);
  if (object.is_discarded()) {
    return Status::IoError(fmt::format("{} {} on {}: the API server's answer is not JSON",
                                       request.verb, request.what, access_.server));
  }
  return object;
}

Result<json> ApiClient::Get(const ObjectRef& ref) {
  RETURN_IF_ERROR(CheckRef(ref));
  return SendForObject({"GET", ObjectPath(ref), "", "", "get", ref.Describe(), nullptr, {}});
}

Result<ObjectList> ApiClient::List(const ResourceKind& kind, const std::string& namespace_name,
                                   const std::string& label_selector) {
  RETURN_IF_ERROR(CheckNamespaceName(namespace_name));
  std::string path = CollectionPath(kind, namespace_name);
  if (!label_selector.empty()) path += "?labelSelector=" + Escape(label_selector);
  ASSIGN_OR_RETURN(json list, SendForObject({"GET",
                                             path,
                                             "",
                                             "",
                                             "list",
                                             std::string(kind.plural) + " " + namespace_name,
                                             nullptr,
                                             {}}));
  ObjectList out;
  out.resource_version = TextField(ObjectField(list, "metadata"), "resourceVersion");
  for (auto& item : ArrayField(list, "items")) {
    if (!item.is_object()) continue;
    // A list's items omit apiVersion and kind; put them back so RefOf works on them.
    item["apiVersion"] = std::string(kind.api_version);
    item["kind"] = std::string(kind.kind);
    out.items.push_back(std::move(item));
  }
  return out;
}

Result<json> ApiClient::Create(const json& object, bool named) {
  ObjectRef ref;
  if (named) {
    ASSIGN_OR_RETURN(ref, RefOf(object));
  } else {
    ref.kind = FindKind(TextField(object, "apiVersion"), TextField(object, "kind"));
    if (ref.kind == nullptr) return Status::InvalidArgument("create: unknown object kind");
    ref.name = "(review)";
  }
  return SendForObject({"POST",
                        CollectionPath(*ref.kind, ref.namespace_name),
                        object.dump(),
                        "application/json",
                        "create",
                        ref.Describe(),
                        nullptr,
                        {}});
}

Result<json> ApiClient::GetPath(const std::string& path) {
  return SendForObject({"GET", path, "", "", "get", path, nullptr, {}});
}

Result<json> ApiClient::PutObject(const json& object, bool status) {
  ASSIGN_OR_RETURN(ObjectRef ref, RefOf(object));
  return SendForObject({"PUT",
                        ObjectPath(ref) + (status ? "/status" : ""),
                        object.dump(),
                        "application/json",
                        "update",
                        ref.Describe(),
                        nullptr,
                        {}});
}

Result<json> ApiClient::Replace(const json& object) { return PutObject(object, false); }

Result<json> ApiClient::ReplaceStatus(const json& object) { return PutObject(object, true); }

Result<json> ApiClient::Update(const ObjectRef& ref, const std::function<Status(json&)>& mutate) {
  for (int round = 1;; ++round) {
    ASSIGN_OR_RETURN(json object, Get(ref));
    RETURN_IF_ERROR(mutate(object));
    auto updated = Replace(object);
    if (updated.ok() || updated.status().code() != StatusCode::kBusy ||
        round >= options_.max_conflict_retries) {
      return updated;
    }
  }
}

Result<json> ApiClient::Apply(const json& object, bool dry_run) {
  ASSIGN_OR_RETURN(ObjectRef ref, RefOf(object));
  std::string path = ObjectPath(ref) + "?fieldManager=" + Escape(options_.field_manager) +
                     "&force=true" + (dry_run ? "&dryRun=All" : "");
  // JSON is YAML: the apply patch type takes it as it is.
  return SendForObject(
      {"PATCH",
       path,
       object.dump(),
       "application/apply-patch+yaml",
       "patch",  // RBAC knows server-side apply as the verb "patch"
       ref.Describe() + (dry_run ? " (server-side apply, dry run)" : " (server-side apply)"),
       nullptr,
       {}});
}

Status ApiClient::Delete(const ObjectRef& ref) {
  RETURN_IF_ERROR(CheckRef(ref));
  json options = {
      {"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"propagationPolicy", "Background"}};
  return SendForObject({"DELETE",
                        ObjectPath(ref),
                        options.dump(),
                        "application/json",
                        "delete",
                        ref.Describe(),
                        nullptr,
                        {}})
      .status();
}

Result<WatchEnd> ApiClient::Watch(const ResourceKind& kind, const std::string& namespace_name,
                                  const std::string& label_selector,
                                  const std::string& resource_version, std::chrono::seconds timeout,
                                  const std::function<bool(const WatchEvent&)>& on_event,
                                  const std::function<bool()>& cancelled) {
  std::string path =
      CollectionPath(kind, namespace_name) +
      fmt::format("?watch=1&allowWatchBookmarks=true&timeoutSeconds={}", timeout.count());
  if (!resource_version.empty()) path += "&resourceVersion=" + Escape(resource_version);
  if (!label_selector.empty()) path += "&labelSelector=" + Escape(label_selector);
  WatchEnd end;
  end.resource_version = resource_version;
  Status bad_line;
  Request request{"GET", path, "", "", "watch", std::string(kind.plural) + " " + namespace_name,
                  nullptr,
                  // The server's own timeout ends the watch; ours only if it never does.
                  std::chrono::milliseconds(timeout) + std::chrono::seconds(30)};
  request.on_line = [&](std::string_view line) {
    json event = json::parse(line, nullptr, false);
    std::string type = TextField(event, "type");
    json object = ObjectField(event, "object");
    if (type == "ERROR") {
      if (IntField(object, "code") == 410) {
        end.reason = WatchEnd::Reason::kExpired;
      } else {
        bad_line = ApiError(IntField(object, "code"), object.dump(), "watch", request.what,
                            access_.server);
      }
      return false;
    }
    WatchEvent out;
    if (type == "ADDED") {
      out.type = WatchEvent::Type::kAdded;
    } else if (type == "MODIFIED") {
      out.type = WatchEvent::Type::kModified;
    } else if (type == "DELETED") {
      out.type = WatchEvent::Type::kDeleted;
    } else if (type == "BOOKMARK") {
      out.type = WatchEvent::Type::kBookmark;
    } else {
      bad_line = Status::IoError(fmt::format("watch {} on {}: unexpected line '{}'", request.what,
                                             access_.server, line.substr(0, 200)));
      return false;
    }
    std::string version = TextField(ObjectField(object, "metadata"), "resourceVersion");
    if (!version.empty()) end.resource_version = version;
    out.object = std::move(object);
    if (!on_event(out)) {
      end.reason = WatchEnd::Reason::kStopped;
      return false;
    }
    return true;
  };
  if (cancelled) request.cancelled = &cancelled;
  auto sent = Send(request);
  if (cancelled && cancelled()) {
    end.reason = WatchEnd::Reason::kStopped;
    return end;
  }
  ASSIGN_OR_RETURN(Response response, std::move(sent));
  RETURN_IF_ERROR(bad_line);
  if (response.status == 410) {
    end.reason = WatchEnd::Reason::kExpired;
    return end;
  }
  if (response.status != 200) {
    return ApiError(response.status, response.body, "watch", request.what, access_.server);
  }
  return end;
}

}  // namespace dbaas::kube
