// AuthorityCa: the tpmesh CA and the certificates it issues.
#include <arpa/inet.h>

#include <openssl/pem.h>

#include <algorithm>
#include <array>

#include "names.h"
#include "ossl.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::pki {
namespace {

using std::chrono::hours;

// What one certificate says; the issuer signs it.
struct CertSpec {
  std::string common_name;
  EVP_PKEY* subject_key = nullptr;
  bool is_ca = false;
  const char* eku = nullptr;     // "clientAuth" / "serverAuth"
  GENERAL_NAMES* san = nullptr;  // not owned; may be null
  TimePoint not_before;
  TimePoint not_after;
};

Status AddExt(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ossl::ExtPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return ossl::CryptoError(std::string("certificate extension ") + OBJ_nid2sn(nid));
  }
  return OkStatus();
}

// 16 random bytes, positive and without a leading zero byte (so the DER
// INTEGER is always 16 bytes).
Status SetRandomSerial(X509* cert) {
  std::array<uint8_t, 16> b{};
  SystemRandom::Instance().Fill(b);
  b[0] = static_cast<uint8_t>((b[0] & 0x7f) | 0x40);
  ossl::Bn bn(BN_bin2bn(b.data(), static_cast<int>(b.size()), nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return ossl::CryptoError("certificate serial");
  }
  return OkStatus();
}

// Builds and signs a v3 certificate. `issuer` null = self-signed with
// `issuer_key` (which must then be the subject key).
Result<ossl::X509Ptr> BuildCert(const CertSpec& s, X509* issuer, EVP_PKEY* issuer_key) {
  ossl::X509Ptr cert(X509_new());
  if (!cert) return ossl::CryptoError("X509_new");
  X509* c = cert.get();
  X509_NAME* subject = X509_get_subject_name(c);
  if (X509_set_version(c, X509_VERSION_3) != 1 ||
      X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(s.common_name.c_str()), -1,
                                 -1, 0) != 1 ||
      X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : subject) != 1 ||
      ASN1_TIME_set(X509_getm_notBefore(c), static_cast<time_t>(ToUnixSeconds(s.not_before))) ==
          nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(c), static_cast<time_t>(ToUnixSeconds(s.not_after))) ==
          nullptr ||
      X509_set_pubkey(c, s.subject_key) != 1) {
    return ossl::CryptoError("building certificate");
  }
  TPMESH_RETURN_IF_ERROR(SetRandomSerial(c));

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : c, c, nullptr, nullptr, 0);
  if (s.is_ca) {
    TPMESH_RETURN_IF_ERROR(AddExt(c, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
    TPMESH_RETURN_IF_ERROR(AddExt(c, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
  } else {
    TPMESH_RETURN_IF_ERROR(AddExt(c, &ctx, NID_basic_constraints, "critical,CA:FALSE"));
    TPMESH_RETURN_IF_ERROR(AddExt(c, &ctx, NID_key_usage, "critical,digitalSignature"));
  }
  if (s.eku != nullptr) TPMESH_RETURN_IF_ERROR(AddExt(c, &ctx, NID_ext_key_usage, s.eku));
  // SKID first: a self-signed certificate's AKID is computed from it.
  TPMESH_RETURN_IF_ERROR(AddExt(c, &ctx, NID_subject_key_identifier, "hash"));
  TPMESH_RETURN_IF_ERROR(AddExt(c, &ctx, NID_authority_key_identifier, "keyid:always"));
  if (s.san != nullptr &&
      X509_add1_ext_i2d(c, NID_subject_alt_name, s.san, 0, X509V3_ADD_DEFAULT) != 1) {
    return ossl::CryptoError("subjectAltName");
  }
  if (X509_sign(c, issuer_key, ossl::SigningMd(issuer_key)) <= 0) {
    return ossl::CryptoError("signing certificate");
  }
  return cert;
}

Status PushName(GENERAL_NAMES* names, int type, ASN1_STRING* value) {
  GENERAL_NAME* gn = GENERAL_NAME_new();
  if (gn == nullptr || value == nullptr) {
    GENERAL_NAME_free(gn);
    ASN1_STRING_free(value);
    return ossl::CryptoError("subjectAltName entry");
  }
  GENERAL_NAME_set0_value(gn, type, value);
  if (sk_GENERAL_NAME_push(names, gn) <= 0) {
    GENERAL_NAME_free(gn);
    return ossl::CryptoError("subjectAltName entry");
  }
  return OkStatus();
}

Status PushIa5(GENERAL_NAMES* names, int type, const std::string& text) {
  ASN1_IA5STRING* s = ASN1_IA5STRING_new();
  if (s != nullptr && ASN1_STRING_set(s, text.data(), static_cast<int>(text.size())) != 1) {
    ASN1_STRING_free(s);
    s = nullptr;
  }
  return PushName(names, type, s);
}

// RFC 1123 host name: dot-separated labels of letters, digits and '-', no
// wildcards.
bool IsDnsName(std::string_view n) {
  if (n.empty() || n.size() > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    if (c == '.') {
      if (label == 0 || n[i - 1] == '-') return false;
      label = 0;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || (c == '-' && label > 0)) {
      if (++label > 63) return false;
    } else {
      return false;
    }
  }
  return label > 0 && n.back() != '-';
}

Status ValidateLifetime(std::chrono::seconds lifetime) {
  if (lifetime.count() > 0) return OkStatus();
  return MakeError(Code::kInvalidArgument, "invalid_lifetime",
                   "certificate lifetime must be positive");
}

}  // namespace

struct AuthorityCa::Impl {
  ossl::X509Ptr cert;
  ossl::Pkey key;
  std::string cert_pem;
  std::string fingerprint;
  TimePoint not_after;

  // Issued certificates never outlive the CA.
  TimePoint ClampedNotAfter(TimePoint now, std::chrono::seconds lifetime) const {
    return std::min(now + lifetime, not_after);
  }
  // Signs `spec` with this CA for `lifetime`, never beyond the CA itself,
  // backdated for clock skew by a tenth of the lifetime (at most an hour):
  // renewal at half life (keyrotate::ShouldRenew) then still falls well
  // after issue, also for short-lived certificates.
  Result<ossl::X509Ptr> Sign(CertSpec spec, TimePoint now, std::chrono::seconds lifetime) const {
    spec.not_before = now - std::min<std::chrono::seconds>(hours(1), lifetime / 10);
    spec.not_after = ClampedNotAfter(now, lifetime);
    return BuildCert(spec, cert.get(), key.get());
  }
  // Sign() for a key generated here; returns the certificate and the key.
  Result<CertAndKey> IssueWithKey(const CertSpec& spec, EVP_PKEY* subject_key, TimePoint now,
                                  std::chrono::seconds lifetime) const {
    TPMESH_ASSIGN_OR_RETURN(ossl::X509Ptr issued, Sign(spec, now, lifetime));
    CertAndKey out;
    TPMESH_ASSIGN_OR_RETURN(out.cert_pem, ossl::CertToPem(issued.get()));
    TPMESH_ASSIGN_OR_RETURN(out.key_pem, ossl::KeyToPem(subject_key));
    return out;
  }
  static Result<std::unique_ptr<Impl>> From(ossl::X509Ptr cert, ossl::Pkey key) {
    auto impl = std::make_unique<Impl>();
    TPMESH_ASSIGN_OR_RETURN(impl->cert_pem, ossl::CertToPem(cert.get()));
    TPMESH_ASSIGN_OR_RETURN(Bytes der, ossl::CertToDer(cert.get()));
    impl->fingerprint = Sha256Hex(der);
    TPMESH_ASSIGN_OR_RETURN(impl->not_after, ossl::FromAsn1Time(X509_get0_notAfter(cert.get())));
    impl->cert = std::move(cert);
    impl->key = std::move(key);
    return impl;
  }
};

AuthorityCa::AuthorityCa() = default;
AuthorityCa::~AuthorityCa() = default;
AuthorityCa::AuthorityCa(AuthorityCa&&) noexcept = default;
AuthorityCa& AuthorityCa::operator=(AuthorityCa&&) noexcept = default;

Result<AuthorityCa> AuthorityCa::Create(std::string_view common_name, TimePoint now,
                                        std::chrono::seconds lifetime) {
  if (common_name.empty() || common_name.size() > 64) {
    return MakeError(Code::kInvalidArgument, "invalid_common_name",
                     "CA common name: must be 1-64 characters");
  }
  TPMESH_RETURN_IF_ERROR(ValidateLifetime(lifetime));
  TPMESH_ASSIGN_OR_RETURN(ossl::Pkey key, ossl::NewP256Key());
  CertSpec spec;
  spec.common_name = std::string(common_name);
  spec.subject_key = key.get();
  spec.is_ca = true;
  spec.not_before = now - hours(1);
  spec.not_after = now + lifetime;
  TPMESH_ASSIGN_OR_RETURN(ossl::X509Ptr cert, BuildCert(spec, nullptr, key.get()));
  AuthorityCa ca;
  TPMESH_ASSIGN_OR_RETURN(ca.impl_, Impl::From(std::move(cert), std::move(key)));
  return ca;
}

Result<AuthorityCa> AuthorityCa::Load(std::string_view cert_pem, std::string_view key_pem) {
  TPMESH_ASSIGN_OR_RETURN(ossl::X509Ptr cert,
                          ossl::ReadCertPem(cert_pem, "CA certificate", "invalid_certificate"));
  TPMESH_ASSIGN_OR_RETURN(ossl::Pkey key, ossl::ReadKeyPem(key_pem, "CA key", "invalid_key"));
  TPMESH_RETURN_IF_ERROR(ossl::CheckAcceptedKey(key.get(), "CA key", "invalid_key"));
  if (X509_check_ca(cert.get()) == 0) {
    return MakeError(Code::kInvalidArgument, "invalid_certificate",
                     "CA certificate: not a CA certificate (basicConstraints CA:TRUE missing)");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return MakeError(Code::kInvalidArgument, "key_mismatch",
                     "CA key does not match the public key of the CA certificate");
  }
  AuthorityCa ca;
  TPMESH_ASSIGN_OR_RETURN(ca.impl_, Impl::From(std::move(cert), std::move(key)));
  return ca;
}

const std::string& AuthorityCa::cert_pem() const { return impl_->cert_pem; }

std::string AuthorityCa::key_pem() const {
  auto pem = ossl::KeyToPem(impl_->key.get());
  return pem.ok() ? std::move(pem).value() : std::string();
}

std::string AuthorityCa::Fingerprint() const { return impl_->fingerprint; }

Result<std::string> AuthorityCa::IssueNodeCert(std::string_view csr_pem, std::string_view node_id,
                                               TimePoint now, std::chrono::seconds lifetime,
                                               std::string* serial) const {
  TPMESH_RETURN_IF_ERROR(ValidateNodeId(node_id));
  TPMESH_RETURN_IF_ERROR(ValidateLifetime(lifetime));
  auto bad = [](const std::string& why) {
    return MakeError(Code::kInvalidArgument, "invalid_csr", "csr: " + why);
  };
  if (csr_pem.empty()) return bad("empty");
  if (csr_pem.size() > 16 * 1024) return bad("larger than 16 KiB");
  ossl::BioPtr bio = ossl::MemReader(csr_pem);
  if (!bio) return ossl::CryptoError("BIO");
  ossl::ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) return bad("not a PEM certificate request (" + ossl::DrainErrors() + ")");
  EVP_PKEY* pub = X509_REQ_get0_pubkey(req.get());
  if (pub == nullptr) return bad("public key unreadable (" + ossl::DrainErrors() + ")");
  TPMESH_RETURN_IF_ERROR(ossl::CheckAcceptedKey(pub, "csr", "invalid_csr"));
  if (X509_REQ_verify(req.get(), pub) != 1) {
    ERR_clear_error();
    return bad("signature does not verify with the request's own public key");
  }

  ossl::GenNames san(sk_GENERAL_NAME_new_null());
  if (!san) return ossl::CryptoError("subjectAltName");
  std::string uri = std::string(kNodeUriPrefix) + std::string(node_id);
  TPMESH_RETURN_IF_ERROR(PushIa5(san.get(), GEN_URI, uri));
  CertSpec spec;
  spec.common_name = uri;
  spec.subject_key = pub;
  spec.eku = "clientAuth";
  spec.san = san.get();
  TPMESH_ASSIGN_OR_RETURN(ossl::X509Ptr cert, impl_->Sign(spec, now, lifetime));
  if (serial != nullptr) {
    TPMESH_ASSIGN_OR_RETURN(*serial, ossl::SerialHex(cert.get()));
  }
  return ossl::CertToPem(cert.get());
}

Result<CertAndKey> AuthorityCa::IssueAdminCert(std::string_view name, TimePoint now,
                                               std::chrono::seconds lifetime) const {
  TPMESH_RETURN_IF_ERROR(ValidateAdminName(name));
  TPMESH_RETURN_IF_ERROR(ValidateLifetime(lifetime));
  TPMESH_ASSIGN_OR_RETURN(ossl::Pkey key, ossl::NewP256Key());
  ossl::GenNames san(sk_GENERAL_NAME_new_null());
  if (!san) return ossl::CryptoError("subjectAltName");
  std::string uri = std::string(kAdminUriPrefix) + std::string(name);
  TPMESH_RETURN_IF_ERROR(PushIa5(san.get(), GEN_URI, uri));
  CertSpec spec;
  spec.common_name = uri;
  spec.subject_key = key.get();
  spec.eku = "clientAuth";
  spec.san = san.get();
  return impl_->IssueWithKey(spec, key.get(), now, lifetime);
}

Result<CertAndKey> AuthorityCa::IssueServerCert(const std::vector<std::string>& dns_names,
                                                const std::vector<std::string>& ip_addresses,
                                                TimePoint now,
                                                std::chrono::seconds lifetime) const {
  TPMESH_RETURN_IF_ERROR(ValidateLifetime(lifetime));
  if (dns_names.empty() && ip_addresses.empty()) {
    return MakeError(Code::kInvalidArgument, "invalid_server_name",
                     "server certificate: give at least one DNS name or IP address");
  }
  ossl::GenNames san(sk_GENERAL_NAME_new_null());
  if (!san) return ossl::CryptoError("subjectAltName");
  for (const std::string& dns : dns_names) {
    if (!IsDnsName(dns)) {
      return MakeError(Code::kInvalidArgument, "invalid_server_name",
                       "server certificate: '" + dns.substr(0, 64) +
                           "' is not a DNS name (letters, digits, '-' in dot-separated labels)");
    }
    TPMESH_RETURN_IF_ERROR(PushIa5(san.get(), GEN_DNS, dns));
  }
  for (const std::string& ip : ip_addresses) {
    ASN1_OCTET_STRING* bin = a2i_IPADDRESS(ip.c_str());
    if (bin == nullptr) {
      ERR_clear_error();
      return MakeError(Code::kInvalidArgument, "invalid_server_name",
                       "server certificate: '" + ip.substr(0, 64) +
                           "' is not an IPv4 or IPv6 address literal (no brackets, no port)");
    }
    TPMESH_RETURN_IF_ERROR(PushName(san.get(), GEN_IPADD, bin));
  }
  TPMESH_ASSIGN_OR_RETURN(ossl::Pkey key, ossl::NewP256Key());
  CertSpec spec;
  // The CN is for humans (clients check the SAN); X.509 caps it at 64.
  spec.common_name = dns_names.empty() ? ip_addresses.front() : dns_names.front();
  if (spec.common_name.size() > 64) spec.common_name = "tpmesh authority";
  spec.subject_key = key.get();
  spec.eku = "serverAuth";
  spec.san = san.get();
  return impl_->IssueWithKey(spec, key.get(), now, lifetime);
}

}  // namespace tpmesh::pki
