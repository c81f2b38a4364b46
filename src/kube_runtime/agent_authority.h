// The certificate authority the daemon makes for its in-pod agents (docs/KUBERNETES.md):
// each agent serves HTTPS with a certificate this CA issued for its pod's DNS name, and
// the daemon trusts only this CA when it calls an agent. The CA's key never leaves the
// daemon's data root (0600); an agent's key lives in its instance's Secret.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace dbaas::kube_runtime {

struct IssuedCertificate {
  std::string cert_pem;
  std::string key_pem;
};

class AgentAuthority {
 public:
  // dir/agent-ca.crt and dir/agent-ca.key, made (EC P-256, 10 years) when neither exists;
  // a key without its certificate (a daemon killed between the two writes) gets it again.
  // A certificate without its key, or a key that is not the certificate's, is refused with
  // the reason.
  static Result<AgentAuthority> LoadOrCreate(const std::string& dir);

  const std::string& ca_pem() const { return ca_pem_; }
  // A server certificate for `dns_names` (its subjectAltName), valid for 10 years from an
  // hour ago (clocks of nodes differ), signed by the CA; a new key.
  Result<IssuedCertificate> Issue(const std::vector<std::string>& dns_names) const;

 private:
  std::string ca_pem_;
  std::string ca_key_pem_;
};

}  // namespace dbaas::kube_runtime
