// TPM2B_PUBLIC parsing (tss2-mu) and conversion to OpenSSL keys.
#include "tpmesh/attest/tpm_public.h"

#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include <cstdio>
#include <tuple>
#include <utility>

#include "format.h"
#include "ossl.h"
#include "tpmesh/attest/checks.h"
#include "verify_internal.h"

namespace tpmesh::attest {
namespace {

// Hash algorithm of a signing or OAEP scheme; NULL for schemes without one.
uint16_t SchemeHash(TPMI_ALG_ASYM_SCHEME scheme, const TPMU_ASYM_SCHEME& d) {
  switch (scheme) {
    case TPM2_ALG_RSASSA: return d.rsassa.hashAlg;
    case TPM2_ALG_RSAPSS: return d.rsapss.hashAlg;
    case TPM2_ALG_ECDSA: return d.ecdsa.hashAlg;
    case TPM2_ALG_ECDAA: return d.ecdaa.hashAlg;
    case TPM2_ALG_SM2: return d.sm2.hashAlg;
    case TPM2_ALG_ECSCHNORR: return d.ecschnorr.hashAlg;
    case TPM2_ALG_OAEP: return d.oaep.hashAlg;
    default: return kAlgNull;
  }
}

void CopySymmetric(const TPMT_SYM_DEF_OBJECT& s, TpmPublic& out) {
  out.symmetric = s.algorithm;
  if (s.algorithm != TPM2_ALG_NULL) {
    out.symmetric_bits = s.keyBits.sym;
    out.symmetric_mode = s.mode.sym;
  }
}

const char* GroupName(uint16_t curve) {
  switch (curve) {
    case kCurveNistP256: return "prime256v1";
    case kCurveNistP384: return "secp384r1";
    default: return nullptr;
  }
}

size_t CurveBytes(uint16_t curve) { return curve == kCurveNistP384 ? 48 : 32; }

using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, ossl::Deleter<OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, ossl::Deleter<OSSL_PARAM_free>>;

Result<ossl::Pkey> FromData(const char* type, OSSL_PARAM_BLD* bld) {
  Params params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return ossl::CryptoError("OSSL_PARAM_BLD_to_param");
  ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return ossl::CryptoError(std::string("EVP_PKEY_fromdata_init ") + type);
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return Malformed(std::string("public key: ") + type +
                     " key rejected by OpenSSL: " + ossl::DrainErrors());
  }
  ossl::Pkey key(raw);
  // What matters for attacker-chosen keys is the quick check: EC points on
  // the curve and not the identity. The full check adds an RSA modulus
  // primality scan and an extra EC scalar multiplication: ~94% of an
  // enrollment verification's time (docs/benchmarks.md), protecting nothing
  // the signature and certificate checks don't.
  // For RSA even the quick check runs SP 800-56B's primality test of n
  // (~5 ms); the parser checked the size and ToPkey the cheap checks.
  if (EVP_PKEY_is_a(key.get(), "RSA")) return key;
  ossl::PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check_quick(check.get()) != 1) {
    return Malformed(std::string("public key: invalid ") + type +
                     " public key: " + ossl::DrainErrors());
  }
  return key;
}

uint32_t RsaExponent(const TpmPublic& pub) {
  return pub.rsa_exponent == 0 ? 65537 : pub.rsa_exponent;
}

// Uncompressed point 04 || x || y, coordinates left-padded to the field size.
Result<Bytes> EcPoint(const TpmPublic& pub) {
  const size_t n = CurveBytes(pub.curve);
  if (pub.ecc_x.size() > n || pub.ecc_y.size() > n) {
    return Malformed("TPM public area: ECC coordinate longer than " + std::to_string(n) + " bytes");
  }
  Bytes point(1 + 2 * n, 0);
  point[0] = 0x04;
  std::copy(pub.ecc_x.begin(), pub.ecc_x.end(), point.begin() + 1 + (n - pub.ecc_x.size()));
  std::copy(pub.ecc_y.begin(), pub.ecc_y.end(), point.begin() + 1 + n + (n - pub.ecc_y.size()));
  return point;
}

int CurveNid(uint16_t curve) {
  switch (curve) {
    case kCurveNistP256: return NID_X9_62_prime256v1;
    case kCurveNistP384: return NID_secp384r1;
    default: return NID_undef;
  }
}

void FreeAnySeq(ASN1_SEQUENCE_ANY* s) { sk_ASN1_TYPE_pop_free(s, ASN1_TYPE_free); }
using AnySeq = std::unique_ptr<ASN1_SEQUENCE_ANY, ossl::Deleter<FreeAnySeq>>;
using Asn1Type = std::unique_ptr<ASN1_TYPE, ossl::Deleter<ASN1_TYPE_free>>;
using Asn1Int = std::unique_ptr<ASN1_INTEGER, ossl::Deleter<ASN1_INTEGER_free>>;
using X509Pubkey = std::unique_ptr<X509_PUBKEY, ossl::Deleter<X509_PUBKEY_free>>;

// Appends INTEGER `v` to `seq` (takes ownership of `v`).
bool PushInteger(ASN1_SEQUENCE_ANY* seq, Asn1Int v) {
  Asn1Type t(ASN1_TYPE_new());
  if (!v || !t) return false;
  ASN1_TYPE_set(t.get(), V_ASN1_INTEGER, v.release());
  if (sk_ASN1_TYPE_push(seq, t.get()) <= 0) return false;
  t.release();
  return true;
}

// RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC
// 8017 A.1.1), DER, in an OPENSSL_malloc'd buffer.
Result<std::pair<unsigned char*, int>> RsaPublicKeyDer(const TpmPublic& pub) {
  ossl::Bn n(BN_bin2bn(pub.rsa_modulus.data(), static_cast<int>(pub.rsa_modulus.size()), nullptr));
  Asn1Int e(ASN1_INTEGER_new());
  AnySeq seq(sk_ASN1_TYPE_new_null());
  if (!n || !e || !seq || ASN1_INTEGER_set_uint64(e.get(), RsaExponent(pub)) != 1 ||
      !PushInteger(seq.get(), Asn1Int(BN_to_ASN1_INTEGER(n.get(), nullptr))) ||
      !PushInteger(seq.get(), std::move(e))) {
    return ossl::CryptoError("RSAPublicKey");
  }
  unsigned char* der = nullptr;
  int len = i2d_ASN1_SEQUENCE_ANY(seq.get(), &der);
  if (len <= 0) return ossl::CryptoError("i2d RSAPublicKey");
  return std::make_pair(der, len);
}

}  // namespace

namespace internal {

Result<Bytes> TpmSpkiDer(const TpmPublic& pub) {
  X509Pubkey spki(X509_PUBKEY_new());
  if (!spki) return ossl::CryptoError("X509_PUBKEY_new");
  unsigned char* key = nullptr;
  int key_len = 0;
  int ok = 0;
  if (pub.type == kAlgRsa) {
    TPMESH_ASSIGN_OR_RETURN(auto der, RsaPublicKeyDer(pub));
    std::tie(key, key_len) = der;
    ok = X509_PUBKEY_set0_param(spki.get(), OBJ_nid2obj(NID_rsaEncryption), V_ASN1_NULL, nullptr,
                                key, key_len);
  } else if (pub.type == kAlgEcc && CurveNid(pub.curve) != NID_undef) {
    TPMESH_ASSIGN_OR_RETURN(Bytes point, EcPoint(pub));
    key = static_cast<unsigned char*>(OPENSSL_memdup(point.data(), point.size()));
    if (key == nullptr) return ossl::CryptoError("OPENSSL_memdup");
    key_len = static_cast<int>(point.size());
    ok = X509_PUBKEY_set0_param(spki.get(), OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
                                OBJ_nid2obj(CurveNid(pub.curve)), key, key_len);
  } else {
    return Malformed("TPM public area: unsupported key type " + Hex4(pub.type));
  }
  if (ok != 1) {
    OPENSSL_free(key);  // set0 takes it only on success
    return ossl::CryptoError("X509_PUBKEY_set0_param");
  }
  int len = i2d_X509_PUBKEY(spki.get(), nullptr);
  if (len <= 0) return ossl::CryptoError("i2d_X509_PUBKEY");
  Bytes der(static_cast<size_t>(len));
  uint8_t* p = der.data();
  if (i2d_X509_PUBKEY(spki.get(), &p) != len) return ossl::CryptoError("i2d_X509_PUBKEY");
  return der;
}

}  // namespace internal

Status CheckKeyAlg(const TpmPublic& key, KeyAlg alg, std::string_view field) {
  std::string has;
  if (key.type == kAlgRsa) {
    has = "RSA-" + std::to_string(key.rsa_bits);
  } else if (key.curve == kCurveNistP256) {
    has = "ECC NIST P-256";
  } else if (key.curve == kCurveNistP384) {
    has = "ECC NIST P-384";
  } else {
    has = "ECC curve " + std::to_string(key.curve);
  }
  const bool ok = alg == KeyAlg::kRsa2048 ? key.type == kAlgRsa && key.rsa_bits == 2048
                                          : key.type == kAlgEcc && key.curve == kCurveNistP256;
  if (ok) return OkStatus();
  return MakeError(Code::kInvalidArgument, "invalid_request",
                   std::string(field) + ": '" + KeyAlgName(alg) + "', but the key is " + has);
}

Result<TpmPublic> ParseTpm2bPublic(ByteView data) {
  if (data.size() < 2) {
    return Malformed("TPM2B_PUBLIC: " + std::to_string(data.size()) +
                     " bytes, too short for the size field");
  }
  const size_t size = (size_t{data[0]} << 8) | data[1];
  if (size == 0) return Malformed("TPM2B_PUBLIC: empty public area");
  if (size != data.size() - 2) {
    return Malformed("TPM2B_PUBLIC: size field says " + std::to_string(size) + " bytes, " +
                     std::to_string(data.size() - 2) + " bytes follow");
  }
  TPMT_PUBLIC pub{};
  size_t offset = 0;
  const uint8_t* area = data.data() + 2;
  TSS2_RC rc = Tss2_MU_TPMT_PUBLIC_Unmarshal(area, size, &offset, &pub);
  if (rc != TSS2_RC_SUCCESS) {
    return Malformed("TPM2B_PUBLIC: cannot unmarshal TPMT_PUBLIC (truncated or invalid): " +
                     std::string(Tss2_RC_Decode(rc)));
  }
  if (offset != size) {
    return Malformed("TPM2B_PUBLIC: " + std::to_string(size - offset) +
                     " trailing bytes after TPMT_PUBLIC");
  }
  TpmPublic out;
  out.area.assign(area, area + size);
  // The name hashes these exact bytes; refuse encodings that tss2-mu would
  // not reproduce (so every parser computes the same name).
  Bytes again(size);
  size_t moff = 0;
  if (Tss2_MU_TPMT_PUBLIC_Marshal(&pub, again.data(), again.size(), &moff) != TSS2_RC_SUCCESS ||
      moff != size || again != out.area) {
    return Malformed("TPM2B_PUBLIC: TPMT_PUBLIC is not canonically encoded");
  }
  out.type = pub.type;
  out.name_alg = pub.nameAlg;
  out.attributes = pub.objectAttributes;
  out.auth_policy.assign(pub.authPolicy.buffer, pub.authPolicy.buffer + pub.authPolicy.size);
  switch (pub.type) {
    case TPM2_ALG_RSA: {
      const TPMS_RSA_PARMS& p = pub.parameters.rsaDetail;
      CopySymmetric(p.symmetric, out);
      out.scheme = p.scheme.scheme;
      out.scheme_hash = SchemeHash(p.scheme.scheme, p.scheme.details);
      out.rsa_bits = p.keyBits;
      out.rsa_exponent = p.exponent;
      out.rsa_modulus.assign(pub.unique.rsa.buffer, pub.unique.rsa.buffer + pub.unique.rsa.size);
      if (out.rsa_modulus.size() * 8 != out.rsa_bits) {
        return Malformed("TPM2B_PUBLIC: RSA modulus is " + std::to_string(out.rsa_modulus.size()) +
                         " bytes, keyBits says " + std::to_string(out.rsa_bits) + " bits");
      }
      break;
    }
    case TPM2_ALG_ECC: {
      const TPMS_ECC_PARMS& p = pub.parameters.eccDetail;
      CopySymmetric(p.symmetric, out);
      out.scheme = p.scheme.scheme;
      out.scheme_hash = SchemeHash(p.scheme.scheme, p.scheme.details);
      out.curve = p.curveID;
      const TPMS_ECC_POINT& q = pub.unique.ecc;
      out.ecc_x.assign(q.x.buffer, q.x.buffer + q.x.size);
      out.ecc_y.assign(q.y.buffer, q.y.buffer + q.y.size);
      if (out.ecc_x.empty() || out.ecc_y.empty()) {
        return Malformed("TPM2B_PUBLIC: ECC public point is empty");
      }
      break;
    }
    default:
      return Malformed("TPM2B_PUBLIC: unsupported key type " + Hex4(pub.type) +
                       " (only RSA and ECC)");
  }
  return out;
}

Result<Bytes> TpmPublic::Name() const {
  const EVP_MD* md = ossl::MdForTpmAlg(name_alg);
  if (md == nullptr) return Malformed("TPM public area: unsupported nameAlg " + Hex4(name_alg));
  TPMESH_ASSIGN_OR_RETURN(Bytes digest, ossl::Digest(md, area));
  Bytes name = {static_cast<uint8_t>(name_alg >> 8), static_cast<uint8_t>(name_alg)};
  name.insert(name.end(), digest.begin(), digest.end());
  return name;
}

Result<ossl::Pkey> TpmPublic::ToPkey() const {
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld) return ossl::CryptoError("OSSL_PARAM_BLD_new");
  if (type == kAlgRsa) {
    if (rsa_modulus.empty()) return Malformed("TPM public area: empty RSA modulus");
    ossl::Bn n(BN_bin2bn(rsa_modulus.data(), static_cast<int>(rsa_modulus.size()), nullptr));
    ossl::Bn e(BN_new());
    if (!n || !e || BN_set_word(e.get(), RsaExponent(*this)) != 1) {
      return ossl::CryptoError("RSA BIGNUMs");
    }
    if (OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
      return ossl::CryptoError("OSSL_PARAM_BLD RSA");
    }
    TPMESH_ASSIGN_OR_RETURN(ossl::Pkey key, FromData("RSA", bld.get()));
    const uint32_t exponent = RsaExponent(*this);
    if ((rsa_modulus.back() & 1) == 0 || (exponent & 1) == 0 || exponent == 1) {
      return Malformed("public key: RSA modulus or exponent is invalid (even, or e = 1)");
    }
    return key;
  }
  if (type == kAlgEcc) {
    const char* group = GroupName(curve);
    if (group == nullptr) {
      return Malformed("TPM public area: unsupported ECC curve " + Hex4(curve) +
                       " (only NIST P-256 and P-384)");
    }
    TPMESH_ASSIGN_OR_RETURN(Bytes point, EcPoint(*this));
    if (OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                         point.size()) != 1) {
      return ossl::CryptoError("OSSL_PARAM_BLD EC");
    }
    return FromData("EC", bld.get());
  }
  return Malformed("TPM public area: unsupported key type " + Hex4(type));
}

Result<Bytes> TpmPublic::SpkiSha256() const {
  // Only a valid key has a fingerprint.
  if (auto key = ToPkey(); !key.ok()) return key.take_error();
  TPMESH_ASSIGN_OR_RETURN(Bytes der, internal::TpmSpkiDer(*this));
  return ossl::Digest(EVP_sha256(), der);
}

Result<Bytes> SpkiDer(EVP_PKEY* key) {
  if (key == nullptr)
    return MakeError(Code::kInvalidArgument, "invalid_argument", "SpkiDer: no key");
  int len = i2d_PUBKEY(key, nullptr);
  if (len <= 0) return ossl::CryptoError("i2d_PUBKEY");
  Bytes der(static_cast<size_t>(len));
  uint8_t* p = der.data();
  if (i2d_PUBKEY(key, &p) != len) return ossl::CryptoError("i2d_PUBKEY");
  return der;
}

}  // namespace tpmesh::attest
