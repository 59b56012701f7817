// Quote verification, AK parameter checks, PCR policy and quote timing
// (checks 4, 5, 7-12).
#include "tpmesh/attest/quote.h"

#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include <cstdio>

#include "format.h"
#include "ossl.h"
#include "tpmesh/attest/checks.h"

namespace tpmesh::attest {
namespace {

// First 8 bytes in hex, enough to tell values apart in a message.
std::string ShortHex(ByteView v) {
  if (v.size() <= 8) return HexEncode(v);
  return HexEncode(v.first(8)) + "...";
}

std::string PcrList(const std::vector<uint32_t>& pcrs) {
  std::string s;
  for (uint32_t p : pcrs) s += (s.empty() ? "" : ",") + std::to_string(p);
  return "{" + s + "}";
}

// Unmarshals a T that must fill `data` exactly.
template <typename T, typename Fn>
Result<T> UnmarshalExact(Fn fn, ByteView data, const char* what) {
  if (data.empty()) return Malformed(std::string(what) + ": empty");
  T out{};
  size_t off = 0;
  TSS2_RC rc = fn(data.data(), data.size(), &off, &out);
  if (rc != TSS2_RC_SUCCESS) {
    return Malformed(std::string(what) +
                     ": cannot unmarshal (truncated or invalid): " + Tss2_RC_Decode(rc));
  }
  if (off != data.size()) {
    return Malformed(std::string(what) + ": " + std::to_string(data.size() - off) +
                     " trailing bytes");
  }
  return out;
}

std::optional<HashAlg> BankOf(uint16_t tpm_alg) {
  switch (tpm_alg) {
    case kAlgSha1: return HashAlg::kSha1;
    case kAlgSha256: return HashAlg::kSha256;
    case kAlgSha384: return HashAlg::kSha384;
    default: return std::nullopt;
  }
}

// Check 8 and the quote-info conversion on an already unmarshaled attest.
Result<QuoteInfo> InfoFromAttest(const TPMS_ATTEST& a) {
  if (a.magic != TPM2_GENERATED_VALUE) {
    return CheckFailure(Check::kQuoteStructure, "attest magic is " + Hex4(a.magic) +
                                                    ", not TPM_GENERATED_VALUE 0xff544347");
  }
  if (a.type != TPM2_ST_ATTEST_QUOTE) {
    return CheckFailure(Check::kQuoteStructure,
                        "attest type is " + Hex4(a.type) + ", not TPM_ST_ATTEST_QUOTE 0x8018");
  }
  QuoteInfo info;
  info.qualified_signer.assign(a.qualifiedSigner.name,
                               a.qualifiedSigner.name + a.qualifiedSigner.size);
  info.extra_data.assign(a.extraData.buffer, a.extraData.buffer + a.extraData.size);
  info.clock = ClockState{a.clockInfo.clock, a.clockInfo.resetCount, a.clockInfo.restartCount,
                          a.clockInfo.safe != 0};
  info.firmware_version = a.firmwareVersion;
  const TPMS_QUOTE_INFO& q = a.attested.quote;
  info.pcr_digest.assign(q.pcrDigest.buffer, q.pcrDigest.buffer + q.pcrDigest.size);
  if (q.pcrSelect.count != 1) {
    return CheckFailure(Check::kPcrDigest, "quote selects " + std::to_string(q.pcrSelect.count) +
                                               " PCR banks, expected exactly one");
  }
  const TPMS_PCR_SELECTION& sel = q.pcrSelect.pcrSelections[0];
  std::optional<HashAlg> bank = BankOf(sel.hash);
  if (!bank) {
    return CheckFailure(Check::kPcrDigest, "quote selects unsupported PCR bank " + Hex4(sel.hash));
  }
  std::vector<uint32_t> pcrs;
  for (uint32_t i = 0; i < 8u * sel.sizeofSelect; ++i) {
    if ((sel.pcrSelect[i / 8] >> (i % 8)) & 1) pcrs.push_back(i);
  }
  auto selection = MakePcrSelection(*bank, std::move(pcrs));
  if (!selection.ok()) {
    return CheckFailure(Check::kPcrDigest, "quote selection: " + selection.error().message);
  }
  info.selection = std::move(selection).value();
  return info;
}

Result<Bytes> PcrDigestWith(const EVP_MD* md, const PcrSelection& selection,
                            const PcrValues& values) {
  const size_t size = HashAlgSize(selection.bank);
  Bytes concat;
  for (uint32_t pcr : selection.pcrs) {
    auto it = values.find(pcr);
    if (it == values.end()) {
      return Malformed("pcr_values: no value for PCR " + std::to_string(pcr));
    }
    if (it->second.size() != size) {
      return Malformed("pcr_values: PCR " + std::to_string(pcr) + " value is " +
                       std::to_string(it->second.size()) + " bytes, the " +
                       HashAlgName(selection.bank) + " bank has " + std::to_string(size));
    }
    concat.insert(concat.end(), it->second.begin(), it->second.end());
  }
  return ossl::Digest(md, concat);
}

// Check 7: TPMT_SIGNATURE by `ak` over `attest` with the AK's scheme and hash.
Status VerifySignature(const TpmPublic& ak, const TPMT_SIGNATURE& sig, ByteView attest) {
  uint16_t hash = kAlgNull;
  Bytes der;  // the signature as OpenSSL verifies it
  switch (sig.sigAlg) {
    case TPM2_ALG_RSASSA:
    case TPM2_ALG_RSAPSS: {
      const TPMS_SIGNATURE_RSA& r =
          sig.sigAlg == TPM2_ALG_RSASSA ? sig.signature.rsassa : sig.signature.rsapss;
      hash = r.hash;
      der.assign(r.sig.buffer, r.sig.buffer + r.sig.size);
      break;
    }
    case TPM2_ALG_ECDSA: {
      const TPMS_SIGNATURE_ECC& e = sig.signature.ecdsa;
      hash = e.hash;
      ossl::Bn r(BN_bin2bn(e.signatureR.buffer, e.signatureR.size, nullptr));
      ossl::Bn s(BN_bin2bn(e.signatureS.buffer, e.signatureS.size, nullptr));
      std::unique_ptr<ECDSA_SIG, ossl::Deleter<ECDSA_SIG_free>> es(ECDSA_SIG_new());
      if (!r || !s || !es || ECDSA_SIG_set0(es.get(), r.get(), s.get()) != 1) {
        return ossl::CryptoError("ECDSA_SIG");
      }
      r.release();  // owned by es now
      s.release();
      int len = i2d_ECDSA_SIG(es.get(), nullptr);
      if (len <= 0) return ossl::CryptoError("i2d_ECDSA_SIG");
      der.resize(static_cast<size_t>(len));
      uint8_t* p = der.data();
      i2d_ECDSA_SIG(es.get(), &p);
      break;
    }
    default:
      return CheckFailure(Check::kQuoteSignature,
                          "signature algorithm " + Hex4(sig.sigAlg) + " is not supported");
  }
  if (sig.sigAlg != ak.scheme || hash != ak.scheme_hash) {
    return CheckFailure(Check::kQuoteSignature, "signature uses scheme " + Hex4(sig.sigAlg) +
                                                    " hash " + Hex4(hash) +
                                                    ", the AK's scheme is " + Hex4(ak.scheme) +
                                                    " hash " + Hex4(ak.scheme_hash));
  }
  const EVP_MD* md = ossl::MdForTpmAlg(hash);
  if (md == nullptr) {
    return CheckFailure(Check::kQuoteSignature, "unsupported signature hash " + Hex4(hash));
  }
  TPMESH_ASSIGN_OR_RETURN(ossl::Pkey key, ak.ToPkey());
  ossl::MdCtx ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key.get()) != 1) {
    return ossl::CryptoError("EVP_DigestVerifyInit");
  }
  if (sig.sigAlg == TPM2_ALG_RSAPSS &&
      (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1)) {
    return ossl::CryptoError("RSA-PSS setup");
  }
  if (sig.sigAlg == TPM2_ALG_RSASSA && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
    return ossl::CryptoError("RSA PKCS#1 setup");
  }
  int ok = EVP_DigestVerify(ctx.get(), der.data(), der.size(), attest.data(), attest.size());
  if (ok != 1) {
    ERR_clear_error();
    return CheckFailure(Check::kQuoteSignature, "quote signature does not verify with the AK");
  }
  return OkStatus();
}

}  // namespace

Result<QuoteInfo> ParseQuoteAttest(ByteView attest) {
  TPMESH_ASSIGN_OR_RETURN(TPMS_ATTEST a, UnmarshalExact<TPMS_ATTEST>(Tss2_MU_TPMS_ATTEST_Unmarshal,
                                                                     attest, "quote attest"));
  return InfoFromAttest(a);
}

// Check 4: object attributes. Check 5: algorithm strength, including the
// scheme: a restricted signing AK must name RSASSA/RSAPSS (RSA) or ECDSA
// (ECC) with SHA-256 or stronger; anything else (NULL, ECDAA, SM2, Schnorr)
// is rejected as kAkWeak, because it is the algorithm choice, not the key's
// TPM binding, that is wrong.
Status CheckAkParameters(const TpmPublic& ak) {
  struct Need {
    uint32_t bit;
    const char* name;
  };
  static constexpr Need kNeeded[] = {{kAttrFixedTpm, "fixedTPM"},
                                     {kAttrFixedParent, "fixedParent"},
                                     {kAttrSensitiveDataOrigin, "sensitiveDataOrigin"},
                                     {kAttrRestricted, "restricted"},
                                     {kAttrSign, "sign"}};
  for (const Need& n : kNeeded) {
    if ((ak.attributes & n.bit) == 0) {
      return CheckFailure(Check::kAkAttributes, std::string("AK lacks ") + n.name +
                                                    " (attributes " + Hex4(ak.attributes) + ")");
    }
  }
  if (ak.attributes & kAttrDecrypt) {
    return CheckFailure(Check::kAkAttributes,
                        "AK has decrypt set (attributes " + Hex4(ak.attributes) + ")");
  }
  auto strong_hash = [](uint16_t h) {
    return h == kAlgSha256 || h == kAlgSha384 || h == 0x000D /* SHA-512 */;
  };
  if (!strong_hash(ak.name_alg)) {
    return CheckFailure(Check::kAkWeak,
                        "AK nameAlg " + Hex4(ak.name_alg) + " is not SHA-256, SHA-384 or SHA-512");
  }
  if (ak.type == kAlgRsa) {
    if (ak.rsa_bits < 2048) {
      return CheckFailure(Check::kAkWeak,
                          "AK is RSA-" + std::to_string(ak.rsa_bits) + ", need at least 2048");
    }
    if (ak.scheme != kAlgRsassa && ak.scheme != kAlgRsapss) {
      return CheckFailure(Check::kAkWeak,
                          "RSA AK scheme " + Hex4(ak.scheme) + " is not RSASSA or RSAPSS");
    }
  } else if (ak.type == kAlgEcc) {
    if (ak.curve != kCurveNistP256 && ak.curve != kCurveNistP384) {
      return CheckFailure(Check::kAkWeak,
                          "AK curve " + Hex4(ak.curve) + " is not NIST P-256 or P-384");
    }
    if (ak.scheme != kAlgEcdsa) {
      return CheckFailure(Check::kAkWeak, "ECC AK scheme " + Hex4(ak.scheme) + " is not ECDSA");
    }
  } else {
    return CheckFailure(Check::kAkWeak, "AK key type " + Hex4(ak.type) + " is not RSA or ECC");
  }
  if (!strong_hash(ak.scheme_hash)) {
    return CheckFailure(Check::kAkWeak, "AK signing hash " + Hex4(ak.scheme_hash) +
                                            " is not SHA-256, SHA-384 or SHA-512");
  }
  return OkStatus();
}

Result<QuoteInfo> VerifyQuote(const TpmPublic& ak, const QuoteEvidence& q, ByteView expected_nonce,
                              const PcrSelection& expected_selection) {
  // Structure first (Malformed), then trust nothing inside until the
  // signature has verified.
  TPMESH_ASSIGN_OR_RETURN(
      TPMS_ATTEST attest,
      UnmarshalExact<TPMS_ATTEST>(Tss2_MU_TPMS_ATTEST_Unmarshal, q.attest, "quote attest"));
  TPMESH_ASSIGN_OR_RETURN(TPMT_SIGNATURE sig,
                          UnmarshalExact<TPMT_SIGNATURE>(Tss2_MU_TPMT_SIGNATURE_Unmarshal,
                                                         q.signature, "quote signature"));
  TPMESH_RETURN_IF_ERROR(VerifySignature(ak, sig, q.attest));       // 7
  TPMESH_ASSIGN_OR_RETURN(QuoteInfo info, InfoFromAttest(attest));  // 8
  if (expected_nonce.empty()) {                                     // 9
    return CheckFailure(Check::kQuoteNonce, "no nonce expected: a quote needs a fresh challenge");
  }
  if (!ConstantTimeEqual(info.extra_data, expected_nonce)) {
    return CheckFailure(Check::kQuoteNonce, "quote extraData (" +
                                                std::to_string(info.extra_data.size()) +
                                                " bytes) is not this challenge's nonce (" +
                                                std::to_string(expected_nonce.size()) + " bytes)");
  }
  // 10: selection exact, values cover it exactly, digest matches.
  auto describe = [](const PcrSelection& s) {
    return std::string(HashAlgName(s.bank)) + ":" + PcrList(s.pcrs);
  };
  if (!(info.selection == expected_selection)) {
    return CheckFailure(Check::kPcrDigest, "quote covers PCRs " + describe(info.selection) +
                                               ", expected " + describe(expected_selection));
  }
  if (!(q.selection == expected_selection)) {
    return CheckFailure(Check::kPcrDigest, "evidence lists PCRs " + describe(q.selection) +
                                               ", expected " + describe(expected_selection));
  }
  std::vector<uint32_t> have;
  for (const auto& [pcr, value] : q.pcr_values) have.push_back(pcr);
  if (have != expected_selection.pcrs) {
    return CheckFailure(Check::kPcrDigest, "evidence has values for PCRs " + PcrList(have) +
                                               ", expected " + PcrList(expected_selection.pcrs));
  }
  TPMESH_ASSIGN_OR_RETURN(Bytes digest, PcrDigestWith(ossl::MdForTpmAlg(ak.scheme_hash),
                                                      expected_selection, q.pcr_values));
  if (digest != info.pcr_digest) {
    return CheckFailure(Check::kPcrDigest, "quoted pcrDigest " + ShortHex(info.pcr_digest) +
                                               " does not match the PCR values sent (" +
                                               ShortHex(digest) + ")");
  }
  return info;
}

Status CheckQuoteTiming(const ClockState& previous, const ClockState& current) {
  auto fail = [](const std::string& what, uint64_t before, uint64_t now) {
    return CheckFailure(Check::kQuoteTiming,
                        what + " (" + std::to_string(before) + " -> " + std::to_string(now) + ")");
  };
  if (!current.safe) {
    return CheckFailure(Check::kQuoteTiming, "TPM clock is not safe (safe == 0)");
  }
  if (current.reset_count < previous.reset_count) {
    return fail("resetCount went backwards", previous.reset_count, current.reset_count);
  }
  // A TPM Reset (resetCount++) zeroes restartCount, so compare it only within
  // one reset cycle.
  if (current.reset_count > previous.reset_count) return OkStatus();
  if (current.restart_count < previous.restart_count) {
    return fail("restartCount went backwards", previous.restart_count, current.restart_count);
  }
  if (current.restart_count == previous.restart_count && current.clock_ms <= previous.clock_ms) {
    return fail("TPM clock did not advance", previous.clock_ms, current.clock_ms);
  }
  return OkStatus();
}

PcrSelection PcrPolicy::Selection() const {
  PcrSelection s;
  s.bank = bank;
  for (const auto& [pcr, values] : golden) s.pcrs.push_back(pcr);
  return s;
}

Status CheckPcrPolicy(const PcrPolicy& policy, const PcrValues& values) {
  if (policy.golden.empty()) {
    return CheckFailure(Check::kPcrPolicy, "PCR policy '" + policy.name + "' names no PCRs");
  }
  for (const auto& [pcr, goldens] : policy.golden) {
    auto it = values.find(pcr);
    if (it == values.end()) {
      return CheckFailure(Check::kPcrPolicy, "PCR " + std::to_string(pcr) +
                                                 " required by policy '" + policy.name +
                                                 "' was not quoted");
    }
    bool match = false;
    for (const Bytes& g : goldens) match = match || g == it->second;
    if (!match) {
      std::string expected;
      for (const Bytes& g : goldens) expected += (expected.empty() ? "" : " or ") + ShortHex(g);
      if (expected.empty()) expected = "(no golden value)";
      return CheckFailure(Check::kPcrPolicy, "PCR " + std::to_string(pcr) + " is " +
                                                 ShortHex(it->second) + ", policy '" + policy.name +
                                                 "' expects " + expected);
    }
  }
  return OkStatus();
}

Result<Bytes> PcrDigest(HashAlg alg, const PcrSelection& selection, const PcrValues& values) {
  return PcrDigestWith(ossl::MdForHashAlg(alg), selection, values);
}

}  // namespace tpmesh::attest
