// dbaas kube preflight|objects: what a cluster offers dbaasd, and the objects an instance
// would be made of there (docs/KUBERNETES.md).
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/byte_quantity.h"
#include "commands.h"
#include "kube/api_client.h"
#include "kube/cluster_access.h"
#include "kube/instance_objects.h"
#include "kube/preflight.h"

namespace dbaas::cli {
namespace {

using nlohmann::json;

struct ClusterOptions {
  std::string kubeconfig;  // empty: the pod's service account
  std::string context;
  kube::KubernetesSettings settings;
};

void AddClusterOptions(CLI::App* cmd, ClusterOptions& o) {
  cmd->add_option("--kubeconfig", o.kubeconfig,
                  "Kubeconfig file (default: the pod's service account, inside a cluster)");
  cmd->add_option("--context", o.context, "Context of the kubeconfig (default: its current)");
}

void AddSettingsOptions(CLI::App* cmd, ClusterOptions& o) {
  cmd->add_option("--storage-class", o.settings.storage_class,
                  "kubernetes.storageClass (default: the cluster's default)");
  cmd->add_option("--volume-snapshot-class", o.settings.volume_snapshot_class,
                  "kubernetes.volumeSnapshotClass (default: the cluster's default)");
  cmd->add_option("--image", o.settings.image, "kubernetes.image: the instance image");
  cmd->add_option("--namespace-prefix", o.settings.namespace_prefix, "kubernetes.namespacePrefix")
      ->capture_default_str();
}

Result<std::unique_ptr<kube::ApiClient>> Connect(const ClusterOptions& o) {
  auto access = o.kubeconfig.empty() ? kube::InClusterAccess()
                                     : kube::LoadKubeconfig(o.kubeconfig, o.context);
  if (!access.ok()) return access.status();
  return kube::ApiClient::Create(*access);
}

void AddPreflight(CLI::App& kube_cmd, GlobalOptions& g) {
  auto* cmd = kube_cmd.add_subcommand(
      "preflight",
      "Check what dbaasd needs of a cluster: the API server, every RBAC verb it uses (asked, "
      "nothing changed), the VolumeSnapshot API, the storage and snapshot classes, the image. "
      "Exit code 1 when a check fails (warnings do not)");
  auto o = std::make_shared<ClusterOptions>();
  AddClusterOptions(cmd, *o);
  AddSettingsOptions(cmd, *o);
  cmd->callback([&g, o] {
    g.action = [&g, o] {
      auto client = Connect(*o);
      if (!client.ok()) return ReportError(client.status(), g.format);
      auto checks = kube::Preflight(**client, o->settings);
      if (!checks.ok()) return ReportError(checks.status(), g.format);
      bool failed = false;
      json out = json::array();
      std::vector<std::vector<std::string>> rows;
      for (const auto& c : *checks) {
        failed = failed || (!c.ok && !c.warning);
        std::string state = c.ok ? "ok" : c.warning ? "warning" : "FAILED";
        out.push_back(
            {{"check", c.name}, {"state", state}, {"detail", c.detail}, {"hint", c.hint}});
        rows.push_back({c.name, state, c.hint.empty() ? c.detail : c.detail + " — " + c.hint});
      }
      if (g.format == OutputFormat::kJson) {
        PrintJson({{"ok", !failed}, {"checks", out}});
      } else {
        PrintTable({"CHECK", "STATE", "DETAIL"}, rows);
      }
      return failed ? 1 : 0;
    };
  });
}

void AddObjects(CLI::App& kube_cmd, GlobalOptions& g) {
  auto* cmd = kube_cmd.add_subcommand(
      "objects",
      "Print the Kubernetes objects an instance is made of (a List, JSON), to read, or to "
      "apply by hand with kubectl apply --server-side -f - (a dry run of the namespaced "
      "ones needs their namespace, the first item, to exist)");
  auto o = std::make_shared<ClusterOptions>();
  auto spec = std::make_shared<kube::InstanceObjectsSpec>();
  auto size = std::make_shared<std::string>("10Gi");
  spec->engine = "postgresql";
  cmd->add_option("NAME", spec->name, "Instance name")->required();
  cmd->add_option("--type", spec->engine, "postgresql, mariadb or mysql")->capture_default_str();
  cmd->add_option("--size", *size, "Volume size, a quantity of bytes (10Gi, 512Mi, 1G)")
      ->capture_default_str();
  cmd->add_option("--cpu-request", spec->resources.cpu_request, "resources.requests.cpu");
  cmd->add_option("--memory-request", spec->resources.memory_request, "resources.requests.memory");
  cmd->add_option("--cpu-limit", spec->resources.cpu_limit, "resources.limits.cpu");
  cmd->add_option("--memory-limit", spec->resources.memory_limit, "resources.limits.memory");
  AddSettingsOptions(cmd, *o);
  cmd->callback([&g, o, spec, size] {
    g.action = [&g, o, spec, size] {
      auto bytes = ParseByteQuantity(*size);
      if (!bytes) {
        return ReportError(
            Status::InvalidArgument(fmt::format("size '{}' is not a quantity of bytes", *size),
                                    "write it like 10Gi, 512Mi or 1G (at most 1 PiB)"),
            g.format);
      }
      spec->size_bytes = *bytes;
      // The secrets stay out of what is printed: the daemon makes them.
      spec->secrets = {{"superuser-password", "(made by dbaasd)"}};
      auto objects = kube::InstanceObjects(*spec, o->settings);
      if (!objects.ok()) return ReportError(objects.status(), g.format);
      PrintJson({{"apiVersion", "v1"}, {"kind", "List"}, {"items", *objects}});
      return 0;
    };
  });
}

}  // namespace

void AddKubeCommands(CLI::App& app, GlobalOptions& global) {
  auto* kube_cmd =
      app.add_subcommand("kube", "Kubernetes: check a cluster, show an instance's objects");
  kube_cmd->require_subcommand(1);
  AddPreflight(*kube_cmd, global);
  AddObjects(*kube_cmd, global);
}

}  // namespace dbaas::cli
