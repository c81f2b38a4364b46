// FakeKubeApiServer: a FAKE Kubernetes API server for the tests, as no real one can run in
// CI (a fresh machine, nothing fetched). It serves HTTPS on loopback with a CA of its own
// and keeps the semantics dbaas relies on, each checked against a real kube-apiserver v1.26
// (docs/KUBERNETES.md; tests/kube/data holds the real server's bodies that these match):
//
//  - objects by REST path, resourceVersion per write, uid, generation, creationTimestamp;
//  - create: 409 AlreadyExists; 404 when the namespace does not exist; 422 Invalid for a
//    name the kind does not take; 403 in a namespace being deleted;
//  - update (PUT): 422 without metadata.resourceVersion, 409 Conflict when it is stale;
//    the status subresource: PUT .../status changes the status only, PUT of the object
//    keeps the stored status;
//  - server-side apply (PATCH application/apply-patch+yaml, JSON bodies only): fieldManager
//    required (422); creates, or merges (maps merged, lists and scalars replaced, fields the
//    same manager applied before and left out now removed);
//  - dryRun=All: validated and answered, not stored;
//  - list with equality-based label selectors (k=v, k!=v, k, !k);
//  - delete: 404 when missing; a namespace goes Terminating, its objects are deleted, and
//    it disappears after a delay;
//  - watch (?watch=1): events after a resourceVersion, bookmarks when asked, the server's
//    timeoutSeconds, and for a version older than the compacted one an ERROR event with
//    a 410 Expired Status (as the real server sends it: in a 200 stream);
//  - bearer tokens: kAdminToken may do anything (but what Deny takes away); kLimitedToken
//    (user "limited") nothing, answered 403 with the RBAC message; others 401; any of the
//    first two may ask a SelfSubjectAccessReview what it may do;
//  - /version, and the VolumeSnapshot API's discovery document (404 when its CRDs are
//    "not installed").
//
// Not modelled: admission beyond the above, field validation of specs, finalizers,
// garbage collection by owner references, YAML bodies, list pagination.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "kube/cluster_access.h"

namespace dbaas::testing {

class FakeKubeApiServer {
 public:
  static constexpr char kAdminToken[] = "fake-admin-token";
  static constexpr char kLimitedToken[] = "fake-limited-token";

  // Makes its CA and serving certificate in `dir`, listens on 127.0.0.1:<free port>.
  static Result<std::unique_ptr<FakeKubeApiServer>> Start(const std::string& dir);
  ~FakeKubeApiServer();

  kube::ClusterAccess Access(const std::string& token = kAdminToken) const;
  // A kubeconfig file for `token` (context "fake"), written to `path`.
  Status WriteKubeconfig(const std::string& path, const std::string& token = kAdminToken) const;
  // The admin token may no longer `verb` `resource` of `group` ("" for core): 403, and
  // SelfSubjectAccessReviews say so.
  void Deny(const std::string& group, const std::string& resource, const std::string& verb);
  // Whether snapshot.storage.k8s.io/v1 is served (its CRDs installed); default yes.
  void SetSnapshotApi(bool served);
  // The next `count` requests of `method` are answered `status` (429 and 503 with
  // Retry-After: 1) before anything else is looked at: nothing is done for them.
  void FailNext(const std::string& method, int status, int count);
  // Every version up to now expires: a watch from one gets 410.
  void Compact();
  // How long a deleted namespace stays Terminating (default 300 ms).
  void SetNamespaceTerminationMs(int ms);
  // The stored object at a REST path (null when none): what the tests check.
  nlohmann::json Stored(const std::string& path) const;

  class Impl;

 private:
  explicit FakeKubeApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dbaas::testing
