#include "kube/preflight.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kube/json_fields.h"

namespace dbaas::kube {

using nlohmann::json;

namespace {

// Whether the account may `verb` on `resource` in `group`, anywhere (the rules are
// cluster-wide: instance namespaces are made at run time).
Result<bool> Allowed(ApiClient& client, const std::string& group, const std::string& resource,
                     const std::string& verb) {
  json review = {
      {"apiVersion", "authorization.k8s.io/v1"},
      {"kind", "SelfSubjectAccessReview"},
      {"spec",
       {{"resourceAttributes", {{"group", group}, {"resource", resource}, {"verb", verb}}}}}};
  ASSIGN_OR_RETURN(json answer, client.Create(review, /*named=*/false));
  return BoolField(ObjectField(answer, "status"), "allowed");
}

PreflightCheck RbacCheck(ApiClient& client, const Permission& p) {
  std::string what = p.group.empty() ? p.resource : p.resource + "." + p.group;
  PreflightCheck check{"rbac: " + what, true, false, "", ""};
  std::vector<std::string> missing;
  for (const std::string& verb : p.verbs) {
    auto allowed = Allowed(client, p.group, p.resource, verb);
    if (!allowed.ok()) {
      check.ok = false;
      check.detail = allowed.status().message();
      check.hint =
          "the account must be able to create SelfSubjectAccessReviews (every "
          "authenticated user may, unless the cluster removed system:basic-user)";
      return check;
    }
    if (!*allowed) missing.push_back(verb);
  }
  if (missing.empty()) {
    check.detail = fmt::format("{}", fmt::join(p.verbs, ", "));
    return check;
  }
  check.ok = false;
  check.detail = fmt::format("may not {}", fmt::join(missing, ", "));
  check.hint = fmt::format("grant {} on {} to dbaasd's account: apply deploy/rbac.yaml",
                           fmt::join(missing, ", "), what);
  return check;
}

// `wanted` names one (it must exist), or the cluster's default (an object of `kind`
// annotated `default_annotation: "true"`) is looked for; none is a warning.
PreflightCheck ClassCheck(ApiClient& client, const ResourceKind& kind, const std::string& label,
                          const std::string& wanted, const std::string& setting,
                          const char* default_annotation) {
  PreflightCheck check{label, false, false, "", ""};
  if (!wanted.empty()) {
    auto got = client.Get({&kind, "", wanted});
    check.ok = got.ok();
    check.detail = got.ok() ? fmt::format("'{}' exists", wanted) : got.status().message();
    if (!got.ok()) {
      check.hint = fmt::format("create it, or set {} to one that exists (kubectl get {})", setting,
                               kind.plural);
    }
    return check;
  }
  auto listed = client.List(kind, "", "");
  if (!listed.ok()) {
    check.detail = listed.status().message();
    check.hint = listed.status().hint();
    return check;
  }
  for (const auto& item : listed->items) {
    json metadata = ObjectField(item, "metadata");
    json annotations = ObjectField(metadata, "annotations");
    if (TextField(annotations, default_annotation) == "true") {
      check.ok = true;
      check.detail = fmt::format("the cluster's default: '{}'", TextField(metadata, "name"));
      return check;
    }
  }
  check.warning = true;
  check.detail = fmt::format("{} not set, and no {} is the cluster's default", setting, kind.kind);
  check.hint =
      fmt::format("set {}, or mark one default ({}: \"true\")", setting, default_annotation);
  return check;
}

}  // namespace

const std::vector<Permission>& DaemonPermissions() {
  // Only what dbaasd does: it writes an instance's objects (apply: create and patch), reads
  // what it must watch, and deletes namespaces (which takes their content) and what a
  // restore or retention replaces (claims, snapshots, the StatefulSet). It never lists or
  // watches Secrets, so it reads no tenant's secrets but the ones it names.
  static const std::vector<Permission> kPermissions = {
      {"", "namespaces", {"get", "list", "watch", "create", "patch", "delete"}},
      {"", "secrets", {"get", "create", "patch"}},
      {"", "configmaps", {"get", "create", "patch"}},
      {"", "services", {"get", "create", "patch"}},
      {"", "persistentvolumeclaims", {"get", "list", "watch", "create", "patch", "delete"}},
      {"", "pods", {"get", "list", "watch"}},
      {"", "events", {"get", "list", "watch"}},
      {"apps", "statefulsets", {"get", "list", "watch", "create", "patch", "delete"}},
      {"networking.k8s.io", "networkpolicies", {"get", "create", "patch"}},
      {"snapshot.storage.k8s.io",
       "volumesnapshots",
       {"get", "list", "watch", "create", "patch", "delete"}},
      {"snapshot.storage.k8s.io",
       "volumesnapshotcontents",
       {"get", "list", "create", "update", "patch", "delete"}},
      {"snapshot.storage.k8s.io", "volumesnapshotclasses", {"get", "list"}},
      {"storage.k8s.io", "storageclasses", {"get", "list"}},
  };
  return kPermissions;
}

Result<std::vector<PreflightCheck>> Preflight(ApiClient& client,
                                              const KubernetesSettings& settings) {
  std::vector<PreflightCheck> checks;
  auto version = client.GetPath("/version");
  if (!version.ok()) return version.status();  // nothing else can be asked
  checks.push_back(
      {"api server", true, false,
       fmt::format("{} at {}", TextField(*version, "gitVersion"), client.access().server), ""});
  for (const Permission& p : DaemonPermissions()) checks.push_back(RbacCheck(client, p));

  auto snapshots = client.GetPath("/apis/snapshot.storage.k8s.io/v1");
  PreflightCheck snapshot_api{"volume snapshot API", snapshots.ok(), false, "", ""};
  if (snapshots.ok()) {
    snapshot_api.detail = "snapshot.storage.k8s.io/v1 is served";
  } else {
    snapshot_api.detail = snapshots.status().message();
    if (snapshots.status().code() == StatusCode::kNotFound) {
      snapshot_api.hint =
          "install the VolumeSnapshot CRDs and the snapshot controller "
          "(kubernetes-csi/external-snapshotter), and a CSI driver that takes snapshots";
    }
  }
  checks.push_back(snapshot_api);

  checks.push_back(ClassCheck(client, KnownKind("storage.k8s.io/v1", "StorageClass"),
                              "storage class", settings.storage_class, "kubernetes.storageClass",
                              "storageclass.kubernetes.io/is-default-class"));
  if (snapshots.ok()) {
    checks.push_back(ClassCheck(
        client, KnownKind("snapshot.storage.k8s.io/v1", "VolumeSnapshotClass"),
        "volume snapshot class", settings.volume_snapshot_class, "kubernetes.volumeSnapshotClass",
        "snapshot.storage.kubernetes.io/is-default-class"));
  }
  PreflightCheck image{"instance image", !settings.image.empty(), false,
                       settings.image.empty() ? "kubernetes.image is not set" : settings.image, ""};
  if (settings.image.empty()) {
    image.hint = "build deploy/Containerfile, push it, and set kubernetes.image";
  }
  checks.push_back(image);
  return checks;
}

}  // namespace dbaas::kube
