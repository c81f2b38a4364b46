#include "kube/resources.h"

#include <array>
#include <cctype>
#include <cstdlib>

#include <fmt/format.h>

#include "base/names.h"

namespace dbaas::kube {
namespace {

constexpr std::array<ResourceKind, 18> kKinds{{
    {"v1", "Namespace", "namespaces", false},
    {"v1", "Secret", "secrets", true},
    {"v1", "ConfigMap", "configmaps", true},
    {"v1", "Service", "services", true},
    {"v1", "ServiceAccount", "serviceaccounts", true},
    {"v1", "PersistentVolumeClaim", "persistentvolumeclaims", true},
    {"v1", "Pod", "pods", true},
    {"v1", "Event", "events", true},
    {"apps/v1", "StatefulSet", "statefulsets", true},
    {"apps/v1", "Deployment", "deployments", true},
    {"networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", true},
    {"rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", false},
    {"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", false},
    {"storage.k8s.io/v1", "StorageClass", "storageclasses", false},
    {"snapshot.storage.k8s.io/v1", "VolumeSnapshot", "volumesnapshots", true},
    {"snapshot.storage.k8s.io/v1", "VolumeSnapshotClass", "volumesnapshotclasses", false},
    {"snapshot.storage.k8s.io/v1", "VolumeSnapshotContent", "volumesnapshotcontents", false},
    {"authorization.k8s.io/v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", false},
}};

}  // namespace

const ResourceKind* FindKind(std::string_view api_version, std::string_view kind) {
  for (const auto& k : kKinds) {
    if (k.api_version == api_version && k.kind == kind) return &k;
  }
  return nullptr;
}

const ResourceKind* FindKindByPlural(std::string_view api_version, std::string_view plural) {
  for (const auto& k : kKinds) {
    if (k.api_version == api_version && k.plural == plural) return &k;
  }
  return nullptr;
}

const ResourceKind& KnownKind(std::string_view api_version, std::string_view kind) {
  const ResourceKind* k = FindKind(api_version, kind);
  if (k == nullptr) {
    // A programming error: the code names only kinds of the table.
    fmt::print(stderr, "internal error: unknown Kubernetes kind {}/{}\n", api_version, kind);
    std::abort();
  }
  return *k;
}

std::string ObjectRef::Describe() const {
  std::string kind_name;
  for (char c : kind->kind) kind_name.push_back(static_cast<char>(std::tolower(c)));
  return namespace_name.empty() ? fmt::format("{} {}", kind_name, name)
                                : fmt::format("{} {}/{}", kind_name, namespace_name, name);
}

Status CheckNamespaceName(const std::string& namespace_name) {
  if (namespace_name.empty() || IsDns1123Label(namespace_name)) return Status::Ok();
  return Status::InvalidArgument(
      fmt::format("'{}' is not a Kubernetes namespace name", namespace_name),
      "lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit");
}

Status CheckRef(const ObjectRef& ref) {
  if (!IsDns1123Subdomain(ref.name)) {
    return Status::InvalidArgument(
        fmt::format("'{}' is not a Kubernetes object name", ref.name),
        "lowercase letters, digits, '-' and '.', at most 253, each part starting and ending "
        "with a letter or digit");
  }
  return CheckNamespaceName(ref.namespace_name);
}

Result<ObjectRef> RefOf(const nlohmann::json& object) {
  auto text = [&](const nlohmann::json& j, const char* key) {
    return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>()
                                                                  : std::string();
  };
  std::string api_version = text(object, "apiVersion");
  std::string kind = text(object, "kind");
  const ResourceKind* k = FindKind(api_version, kind);
  if (k == nullptr) {
    return Status::InvalidArgument(
        fmt::format("unknown Kubernetes object kind '{}/{}'", api_version, kind));
  }
  nlohmann::json metadata = object.is_object() ? object.value("metadata", nlohmann::json::object())
                                               : nlohmann::json::object();
  ObjectRef ref{k, text(metadata, "namespace"), text(metadata, "name")};
  if (ref.name.empty()) {
    return Status::InvalidArgument(fmt::format("{} object has no metadata.name", kind));
  }
  RETURN_IF_ERROR(CheckRef(ref));
  if (k->namespaced == ref.namespace_name.empty()) {
    return Status::InvalidArgument(fmt::format(
        "{} '{}' {}", kind, ref.name,
        k->namespaced ? "has no metadata.namespace" : "is cluster-scoped but names a namespace"));
  }
  return ref;
}

std::string CollectionPath(const ResourceKind& kind, const std::string& namespace_name) {
  std::string base = kind.api_version.find('/') == std::string_view::npos
                         ? fmt::format("/api/{}", kind.api_version)
                         : fmt::format("/apis/{}", kind.api_version);
  // Cluster-scoped, or a namespaced kind across every namespace.
  if (!kind.namespaced || namespace_name.empty()) return fmt::format("{}/{}", base, kind.plural);
  return fmt::format("{}/namespaces/{}/{}", base, namespace_name, kind.plural);
}

std::string ObjectPath(const ObjectRef& ref) {
  return CollectionPath(*ref.kind, ref.namespace_name) + "/" + ref.name;
}

}  // namespace dbaas::kube
