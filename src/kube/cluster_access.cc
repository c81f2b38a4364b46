#include "kube/cluster_access.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cstdlib>

#include <fmt/format.h>

#include "base/base64.h"
#include "base/files.h"

namespace dbaas::kube {
namespace {

// A named entry of a kubeconfig list (clusters, users, contexts): its inner map.
Result<YAML::Node> FindNamed(const YAML::Node& root, const char* list, const char* inner,
                             const std::string& name, const std::string& path) {
  const YAML::Node entries = root[list];
  if (entries && entries.IsSequence()) {
    for (const auto& entry : entries) {
      if (entry["name"] && entry["name"].as<std::string>() == name && entry[inner]) {
        return entry[inner];
      }
    }
  }
  return Status::InvalidArgument(
      fmt::format("kubeconfig '{}' has no {} named '{}'", path, inner, name),
      fmt::format("list the {} with: kubectl config view --kubeconfig {}", list, path));
}

std::string Scalar(const YAML::Node& node, const char* key) {
  const YAML::Node value = node[key];
  return value && value.IsScalar() ? value.as<std::string>() : std::string();
}

std::string ResolveBeside(const std::string& kubeconfig, const std::string& file) {
  if (file.empty() || file[0] == '/') return file;
  return JoinPath(DirName(kubeconfig), file);
}

// Inline base64 data (`<key>-data`) or a file (`<key>`), as PEM text.
Result<std::string> PemField(const YAML::Node& node, const std::string& key,
                             const std::string& kubeconfig) {
  std::string data = Scalar(node, (key + "-data").c_str());
  if (!data.empty()) {
    auto decoded = Base64Decode(data);
    if (!decoded) {
      return Status::InvalidArgument(
          fmt::format("kubeconfig '{}': {}-data is not base64", kubeconfig, key));
    }
    return *decoded;
  }
  std::string file = Scalar(node, key.c_str());
  if (file.empty()) return std::string();
  return ReadFileFollowingLinks(ResolveBeside(kubeconfig, file), 1 << 20);
}

Result<ClusterAccess> ParseKubeconfig(const YAML::Node& root, const std::string& path,
                                      const std::string& wanted_context) {
  std::string context_name =
      wanted_context.empty() ? Scalar(root, "current-context") : wanted_context;
  if (context_name.empty()) {
    return Status::InvalidArgument(
        fmt::format("kubeconfig '{}' names no current-context", path),
        "pass --context NAME, or set one: kubectl config use-context NAME");
  }
  ASSIGN_OR_RETURN(YAML::Node context, FindNamed(root, "contexts", "context", context_name, path));
  ASSIGN_OR_RETURN(YAML::Node cluster,
                   FindNamed(root, "clusters", "cluster", Scalar(context, "cluster"), path));
  ASSIGN_OR_RETURN(YAML::Node user,
                   FindNamed(root, "users", "user", Scalar(context, "user"), path));

  ClusterAccess access;
  access.source = fmt::format("kubeconfig {} (context {})", path, context_name);
  access.server = Scalar(cluster, "server");
  if (access.server.rfind("https://", 0) != 0) {
    return Status::InvalidArgument(
        fmt::format("kubeconfig '{}': cluster server '{}' is not an https:// address", path,
                    access.server),
        "the daemon sends a token to the server: it talks to it over TLS only");
  }
  if (Scalar(cluster, "insecure-skip-tls-verify") == "true") {
    return Status::InvalidArgument(
        fmt::format("kubeconfig '{}': insecure-skip-tls-verify is set for context '{}'", path,
                    context_name),
        "give the cluster's CA (certificate-authority-data) instead: without it anyone on the "
        "path could take the token");
  }
  ASSIGN_OR_RETURN(access.ca_pem, PemField(cluster, "certificate-authority", path));
  if (user["exec"] || user["auth-provider"]) {
    return Status::InvalidArgument(
        fmt::format("kubeconfig '{}': user of context '{}' authenticates with an exec or "
                    "auth-provider plugin",
                    path, context_name),
        "give dbaasd a service-account token (kubectl create token NAME) or a client "
        "certificate");
  }
  access.token = Scalar(user, "token");
  std::string token_file = Scalar(user, "tokenFile");
  if (access.token.empty() && !token_file.empty()) {
    access.token_file = ResolveBeside(path, token_file);
    ASSIGN_OR_RETURN(access.token, ReadTokenFile(access.token_file));
  }
  ASSIGN_OR_RETURN(access.client_cert_pem, PemField(user, "client-certificate", path));
  ASSIGN_OR_RETURN(access.client_key_pem, PemField(user, "client-key", path));
  if (access.token.empty() && (access.client_cert_pem.empty() || access.client_key_pem.empty())) {
    return Status::InvalidArgument(
        fmt::format("kubeconfig '{}': user of context '{}' has neither a token nor a client "
                    "certificate and key",
                    path, context_name));
  }
  access.namespace_name = Scalar(context, "namespace");
  return access;
}

}  // namespace

Result<std::string> ReadTokenFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string token, ReadFileFollowingLinks(path, 1 << 20));
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  return token;
}

Result<ClusterAccess> LoadKubeconfig(const std::string& path, const std::string& context) {
  ASSIGN_OR_RETURN(std::string text, ReadFileFollowingLinks(path, 16 << 20));
  try {
    YAML::Node root = YAML::Load(text);
    if (!root.IsMap()) {
      return Status::InvalidArgument(fmt::format("kubeconfig '{}' is not a YAML map", path));
    }
    return ParseKubeconfig(root, path, context);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(fmt::format("kubeconfig '{}': {}", path, e.what()));
  }
}

Result<ClusterAccess> InClusterAccess(const std::string& secrets_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0') {
    return Status::FailedPrecondition(
        "not running in a Kubernetes pod: KUBERNETES_SERVICE_HOST/PORT are not set",
        "outside a cluster, pass --kubeconfig FILE");
  }
  ClusterAccess access;
  access.source = "in-cluster service account";
  std::string h = host;
  access.server = h.find(':') != std::string::npos ? fmt::format("https://[{}]:{}", h, port)
                                                   : fmt::format("https://{}:{}", h, port);
  access.token_file = JoinPath(secrets_dir, "token");
  ASSIGN_OR_RETURN(access.token, ReadTokenFile(access.token_file));
  ASSIGN_OR_RETURN(access.ca_pem, ReadFileFollowingLinks(JoinPath(secrets_dir, "ca.crt"), 1 << 20));
  auto ns = ReadFileFollowingLinks(JoinPath(secrets_dir, "namespace"), 4096);
  if (ns.ok()) access.namespace_name = *ns;
  return access;
}

}  // namespace dbaas::kube
