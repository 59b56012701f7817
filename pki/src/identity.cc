// Identity names, reading identities from certificates, and the node-side
// key + CSR.
#include <openssl/pem.h>

#include <cctype>
#include <optional>
#include <string>

#include "names.h"
#include "ossl.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::pki {
namespace {

// `s` for an error message: at most 64 characters, non-printables as '?'.
std::string Shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 64) out += "...";
  return "'" + out + "'";
}

Error NoIdentity(const std::string& why) {
  return MakeError(Code::kUnauthenticated, "no_tpmesh_identity", "certificate: " + why);
}

}  // namespace

Status ValidateNodeId(std::string_view id) {
  bool ok = id.size() == 20;
  for (char c : id) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (ok) return OkStatus();
  return MakeError(Code::kInvalidArgument, "invalid_node_id",
                   "node id " + Shown(id) + ": must be exactly 20 lowercase hex digits");
}

Status ValidateAdminName(std::string_view name) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  bool ok = !name.empty() && name.size() <= 48 && alnum(name[0]);
  for (char c : name) ok = ok && (alnum(c) || c == '.' || c == '_' || c == '-');
  if (ok) return OkStatus();
  return MakeError(
      Code::kInvalidArgument, "invalid_admin_name",
      "admin name " + Shown(name) +
          ": must be 1-48 characters of a-z 0-9 . _ - starting with a letter or digit");
}

Result<PeerIdentity> IdentityFromCertDer(const uint8_t* der, size_t len) {
  const uint8_t* p = der;
  ossl::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(len)));
  if (!cert || p != der + len) {
    ERR_clear_error();
    return NoIdentity("not a single DER certificate");
  }
  ossl::GenNames names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return NoIdentity("no subjectAltName extension");

  std::optional<PeerIdentity> found;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_URI) continue;
    std::string_view uri(
        reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier)),
        static_cast<size_t>(ASN1_STRING_length(gn->d.uniformResourceIdentifier)));
    PeerIdentity id;
    if (uri.starts_with(kNodeUriPrefix)) {
      id.kind = PeerKind::kNode;
      id.id = std::string(uri.substr(kNodeUriPrefix.size()));
      if (!ValidateNodeId(id.id).ok()) return NoIdentity("malformed node URI " + Shown(uri));
    } else if (uri.starts_with(kAdminUriPrefix)) {
      id.kind = PeerKind::kAdmin;
      id.id = std::string(uri.substr(kAdminUriPrefix.size()));
      if (!ValidateAdminName(id.id).ok()) return NoIdentity("malformed admin URI " + Shown(uri));
    } else {
      continue;
    }
    if (found) return NoIdentity("more than one tpmesh:// identity");
    found = std::move(id);
  }
  if (!found) return NoIdentity("no tpmesh://node/ or tpmesh://admin/ URI in subjectAltName");

  TPMESH_ASSIGN_OR_RETURN(found->serial, ossl::SerialHex(cert.get()));
  TPMESH_ASSIGN_OR_RETURN(found->not_after, ossl::FromAsn1Time(X509_get0_notAfter(cert.get())));
  return *std::move(found);
}

Result<PeerIdentity> IdentityFromCertPem(std::string_view cert_pem) {
  auto cert = ossl::ReadCertPem(cert_pem, "certificate", "no_tpmesh_identity");
  if (!cert.ok()) {
    Error e = cert.take_error();
    e.code = Code::kUnauthenticated;
    return e;
  }
  TPMESH_ASSIGN_OR_RETURN(Bytes der, ossl::CertToDer(cert->get()));
  return IdentityFromCertDer(der.data(), der.size());
}

Result<std::string> GenerateKeyPem() {
  TPMESH_ASSIGN_OR_RETURN(ossl::Pkey key, ossl::NewP256Key());
  return ossl::KeyToPem(key.get());
}

Result<std::string> MakeCsr(std::string_view key_pem, std::string_view common_name) {
  if (common_name.empty() || common_name.size() > 64) {
    return MakeError(Code::kInvalidArgument, "invalid_common_name",
                     "CSR common name " + Shown(common_name) + ": must be 1-64 characters");
  }
  TPMESH_ASSIGN_OR_RETURN(ossl::Pkey key, ossl::ReadKeyPem(key_pem, "key", "invalid_key"));
  TPMESH_RETURN_IF_ERROR(ossl::CheckAcceptedKey(key.get(), "key", "invalid_key"));
  ossl::ReqPtr req(X509_REQ_new());
  if (!req) return ossl::CryptoError("X509_REQ_new");
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  std::string cn(common_name);
  if (X509_REQ_set_version(req.get(), 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1 ||
      X509_REQ_sign(req.get(), key.get(), ossl::SigningMd(key.get())) <= 0) {
    return ossl::CryptoError("building the CSR");
  }
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1)
    return ossl::CryptoError("CSR to PEM");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<std::vector<std::string>> BundleFingerprints(std::string_view pem_bundle) {
  TPMESH_ASSIGN_OR_RETURN(std::vector<ossl::X509Ptr> certs,
                          ossl::ReadCertsPem(pem_bundle, "CA bundle", "invalid_ca_bundle"));
  std::vector<std::string> out;
  for (const auto& cert : certs) {
    TPMESH_ASSIGN_OR_RETURN(Bytes der, ossl::CertToDer(cert.get()));
    out.push_back(Sha256Hex(der));
  }
  return out;
}

}  // namespace tpmesh::pki
