#include "tests/support/tpm_structs.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include <cstring>
#include <memory>
#include <string>

#include "tpmesh/ossl/ossl.h"

namespace tpmesh::testing {
namespace {

Error Fail(const std::string& what) { return MakeError(Code::kInternal, "test_support", what); }

using ossl::Bn;
using ossl::MdCtx;
using ossl::PkeyCtx;
using EcdsaSig = std::unique_ptr<ECDSA_SIG, ossl::Deleter<ECDSA_SIG_free>>;

const EVP_MD* Md(uint16_t alg) {
  switch (alg) {
    case TPM2_ALG_SHA1: return EVP_sha1();
    case TPM2_ALG_SHA256: return EVP_sha256();
    case TPM2_ALG_SHA384: return EVP_sha384();
    case TPM2_ALG_SHA512: return EVP_sha512();
    default: return nullptr;
  }
}

Bn GetBn(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(key, name, &bn);
  return Bn(bn);
}

template <typename T, typename Fn>
Result<Bytes> Marshal(Fn fn, const T& v) {
  Bytes out(sizeof(T) + 16);
  size_t off = 0;
  if (fn(&v, out.data(), out.size(), &off) != TSS2_RC_SUCCESS) return Fail("marshal");
  out.resize(off);
  return out;
}

// memcpy that tolerates an empty source (whose data() may be null).
void CopyBytes(uint8_t* dst, const Bytes& src) {
  if (!src.empty()) std::memcpy(dst, src.data(), src.size());
}

void SetScheme(TPMI_ALG_ASYM_SCHEME scheme, uint16_t hash, TPMU_ASYM_SCHEME& d) {
  switch (scheme) {
    case TPM2_ALG_RSASSA: d.rsassa.hashAlg = hash; break;
    case TPM2_ALG_RSAPSS: d.rsapss.hashAlg = hash; break;
    case TPM2_ALG_ECDSA: d.ecdsa.hashAlg = hash; break;
    case TPM2_ALG_OAEP: d.oaep.hashAlg = hash; break;
    default: break;
  }
}

}  // namespace

Result<ossl::Pkey> GenerateRsaKey(int bits) {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
  if (k == nullptr) return Fail("RSA keygen");
  return ossl::Pkey(k);
}

Result<ossl::Pkey> GenerateEcKey(const char* group) {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", group);
  if (k == nullptr) return Fail("EC keygen");
  return ossl::Pkey(k);
}

PublicParams EkParams() {
  PublicParams p;
  p.attributes = attest::kAttrFixedTpm | attest::kAttrFixedParent |
                 attest::kAttrSensitiveDataOrigin | attest::kAttrAdminWithPolicy |
                 attest::kAttrRestricted | attest::kAttrDecrypt;
  // PolicySecret(TPM_RH_ENDORSEMENT), TCG EK Credential Profile B.3.3.
  p.auth_policy = {0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8, 0x1A, 0x90, 0xCC,
                   0x8D, 0x46, 0xA5, 0xD7, 0x24, 0xFD, 0x52, 0xD7, 0x6E, 0x06, 0x52,
                   0x0B, 0x64, 0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14, 0x69, 0xAA};
  p.symmetric = attest::kAlgAes;
  p.symmetric_bits = 128;
  p.symmetric_mode = attest::kAlgCfb;
  return p;
}

PublicParams AkParams(uint16_t scheme, uint16_t hash) {
  PublicParams p;
  p.attributes = attest::kAttrFixedTpm | attest::kAttrFixedParent |
                 attest::kAttrSensitiveDataOrigin | attest::kAttrUserWithAuth |
                 attest::kAttrRestricted | attest::kAttrSign;
  p.scheme = scheme;
  p.scheme_hash = hash;
  return p;
}

Result<Bytes> MakeTpmPublic(EVP_PKEY* key, const PublicParams& params) {
  TPM2B_PUBLIC pub{};
  TPMT_PUBLIC& t = pub.publicArea;
  t.nameAlg = params.name_alg;
  t.objectAttributes = params.attributes;
  if (params.auth_policy.size() > sizeof t.authPolicy.buffer) return Fail("policy too long");
  t.authPolicy.size = static_cast<UINT16>(params.auth_policy.size());
  CopyBytes(t.authPolicy.buffer, params.auth_policy);
  TPMT_SYM_DEF_OBJECT sym{};
  sym.algorithm = params.symmetric;
  sym.keyBits.sym = params.symmetric_bits;
  sym.mode.sym = params.symmetric_mode;

  if (EVP_PKEY_is_a(key, "RSA")) {
    t.type = TPM2_ALG_RSA;
    TPMS_RSA_PARMS& r = t.parameters.rsaDetail;
    r.symmetric = sym;
    r.scheme.scheme = params.scheme;
    SetScheme(params.scheme, params.scheme_hash, r.scheme.details);
    r.keyBits = static_cast<UINT16>(EVP_PKEY_get_bits(key));
    Bn n = GetBn(key, OSSL_PKEY_PARAM_RSA_N), e = GetBn(key, OSSL_PKEY_PARAM_RSA_E);
    if (!n || !e) return Fail("RSA parameters");
    r.exponent = BN_is_word(e.get(), 65537) ? 0 : static_cast<UINT32>(BN_get_word(e.get()));
    int len = BN_bn2binpad(n.get(), t.unique.rsa.buffer, r.keyBits / 8);
    if (len < 0) return Fail("RSA modulus");
    t.unique.rsa.size = static_cast<UINT16>(len);
  } else if (EVP_PKEY_is_a(key, "EC")) {
    t.type = TPM2_ALG_ECC;
    TPMS_ECC_PARMS& e = t.parameters.eccDetail;
    e.symmetric = sym;
    e.scheme.scheme = params.scheme;
    SetScheme(params.scheme, params.scheme_hash, e.scheme.details);
    e.kdf.scheme = TPM2_ALG_NULL;
    char group[64] = {};
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       nullptr) != 1) {
      return Fail("EC group");
    }
    std::string g = group;
    int n = 0;
    if (g == "prime256v1" || g == "P-256") {
      e.curveID = TPM2_ECC_NIST_P256;
      n = 32;
    } else if (g == "secp384r1" || g == "P-384") {
      e.curveID = TPM2_ECC_NIST_P384;
      n = 48;
    } else if (g == "secp521r1" || g == "P-521") {
      e.curveID = TPM2_ECC_NIST_P521;
      n = 66;
    } else {
      return Fail("unsupported group " + g);
    }
    Bn x = GetBn(key, OSSL_PKEY_PARAM_EC_PUB_X), y = GetBn(key, OSSL_PKEY_PARAM_EC_PUB_Y);
    if (!x || !y || BN_bn2binpad(x.get(), t.unique.ecc.x.buffer, n) != n ||
        BN_bn2binpad(y.get(), t.unique.ecc.y.buffer, n) != n) {
      return Fail("EC point");
    }
    t.unique.ecc.x.size = t.unique.ecc.y.size = static_cast<UINT16>(n);
  } else {
    return Fail("key is neither RSA nor EC");
  }
  return Marshal(Tss2_MU_TPM2B_PUBLIC_Marshal, pub);
}

Result<Bytes> MakeQuoteAttest(const QuoteFields& f) {
  TPMS_ATTEST a{};
  a.magic = f.magic;
  a.type = f.type;
  if (f.qualified_signer.size() > sizeof a.qualifiedSigner.name ||
      f.extra_data.size() > sizeof a.extraData.buffer ||
      f.pcr_digest.size() > sizeof a.attested.quote.pcrDigest.buffer ||
      f.selection.size() > TPM2_NUM_PCR_BANKS) {
    return Fail("quote field too long");
  }
  a.qualifiedSigner.size = static_cast<UINT16>(f.qualified_signer.size());
  CopyBytes(a.qualifiedSigner.name, f.qualified_signer);
  a.extraData.size = static_cast<UINT16>(f.extra_data.size());
  CopyBytes(a.extraData.buffer, f.extra_data);
  a.clockInfo.clock = f.clock;
  a.clockInfo.resetCount = f.reset_count;
  a.clockInfo.restartCount = f.restart_count;
  a.clockInfo.safe = f.safe ? 1 : 0;
  a.firmwareVersion = f.firmware_version;
  if (f.type == TPM2_ST_ATTEST_QUOTE) {
    TPMS_QUOTE_INFO& q = a.attested.quote;
    q.pcrSelect.count = static_cast<UINT32>(f.selection.size());
    for (size_t i = 0; i < f.selection.size(); ++i) {
      TPMS_PCR_SELECTION& s = q.pcrSelect.pcrSelections[i];
      s.hash = f.selection[i].first;
      s.sizeofSelect = 3;
      for (uint32_t pcr : f.selection[i].second) {
        if (pcr >= 8u * TPM2_PCR_SELECT_MAX) return Fail("PCR index out of range");
        if (pcr >= 24) s.sizeofSelect = TPM2_PCR_SELECT_MAX;
        s.pcrSelect[pcr / 8] |= static_cast<BYTE>(1u << (pcr % 8));
      }
    }
    q.pcrDigest.size = static_cast<UINT16>(f.pcr_digest.size());
    CopyBytes(q.pcrDigest.buffer, f.pcr_digest);
  }
  return Marshal(Tss2_MU_TPMS_ATTEST_Marshal, a);
}

Result<Bytes> SignTpm(EVP_PKEY* key, uint16_t sig_alg, uint16_t hash_alg, ByteView data) {
  const EVP_MD* md = Md(hash_alg);
  if (md == nullptr) return Fail("unsupported hash");
  MdCtx ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, key) != 1) {
    return Fail("EVP_DigestSignInit");
  }
  if (sig_alg == TPM2_ALG_RSAPSS &&
      (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return Fail("PSS setup");
  }
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, data.data(), data.size()) != 1) {
    return Fail("EVP_DigestSign size");
  }
  Bytes raw(len);
  if (EVP_DigestSign(ctx.get(), raw.data(), &len, data.data(), data.size()) != 1) {
    return Fail("EVP_DigestSign");
  }
  raw.resize(len);

  TPMT_SIGNATURE sig{};
  sig.sigAlg = sig_alg;
  if (sig_alg == TPM2_ALG_RSASSA || sig_alg == TPM2_ALG_RSAPSS) {
    TPMS_SIGNATURE_RSA& r =
        sig_alg == TPM2_ALG_RSASSA ? sig.signature.rsassa : sig.signature.rsapss;
    r.hash = hash_alg;
    if (raw.size() > sizeof r.sig.buffer) return Fail("RSA signature too long");
    r.sig.size = static_cast<UINT16>(raw.size());
    CopyBytes(r.sig.buffer, raw);
  } else if (sig_alg == TPM2_ALG_ECDSA) {
    const uint8_t* p = raw.data();
    EcdsaSig es(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(raw.size())));
    if (!es) return Fail("ECDSA DER");
    const int n = (EVP_PKEY_get_bits(key) + 7) / 8;
    TPMS_SIGNATURE_ECC& e = sig.signature.ecdsa;
    e.hash = hash_alg;
    if (BN_bn2binpad(ECDSA_SIG_get0_r(es.get()), e.signatureR.buffer, n) != n ||
        BN_bn2binpad(ECDSA_SIG_get0_s(es.get()), e.signatureS.buffer, n) != n) {
      return Fail("ECDSA r/s");
    }
    e.signatureR.size = e.signatureS.size = static_cast<UINT16>(n);
  } else {
    return Fail("unsupported signature algorithm");
  }
  return Marshal(Tss2_MU_TPMT_SIGNATURE_Marshal, sig);
}

}  // namespace tpmesh::testing
