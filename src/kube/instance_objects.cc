#include "kube/instance_objects.h"

#include <regex>

#include <fmt/format.h>

#include "base/base64.h"
#include "base/names.h"
#include "base/sha256.h"

namespace dbaas::kube {

using nlohmann::json;

namespace {

constexpr char kDataDir[] = "/var/lib/dbaas";
// The server's user in the image (Containerfile): not root, and the same in every pod, so
// a volume restored from another instance's snapshot is readable.
constexpr int kServerUid = 999;

json Labels(const std::string& name, const std::string& engine) {
  return {{kManagedByLabel, "dbaas"}, {kInstanceLabel, name}, {kEngineLabel, engine}};
}

json Metadata(const std::string& object_name, const std::string& namespace_name,
              const std::string& name, const std::string& engine) {
  json metadata = {{"name", object_name}, {"labels", Labels(name, engine)}};
  if (!namespace_name.empty()) metadata["namespace"] = namespace_name;
  return metadata;
}

json Selector(const std::string& name, const std::string& engine) {
  return {{kInstanceLabel, name}, {kEngineLabel, engine}};
}

Status CheckQuantity(const std::string& what, const std::string& value) {
  if (value.empty() || IsKubernetesQuantity(value)) return Status::Ok();
  return Status::InvalidArgument(
      fmt::format("resources: {} '{}' is not a Kubernetes quantity", what, value),
      "give a number with an optional suffix, as \"500m\" or \"2\" (CPU) or \"512Mi\" or "
      "\"4Gi\" (memory)");
}

json ResourceRequirementsJson(const ResourceRequirements& r) {
  json requests = json::object(), limits = json::object();
  if (!r.cpu_request.empty()) requests["cpu"] = r.cpu_request;
  if (!r.memory_request.empty()) requests["memory"] = r.memory_request;
  if (!r.cpu_limit.empty()) limits["cpu"] = r.cpu_limit;
  if (!r.memory_limit.empty()) limits["memory"] = r.memory_limit;
  json out = json::object();
  if (!requests.empty()) out["requests"] = requests;
  if (!limits.empty()) out["limits"] = limits;
  return out;
}

json ClaimSpec(const KubernetesSettings& settings, uint64_t size_bytes) {
  json spec = {{"accessModes", {"ReadWriteOnce"}},
               {"resources", {{"requests", {{"storage", BytesQuantity(size_bytes)}}}}}};
  if (!settings.storage_class.empty()) spec["storageClassName"] = settings.storage_class;
  return spec;
}

json ServerContainer(const InstanceObjectsSpec& spec, int port) {
  json restricted = {{"allowPrivilegeEscalation", false},
                     {"readOnlyRootFilesystem", true},
                     {"capabilities", {{"drop", {"ALL"}}}}};
  // The server listens on the pod's address (the agent's --address, from $POD_IP).
  json pod_ip = {{"name", "POD_IP"},
                 {"valueFrom", {{"fieldRef", {{"fieldPath", "status.podIP"}}}}}};
  json args = {"--engine",   spec.engine,
               "--name",     spec.name,
               "--data",     fmt::format("{}/data", kDataDir),
               "--settings", "/etc/dbaas/config/settings.json",
               "--secrets",  "/etc/dbaas/secrets",
               "--listen",   fmt::format(":{}", kAgentPort)};
  if (!spec.restore_from.empty()) {
    args.push_back("--restore-from");
    args.push_back(spec.restore_from);
  }
  return {
      {"name", "server"},
      {"command", {"/usr/local/bin/dbaas", "agent"}},
      {"args", std::move(args)},
      {"env", json::array({pod_ip})},
      {"ports",
       {{{"name", "database"}, {"containerPort", port}, {"protocol", "TCP"}},
        {{"name", "agent"}, {"containerPort", kAgentPort}, {"protocol", "TCP"}}}},
      {"resources", ResourceRequirementsJson(spec.resources)},
      {"securityContext", restricted},
      // Ready: the server takes connections. Alive: the agent answers (it restarts a
      // server that stopped; a dead agent is the container's death).
      {"readinessProbe",
       {{"tcpSocket", {{"port", "database"}}}, {"periodSeconds", 5}, {"failureThreshold", 3}}},
      {"livenessProbe",
       {{"httpGet", {{"path", "/healthz"}, {"port", "agent"}, {"scheme", "HTTPS"}}},
        {"periodSeconds", 10},
        {"failureThreshold", 6}}},
      {"volumeMounts",
       {{{"name", "data"}, {"mountPath", kDataDir}},
        {{"name", "config"}, {"mountPath", "/etc/dbaas/config"}, {"readOnly", true}},
        {{"name", "secrets"}, {"mountPath", "/etc/dbaas/secrets"}, {"readOnly", true}},
        {{"name", "run"}, {"mountPath", "/run/dbaas"}},
        {{"name", "tmp"}, {"mountPath", "/tmp"}}}},
  };
}

}  // namespace

Status CheckKubernetesInstanceName(const std::string& name) {
  if (!IsDns1123Label(name) || name.empty() ||
      std::isalpha(static_cast<unsigned char>(name[0])) == 0) {
    return Status::InvalidArgument(
        fmt::format("instance name '{}' cannot be used on the Kubernetes runtime", name),
        "use lowercase letters, digits and '-', starting with a letter (its client Service is "
        "named after it, and a Service name is a DNS-1035 label)");
  }
  if (name.size() > kMaxKubernetesInstanceName) {
    return Status::InvalidArgument(
        fmt::format("instance name '{}' has {} characters; the Kubernetes runtime takes at most {}",
                    name, name.size(), kMaxKubernetesInstanceName),
        "its StatefulSet '<name>-<engine>-local' must stay under 52 characters (the pod's "
        "controller-revision-hash label is at most 63); choose a shorter name");
  }
  return Status::Ok();
}

bool IsKubernetesQuantity(const std::string& text) {
  // The API server's grammar: a signed decimal, then a binary or decimal SI suffix or a
  // decimal exponent.
  static const std::regex kQuantity(
      R"(^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$)");
  return text.size() <= 64 && std::regex_match(text, kQuantity);
}

std::string BytesQuantity(uint64_t bytes) {
  constexpr std::pair<uint64_t, const char*> kUnits[] = {
      {1ull << 40, "Ti"}, {1ull << 30, "Gi"}, {1ull << 20, "Mi"}, {1ull << 10, "Ki"}};
  for (const auto& [unit, suffix] : kUnits) {
    if (bytes >= unit && bytes % unit == 0) return fmt::format("{}{}", bytes / unit, suffix);
  }
  return std::to_string(bytes);
}

std::string InstanceNamespace(const KubernetesSettings& settings, const std::string& name) {
  return settings.namespace_prefix + name;
}

std::string StatefulSetName(const std::string& name, const std::string& engine) {
  return fmt::format("{}-{}-local", name, engine);
}

std::string DataClaimName(const std::string& name, const std::string& engine) {
  return fmt::format("data-{}-0", StatefulSetName(name, engine));
}

int DatabasePort(const std::string& engine) { return engine == "postgresql" ? 5432 : 3306; }

Result<std::vector<json>> InstanceObjects(const InstanceObjectsSpec& spec,
                                          const KubernetesSettings& settings) {
  RETURN_IF_ERROR(CheckKubernetesInstanceName(spec.name));
  if (!spec.restore_from.empty()) RETURN_IF_ERROR(ValidateName("instance name", spec.restore_from));
  if (spec.engine != "postgresql" && spec.engine != "mariadb" && spec.engine != "mysql") {
    return Status::InvalidArgument(fmt::format("unknown engine '{}'", spec.engine),
                                   "use postgresql, mariadb or mysql");
  }
  if (spec.size_bytes == 0) {
    return Status::InvalidArgument(
        fmt::format("instance '{}' has no size: a volume claim needs one", spec.name),
        "give a size, as \"10Gi\"");
  }
  if (settings.image.empty()) {
    return Status::InvalidArgument("kubernetes.image is not set",
                                   "build the instance image (deploy/Containerfile), push it, "
                                   "and set kubernetes.image to its reference");
  }
  RETURN_IF_ERROR(CheckQuantity("cpu request", spec.resources.cpu_request));
  RETURN_IF_ERROR(CheckQuantity("memory request", spec.resources.memory_request));
  RETURN_IF_ERROR(CheckQuantity("cpu limit", spec.resources.cpu_limit));
  RETURN_IF_ERROR(CheckQuantity("memory limit", spec.resources.memory_limit));

  const std::string& name = spec.name;
  const std::string& engine = spec.engine;
  const std::string ns = InstanceNamespace(settings, name);
  const int port = DatabasePort(engine);
  std::vector<json> objects;

  json namespace_object = {
      {"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", Metadata(ns, "", name, engine)}};
  namespace_object["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "restricted";
  objects.push_back(std::move(namespace_object));

  json secret_data = json::object();
  for (const auto& [file, content] : spec.secrets) secret_data[file] = Base64Encode(content);
  objects.push_back({{"apiVersion", "v1"},
                     {"kind", "Secret"},
                     {"metadata", Metadata(name + "-credentials", ns, name, engine)},
                     {"type", "Opaque"},
                     {"data", secret_data}});

  const std::string settings_json = json(spec.settings).dump();
  objects.push_back({{"apiVersion", "v1"},
                     {"kind", "ConfigMap"},
                     {"metadata", Metadata(name + "-config", ns, name, engine)},
                     {"data", {{"settings.json", settings_json}}}});

  json database_port = {{"name", "database"}, {"port", port}, {"targetPort", "database"}};
  objects.push_back(
      {{"apiVersion", "v1"},
       {"kind", "Service"},
       {"metadata", Metadata(name + "-hl", ns, name, engine)},
       {"spec",
        {{"clusterIP", "None"},
         {"publishNotReadyAddresses", true},
         {"selector", Selector(name, engine)},
         {"ports",
          {database_port, {{"name", "agent"}, {"port", kAgentPort}, {"targetPort", "agent"}}}}}}});
  objects.push_back({{"apiVersion", "v1"},
                     {"kind", "Service"},
                     {"metadata", Metadata(name, ns, name, engine)},
                     {"spec",
                      {{"type", "ClusterIP"},
                       {"selector", Selector(name, engine)},
                       {"ports", {database_port}}}}});

  objects.push_back(
      {{"apiVersion", "networking.k8s.io/v1"},
       {"kind", "NetworkPolicy"},
       {"metadata", Metadata(name + "-isolation", ns, name, engine)},
       {"spec",
        {{"podSelector", {{"matchLabels", Selector(name, engine)}}},
         {"policyTypes", {"Ingress"}},
         {"ingress",
          {{{"ports", {{{"protocol", "TCP"}, {"port", port}}}}},
           {{"from",
             {{{"namespaceSelector",
                {{"matchLabels", {{"kubernetes.io/metadata.name", settings.daemon_namespace}}}}}}}},
            {"ports", {{{"protocol", "TCP"}, {"port", kAgentPort}}}}}}}}}});

  // A settings change changes the template, so the StatefulSet rolls the pod.
  json template_annotations = {{"dbaas.io/settings-sha256", Sha256(settings_json).Hex()}};
  json pod_spec = {
      {"automountServiceAccountToken", false},
      {"enableServiceLinks", false},
      {"terminationGracePeriodSeconds", 60},
      {"securityContext",
       {{"runAsNonRoot", true},
        {"runAsUser", kServerUid},
        {"runAsGroup", kServerUid},
        {"fsGroup", kServerUid},
        {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
      {"containers", {ServerContainer(spec, port)}},
      {"volumes",
       {{{"name", "config"}, {"configMap", {{"name", name + "-config"}}}},
        {{"name", "secrets"},
         {"secret", {{"secretName", name + "-credentials"}, {"defaultMode", 0400}}}},
        {{"name", "run"}, {"emptyDir", {{"medium", "Memory"}}}},
        {{"name", "tmp"}, {"emptyDir", json::object()}}}},
  };
  pod_spec["containers"][0]["image"] = settings.image;
  objects.push_back(
      {{"apiVersion", "apps/v1"},
       {"kind", "StatefulSet"},
       {"metadata", Metadata(StatefulSetName(name, engine), ns, name, engine)},
       {"spec",
        {{"replicas", 1},
         {"serviceName", name + "-hl"},
         {"podManagementPolicy", "OrderedReady"},
         {"selector", {{"matchLabels", Selector(name, engine)}}},
         {"template",
          {{"metadata", {{"labels", Labels(name, engine)}, {"annotations", template_annotations}}},
           {"spec", pod_spec}}},
         {"volumeClaimTemplates",
          {{{"metadata", {{"name", "data"}, {"labels", Labels(name, engine)}}},
            {"spec", ClaimSpec(settings, spec.size_bytes)}}}}}}});
  return objects;
}

json VolumeSnapshotObject(const KubernetesSettings& settings, const std::string& name,
                          const std::string& engine, const std::string& snapshot) {
  json object = {
      {"apiVersion", "snapshot.storage.k8s.io/v1"},
      {"kind", "VolumeSnapshot"},
      {"metadata", Metadata(snapshot, InstanceNamespace(settings, name), name, engine)},
      {"spec", {{"source", {{"persistentVolumeClaimName", DataClaimName(name, engine)}}}}}};
  object["metadata"]["labels"][kBackupSourceLabel] = name;
  if (!settings.volume_snapshot_class.empty()) {
    object["spec"]["volumeSnapshotClassName"] = settings.volume_snapshot_class;
  }
  return object;
}

std::string ImportedContentName(const KubernetesSettings& settings, const std::string& name,
                                const std::string& snapshot) {
  return fmt::format("{}-{}", InstanceNamespace(settings, name), snapshot);
}

std::vector<json> ImportedSnapshotObjects(const KubernetesSettings& settings,
                                          const std::string& name, const std::string& engine,
                                          const std::string& snapshot, const std::string& handle,
                                          const std::string& driver) {
  const std::string ns = InstanceNamespace(settings, name);
  const std::string content = ImportedContentName(settings, name, snapshot);
  json content_object = {{"apiVersion", "snapshot.storage.k8s.io/v1"},
                         {"kind", "VolumeSnapshotContent"},
                         {"metadata", Metadata(content, "", name, engine)},
                         {"spec",
                          {{"deletionPolicy", "Retain"},
                           {"driver", driver},
                           {"source", {{"snapshotHandle", handle}}},
                           {"volumeSnapshotRef",
                            {{"kind", "VolumeSnapshot"}, {"namespace", ns}, {"name", snapshot}}}}}};
  json snapshot_object = {{"apiVersion", "snapshot.storage.k8s.io/v1"},
                          {"kind", "VolumeSnapshot"},
                          {"metadata", Metadata(snapshot, ns, name, engine)},
                          {"spec", {{"source", {{"volumeSnapshotContentName", content}}}}}};
  return {content_object, snapshot_object};
}

json RestoredClaimObject(const KubernetesSettings& settings, const std::string& name,
                         const std::string& engine, uint64_t size_bytes,
                         const std::string& snapshot, const std::string& source) {
  json object = {{"apiVersion", "v1"},
                 {"kind", "PersistentVolumeClaim"},
                 {"metadata", Metadata(DataClaimName(name, engine),
                                       InstanceNamespace(settings, name), name, engine)},
                 {"spec", ClaimSpec(settings, size_bytes)}};
  object["metadata"]["labels"][kRestoredFromLabel] = source;
  object["spec"]["dataSource"] = {
      {"apiGroup", "snapshot.storage.k8s.io"}, {"kind", "VolumeSnapshot"}, {"name", snapshot}};
  return object;
}

}  // namespace dbaas::kube
