// Check 14: the TCG EK Credential Profile on the EK certificate
// (subjectAltName naming the TPM, extendedKeyUsage, key type and usage,
// subjectDirectoryAttributes).
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

#include "ekcert_internal.h"
#include "ossl.h"
#include "tpmesh/attest/checks.h"

namespace tpmesh::attest::internal {
namespace {

using GeneralNames = std::unique_ptr<GENERAL_NAMES, ossl::Deleter<GENERAL_NAMES_free>>;
using Eku = std::unique_ptr<EXTENDED_KEY_USAGE, ossl::Deleter<EXTENDED_KEY_USAGE_free>>;

void FreeAnySeq(ASN1_SEQUENCE_ANY* s) { sk_ASN1_TYPE_pop_free(s, ASN1_TYPE_free); }
using AnySeq = std::unique_ptr<ASN1_SEQUENCE_ANY, ossl::Deleter<FreeAnySeq>>;

// Validates subjectDirectoryAttributes as SEQUENCE OF Attribute
// { type OID, values SET OF ANY } (it carries TPMSpecification).
bool SubjectDirectoryAttributesWellFormed(X509_EXTENSION* ext) {
  const ASN1_OCTET_STRING* v = X509_EXTENSION_get_data(ext);
  const unsigned char* p = ASN1_STRING_get0_data(v);
  const unsigned char* end = p + ASN1_STRING_length(v);
  AnySeq attrs(d2i_ASN1_SEQUENCE_ANY(nullptr, &p, end - p));
  if (!attrs || p != end || sk_ASN1_TYPE_num(attrs.get()) == 0) return false;
  for (int i = 0; i < sk_ASN1_TYPE_num(attrs.get()); ++i) {
    const ASN1_TYPE* attr = sk_ASN1_TYPE_value(attrs.get(), i);
    if (attr->type != V_ASN1_SEQUENCE) return false;
    const unsigned char* q = attr->value.sequence->data;
    const unsigned char* qend = q + attr->value.sequence->length;
    AnySeq fields(d2i_ASN1_SEQUENCE_ANY(nullptr, &q, qend - q));
    if (!fields || q != qend || sk_ASN1_TYPE_num(fields.get()) != 2 ||
        sk_ASN1_TYPE_value(fields.get(), 0)->type != V_ASN1_OBJECT ||
        sk_ASN1_TYPE_value(fields.get(), 1)->type != V_ASN1_SET) {
      return false;
    }
  }
  return true;
}

// Check 14, subjectAltName: the TCG profile's directoryName with the TPM's
// manufacturer, model and version, copied into `info`.
Status CheckTpmIdentity(X509* cert, EkCertInfo& info) {
  int crit = 0;
  GeneralNames san(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, nullptr)));
  if (!san) {
    ERR_clear_error();
    return CheckFailure(Check::kEkCertProfile,
                        crit == -1 ? "EK certificate has no subjectAltName (the TCG profile "
                                     "requires one naming the TPM manufacturer, model and version)"
                                   : "EK certificate subjectAltName is duplicated or undecodable");
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(san.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(san.get(), i);
    if (gn->type != GEN_DIRNAME) continue;
    const X509_NAME* dn = gn->d.directoryName;
    for (int j = 0; j < X509_NAME_entry_count(dn); ++j) {
      const X509_NAME_ENTRY* e = X509_NAME_get_entry(dn, j);
      std::string oid = ObjText(X509_NAME_ENTRY_get_object(e));
      std::string value = Asn1String(X509_NAME_ENTRY_get_data(e));
      if (oid == kOidTpmManufacturer) info.tpm_manufacturer = value;
      if (oid == kOidTpmModel) info.tpm_model = value;
      if (oid == kOidTpmVersion) info.tpm_version = value;
    }
  }
  const char* missing = info.tpm_manufacturer.empty() ? "tpmManufacturer (2.23.133.2.1)"
                        : info.tpm_model.empty()      ? "tpmModel (2.23.133.2.2)"
                        : info.tpm_version.empty()    ? "tpmVersion (2.23.133.2.3)"
                                                      : nullptr;
  if (missing != nullptr) {
    return CheckFailure(
        Check::kEkCertProfile,
        std::string("EK certificate subjectAltName directoryName lacks ") + missing);
  }

  return OkStatus();
}

// Check 14, extendedKeyUsage: absent, or naming tcg-kp-EKCertificate.
Status CheckEkEku(X509* cert) {
  int crit = 0;
  Eku eku(
      static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(cert, NID_ext_key_usage, &crit, nullptr)));
  if (!eku && crit != -1) {
    ERR_clear_error();
    return CheckFailure(Check::kEkCertProfile,
                        "EK certificate extendedKeyUsage is duplicated or undecodable");
  }
  if (eku) {
    bool found = false;
    std::string seen;
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
      std::string oid = ObjText(sk_ASN1_OBJECT_value(eku.get(), i));
      found = found || oid == kOidEkCertificateEku;
      seen += (seen.empty() ? "" : ", ") + oid;
    }
    if (!found) {
      return CheckFailure(Check::kEkCertProfile, "EK certificate extendedKeyUsage (" + seen +
                                                     ") lacks " + kOidEkCertificateEku +
                                                     " (tcg-kp-EKCertificate)");
    }
  }

  return OkStatus();
}

// Check 14, the key: RSA or ECC, with keyEncipherment or keyAgreement when a
// keyUsage is present.
Status CheckEkKeyUsage(X509* cert, uint32_t flags) {
  EVP_PKEY* key = X509_get0_pubkey(cert);
  int key_type = key == nullptr ? EVP_PKEY_NONE : EVP_PKEY_get_base_id(key);
  if (key_type != EVP_PKEY_RSA && key_type != EVP_PKEY_EC) {
    ERR_clear_error();
    return CheckFailure(Check::kEkCertProfile, "EK certificate key is neither RSA nor ECC");
  }
  if (flags & EXFLAG_KUSAGE) {
    uint32_t ku = X509_get_key_usage(cert);
    bool rsa = key_type == EVP_PKEY_RSA;
    if (!(ku & (rsa ? KU_KEY_ENCIPHERMENT : KU_KEY_AGREEMENT))) {
      return CheckFailure(Check::kEkCertProfile,
                          std::string("EK certificate keyUsage lacks ") +
                              (rsa ? "keyEncipherment (required for an RSA EK)"
                                   : "keyAgreement (required for an ECC EK)"));
    }
  }

  return OkStatus();
}

}  // namespace

// Check 14; fills the TPM identity fields of `info`.
Status CheckProfile(X509* cert, EkCertInfo& info) {
  uint32_t flags = X509_get_extension_flags(cert);
  if (flags & EXFLAG_INVALID) {
    ERR_clear_error();
    return CheckFailure(Check::kEkCertProfile, "EK certificate has an undecodable extension");
  }
  if (flags & EXFLAG_CA) {
    return CheckFailure(Check::kEkCertProfile,
                        "EK certificate has basicConstraints CA=TRUE; an EK certificate must not "
                        "be a CA");
  }
  TPMESH_RETURN_IF_ERROR(CheckTpmIdentity(cert, info));
  TPMESH_RETURN_IF_ERROR(CheckEkEku(cert));
  TPMESH_RETURN_IF_ERROR(CheckEkKeyUsage(cert, flags));
  int sda = X509_get_ext_by_OBJ(cert,
                                std::unique_ptr<ASN1_OBJECT, ossl::Deleter<ASN1_OBJECT_free>>(
                                    OBJ_txt2obj(kOidSubjectDirectoryAttributes, 1))
                                    .get(),
                                -1);
  if (sda >= 0 && !SubjectDirectoryAttributesWellFormed(X509_get_ext(cert, sda))) {
    ERR_clear_error();
    return CheckFailure(
        Check::kEkCertProfile,
        "EK certificate subjectDirectoryAttributes is not a sequence of attributes");
  }
  return OkStatus();
}

}  // namespace tpmesh::attest::internal
