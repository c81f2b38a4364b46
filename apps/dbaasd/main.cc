// dbaasd: the Mini DBaaS daemon. One process: the REST API, the job workers, the
// supervised database servers, the catalog and the snapshot repository under one data root.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "api/server.h"
#include "base/files.h"
#include "base/kill_points.h"
#include "base/log.h"
#include "base/process.h"
#include "control/service.h"
#include "http/server.h"
#include "kube/api_client.h"
#include "kube/cluster_access.h"
#include "kube/instance_objects.h"
#include "kube_runtime/kube_engines.h"
#include "runtime/local_runtime.h"
#include "storage/remote_spec.h"

namespace {

struct DaemonOptions {
  std::string data_root;
  std::string listen = "127.0.0.1:3000";
  std::string config_file;
  std::string log_level = "info";
  bool insecure_no_auth = false;
  unsigned job_workers = 4;
  int http_threads = 128;
  size_t http_max_connections = 4096;
  size_t http_max_connections_per_peer = 256;
  double http_request_timeout_s = 10;
  double http_idle_timeout_s = 5;
  size_t max_body = 1 << 20;
  std::string pg_bin_dir;
  std::string mysql_bin_dir;
  std::string dbaas_binary;
  std::vector<std::string> alert_webhooks;
  std::vector<std::string> test_holds;
  int disk_alert_percent = 85;
  std::string default_instance_size = "10Gi";
  int volume_alert_percent = 90;
  double volume_check_seconds = 30;
  double failover_delay_seconds = 30;
  bool test_unfenced_failover = false;
  std::string test_hosts;
  std::string ui_dir = DBAAS_UI_DIR;
  std::string tls_cert;
  std::string tls_key;
  // Remote repositories (config file only): where backups are copied and the WAL shipped.
  std::vector<dbaas::storage::RemoteSpec> remotes;
  double copy_interval_seconds = 10;
  double copy_behind_seconds = 3600;
  double remote_gc_grace_seconds = 3600;
  double binlog_archive_seconds = 60;
  // Where instances run: "local" (this machine) or "kubernetes" (docs/KUBERNETES.md).
  std::string runtime = "local";
  std::string kubeconfig;  // empty: the pod's service account
  std::string kube_context;
  dbaas::kube::KubernetesSettings kubernetes;
  // How long a new pod may take to run and answer (scheduling, the image's pull, the
  // volume's provisioning) before its create fails with the pod's state and reason.
  int kube_pod_start_seconds = 300;
};

// The config file's `kubernetes` object: image, storageClass, volumeSnapshotClass,
// namespacePrefix, daemonNamespace, podStartTimeoutSeconds.
dbaas::Status ApplyKubernetesSettings(dbaas::kube::KubernetesSettings& k, int& pod_start_seconds,
                                      const nlohmann::json& j, const std::string& file) {
  if (!j.is_object()) {
    return dbaas::Status::InvalidArgument(
        fmt::format("config file '{}': kubernetes must be an object", file));
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    if (key == "podStartTimeoutSeconds") {
      if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 86400) {
        return dbaas::Status::InvalidArgument(fmt::format(
            "config file '{}': kubernetes.podStartTimeoutSeconds must be 1 to 86400", file));
      }
      pod_start_seconds = it->get<int>();
      continue;
    }
    std::string* field = key == "image"                 ? &k.image
                         : key == "storageClass"        ? &k.storage_class
                         : key == "volumeSnapshotClass" ? &k.volume_snapshot_class
                         : key == "namespacePrefix"     ? &k.namespace_prefix
                         : key == "daemonNamespace"     ? &k.daemon_namespace
                                                        : nullptr;
    if (field == nullptr || !it->is_string()) {
      return dbaas::Status::InvalidArgument(
          fmt::format("config file '{}': kubernetes.{} is not a known text setting", file, key),
          "kubernetes settings: image, storageClass, volumeSnapshotClass, namespacePrefix, "
          "daemonNamespace (text), podStartTimeoutSeconds (a number)");
    }
    *field = it->get<std::string>();
  }
  return dbaas::Status::Ok();
}

// The dbaas CLI that PostgreSQL's archive_command runs: beside this daemon when installed
// (/usr/bin), or in the build tree (apps/dbaasd/dbaasd and apps/dbaas/dbaas).
std::string FindDbaasBinary() {
  const std::string self = dbaas::SelfExecutable();
  if (self.empty()) return "";
  std::string dir = dbaas::DirName(self);
  for (const std::string& candidate :
       {dbaas::JoinPath(dir, "dbaas"), dbaas::JoinPath(dbaas::DirName(dir), "dbaas/dbaas")}) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// --config FILE: a JSON object with the same settings; flags given on the command line win.
dbaas::Status ApplyConfigFile(DaemonOptions& o, const CLI::App& app) {
  auto text = dbaas::ReadFileFollowingLinks(o.config_file);
  if (!text.ok()) return text.status();
  auto j = nlohmann::json::parse(text.value(), nullptr, false);
  if (!j.is_object()) {
    return dbaas::Status::InvalidArgument(
        fmt::format("config file '{}' is not a JSON object", o.config_file));
  }
  try {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& k = it.key();
      auto given = [&](const char* flag) { return app.count(flag) > 0; };
      if (k == "dataRoot") {
        if (!given("--data-root")) o.data_root = it->get<std::string>();
      } else if (k == "listen") {
        if (!given("--listen")) o.listen = it->get<std::string>();
      } else if (k == "logLevel") {
        if (!given("--log-level")) o.log_level = it->get<std::string>();
      } else if (k == "jobWorkers") {
        if (!given("--job-workers")) o.job_workers = it->get<unsigned>();
      } else if (k == "maxBodyBytes") {
        o.max_body = it->get<size_t>();
      } else if (k == "pgBinDir") {
        o.pg_bin_dir = it->get<std::string>();
      } else if (k == "mysqlBinDir") {
        o.mysql_bin_dir = it->get<std::string>();
      } else if (k == "dbaasBinary") {
        o.dbaas_binary = it->get<std::string>();
      } else if (k == "alertWebhooks") {
        if (!given("--alert-webhook")) o.alert_webhooks = it->get<std::vector<std::string>>();
      } else if (k == "diskAlertPercent") {
        if (!given("--disk-alert-percent")) o.disk_alert_percent = it->get<int>();
      } else if (k == "volumeAlertPercent") {
        if (!given("--volume-alert-percent")) o.volume_alert_percent = it->get<int>();
      } else if (k == "volumeCheckSeconds") {
        if (!given("--volume-check-interval")) o.volume_check_seconds = it->get<double>();
      } else if (k == "failoverDelaySeconds") {
        if (!given("--failover-delay")) o.failover_delay_seconds = it->get<double>();
      } else if (k == "defaultInstanceSize") {
        if (!given("--default-instance-size")) {
          o.default_instance_size = it->get<std::string>();
        }
      } else if (k == "tlsCert") {
        if (!given("--tls-cert")) o.tls_cert = it->get<std::string>();
      } else if (k == "tlsKey") {
        if (!given("--tls-key")) o.tls_key = it->get<std::string>();
      } else if (k == "repositories") {
        if (!it->is_array()) {
          return dbaas::Status::InvalidArgument(
              fmt::format("config file '{}': repositories must be an array", o.config_file));
        }
        for (const auto& entry : *it) {
          auto spec = dbaas::storage::ParseRemoteSpec(entry);
          if (!spec.ok())
            return spec.status().WithContext(fmt::format("config file '{}'", o.config_file));
          o.remotes.push_back(std::move(spec).value());
        }
      } else if (k == "copyIntervalSeconds") {
        o.copy_interval_seconds = it->get<double>();
      } else if (k == "copyBehindSeconds") {
        o.copy_behind_seconds = it->get<double>();
      } else if (k == "remoteGcGraceSeconds") {
        o.remote_gc_grace_seconds = it->get<double>();
      } else if (k == "runtime") {
        if (!given("--runtime")) o.runtime = it->get<std::string>();
        if (o.runtime != "local" && o.runtime != "kubernetes") {
          return dbaas::Status::InvalidArgument(
              fmt::format("config file '{}': runtime '{}' is neither local nor kubernetes",
                          o.config_file, o.runtime));
        }
      } else if (k == "kubeconfig") {
        if (!given("--kubeconfig")) o.kubeconfig = it->get<std::string>();
      } else if (k == "kubernetes") {
        // A flag given wins over the file, as for every other setting.
        const dbaas::kube::KubernetesSettings flags = o.kubernetes;
        const int flag_start_seconds = o.kube_pod_start_seconds;
        if (auto st =
                ApplyKubernetesSettings(o.kubernetes, o.kube_pod_start_seconds, *it, o.config_file);
            !st.ok()) {
          return st;
        }
        if (given("--kube-image")) o.kubernetes.image = flags.image;
        if (given("--kube-storage-class")) o.kubernetes.storage_class = flags.storage_class;
        if (given("--kube-pod-start-timeout")) o.kube_pod_start_seconds = flag_start_seconds;
      } else if (k == "binlogArchiveSeconds") {
        o.binlog_archive_seconds = it->get<double>();
        if (o.binlog_archive_seconds < 1) {
          return dbaas::Status::InvalidArgument(fmt::format(
              "config file '{}': binlogArchiveSeconds must be 1 or more", o.config_file));
        }
      } else {
        return dbaas::Status::InvalidArgument(
            fmt::format("config file '{}': unknown setting '{}'", o.config_file, k),
            "settings: dataRoot, listen, logLevel, jobWorkers, maxBodyBytes, pgBinDir, "
            "mysqlBinDir, dbaasBinary, alertWebhooks, diskAlertPercent, tlsCert, tlsKey, "
            "repositories, copyIntervalSeconds, copyBehindSeconds, remoteGcGraceSeconds, "
            "binlogArchiveSeconds, runtime, kubeconfig, kubernetes");
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return dbaas::Status::InvalidArgument(
        fmt::format("config file '{}': {}", o.config_file, e.what()));
  }
  return dbaas::Status::Ok();
}

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.starts_with("127.");
}

int Fail(const dbaas::Status& st) {
  std::cerr << "dbaasd: " << st.message() << "\n";
  if (!st.hint().empty()) std::cerr << "hint: " << st.hint() << "\n";
  return st.code() == dbaas::StatusCode::kInvalidArgument ? 2 : 1;
}

// dbaasd's flags (and --help), into `o`.
void AddOptions(CLI::App& app, DaemonOptions& o) {
  app.add_option("--data-root", o.data_root,
                 "Directory holding the catalog, the repository and the instances");
  app.add_option("--listen", o.listen, "HOST:PORT of the REST API (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--config", o.config_file, "JSON file with the same settings");
  app.add_option("--log-level", o.log_level, "debug, info, warn, error or off")
      ->capture_default_str();
  app.add_option("--job-workers", o.job_workers, "Jobs run at once")->capture_default_str();
  app.add_option("--http-threads", o.http_threads,
                 "API requests handled at once (a request waiting for its job holds one; an "
                 "idle connection or one still sending its request holds none)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--http-max-connections", o.http_max_connections,
                 "HTTP connections open at once; past it, the one waiting longest for its "
                 "request is closed")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--http-max-connections-per-peer", o.http_max_connections_per_peer,
                 "HTTP connections open at once from one client address; past it, that "
                 "client's connection waiting longest for its request is closed")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--http-request-timeout", o.http_request_timeout_s,
                 "Seconds a client has to send a whole request (headers and body); a slower "
                 "one is cut off")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--http-idle-timeout", o.http_idle_timeout_s,
                 "Seconds a kept-alive connection may wait for its next request")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--alert-webhook", o.alert_webhooks,
                 "URL that alerts are POSTed to as JSON (backup or drill failed, no recent "
                 "backup, disk filling up); repeatable");
  app.add_option("--disk-alert-percent", o.disk_alert_percent,
                 "Alert when the data root's filesystem is this full")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--default-instance-size", o.default_instance_size,
                 "Volume size of an instance created without one (a Kubernetes quantity)")
      ->capture_default_str();
  app.add_option("--volume-alert-percent", o.volume_alert_percent,
                 "Alert when an instance's files use this much of its size")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--volume-check-interval", o.volume_check_seconds,
                 "Seconds between measurements of each instance's volume usage")
      ->check(CLI::Range(0.05, 86400.0))
      ->capture_default_str();
  app.add_option("--failover-delay", o.failover_delay_seconds,
                 "Seconds a primary with standbys may not answer before its most advanced "
                 "standby takes over (the supervisor may restart it in place within them)")
      ->check(CLI::Range(0.5, 86400.0))
      ->capture_default_str();
  app.add_option("--ui-dir", o.ui_dir,
                 "The dashboard's built files (ui/dist), served at /ui/; empty: no dashboard")
      ->capture_default_str();
  app.add_option("--tls-cert", o.tls_cert,
                 "PEM certificate (chain) to serve the API over HTTPS, with --tls-key");
  app.add_option("--tls-key", o.tls_key, "PEM private key of --tls-cert (keep it 0600)");
  app.add_option("--runtime", o.runtime,
                 "Where instances run: local (this machine) or kubernetes (a namespace and a "
                 "StatefulSet each; docs/KUBERNETES.md)")
      ->check(CLI::IsMember({"local", "kubernetes"}))
      ->capture_default_str();
  app.add_option("--kubeconfig", o.kubeconfig,
                 "With --runtime kubernetes: the kubeconfig (default: the pod's service "
                 "account, inside a cluster)");
  app.add_option("--kube-context", o.kube_context,
                 "With --kubeconfig: its context (default: its current one)");
  app.add_option("--kube-image", o.kubernetes.image,
                 "With --runtime kubernetes: the instance image (deploy/Containerfile); "
                 "config kubernetes.image");
  app.add_option("--kube-storage-class", o.kubernetes.storage_class,
                 "With --runtime kubernetes: the data claims' StorageClass (default: the "
                 "cluster's); config kubernetes.storageClass");
  app.add_option("--kube-pod-start-timeout", o.kube_pod_start_seconds,
                 "With --runtime kubernetes: seconds a new pod may take to run and answer "
                 "(scheduling, the image's pull) before its create fails with the pod's reason "
                 "(default 300); config kubernetes.podStartTimeoutSeconds")
      ->check(CLI::Range(1, 86400));
  // For the kill tests only: not in --help.
  app.add_option("--test-hold", o.test_holds,
                 "NAME=MS: hold for MS milliseconds at kill point NAME (base/kill_points.h)")
      ->group("");
  app.add_option("--test-hosts", o.test_hosts,
                 "NAME=ADDRESS,...: PostgreSQL servers run in these network namespaces "
                 "(runtime/local_runtime.h)")
      ->group("");
  app.add_flag("--test-unfenced-failover", o.test_unfenced_failover,
               "A failover does not fence the old primary (the tests' negative control)")
      ->group("");
  app.add_flag("--insecure-no-auth", o.insecure_no_auth,
               "Serve without the bearer token (local development only; loopback only)");
}

// --runtime kubernetes: the cluster's API (its kubeconfig or the pod's service account)
// and the agents' CA in the data root.
dbaas::Result<std::unique_ptr<dbaas::engines::EngineSet>> KubernetesEngines(
    const DaemonOptions& o) {
  if (o.kubernetes.image.empty()) {
    return dbaas::Status::InvalidArgument(
        "--runtime kubernetes needs the instance image",
        "give --kube-image (or kubernetes.image in the config file): the image "
        "deploy/Containerfile builds, as your cluster pulls it");
  }
  auto access = o.kubeconfig.empty() ? dbaas::kube::InClusterAccess()
                                     : dbaas::kube::LoadKubeconfig(o.kubeconfig, o.kube_context);
  if (!access.ok()) return access.status();
  auto api = dbaas::kube::ApiClient::Create(std::move(access).value());
  if (!api.ok()) return api.status();
  RETURN_IF_ERROR(dbaas::MakeDirs(o.data_root, 0700));
  auto authority = dbaas::kube_runtime::AgentAuthority::LoadOrCreate(o.data_root);
  if (!authority.ok()) return authority.status();
  dbaas::kube_runtime::KubeRuntimeOptions options;
  options.settings = o.kubernetes;
  options.repository_path = dbaas::JoinPath(o.data_root, "repository");
  options.start_timeout = std::chrono::seconds(o.kube_pod_start_seconds);
  spdlog::info("event=runtime kind=kubernetes server={} namespace_prefix={}",
               (*api)->access().server, o.kubernetes.namespace_prefix);
  return dbaas::kube_runtime::KubernetesEngines(std::move(api).value(),
                                                std::move(authority).value(), options);
}

// SIGTERM and SIGINT are waited for by one thread (every thread made later inherits the
// mask); SIGPIPE is ignored; the open-files limit is raised to its maximum.
sigset_t SetUpProcess() {
  dbaas::RaiseOpenFileLimit();
  return dbaas::BlockStopSignals();
}

dbaas::api::ApiOptions ApiOptionsOf(const DaemonOptions& o,
                                    const std::pair<std::string, int>& listen) {
  dbaas::api::ApiOptions ao;
  ao.http.host = listen.first;
  ao.http.port = listen.second;
  ao.http.max_body = o.max_body;
  ao.http.threads = o.http_threads;
  ao.http.max_connections = o.http_max_connections;
  ao.http.max_connections_per_peer = o.http_max_connections_per_peer;
  auto millis = [](double seconds) {
    return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  };
  ao.http.request_timeout = millis(o.http_request_timeout_s);
  ao.http.idle_timeout = millis(o.http_idle_timeout_s);
  ao.http.tls_cert_file = o.tls_cert;
  ao.http.tls_key_file = o.tls_key;
  ao.ui_dir = o.ui_dir;
  return ao;
}

dbaas::control::ServiceOptions ServiceOptionsOf(const DaemonOptions& o) {
  dbaas::control::ServiceOptions so;
  so.data_root = o.data_root;
  so.job_workers = o.job_workers;
  so.pg_bin_dir = o.pg_bin_dir;
  so.mysql_bin_dir = o.mysql_bin_dir;
  so.alert_webhooks = o.alert_webhooks;
  so.disk_alert_percent = o.disk_alert_percent;
  so.default_instance_size = o.default_instance_size;
  so.volume_alert_percent = o.volume_alert_percent;
  so.volume_check_interval =
      std::chrono::milliseconds(static_cast<int64_t>(o.volume_check_seconds * 1000));
  so.failover_delay =
      std::chrono::milliseconds(static_cast<int64_t>(o.failover_delay_seconds * 1000));
  so.remotes = o.remotes;
  so.test_unfenced_failover = o.test_unfenced_failover;
  so.copy_interval =
      std::chrono::milliseconds(static_cast<int64_t>(o.copy_interval_seconds * 1000));
  so.copy_behind_alert = std::chrono::seconds(static_cast<int64_t>(o.copy_behind_seconds));
  so.remote_gc_grace = std::chrono::seconds(static_cast<int64_t>(o.remote_gc_grace_seconds));
  so.binlog_archive_after = std::chrono::seconds(static_cast<int64_t>(o.binlog_archive_seconds));
  so.dbaas_binary = o.dbaas_binary.empty() ? FindDbaasBinary() : o.dbaas_binary;
  if (so.dbaas_binary.empty()) {
    spdlog::warn(
        "event=no_wal_archiving reason=\"the dbaas CLI is not beside dbaasd; set dbaasBinary in "
        "the config file\" effect=\"new PostgreSQL instances do not archive WAL (no "
        "point-in-time recovery)\"");
  }
  return so;
}

}  // namespace

int main(int argc, char** argv) {
  // What the daemon makes is root's alone unless it says otherwise (docs/SECURITY.md).
  ::umask(077);
  CLI::App app{"dbaasd: the Mini DBaaS daemon (REST API, jobs, database servers, backups)"};
  DaemonOptions o;
  AddOptions(app, o);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!o.config_file.empty()) {
    if (auto st = ApplyConfigFile(o, app); !st.ok()) return Fail(st);
  }
  if (o.data_root.empty()) {
    return Fail(dbaas::Status::InvalidArgument("--data-root is required"));
  }
  for (const std::string& hold : o.test_holds) {
    if (auto st = dbaas::ArmKillPointFromSpec(hold); !st.ok()) return Fail(st);
  }
  auto listen = dbaas::http::ParseListen(o.listen, "--listen");
  if (!listen.ok()) return Fail(listen.status());
  if (listen->first.empty()) {
    return Fail(dbaas::Status::InvalidArgument(
        fmt::format("--listen '{}' names no address", o.listen),
        "give one: 127.0.0.1:PORT (this machine only) or 0.0.0.0:PORT (every interface)"));
  }
  if (o.insecure_no_auth && !IsLoopback(listen->first)) {
    return Fail(dbaas::Status::InvalidArgument(
        "--insecure-no-auth is allowed on a loopback address only",
        "drop it, and give clients the token in <data-root>/api-token"));
  }
  dbaas::SetLogLevel(o.log_level);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
  if (o.data_root[0] != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd)) o.data_root = dbaas::JoinPath(cwd, o.data_root);
  }

  sigset_t signals = SetUpProcess();
  dbaas::api::ApiOptions ao = ApiOptionsOf(o, *listen);
  // Before any server starts: a bad certificate changes nothing.
  if (auto st = dbaas::api::CheckTls(ao); !st.ok()) return Fail(st);

  auto started = std::chrono::steady_clock::now();
  dbaas::control::ServiceOptions so = ServiceOptionsOf(o);
  // Test hosts: a runtime of this machine that places servers on them (the failover tests).
  std::unique_ptr<dbaas::runtime::LocalRuntime> on_test_hosts;
  std::unique_ptr<dbaas::engines::EngineSet> test_host_engines;
  if (!o.test_hosts.empty()) {
    auto hosts = dbaas::runtime::ParseTestHosts(o.test_hosts);
    if (!hosts.ok()) return Fail(hosts.status());
    on_test_hosts = std::make_unique<dbaas::runtime::LocalRuntime>(std::move(hosts).value());
    test_host_engines = dbaas::engines::PackagedEngines(*on_test_hosts);
    so.engines = test_host_engines.get();
  }
  std::unique_ptr<dbaas::engines::EngineSet> cluster_engines;
  if (o.runtime == "kubernetes") {
    auto engines = KubernetesEngines(o);
    if (!engines.ok()) return Fail(engines.status());
    cluster_engines = std::move(engines).value();
    so.engines = cluster_engines.get();
  }
  auto service = dbaas::control::Service::Start(so);
  if (!service.ok()) return Fail(service.status());
  if (ao.http.tls_cert_file.empty() && !IsLoopback(ao.http.host)) {
    spdlog::warn(
        "event=plain_http_off_loopback address={} effect=\"the API token and database "
        "passwords cross the network in clear text\" fix=\"give --tls-cert and --tls-key\"",
        ao.http.host);
  }
  if (!o.insecure_no_auth) {
    auto token = dbaas::api::LoadOrCreateToken(o.data_root);
    if (!token.ok()) return Fail(token.status());
    ao.token = token.value();
  } else {
    spdlog::warn("event=auth_disabled: --insecure-no-auth, every client on this machine is admin");
  }
  dbaas::api::ApiServer server(**service, ao);
  if (auto st = server.Bind(); !st.ok()) return Fail(st);
  spdlog::info("event=listening address={}:{} scheme={} data_root={} token_file={} startup_ms={}",
               ao.http.host, server.port(), ao.http.tls_cert_file.empty() ? "http" : "https",
               o.data_root, o.insecure_no_auth ? "none" : dbaas::JoinPath(o.data_root, "api-token"),
               std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count());

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("event=shutdown signal={}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server.Stop();
  });
  server.Run();
  // The listener is closed: no new requests. Jobs end (queued ones are cancelled), then
  // the servers stop.
  (*service)->Shutdown();
  spdlog::info("event=stopped");
  if (waiter.joinable()) {
    pthread_kill(waiter.native_handle(), SIGTERM);  // in case Run() ended by itself
    waiter.join();
  }
  return 0;
}
