// EK certificate verification: checks 1 (chain), 2 (validity), 3 (key match),
// 14 (TCG EK profile: ekcert_profile.cc) and 15 (software TPM), with OpenSSL 3.
#include "tpmesh/attest/ekcert.h"

#include <climits>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/objects.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <optional>
#include <vector>

#include "ekcert_internal.h"
#include "ossl.h"
#include "tpmesh/attest/checks.h"
#include "trust_store_impl.h"
#include "verify_internal.h"

namespace tpmesh::attest {

namespace internal {

std::string ObjText(const ASN1_OBJECT* obj) {
  char buf[128];
  int n = OBJ_obj2txt(buf, sizeof buf, obj, /*no_name=*/1);
  return n > 0 ? std::string(buf, std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1)) : "?";
}

std::string Asn1String(const ASN1_STRING* s) {
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) {
    ERR_clear_error();
    return {};
  }
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

}  // namespace internal

namespace {

using internal::Asn1String;
using internal::CheckProfile;
using internal::kOidSubjectDirectoryAttributes;
using internal::ObjText;

// Critical extensions OpenSSL does not process itself but this file does, so
// the chain is not refused for them on the EK certificate (leaf only).
// subjectAltName (2.5.29.17) is known to OpenSSL, directoryName form included;
// subjectDirectoryAttributes is structurally checked in CheckProfile.
constexpr std::array<const char*, 2> kProcessedCriticalExtensions = {
    "2.5.29.17", kOidSubjectDirectoryAttributes};

// Software TPMs, identified by the SAN's tpmManufacturer (and model where the
// manufacturer alone is ambiguous). The single table of simulator ids.
// - swtpm writes id:00001014 (IBM's PCI vendor id) with model "swtpm". TCG
//   vendor ids are four ASCII bytes (e.g. "IFX\0" = id:49465800), so no
//   hardware TPM carries 0x00001014: any model matches.
// - The Microsoft reference simulator reports "MSFT" (id:4D534654) and the
//   IBM simulator "IBM" (id:49424D00); both are deliberately absent because
//   hardware shares them (Microsoft Pluton reports MSFT). Such simulators have
//   no vendor-signed EK certificate anyway, so check 1 rejects them.
struct SoftwareTpm {
  const char* manufacturer;  // compared case-insensitively
  const char* model;         // nullptr: any model
  const char* name;
};
constexpr std::array<SoftwareTpm, 1> kSoftwareTpms = {{
    {"id:00001014", nullptr, "swtpm"},
}};

// Upper bound on node-supplied intermediates (NV 0x01c00100.. holds at most a
// handful in practice); more is treated as malformed input, not a chain.
constexpr size_t kMaxIntermediates = 16;

using StoreCtx = std::unique_ptr<X509_STORE_CTX, ossl::Deleter<X509_STORE_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, ossl::Deleter<BIO_free>>;
void FreeStackShallow(STACK_OF(X509) * s) { sk_X509_free(s); }  // borrowed elements
using X509Stack = std::unique_ptr<STACK_OF(X509), ossl::Deleter<FreeStackShallow>>;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string NameText(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    ERR_clear_error();
    return "?";
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  std::string out(data, static_cast<size_t>(std::max(len, 0L)));
  return out.empty() ? "(empty name)" : out;
}

std::optional<TimePoint> ToTimePoint(const ASN1_TIME* t) {
  auto r = ossl::FromAsn1Time(t);
  if (!r.ok()) {
    ERR_clear_error();
    return std::nullopt;
  }
  return *r;
}

std::string TimeText(const struct tm& tm) {
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string TimeText(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return "(unparseable time)";
  return TimeText(tm);
}

std::string TimeText(TimePoint t) {
  time_t s = static_cast<time_t>(ToUnixSeconds(t));
  struct tm tm {};
  gmtime_r(&s, &tm);
  return TimeText(tm);
}

Result<Bytes> TrimDerFor(ByteView nv, const std::string& what);

// Parses exactly one DER certificate (NV padding trimmed first).
Result<ossl::X509Ptr> ParseCert(ByteView data, const std::string& what) {
  TPMESH_ASSIGN_OR_RETURN(Bytes der, TrimDerFor(data, what));
  const unsigned char* p = der.data();
  ossl::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) return Malformed(what + ": not an X.509 certificate: " + ossl::DrainErrors());
  if (p != der.data() + der.size()) {
    return Malformed(what + ": certificate DER has inner length inconsistencies");
  }
  return cert;
}

Result<Bytes> SpkiSha256Of(EVP_PKEY* key) {
  TPMESH_ASSIGN_OR_RETURN(Bytes spki, SpkiDer(key));
  return ossl::Digest(EVP_sha256(), spki);
}

// SHA-256 of the certificate's SubjectPublicKeyInfo as it was parsed:
// i2d_X509_PUBKEY re-encodes the decoded ASN.1 fields (algorithm, key bit
// string), so no OSSL_ENCODER lookup (i2d_PUBKEY on the decoded key costs
// about as much as parsing the whole certificate in OpenSSL 3.0).
Result<Bytes> CertSpkiSha256(X509* cert) {
  const X509_PUBKEY* pub = X509_get_X509_PUBKEY(cert);
  if (pub == nullptr) return Malformed("ek_cert: no subjectPublicKeyInfo");
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(pub, &der);
  if (len <= 0) return ossl::CryptoError("i2d_X509_PUBKEY");
  Bytes spki(der, der + len);
  OPENSSL_free(der);
  return ossl::Digest(EVP_sha256(), spki);
}

// Reads only the outer header (ASN1_GET_object) and returns that prefix.
Result<Bytes> TrimDerFor(ByteView nv, const std::string& what) {
  if (nv.empty()) return Malformed(what + ": empty");
  const unsigned char* p = nv.data();
  long len = 0;
  int tag = 0, cls = 0;
  long avail = static_cast<long>(std::min<size_t>(nv.size(), LONG_MAX));
  int ret = ASN1_get_object(&p, &len, &tag, &cls, avail);
  ERR_clear_error();
  size_t header = static_cast<size_t>(p - nv.data());
  if (header == 0) return Malformed(what + ": not DER: unreadable ASN.1 header");
  if (ret & 0x01) return Malformed(what + ": not DER: indefinite length");
  if (tag != V_ASN1_SEQUENCE || cls != V_ASN1_UNIVERSAL || !(ret & V_ASN1_CONSTRUCTED)) {
    return Malformed(what + ": not DER: outer element is not a SEQUENCE (first byte 0x" +
                     HexEncode(nv.first(1)) + ")");
  }
  size_t total = header + static_cast<size_t>(len);
  if ((ret & 0x80) || total > nv.size()) {
    return Malformed(what + ": truncated: DER says " + std::to_string(total) + " bytes, " +
                     std::to_string(nv.size()) + " given");
  }
  return Bytes(nv.begin(), nv.begin() + static_cast<std::ptrdiff_t>(total));
}

bool IsSelfSigned(X509* c) {
  EVP_PKEY* key = X509_get0_pubkey(c);
  bool ok = X509_check_issued(c, c) == X509_V_OK && key != nullptr && X509_verify(c, key) == 1;
  ERR_clear_error();
  return ok;
}

bool ProcessedCritical(const X509_EXTENSION* ext) {
  std::string oid = ObjText(X509_EXTENSION_get_object(const_cast<X509_EXTENSION*>(ext)));
  return std::find_if(kProcessedCriticalExtensions.begin(), kProcessedCriticalExtensions.end(),
                      [&](const char* o) { return oid == o; }) !=
         kProcessedCriticalExtensions.end();
}

// Accepts "unhandled critical extension" on the EK certificate (depth 0) only
// when each critical extension OpenSSL does not know is one we process.
int VerifyCallback(int ok, X509_STORE_CTX* ctx) {
  if (ok || X509_STORE_CTX_get_error(ctx) != X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION ||
      X509_STORE_CTX_get_error_depth(ctx) != 0) {
    return ok;
  }
  X509* cert = X509_STORE_CTX_get_current_cert(ctx);
  if (cert == nullptr) return ok;
  for (int i = 0; i < X509_get_ext_count(cert); ++i) {
    X509_EXTENSION* ext = X509_get_ext(cert, i);
    if (X509_EXTENSION_get_critical(ext) && !X509_supported_extension(ext) &&
        !ProcessedCritical(ext)) {
      return ok;
    }
  }
  X509_STORE_CTX_set_error(ctx, X509_V_OK);
  return 1;
}

std::string CertLabel(X509* cert, int depth) {
  if (depth == 0) return "EK certificate";
  return "issuer certificate '" + NameText(X509_get_subject_name(cert)) + "'";
}

// Checks 1 and 2.
Status CheckChain(X509* leaf, STACK_OF(X509) * untrusted, const TrustStore& trust,
                  const EkCertOptions& options) {
  const TrustStore::Impl& store = trust.impl();
  if (trust.root_count() == 0) {
    return CheckFailure(Check::kEkCertChain,
                        "EK certificate issued by '" + NameText(X509_get_issuer_name(leaf)) +
                            "' cannot be trusted: the trust store has no roots (add TPM vendor "
                            "root certificates to the trust directory)");
  }
  StoreCtx ctx(X509_STORE_CTX_new());
  if (!ctx) return ossl::CryptoError("X509_STORE_CTX_new");
  if (X509_STORE_CTX_init(ctx.get(), store.roots, leaf, untrusted) != 1) {
    return ossl::CryptoError("X509_STORE_CTX_init");
  }
  const time_t now = static_cast<time_t>(ToUnixSeconds(options.now));
  time_t at_time = now;
  if (options.chain_time == EkChainTime::kIssuance) {
    // The chain as it stood when the EK certificate was issued; one that
    // claims to be issued in the future is checked now (and refused).
    tm issued{};
    if (ASN1_TIME_to_tm(X509_get0_notBefore(leaf), &issued) == 1) {
      const time_t t = timegm(&issued);
      if (t <= now) at_time = t;
    }
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, at_time);
  // Only certificates in the store (roots, anchors chosen on purpose) can
  // end a chain; the node's hints are never in it.
  if (store.partial_chain) X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
  X509_STORE_CTX_set_verify_cb(ctx.get(), VerifyCallback);
  if (X509_verify_cert(ctx.get()) == 1) {
    ERR_clear_error();
    return OkStatus();
  }
  ERR_clear_error();
  int err = X509_STORE_CTX_get_error(ctx.get());
  int depth = X509_STORE_CTX_get_error_depth(ctx.get());
  X509* at = X509_STORE_CTX_get_current_cert(ctx.get());
  if (at == nullptr) at = leaf;
  std::string label = CertLabel(at, depth);
  if (err == X509_V_ERR_CERT_HAS_EXPIRED) {
    return CheckFailure(Check::kEkCertValidity,
                        label + " is not valid after " + TimeText(X509_get0_notAfter(at)) +
                            (at_time == now ? " (verification time " + TimeText(options.now) + ")"
                                            : " (checked at the EK certificate's issuance, " +
                                                  TimeText(FromUnixSeconds(at_time)) + ")"));
  }
  if (err == X509_V_ERR_CERT_NOT_YET_VALID) {
    return CheckFailure(Check::kEkCertValidity,
                        label + " is not valid before " + TimeText(X509_get0_notBefore(at)));
  }
  return CheckFailure(Check::kEkCertChain, "EK certificate chain rejected at " + label +
                                               " (issuer '" + NameText(X509_get_issuer_name(at)) +
                                               "'): " + X509_verify_cert_error_string(err));
}

// Check 15.
Status CheckSoftwareTpm(const EkCertOptions& options, EkCertInfo& info) {
  for (const SoftwareTpm& sw : kSoftwareTpms) {
    if (!EqualsIgnoreCase(info.tpm_manufacturer, sw.manufacturer)) continue;
    if (sw.model != nullptr && info.tpm_model != sw.model) continue;
    if (!options.allow_software_tpm) {
      return CheckFailure(Check::kSoftwareTpm,
                          std::string("EK certificate is from a software TPM (") + sw.name +
                              ": manufacturer " + info.tpm_manufacturer + ", model " +
                              info.tpm_model + "); enable dev mode to accept it");
    }
    info.software_tpm = true;
  }
  return OkStatus();
}

}  // namespace

Result<Bytes> TrimDer(ByteView nv_contents) { return TrimDerFor(nv_contents, "ek_cert"); }

const char* EkChainTimeName(EkChainTime t) {
  return t == EkChainTime::kIssuance ? "issuance" : "now";
}

Result<EkChainTime> ParseEkChainTime(std::string_view name) {
  if (name == "issuance") return EkChainTime::kIssuance;
  if (name == "now") return EkChainTime::kNow;
  return MakeError(Code::kInvalidArgument, "invalid_ek_chain_time",
                   "EK chain time must be 'issuance' or 'now'");
}

namespace internal {

// Names, dates and fingerprint of `leaf` into `info`.
Status FillNames(X509* leaf, EkCertInfo& info);

Result<ossl::X509Ptr> ParseEkCert(ByteView ek_cert_der) {
  return ParseCert(ek_cert_der, "ek_cert");
}
Result<ossl::X509Ptr> ParseDerCert(ByteView der, const std::string& what) {
  return ParseCert(der, what);
}
bool IsSelfSignedCert(X509* cert) { return IsSelfSigned(cert); }

Result<EkCertInfo> VerifyEkCertificate(X509* leaf, std::span<const Bytes> intermediates,
                                       const TrustStore& trust, const EkCertOptions& options) {
  if (intermediates.size() > kMaxIntermediates) {
    return Malformed("ek_cert: " + std::to_string(intermediates.size()) +
                     " intermediates given, at most " + std::to_string(kMaxIntermediates));
  }
  std::vector<ossl::X509Ptr> node_certs;
  for (size_t i = 0; i < intermediates.size(); ++i) {
    TPMESH_ASSIGN_OR_RETURN(ossl::X509Ptr c, ParseCert(intermediates[i], "ek_cert: intermediate #" +
                                                                             std::to_string(i)));
    node_certs.push_back(std::move(c));
  }
  // Borrowed pointers: the store's intermediates plus the node's.
  X509Stack untrusted(sk_X509_new_null());
  if (!untrusted) return ossl::CryptoError("sk_X509_new_null");
  STACK_OF(X509)* known = trust.impl().intermediates;
  for (int i = 0; i < sk_X509_num(known); ++i) {
    if (sk_X509_push(untrusted.get(), sk_X509_value(known, i)) <= 0) {
      return ossl::CryptoError("sk_X509_push");
    }
  }
  for (auto& c : node_certs) {
    if (sk_X509_push(untrusted.get(), c.get()) <= 0) return ossl::CryptoError("sk_X509_push");
  }

  TPMESH_RETURN_IF_ERROR(CheckChain(leaf, untrusted.get(), trust, options));

  EkCertInfo info;
  TPMESH_RETURN_IF_ERROR(CheckProfile(leaf, info));
  TPMESH_RETURN_IF_ERROR(CheckSoftwareTpm(options, info));

  TPMESH_RETURN_IF_ERROR(FillNames(leaf, info));
  return info;
}

Status FillNames(X509* leaf, EkCertInfo& info) {
  info.subject = NameText(X509_get_subject_name(leaf));
  info.issuer = NameText(X509_get_issuer_name(leaf));
  auto not_before = ToTimePoint(X509_get0_notBefore(leaf));
  auto not_after = ToTimePoint(X509_get0_notAfter(leaf));
  if (!not_before || !not_after) return Malformed("ek_cert: a validity date does not parse");
  info.not_before = *not_before;
  info.not_after = *not_after;
  TPMESH_ASSIGN_OR_RETURN(info.spki_sha256, CertSpkiSha256(leaf));
  return OkStatus();
}

Status CheckEkMatchesCert(const TpmPublic& ek, X509* cert, ossl::Pkey* ek_key) {
  EVP_PKEY* cert_key = X509_get0_pubkey(cert);
  if (cert_key == nullptr)
    return Malformed("ek_cert: public key does not parse: " + ossl::DrainErrors());
  TPMESH_ASSIGN_OR_RETURN(ossl::Pkey key, ek.ToPkey());
  if (EVP_PKEY_eq(cert_key, key.get()) == 1) {
    *ek_key = std::move(key);
    return OkStatus();
  }
  ERR_clear_error();
  auto cert_fp = SpkiSha256Of(cert_key);
  auto ek_fp = SpkiSha256Of(key.get());
  std::string detail = "EK public key differs from the key in the EK certificate";
  if (cert_fp.ok() && ek_fp.ok()) {
    detail +=
        " (EK SPKI SHA-256 " + HexEncode(*ek_fp) + ", certificate " + HexEncode(*cert_fp) + ")";
  }
  return CheckFailure(Check::kEkKeyMismatch, detail);
}

}  // namespace internal

Result<EkCertInfo> DescribeEkCertificate(ByteView ek_cert_der) {
  TPMESH_ASSIGN_OR_RETURN(ossl::X509Ptr leaf, internal::ParseEkCert(ek_cert_der));
  EkCertInfo info;
  // The TPM fields where the SAN has them; a profile defect is not ours to report here.
  if (!internal::CheckProfile(leaf.get(), info).ok()) ERR_clear_error();
  TPMESH_RETURN_IF_ERROR(internal::FillNames(leaf.get(), info));
  return info;
}

Result<EkCertInfo> VerifyEkCertificate(ByteView ek_cert_der, std::span<const Bytes> intermediates,
                                       const TrustStore& trust, const EkCertOptions& options) {
  TPMESH_ASSIGN_OR_RETURN(ossl::X509Ptr leaf, internal::ParseEkCert(ek_cert_der));
  return internal::VerifyEkCertificate(leaf.get(), intermediates, trust, options);
}

Status CheckEkMatchesCert(const TpmPublic& ek, ByteView ek_cert_der) {
  TPMESH_ASSIGN_OR_RETURN(ossl::X509Ptr cert, internal::ParseEkCert(ek_cert_der));
  ossl::Pkey unused;
  return internal::CheckEkMatchesCert(ek, cert.get(), &unused);
}

}  // namespace tpmesh::attest
