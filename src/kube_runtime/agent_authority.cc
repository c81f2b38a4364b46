#include "kube_runtime/agent_authority.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include <fmt/format.h>

#include "base/files.h"

namespace dbaas::kube_runtime {
namespace {

constexpr long kValiditySeconds = 10L * 365 * 24 * 3600;
constexpr long kBackdateSeconds = 3600;
constexpr char kCaName[] = "dbaas agents' CA";
constexpr char kAgentName[] = "dbaas agent";

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
template <typename T>
using Owned = std::unique_ptr<T, Free>;

Status OpenSslError(const std::string& what) {
  unsigned long code = ERR_get_error();
  char text[256] = "unknown error";
  if (code != 0) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return Status::Internal(fmt::format("{}: {}", what, text));
}

Result<Owned<EVP_PKEY>> NewKey() {
  Owned<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (!key) return OpenSslError("make an EC P-256 key");
  return key;
}

// What a memory BIO holds, once `write` has written into it.
template <typename Write>
Result<std::string> Pem(const std::string& what, Write write) {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) return OpenSslError("write " + what + " as PEM");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<std::string> KeyPem(EVP_PKEY* key) {
  return Pem("a key", [key](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
}

Result<std::string> CertPem(X509* cert) {
  return Pem("a certificate", [cert](BIO* bio) { return PEM_write_bio_X509(bio, cert); });
}

Result<Owned<X509>> ReadCert(const std::string& pem) {
  Owned<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Owned<X509> cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) return OpenSslError("read the agents' CA certificate");
  return cert;
}

Result<Owned<EVP_PKEY>> ReadKey(const std::string& pem) {
  Owned<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Owned<EVP_PKEY> key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                          : nullptr);
  if (!key) return OpenSslError("read the agents' CA key");
  return key;
}

Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Owned<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpenSslError(fmt::format("add the extension {}", value));
  }
  return Status::Ok();
}

// A certificate for `key` named `common_name`, with a random serial and the validity;
// self-signed when `issuer` is null.
Result<Owned<X509>> NewCertificate(EVP_PKEY* key, const std::string& common_name, X509* issuer) {
  Owned<X509> cert(X509_new());
  Owned<BIGNUM> serial(BN_new());
  if (!cert || !serial || X509_set_version(cert.get(), 2) != 1 ||
      BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValiditySeconds) == nullptr ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return OpenSslError("make a certificate");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name) != 1) {
    return OpenSslError("name a certificate");
  }
  return cert;
}

// The CA's self-signed certificate for `key`. Made again from the same key it has the same
// subject and key identifier: what the CA issued before still verifies under it.
Result<std::string> CaCertificatePem(EVP_PKEY* key) {
  ASSIGN_OR_RETURN(auto cert, NewCertificate(key, kCaName, nullptr));
  RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE"));
  RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign"));
  RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), key, EVP_sha256()) == 0) return OpenSslError("sign the CA");
  return CertPem(cert.get());
}

}  // namespace

Result<AgentAuthority> AgentAuthority::LoadOrCreate(const std::string& dir) {
  const std::string cert_path = JoinPath(dir, "agent-ca.crt");
  const std::string key_path = JoinPath(dir, "agent-ca.key");
  const bool have_cert = PathExists(cert_path);
  const bool have_key = PathExists(key_path);
  AgentAuthority authority;
  if (have_key && !have_cert) {
    // Cut off between writing the key and its certificate: the key is all that matters.
    ASSIGN_OR_RETURN(authority.ca_key_pem_, ReadFileToString(key_path, 1 << 20));
    ASSIGN_OR_RETURN(auto key, ReadKey(authority.ca_key_pem_));
    ASSIGN_OR_RETURN(authority.ca_pem_, CaCertificatePem(key.get()));
    RETURN_IF_ERROR(WriteFileAtomic(cert_path, authority.ca_pem_, 0644));
    return authority;
  }
  if (have_cert) {
    if (!have_key) {
      return Status::FailedPrecondition(
          fmt::format("the agents' CA in '{}' has its certificate but not its key", dir),
          "restore agent-ca.key from a backup of the data root; without it no new instance "
          "can be made and the running agents cannot be trusted anew");
    }
    ASSIGN_OR_RETURN(authority.ca_pem_, ReadFileToString(cert_path, 1 << 20));
    ASSIGN_OR_RETURN(authority.ca_key_pem_, ReadFileToString(key_path, 1 << 20));
    ASSIGN_OR_RETURN(auto cert, ReadCert(authority.ca_pem_));
    ASSIGN_OR_RETURN(auto key, ReadKey(authority.ca_key_pem_));
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
      ERR_clear_error();
      return Status::FailedPrecondition(
          fmt::format("'{}' is not the key of '{}'", key_path, cert_path),
          "restore the pair from a backup of the data root");
    }
    return authority;
  }
  ASSIGN_OR_RETURN(auto key, NewKey());
  ASSIGN_OR_RETURN(authority.ca_pem_, CaCertificatePem(key.get()));
  ASSIGN_OR_RETURN(authority.ca_key_pem_, KeyPem(key.get()));
  // The key first: a key alone is completed at the next start.
  RETURN_IF_ERROR(WriteFileAtomic(key_path, authority.ca_key_pem_, 0600));
  RETURN_IF_ERROR(WriteFileAtomic(cert_path, authority.ca_pem_, 0644));
  return authority;
}

Result<IssuedCertificate> AgentAuthority::Issue(const std::vector<std::string>& dns_names) const {
  if (dns_names.empty()) return Status::InvalidArgument("a certificate needs a name");
  ASSIGN_OR_RETURN(auto ca, ReadCert(ca_pem_));
  ASSIGN_OR_RETURN(auto ca_key, ReadKey(ca_key_pem_));
  ASSIGN_OR_RETURN(auto key, NewKey());
  // The names are in the subjectAltName, which is what clients check; the CN is capped at
  // 64 characters, which a pod's DNS name passes for instance names of 11 and more.
  ASSIGN_OR_RETURN(auto cert, NewCertificate(key.get(), kAgentName, ca.get()));
  std::string names;
  for (const std::string& name : dns_names) {
    names += fmt::format("{}DNS:{}", names.empty() ? "" : ",", name);
  }
  RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_subject_alt_name, names));
  RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE"));
  RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_ext_key_usage, "serverAuth"));
  RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_authority_key_identifier, "keyid"));
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0) {
    return OpenSslError("sign an agent's certificate");
  }
  IssuedCertificate issued;
  ASSIGN_OR_RETURN(issued.cert_pem, CertPem(cert.get()));
  ASSIGN_OR_RETURN(issued.key_pem, KeyPem(key.get()));
  return issued;
}

}  // namespace dbaas::kube_runtime
