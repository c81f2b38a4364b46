// What dbaasd needs of a cluster, checked before it relies on it (`dbaas kube preflight`,
// and the Kubernetes runtime at start): the API server answers, the account may do every
// verb dbaasd uses (asked with SelfSubjectAccessReviews, so nothing is changed), the
// VolumeSnapshot API is installed, and the StorageClass and VolumeSnapshotClass it is told
// to use exist (or the cluster has defaults).
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "kube/api_client.h"
#include "kube/instance_objects.h"

namespace dbaas::kube {

// One RBAC rule dbaasd needs: deploy/rbac.yaml grants exactly these (a test holds them
// equal).
struct Permission {
  std::string group;     // "" for the core API group
  std::string resource;  // plural
  std::vector<std::string> verbs;
};
const std::vector<Permission>& DaemonPermissions();

struct PreflightCheck {
  std::string name;  // "rbac: create statefulsets.apps"
  bool ok = false;
  bool warning = false;  // not ok, but dbaasd can run (a default the cluster lacks, say)
  std::string detail;    // what was found
  std::string hint;      // what to do when not ok
};

// Every check, in order; an error only when the API server cannot be asked at all.
Result<std::vector<PreflightCheck>> Preflight(ApiClient& client,
                                              const KubernetesSettings& settings);

}  // namespace dbaas::kube
