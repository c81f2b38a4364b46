// CPPHTTPLIB_OPENSSL_SUPPORT comes from cpp-httplib's pkg-config flags.
#include "kube/fake_kube_apiserver.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "base/base64.h"
#include "base/files.h"
#include "base/hex.h"
#include "base/names.h"
#include "base/process.h"
#include "kube/resources.h"

namespace dbaas::testing {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// The kinds whose status is a subresource: PUT of the object keeps the stored status.
bool HasStatusSubresource(std::string_view kind) {
  return kind == "Namespace" || kind == "Service" || kind == "PersistentVolumeClaim" ||
         kind == "Pod" || kind == "StatefulSet" || kind == "Deployment" ||
         kind == "VolumeSnapshot" || kind == "VolumeSnapshotContent";
}

// The real server's Status body (tests/kube/data/*.json).
json StatusBody(int code, const std::string& reason, const std::string& message,
                json details = nullptr) {
  json body = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
               {"status", "Failure"}, {"message", message}, {"reason", reason},
               {"code", code}};
  if (!details.is_null()) body["details"] = std::move(details);
  return body;
}

// The real server's message for a name the kind does not take (DNS-1123 label for
// namespaces, DNS-1035 label for services, DNS-1123 subdomain for the rest).
std::string NameProblem(std::string_view kind, const std::string& name) {
  if (kind == "Namespace") {
    if (IsDns1123Label(name)) return {};
    return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
           "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
           "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
  }
  if (kind == "Service") {
    if (IsDns1123Label(name) && std::isalpha(static_cast<unsigned char>(name[0])) != 0) return {};
    return "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
           "with an alphabetic character, and end with an alphanumeric character (e.g. "
           "'my-name',  or 'abc-123', regex used for validation is "
           "'[a-z]([-a-z0-9]*[a-z0-9])?')";
  }
  if (IsDns1123Subdomain(name)) return {};
  return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
         "'-' or '.', and must start and end with an alphanumeric character (e.g. "
         "'example.com', regex used for validation is "
         "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
}

// Equality-based selectors: "a=b,c!=d,e,!f".
bool Matches(const json& labels, const std::string& selector) {
  size_t start = 0;
  while (start <= selector.size()) {
    size_t comma = selector.find(',', start);
    std::string term =
        selector.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? selector.size() + 1 : comma + 1;
    if (term.empty()) continue;
    auto value_of = [&](const std::string& key) -> const json* {
      return labels.is_object() && labels.contains(key) ? &labels[key] : nullptr;
    };
    if (size_t ne = term.find("!="); ne != std::string::npos) {
      const json* v = value_of(term.substr(0, ne));
      if (v != nullptr && *v == term.substr(ne + 2)) return false;
    } else if (size_t eq = term.find('='); eq != std::string::npos) {
      size_t value_at = term.compare(eq, 2, "==") == 0 ? eq + 2 : eq + 1;
      const json* v = value_of(term.substr(0, eq));
      if (v == nullptr || *v != term.substr(value_at)) return false;
    } else if (term[0] == '!') {
      if (value_of(term.substr(1)) != nullptr) return false;
    } else if (value_of(term) == nullptr) {
      return false;
    }
  }
  return true;
}

// Server-side apply of one manager, as far as dbaas needs it: what it applied before and
// leaves out now goes; maps merge; lists and scalars are replaced.
void RemoveDropped(json& live, const json& before, const json& now) {
  if (!live.is_object() || !before.is_object()) return;
  for (auto it = before.begin(); it != before.end(); ++it) {
    if (!now.is_object() || !now.contains(it.key())) {
      live.erase(it.key());
    } else if (live.contains(it.key())) {
      RemoveDropped(live[it.key()], it.value(), now[it.key()]);
    }
  }
}

void MergeInto(json& live, const json& applied) {
  for (auto it = applied.begin(); it != applied.end(); ++it) {
    if (it.value().is_object() && live.contains(it.key()) && live[it.key()].is_object()) {
      MergeInto(live[it.key()], it.value());
    } else {
      live[it.key()] = it.value();
    }
  }
}

std::string Now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

struct Route {
  const kube::ResourceKind* kind = nullptr;
  std::string namespace_name;
  std::string name;
  bool status = false;
  std::string collection;  // apiVersion/plural, what a watch or list selects on
};

}  // namespace

class FakeKubeApiServer::Impl {
 public:
  explicit Impl(const std::string& dir)
      : dir_(dir), server_((dir + "/server.crt").c_str(), (dir + "/server.key").c_str()) {}

  Status Run() {
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      try {
        Handle(req, res);
      } catch (const std::exception& e) {  // a bug of the fake: say so, do not hang
        Reply(res, 500, StatusBody(500, "InternalError", std::string("fake: ") + e.what()));
      }
    };
    server_.Get(".*", handler);
    server_.Post(".*", handler);
    server_.Put(".*", handler);
    server_.Patch(".*", handler);
    server_.Delete(".*", handler);
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) return Status::IoError("fake API server: cannot bind a loopback port");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return Status::Ok();
  }

  ~Impl() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    changed_.notify_all();
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

  void Compact() {
    std::lock_guard lock(mu_);
    compacted_ = version_;
    events_.clear();
  }
  void SetTerminationMs(int ms) {
    std::lock_guard lock(mu_);
    termination_ms_ = ms;
  }
  json Stored(const std::string& path) {
    std::lock_guard lock(mu_);
    FinishTerminations();
    auto it = objects_.find(path);
    return it == objects_.end() ? json(nullptr) : it->second;
  }

 private:
  struct Event {
    int64_t version;
    std::string type;
    std::string collection;
    std::string namespace_name;
    json object;
  };

  static void Reply(httplib::Response& res, int code, const json& body) {
    res.status = code;
    res.set_content(body.dump(), "application/json");
  }

  // Routes /api/v1/... and /apis/GROUP/VERSION/...: [namespaces/NS/]PLURAL[/NAME[/status]].
  static std::optional<Route> Parse(const std::string& path) {
    static const std::regex kPath(
        R"(^/(?:api/(v1)|apis/([a-z0-9.-]+/v1))(?:/namespaces/([a-z0-9.-]+)(?=/))?/([a-z]+)(?:/([^/]+))?(/status)?$)");
    std::smatch m;
    if (!std::regex_match(path, m, kPath)) return std::nullopt;
    std::string api_version = m[1].matched ? m[1].str() : m[2].str();
    Route route;
    route.kind = kube::FindKindByPlural(api_version, m[4].str());
    if (route.kind == nullptr) return std::nullopt;
    route.namespace_name = m[3].str();
    route.name = m[5].str();
    route.status = m[6].matched;
    route.collection = api_version + "/" + m[4].str();
    return route;
  }

  static std::string Path(const Route& route, const std::string& name) {
    return kube::ObjectPath({route.kind, route.kind->namespaced ? route.namespace_name : "", name});
  }

  std::string Who(const httplib::Request& req) {
    std::string auth = req.get_header_value("Authorization");
    if (auth == std::string("Bearer ") + kAdminToken) return "admin";
    if (auth == std::string("Bearer ") + kLimitedToken) return "limited";
    return {};
  }

  static std::string Verb(const httplib::Request& req, const Route& route) {
    if (req.method == "GET") {
      if (req.has_param("watch")) return "watch";
      return route.name.empty() ? "list" : "get";
    }
    if (req.method == "POST") return "create";
    if (req.method == "PUT") return "update";
    if (req.method == "PATCH") return "patch";
    return "delete";
  }

  void Handle(const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lock(mu_);
      auto fault = faults_.find(req.method);
      if (fault != faults_.end() && fault->second.count > 0) {
        --fault->second.count;
        int code = fault->second.status;
        if (code == 429 || code == 503) res.set_header("Retry-After", "1");
        return Reply(res, code,
                     StatusBody(code, code == 429 ? "TooManyRequests" : "InternalError",
                                "fake: an injected failure"));
      }
    }
    std::string who = Who(req);
    if (who.empty()) return Reply(res, 401, StatusBody(401, "Unauthorized", "Unauthorized"));
    if (req.method == "GET" && req.path == "/version") {
      return Reply(res, 200, {{"major", "1"}, {"minor", "26"}, {"gitVersion", "v1.26.1-fake"}});
    }
    if (req.method == "GET" && req.path == "/apis/snapshot.storage.k8s.io/v1") {
      std::lock_guard lock(mu_);
      if (!snapshot_api_) {
        res.status = 404;  // the real server's answer for a group it does not serve
        res.set_content("404 page not found\n", "text/plain; charset=utf-8");
        return;
      }
      json resources = json::array();
      for (const char* plural :
           {"volumesnapshots", "volumesnapshotclasses", "volumesnapshotcontents"}) {
        resources.push_back({{"name", plural}});
      }
      return Reply(res, 200,
                   {{"kind", "APIResourceList"},
                    {"apiVersion", "v1"},
                    {"groupVersion", "snapshot.storage.k8s.io/v1"},
                    {"resources", resources}});
    }
    auto route = Parse(req.path);
    if (!route) {
      return Reply(res, 404,
                   StatusBody(404, "NotFound", "the server could not find the requested resource"));
    }
    std::string verb = Verb(req, *route);
    if (route->kind->kind == std::string_view("SelfSubjectAccessReview")) {
      // Every authenticated user may ask (system:basic-user); the answer is whether the
      // asker may do it.
      json review = json::parse(req.body, nullptr, false);
      json attributes =
          review.is_object()
              ? review.value("spec", json::object()).value("resourceAttributes", json::object())
              : json::object();
      std::lock_guard lock(mu_);
      review["status"] = {{"allowed", who == "admin" && !Denied(attributes.value("group", ""),
                                                                attributes.value("resource", ""),
                                                                attributes.value("verb", ""))}};
      return Reply(res, 201, review);
    }
    bool denied = false;
    {
      std::string group(route->kind->api_version);
      group = group.find('/') == std::string::npos ? "" : group.substr(0, group.find('/'));
      std::lock_guard lock(mu_);
      denied = Denied(group, std::string(route->kind->plural), verb);
    }
    if (who != "admin" || denied) {
      std::string group = std::string(route->kind->api_version);
      group = group.find('/') == std::string::npos ? "" : group.substr(0, group.find('/'));
      std::string resource = std::string(route->kind->plural) + (route->status ? "/status" : "");
      std::string scope = route->namespace_name.empty()
                              ? "at the cluster scope"
                              : fmt::format("in the namespace \"{}\"", route->namespace_name);
      json details = {{"kind", std::string(route->kind->plural)}};
      if (!route->name.empty()) details["name"] = route->name;
      if (!group.empty()) details["group"] = group;
      std::string subject =
          route->name.empty()
              ? std::string(route->kind->plural) + (group.empty() ? "" : "." + group)
              : fmt::format("{}{} \"{}\"", route->kind->plural, group.empty() ? "" : "." + group,
                            route->name);
      return Reply(res, 403,
                   StatusBody(403, "Forbidden",
                              fmt::format("{} is forbidden: User \"{}\" cannot {} resource \"{}\" "
                                          "in API group \"{}\" {}",
                                          subject, who, verb, resource, group, scope),
                              details));
    }
    if (verb == "watch") return Watch(req, res, *route);
    std::unique_lock lock(mu_);
    FinishTerminations();
    if (verb == "list") return List(req, res, *route);
    if (verb == "get") return Get(res, *route);
    if (verb == "delete") return Delete(res, *route);
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object()) {
      return Reply(res, 400,
                   StatusBody(400, "BadRequest", "the request body is not a JSON object"));
    }
    if (verb == "create") return Create(req, res, *route, std::move(body));
    if (verb == "update") return Update(res, *route, std::move(body));
    return Apply(req, res, *route, std::move(body));
  }

  bool Denied(const std::string& group, const std::string& resource,
              const std::string& verb) const {
    return denied_.count(group + "/" + resource + "/" + verb) != 0;
  }

 public:
  void Deny(const std::string& group, const std::string& resource, const std::string& verb) {
    std::lock_guard lock(mu_);
    denied_.insert(group + "/" + resource + "/" + verb);
  }
  void SetSnapshotApi(bool served) {
    std::lock_guard lock(mu_);
    snapshot_api_ = served;
  }
  void FailNext(const std::string& method, int status, int count) {
    std::lock_guard lock(mu_);
    faults_[method] = {status, count};
  }

 private:
  json Details(const Route& route, const std::string& name) const {
    return {{"name", name}, {"kind", std::string(route.kind->plural)}};
  }

  void NotFound(httplib::Response& res, const Route& route, const std::string& name) {
    Reply(res, 404,
          StatusBody(404, "NotFound", fmt::format("{} \"{}\" not found", route.kind->plural, name),
                     Details(route, name)));
  }

  // Checks a body to be stored at `route`/`name`; replies and returns false when it is bad.
  bool Admit(httplib::Response& res, const Route& route, json& body, const std::string& name) {
    json& metadata = body["metadata"];
    if (!metadata.is_object()) metadata = json::object();
    std::string body_ns = metadata.value("namespace", "");
    if (route.kind->namespaced) {
      if (!body_ns.empty() && body_ns != route.namespace_name) {
        Reply(res, 400,
              StatusBody(400, "BadRequest",
                         "the namespace of the provided object does not match the "
                         "namespace sent on the request"));
        return false;
      }
      metadata["namespace"] = route.namespace_name;
    }
    std::string problem =
        name.empty() ? "name or generateName is required" : NameProblem(route.kind->kind, name);
    if (!problem.empty()) {
      std::string field_message = name.empty()
                                      ? "Required value: " + problem
                                      : fmt::format("Invalid value: \"{}\": {}", name, problem);
      json causes = {{{"reason", name.empty() ? "FieldValueRequired" : "FieldValueInvalid"},
                      {"message", field_message},
                      {"field", "metadata.name"}}};
      json details = {{"name", name}, {"kind", std::string(route.kind->kind)}, {"causes", causes}};
      Reply(res, 422,
            StatusBody(422, "Invalid",
                       fmt::format("{} \"{}\" is invalid: metadata.name: {}", route.kind->kind,
                                   name, field_message),
                       details));
      return false;
    }
    if (route.kind->namespaced) {
      auto ns = objects_.find("/api/v1/namespaces/" + route.namespace_name);
      if (ns == objects_.end()) {
        json details = {{"name", route.namespace_name}, {"kind", "namespaces"}};
        Reply(
            res, 404,
            StatusBody(404, "NotFound",
                       fmt::format("namespaces \"{}\" not found", route.namespace_name), details));
        return false;
      }
      if (terminating_.count(route.namespace_name) != 0) {
        Reply(res, 403,
              StatusBody(403, "Forbidden",
                         fmt::format("{} \"{}\" is forbidden: unable to create new content in "
                                     "namespace {} because it is being terminated",
                                     route.kind->plural, name, route.namespace_name),
                         Details(route, name)));
        return false;
      }
    }
    body["apiVersion"] = std::string(route.kind->api_version);
    body["kind"] = std::string(route.kind->kind);
    return true;
  }

  void Record(const std::string& type, const Route& route, const json& object) {
    events_.push_back(
        {version_, type, route.collection, object["metadata"].value("namespace", ""), object});
    changed_.notify_all();
  }

  void Store(const Route& route, const std::string& path, json& object, const char* type) {
    object["metadata"]["resourceVersion"] = std::to_string(++version_);
    objects_[path] = object;
    Record(type, route, object);
  }

  json Fresh(json body) {
    json& metadata = body["metadata"];
    metadata["uid"] = fmt::format("{}-{}-{}-{}-{}", RandomHex(4), RandomHex(2), RandomHex(2),
                                  RandomHex(2), RandomHex(6));
    metadata["creationTimestamp"] = Now();
    metadata["generation"] = 1;
    if (body["kind"] == "Namespace") body["status"] = {{"phase", "Active"}};
    return body;
  }

  void Create(const httplib::Request& req, httplib::Response& res, const Route& route, json body) {
    std::string name = body.value("metadata", json::object()).value("name", "");
    if (!Admit(res, route, body, name)) return;
    std::string path = Path(route, name);
    if (objects_.count(path) != 0) {
      return Reply(res, 409,
                   StatusBody(409, "AlreadyExists",
                              fmt::format("{} \"{}\" already exists", route.kind->plural, name),
                              Details(route, name)));
    }
    json object = Fresh(std::move(body));
    if (req.get_param_value("dryRun") == "All") return Reply(res, 201, object);
    Store(route, path, object, "ADDED");
    Reply(res, 201, object);
  }

  void Update(httplib::Response& res, const Route& route, json body) {
    std::string path = Path(route, route.name);
    auto it = objects_.find(path);
    if (it == objects_.end()) return NotFound(res, route, route.name);
    if (!Admit(res, route, body, route.name)) return;
    std::string given = body["metadata"].value("resourceVersion", "");
    if (given.empty()) {
      std::string message = "Invalid value: 0x0: must be specified for an update";
      json details = {{"name", route.name},
                      {"kind", std::string(route.kind->kind)},
                      {"causes",
                       {{{"reason", "FieldValueInvalid"},
                         {"message", message},
                         {"field", "metadata.resourceVersion"}}}}};
      return Reply(res, 422,
                   StatusBody(422, "Invalid",
                              fmt::format("{} \"{}\" is invalid: metadata.resourceVersion: {}",
                                          route.kind->kind, route.name, message),
                              details));
    }
    json& stored = it->second;
    if (given != stored["metadata"].value("resourceVersion", "")) {
      return Reply(res, 409,
                   StatusBody(409, "Conflict",
                              fmt::format("Operation cannot be fulfilled on {} \"{}\": the object "
                                          "has been modified; please apply your changes to the "
                                          "latest version and try again",
                                          route.kind->plural, route.name),
                              Details(route, route.name)));
    }
    json object = stored;
    if (route.status) {
      object["status"] = body.value("status", json::object());
    } else {
      // Identity and status are the server's; the rest is the writer's.
      json metadata = body["metadata"];
      for (const char* kept : {"uid", "creationTimestamp", "generation"}) {
        metadata[kept] = stored["metadata"][kept];
      }
      json status = stored.value("status", json());
      bool spec_changed = body.value("spec", json()) != stored.value("spec", json());
      object = std::move(body);
      object["metadata"] = std::move(metadata);
      if (HasStatusSubresource(route.kind->kind)) {
        if (status.is_null()) {
          object.erase("status");
        } else {
          object["status"] = status;
        }
      }
      if (spec_changed)
        object["metadata"]["generation"] = stored["metadata"]["generation"].get<int>() + 1;
    }
    Store(route, path, object, "MODIFIED");
    Reply(res, 200, object);
  }

  void Apply(const httplib::Request& req, httplib::Response& res, const Route& route, json body) {
    std::string manager = req.get_param_value("fieldManager");
    if (req.get_header_value("Content-Type") != "application/apply-patch+yaml") {
      return Reply(res, 415,
                   StatusBody(415, "UnsupportedMediaType",
                              "the fake serves server-side apply patches only"));
    }
    if (manager.empty()) {
      std::string message = "Required value: is required for apply patch";
      json details = {
          {"causes",
           {{{"reason", "FieldValueRequired"}, {"message", message}, {"field", "fieldManager"}}}}};
      return Reply(res, 422,
                   StatusBody(422, "Invalid",
                              "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: " + message,
                              details));
    }
    if (body.value("metadata", json::object()).value("name", "") != route.name) {
      return Reply(res, 400,
                   StatusBody(400, "BadRequest",
                              "the name of the object does not match the name on the URL"));
    }
    json applied = body;
    if (!Admit(res, route, body, route.name)) return;
    bool dry_run = req.get_param_value("dryRun") == "All";
    std::string path = Path(route, route.name);
    auto it = objects_.find(path);
    if (it == objects_.end()) {
      json object = Fresh(std::move(body));
      if (dry_run) return Reply(res, 201, object);
      applied_[path][manager] = applied;
      Store(route, path, object, "ADDED");
      return Reply(res, 201, object);
    }
    json object = it->second;
    json before = applied_[path].count(manager) != 0 ? applied_[path][manager] : json::object();
    if (before.contains("metadata") && before["metadata"].is_object()) {
      before["metadata"].erase("name");  // identity is never dropped
      before["metadata"].erase("namespace");
    }
    RemoveDropped(object, before, applied);
    if (HasStatusSubresource(route.kind->kind)) applied.erase("status");
    MergeInto(object, applied);
    if (object == it->second || dry_run) return Reply(res, 200, object);
    if (object.value("spec", json()) != it->second.value("spec", json())) {
      object["metadata"]["generation"] = it->second["metadata"]["generation"].get<int>() + 1;
    }
    applied_[path][manager] = applied;
    Store(route, path, object, "MODIFIED");
    Reply(res, 200, object);
  }

  void Get(httplib::Response& res, const Route& route) {
    auto it = objects_.find(Path(route, route.name));
    if (it == objects_.end()) return NotFound(res, route, route.name);
    Reply(res, 200, it->second);
  }

  void List(const httplib::Request& req, httplib::Response& res, const Route& route) {
    std::string selector = req.get_param_value("labelSelector");
    json items = json::array();
    for (const auto& [path, object] : objects_) {
      if (object["apiVersion"] != route.kind->api_version || object["kind"] != route.kind->kind)
        continue;
      if (!route.namespace_name.empty() &&
          object["metadata"].value("namespace", "") != route.namespace_name)
        continue;
      if (!Matches(object["metadata"].value("labels", json::object()), selector)) continue;
      items.push_back(object);
    }
    Reply(res, 200,
          {{"kind", std::string(route.kind->kind) + "List"},
           {"apiVersion", std::string(route.kind->api_version)},
           {"metadata", {{"resourceVersion", std::to_string(version_)}}},
           {"items", items}});
  }

  void Delete(httplib::Response& res, const Route& route) {
    std::string path = Path(route, route.name);
    auto it = objects_.find(path);
    if (it == objects_.end()) return NotFound(res, route, route.name);
    if (route.kind->kind != std::string_view("Namespace")) {
      json gone = it->second;
      objects_.erase(it);
      applied_.erase(path);
      ++version_;
      gone["metadata"]["resourceVersion"] = std::to_string(version_);
      Record("DELETED", route, gone);
      return Reply(res, 200,
                   {{"kind", "Status"},
                    {"apiVersion", "v1"},
                    {"metadata", json::object()},
                    {"status", "Success"},
                    {"details", Details(route, route.name)}});
    }
    // A namespace: Terminating while its content goes, then gone.
    if (terminating_.count(route.name) == 0) {
      terminating_[route.name] = Clock::now() + std::chrono::milliseconds(termination_ms_);
      json& ns = it->second;
      ns["metadata"]["deletionTimestamp"] = Now();
      ns["status"]["phase"] = "Terminating";
      Store(route, path, ns, "MODIFIED");
      std::string prefix = "/namespaces/" + route.name + "/";
      for (auto o = objects_.begin(); o != objects_.end();) {
        if (o->first.find(prefix) == std::string::npos) {
          ++o;
          continue;
        }
        auto object_route = Parse(o->first);
        json gone = o->second;
        applied_.erase(o->first);
        o = objects_.erase(o);
        gone["metadata"]["resourceVersion"] = std::to_string(++version_);
        Record("DELETED", *object_route, gone);
      }
    }
    Reply(res, 200, it->second);
  }

  void FinishTerminations() {
    for (auto it = terminating_.begin(); it != terminating_.end();) {
      if (Clock::now() < it->second) {
        ++it;
        continue;
      }
      std::string path = "/api/v1/namespaces/" + it->first;
      auto ns = objects_.find(path);
      if (ns != objects_.end()) {
        json gone = ns->second;
        objects_.erase(ns);
        gone["metadata"]["resourceVersion"] = std::to_string(++version_);
        Record("DELETED", *Parse(path), gone);
      }
      it = terminating_.erase(it);
    }
  }

  void Watch(const httplib::Request& req, httplib::Response& res, const Route& route) {
    int64_t from = 0;
    std::string rv = req.get_param_value("resourceVersion");
    if (!rv.empty()) from = std::stoll(rv);
    int timeout_s =
        req.has_param("timeoutSeconds") ? std::stoi(req.get_param_value("timeoutSeconds")) : 1800;
    bool bookmarks = req.get_param_value("allowWatchBookmarks") == "true";
    std::string selector = req.get_param_value("labelSelector");
    auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
    res.status = 200;
    res.set_chunked_content_provider(
        "application/json", [this, route, from, deadline, bookmarks, selector](
                                size_t, httplib::DataSink& sink) mutable {
          std::unique_lock lock(mu_);
          if (from != 0 && from < compacted_) {
            lock.unlock();
            json error = {{"type", "ERROR"},
                          {"object", StatusBody(410, "Expired",
                                                fmt::format("too old resource version: {} ({})",
                                                            from, compacted_))}};
            std::string line = error.dump() + "\n";
            sink.write(line.data(), line.size());
            sink.done();
            return true;
          }
          if (from == 0) from = version_;
          auto next_bookmark = Clock::now() + std::chrono::milliseconds(500);
          while (!stopping_ && Clock::now() < deadline) {
            std::string out;
            for (const auto& event : events_) {
              if (event.version <= from || event.collection != route.collection) continue;
              if (!route.namespace_name.empty() && event.namespace_name != route.namespace_name)
                continue;
              from = event.version;
              if (!Matches(event.object["metadata"].value("labels", json::object()), selector))
                continue;
              out += json({{"type", event.type}, {"object", event.object}}).dump() + "\n";
            }
            if (bookmarks && Clock::now() >= next_bookmark) {
              json object = {{"kind", std::string(route.kind->kind)},
                             {"apiVersion", std::string(route.kind->api_version)},
                             {"metadata", {{"resourceVersion", std::to_string(from)}}}};
              out += json({{"type", "BOOKMARK"}, {"object", object}}).dump() + "\n";
              next_bookmark = Clock::now() + std::chrono::milliseconds(500);
            }
            if (!out.empty()) {
              lock.unlock();
              if (!sink.write(out.data(), out.size())) return false;
              lock.lock();
              continue;
            }
            changed_.wait_until(lock, std::min(deadline, next_bookmark));
          }
          sink.done();
          return true;
        });
  }

  std::string dir_;
  httplib::SSLServer server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable changed_;
  bool stopping_ = false;
  int64_t version_ = 100;
  int64_t compacted_ = 0;
  int termination_ms_ = 300;
  std::map<std::string, json> objects_;                         // by REST path
  std::map<std::string, std::map<std::string, json>> applied_;  // path -> manager -> config
  std::map<std::string, Clock::time_point> terminating_;        // namespace -> gone at
  std::vector<Event> events_;
  std::set<std::string> denied_;  // group/resource/verb the admin may not do
  bool snapshot_api_ = true;
  struct Fault {
    int status = 0;
    int count = 0;
  };
  std::map<std::string, Fault> faults_;  // by method: answered before anything else
};

FakeKubeApiServer::FakeKubeApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FakeKubeApiServer::~FakeKubeApiServer() = default;

Result<std::unique_ptr<FakeKubeApiServer>> FakeKubeApiServer::Start(const std::string& dir) {
  auto openssl = [&](std::vector<std::string> args) {
    ProcessOptions options;
    options.argv = std::move(args);
    options.argv.insert(options.argv.begin(), "openssl");
    options.cwd = dir;
    return RunChecked(options, std::chrono::seconds(60)).status();
  };
  RETURN_IF_ERROR(
      openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
               "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=fake-kube-ca"}));
  RETURN_IF_ERROR(
      openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
               "server.key", "-out", "server.csr", "-subj", "/CN=fake-kube-apiserver"}));
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/san.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"));
  RETURN_IF_ERROR(
      openssl({"x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
               "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext"}));
  auto impl = std::make_unique<Impl>(dir);
  RETURN_IF_ERROR(impl->Run());
  return std::unique_ptr<FakeKubeApiServer>(new FakeKubeApiServer(std::move(impl)));
}

kube::ClusterAccess FakeKubeApiServer::Access(const std::string& token) const {
  kube::ClusterAccess access;
  access.server = fmt::format("https://127.0.0.1:{}", impl_->port());
  access.ca_pem = ReadFileToString(impl_->dir() + "/ca.crt").value();
  access.token = token;
  access.source = "fake API server";
  return access;
}

Status FakeKubeApiServer::WriteKubeconfig(const std::string& path, const std::string& token) const {
  ASSIGN_OR_RETURN(std::string ca, ReadFileToString(impl_->dir() + "/ca.crt"));
  std::string text = fmt::format(
      "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
      "clusters:\n- name: fake\n  cluster:\n    server: https://127.0.0.1:{}\n"
      "    certificate-authority-data: {}\n"
      "users:\n- name: fake\n  user:\n    token: {}\n"
      "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n"
      "    namespace: default\n",
      impl_->port(), Base64Encode(ca), token);
  return WriteFileAtomic(path, text);
}

void FakeKubeApiServer::Compact() { impl_->Compact(); }
void FakeKubeApiServer::Deny(const std::string& group, const std::string& resource,
                             const std::string& verb) {
  impl_->Deny(group, resource, verb);
}
void FakeKubeApiServer::SetSnapshotApi(bool served) { impl_->SetSnapshotApi(served); }
void FakeKubeApiServer::FailNext(const std::string& method, int status, int count) {
  impl_->FailNext(method, status, count);
}
void FakeKubeApiServer::SetNamespaceTerminationMs(int ms) { impl_->SetTerminationMs(ms); }
nlohmann::json FakeKubeApiServer::Stored(const std::string& path) const {
  return impl_->Stored(path);
}

}  // namespace dbaas::testing
