// A client for the Kubernetes API over libcurl: get, list by label, create, replace,
// server-side apply, status replace, delete, and watch. TLS only, the server's CA pinned
// when the access gives one; a bearer token (re-read from its file before each request, as
// projected service-account tokens rotate) or a client certificate.
//
// Errors carry the API server's meaning: 403 names the verb and resource the account
// lacks (the RBAC rule to add), 422 lists the invalid fields, 409 tells a name taken from
// an object changed since it was read, 404 names what does not exist. Transport errors, 429
// and 5xx are retried with capped exponential back-off; nothing else is.
//
// Thread-safety: every method may be called from many threads at once.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "kube/cluster_access.h"
#include "kube/resources.h"

namespace dbaas::net {
class CurlHandlePool;
}

namespace dbaas::kube {

struct ApiOptions {
  std::string field_manager = "dbaasd";  // server-side apply's manager name
  int max_attempts = 5;
  std::chrono::milliseconds first_backoff{200};
  std::chrono::milliseconds max_backoff{5000};
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds request_timeout{60000};
  int max_conflict_retries = 8;  // Update's read-modify-write rounds
  // The API server's warnings (a Warning header: a deprecated field, a pod template that
  // would violate the namespace's Pod Security level). Unset: logged.
  std::function<void(const std::string& warning)> on_warning;
};

struct ObjectList {
  std::vector<nlohmann::json> items;
  std::string resource_version;  // where a watch of the same collection starts
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark };
  Type type = Type::kAdded;
  nlohmann::json object;
};

struct WatchEnd {
  // kClosed: the server ended the watch (its timeout): watch again from resource_version.
  // kStopped: the callback asked to stop. kExpired: resource_version is older than the
  // server keeps (410 Gone): list again, then watch from the list's version.
  enum class Reason { kClosed, kStopped, kExpired };
  Reason reason = Reason::kClosed;
  std::string resource_version;  // the last one seen (events and bookmarks)
};

class ApiClient {
 public:
  static Result<std::unique_ptr<ApiClient>> Create(ClusterAccess access, ApiOptions options = {});
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // kNotFound when it does not exist.
  Result<nlohmann::json> Get(const ObjectRef& ref);
  // `label_selector`: "a=b,c!=d,e" (empty: all). `namespace_name` empty: every namespace.
  Result<ObjectList> List(const ResourceKind& kind, const std::string& namespace_name,
                          const std::string& label_selector);
  // kAlreadyExists when the name is taken. A review (SelfSubjectAccessReview) has no name:
  // `named` false.
  Result<nlohmann::json> Create(const nlohmann::json& object, bool named = true);
  // A path that is not an object (/version, an API group's discovery document).
  Result<nlohmann::json> GetPath(const std::string& path);
  // PUT of the object as read (its metadata.resourceVersion): kBusy when it changed since.
  Result<nlohmann::json> Replace(const nlohmann::json& object);
  // PUT to the status subresource (the object's status only), the same rule.
  Result<nlohmann::json> ReplaceStatus(const nlohmann::json& object);
  // Read, `mutate`, replace; again from the read when another writer came between.
  Result<nlohmann::json> Update(const ObjectRef& ref,
                                const std::function<Status(nlohmann::json&)>& mutate);
  // Server-side apply as this client's field manager, taking the fields from other managers
  // (force): the object ends as `object` says wherever it says anything. `dry_run`: the
  // server validates and admits it and stores nothing.
  Result<nlohmann::json> Apply(const nlohmann::json& object, bool dry_run = false);
  // kNotFound when it was gone already. Dependents are removed in the background.
  Status Delete(const ObjectRef& ref);
  // Events of the collection after `resource_version` until the server closes the watch
  // (`timeout`), `on_event` returns false, the version has expired, or `cancelled` (asked
  // every second or so, also while no event comes) says so: then kStopped.
  Result<WatchEnd> Watch(const ResourceKind& kind, const std::string& namespace_name,
                         const std::string& label_selector, const std::string& resource_version,
                         std::chrono::seconds timeout,
                         const std::function<bool(const WatchEvent&)>& on_event,
                         const std::function<bool()>& cancelled = nullptr);

  const ClusterAccess& access() const { return access_; }

 private:
  struct Request;
  struct Response;
  ApiClient(ClusterAccess access, ApiOptions options);
  Result<Response> SendOnce(const Request& request);
  Result<Response> Send(const Request& request);
  Result<nlohmann::json> SendForObject(const Request& request);
  Result<nlohmann::json> PutObject(const nlohmann::json& object, bool status);

  ClusterAccess access_;
  ApiOptions options_;
  std::unique_ptr<net::CurlHandlePool> handles_;  // connections kept between requests
};

// The message of a failed API call: the server's Status body read for its meaning.
// `verb` is the RBAC verb ("create"), `what` the object or collection ("statefulset
// dbaas-a/a-postgresql-local").
Status ApiError(long http_status, const std::string& body, const std::string& verb,
                const std::string& what, const std::string& server);

}  // namespace dbaas::kube
