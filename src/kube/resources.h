// The kinds of Kubernetes object dbaas reads and writes, and their REST paths. A kind not
// listed here is refused rather than guessed at (a wrong plural would be a 404 that reads
// as "not found").
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace dbaas::kube {

struct ResourceKind {
  std::string_view api_version;  // "v1", "apps/v1", "snapshot.storage.k8s.io/v1"
  std::string_view kind;         // "StatefulSet"
  std::string_view plural;       // "statefulsets"
  bool namespaced = true;
};

// nullptr when dbaas does not know the kind.
const ResourceKind* FindKind(std::string_view api_version, std::string_view kind);
// The same, or kInternal naming it: for kinds the code itself names.
const ResourceKind& KnownKind(std::string_view api_version, std::string_view kind);

// By the plural of its REST path ("statefulsets"); nullptr when unknown.
const ResourceKind* FindKindByPlural(std::string_view api_version, std::string_view plural);

struct ObjectRef {
  const ResourceKind* kind = nullptr;
  std::string namespace_name;  // empty for cluster-scoped kinds
  std::string name;
  // "statefulset dbaas-orders/orders-postgresql-local": for messages.
  std::string Describe() const;
};

// kInvalidArgument unless the name is a DNS-1123 subdomain and the namespace (when given) a
// DNS-1123 label: what the API server takes, and nothing that could change a request's path.
Status CheckRef(const ObjectRef& ref);
Status CheckNamespaceName(const std::string& namespace_name);

// The reference of an object's JSON (apiVersion, kind, metadata.name/namespace), checked.
Result<ObjectRef> RefOf(const nlohmann::json& object);

// /api/v1/namespaces/NS/secrets, /apis/apps/v1/namespaces/NS/statefulsets, /api/v1/namespaces;
// a namespaced kind with no namespace: the collection across all (/apis/apps/v1/statefulsets).
std::string CollectionPath(const ResourceKind& kind, const std::string& namespace_name);
std::string ObjectPath(const ObjectRef& ref);

}  // namespace dbaas::kube
