// How to reach a Kubernetes API server and who to be there: from a kubeconfig file (the
// user's, outside a cluster) or from the pod's service account (inside one).
//
// Only what a daemon can use unattended is taken: a bearer token (inline or a tokenFile),
// or a client certificate and key; the server's CA (inline data or a file). An `exec` or
// `auth-provider` user (a cloud CLI plugin) and `insecure-skip-tls-verify` are refused with
// the reason: the first would run a program named by a file, the second would trust anyone.
#pragma once

#include <string>

#include "base/status.h"

namespace dbaas::kube {

struct ClusterAccess {
  std::string server;      // "https://10.96.0.1:443"
  std::string ca_pem;      // the CA that signed the server's certificate (empty: the system's)
  std::string token;       // bearer token (empty when a client certificate is used)
  std::string token_file;  // where the token came from, re-read before it expires (in-cluster)
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string namespace_name;  // the context's namespace, or the pod's own
  std::string source;          // "kubeconfig /path (context ctx)" or "in-cluster": for errors
};

// `context` empty: the file's current-context. Relative file names in the file resolve
// against the file's directory, as kubectl does.
Result<ClusterAccess> LoadKubeconfig(const std::string& path, const std::string& context = {});

// The pod's service account: `secrets_dir` (normally
// /var/run/secrets/kubernetes.io/serviceaccount) holds token, ca.crt and namespace; the
// server is https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT.
Result<ClusterAccess> InClusterAccess(
    const std::string& secrets_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// A token file's content without its trailing newline.
Result<std::string> ReadTokenFile(const std::string& path);

}  // namespace dbaas::kube
