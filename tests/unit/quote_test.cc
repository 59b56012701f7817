// VerifyQuote, ParseQuoteAttest, CheckAkParameters, CheckQuoteTiming,
// CheckPcrPolicy and PcrDigest on quotes built and signed in software.
#include "tpmesh/attest/quote.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <map>
#include <mutex>
#include <string>

#include "tests/support/tpm_structs.h"
#include "tpmesh/attest/checks.h"

namespace tpmesh::attest {
namespace {

using testing::AkParams;
using testing::GenerateEcKey;
using testing::GenerateRsaKey;
using testing::MakeQuoteAttest;
using testing::MakeTpmPublic;
using testing::PublicParams;
using testing::QuoteFields;
using testing::SignTpm;

template <typename T>
void ExpectCheck(const Result<T>& r, Check check) {
  ASSERT_FALSE(r.ok()) << "expected " << CheckReason(check);
  EXPECT_EQ(r.error().reason, CheckReason(check)) << r.error().ToString();
  EXPECT_EQ(r.error().code, Code::kPermissionDenied);
  EXPECT_FALSE(r.error().message.empty());
}

template <typename T>
void ExpectMalformed(const Result<T>& r, const std::string& what) {
  ASSERT_FALSE(r.ok()) << what;
  EXPECT_EQ(r.error().reason, kReasonMalformed) << what << ": " << r.error().ToString();
}

Bytes Sha(const EVP_MD* md, ByteView data) {
  Bytes out(EVP_MD_get_size(md));
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr);
  return out;
}

// OpenSSL keys are slow to generate (RSA); share them across tests.
EVP_PKEY* CachedKey(const std::string& kind) {
  static std::mutex mu;
  static std::map<std::string, ossl::Pkey> keys;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = keys[kind];
  if (!slot) {
    Result<ossl::Pkey> k = kind.rfind("RSA-", 0) == 0 ? GenerateRsaKey(std::stoi(kind.substr(4)))
                                                      : GenerateEcKey(kind.substr(0, 5).c_str());
    if (k.ok()) slot = std::move(k).value();
  }
  return slot.get();
}

struct AkKind {
  const char* name;
  const char* key;  // CachedKey kind
  uint16_t scheme;
  uint16_t hash;
};

class QuoteTest : public ::testing::TestWithParam<AkKind> {
 protected:
  void SetUp() override {
    key_ = CachedKey(GetParam().key);
    ASSERT_NE(key_, nullptr);
    auto blob = MakeTpmPublic(key_, AkParams(GetParam().scheme, GetParam().hash));
    ASSERT_TRUE(blob.ok()) << blob.error().ToString();
    auto pub = ParseTpm2bPublic(*blob);
    ASSERT_TRUE(pub.ok()) << pub.error().ToString();
    ak_ = std::move(pub).value();
    ASSERT_TRUE(CheckAkParameters(ak_).ok());
    nonce_ = Bytes(32);
    for (size_t i = 0; i < nonce_.size(); ++i) nonce_[i] = static_cast<uint8_t>(0x30 + i);
    values_[0] = Bytes(32, 0x00);
    values_[7] = Bytes(32, 0x77);
    expected_ = *MakePcrSelection(HashAlg::kSha256, {0, 7});
  }

  const EVP_MD* SigMd() const {
    return GetParam().hash == kAlgSha384 ? EVP_sha384() : EVP_sha256();
  }

  // A correct quote's fields over values_ for PCRs 0 and 7.
  QuoteFields Fields() const {
    QuoteFields f;
    f.extra_data = nonce_;
    f.selection = {{kAlgSha256, {0, 7}}};
    Bytes concat = values_.at(0);
    concat.insert(concat.end(), values_.at(7).begin(), values_.at(7).end());
    f.pcr_digest = Sha(SigMd(), concat);
    return f;
  }

  // Evidence for `f`, signed by `signer` (default: the AK) with `scheme`/`hash`
  // (default: the AK's).
  QuoteEvidence Evidence(const QuoteFields& f, EVP_PKEY* signer = nullptr, uint16_t scheme = 0,
                         uint16_t hash = 0) const {
    QuoteEvidence q;
    auto attest = MakeQuoteAttest(f);
    EXPECT_TRUE(attest.ok());
    if (attest.ok()) q.attest = *attest;
    auto sig = SignTpm(signer ? signer : key_, scheme ? scheme : GetParam().scheme,
                       hash ? hash : GetParam().hash, q.attest);
    EXPECT_TRUE(sig.ok()) << (sig.ok() ? "" : sig.error().ToString());
    if (sig.ok()) q.signature = *sig;
    q.selection = expected_;
    q.pcr_values = values_;
    return q;
  }

  Result<QuoteInfo> Verify(const QuoteEvidence& q) const {
    return VerifyQuote(ak_, q, nonce_, expected_);
  }

  EVP_PKEY* key_ = nullptr;
  TpmPublic ak_;
  Bytes nonce_;
  PcrValues values_;
  PcrSelection expected_;
};

TEST_P(QuoteTest, AcceptsGoodQuote) {
  QuoteFields f = Fields();
  f.clock = 123456;
  f.reset_count = 4;
  f.restart_count = 2;
  TPMESH_ASSERT_OK_AND_ASSIGN(QuoteInfo info, Verify(Evidence(f)));
  EXPECT_EQ(info.extra_data, nonce_);
  EXPECT_EQ(info.selection, expected_);
  EXPECT_EQ(info.pcr_digest, f.pcr_digest);
  EXPECT_EQ(info.clock.clock_ms, 123456u);
  EXPECT_EQ(info.clock.reset_count, 4u);
  EXPECT_EQ(info.clock.restart_count, 2u);
  EXPECT_TRUE(info.clock.safe);
  EXPECT_EQ(info.firmware_version, f.firmware_version);
}

TEST_P(QuoteTest, RejectsBadMagicAndWrongType) {
  QuoteFields f = Fields();
  f.magic = 0xff544348;
  ExpectCheck(Verify(Evidence(f)), Check::kQuoteStructure);
  ExpectCheck(ParseQuoteAttest(Evidence(f).attest), Check::kQuoteStructure);
  f = Fields();
  f.type = 0x8017;  // TPM_ST_ATTEST_CERTIFY
  ExpectCheck(Verify(Evidence(f)), Check::kQuoteStructure);
}

TEST_P(QuoteTest, RejectsWrongNonce) {
  QuoteFields f = Fields();
  f.extra_data.back() ^= 1;
  ExpectCheck(Verify(Evidence(f)), Check::kQuoteNonce);
  f.extra_data = Bytes(nonce_.begin(), nonce_.begin() + 16);  // prefix
  ExpectCheck(Verify(Evidence(f)), Check::kQuoteNonce);
  f.extra_data = nonce_;
  f.extra_data.push_back(0);  // longer
  ExpectCheck(Verify(Evidence(f)), Check::kQuoteNonce);
  f.extra_data.clear();
  ExpectCheck(Verify(Evidence(f)), Check::kQuoteNonce);
  ExpectCheck(VerifyQuote(ak_, Evidence(f), {}, expected_), Check::kQuoteNonce);
}

TEST_P(QuoteTest, RejectsPcrValueChangedAfterQuote) {
  QuoteEvidence q = Evidence(Fields());
  q.pcr_values[7][5] ^= 0x10;
  auto r = Verify(q);
  ExpectCheck(r, Check::kPcrDigest);
}

TEST_P(QuoteTest, RejectsMissingAndExtraPcrs) {
  // The TPM quoted fewer PCRs than requested.
  QuoteFields f = Fields();
  f.selection = {{kAlgSha256, {0}}};
  f.pcr_digest = Sha(SigMd(), values_[0]);
  ExpectCheck(Verify(Evidence(f)), Check::kPcrDigest);
  // ... or more.
  f = Fields();
  f.selection = {{kAlgSha256, {0, 7, 8}}};
  ExpectCheck(Verify(Evidence(f)), Check::kPcrDigest);
  // Another bank.
  f = Fields();
  f.selection = {{kAlgSha1, {0, 7}}};
  ExpectCheck(Verify(Evidence(f)), Check::kPcrDigest);
  // Two banks.
  f = Fields();
  f.selection = {{kAlgSha256, {0, 7}}, {kAlgSha1, {0}}};
  ExpectCheck(Verify(Evidence(f)), Check::kPcrDigest);
  // Evidence values missing one PCR, or carrying an extra one.
  QuoteEvidence q = Evidence(Fields());
  q.pcr_values.erase(7);
  ExpectCheck(Verify(q), Check::kPcrDigest);
  q = Evidence(Fields());
  q.pcr_values[9] = Bytes(32, 9);
  ExpectCheck(Verify(q), Check::kPcrDigest);
  // Evidence selection differing from the request.
  q = Evidence(Fields());
  q.selection = *MakePcrSelection(HashAlg::kSha256, {0});
  ExpectCheck(Verify(q), Check::kPcrDigest);
  // Wrong-size value is malformed input.
  q = Evidence(Fields());
  q.pcr_values[7].pop_back();
  ExpectMalformed(Verify(q), "short PCR value");
}

TEST_P(QuoteTest, RejectsBadSignatures) {
  // Another key of the same kind.
  ossl::Pkey other;
  {
    auto k = std::string(GetParam().key).rfind("RSA", 0) == 0 ? GenerateRsaKey(2048)
                                                              : GenerateEcKey(GetParam().key);
    ASSERT_TRUE(k.ok());
    other = std::move(k).value();
  }
  ExpectCheck(Verify(Evidence(Fields(), other.get())), Check::kQuoteSignature);
  // Right key, other hash.
  const uint16_t other_hash = GetParam().hash == kAlgSha256 ? kAlgSha384 : kAlgSha256;
  ExpectCheck(Verify(Evidence(Fields(), nullptr, 0, other_hash)), Check::kQuoteSignature);
  // Right key, other scheme.
  if (ak_.type == kAlgRsa) {
    const uint16_t other_scheme = GetParam().scheme == kAlgRsassa ? kAlgRsapss : kAlgRsassa;
    ExpectCheck(Verify(Evidence(Fields(), nullptr, other_scheme)), Check::kQuoteSignature);
  }
  // Flipped bytes in the signature value and in the signed data.
  QuoteEvidence q = Evidence(Fields());
  q.signature.back() ^= 1;
  ExpectCheck(Verify(q), Check::kQuoteSignature);
  q = Evidence(Fields());
  q.signature[q.signature.size() / 2] ^= 0x80;
  ExpectCheck(Verify(q), Check::kQuoteSignature);
  q = Evidence(Fields());
  q.attest[q.attest.size() - 1] ^= 1;  // last byte of pcrDigest
  ExpectCheck(Verify(q), Check::kQuoteSignature);
}

TEST_P(QuoteTest, TruncatedOrOversizedIsMalformed) {
  const QuoteEvidence good = Evidence(Fields());
  for (size_t n = 0; n < good.attest.size(); ++n) {
    QuoteEvidence q = good;
    q.attest.resize(n);
    ExpectMalformed(Verify(q), "attest cut at " + std::to_string(n));
    ExpectMalformed(ParseQuoteAttest(q.attest), "parse cut at " + std::to_string(n));
  }
  for (size_t n = 0; n < good.signature.size(); ++n) {
    QuoteEvidence q = good;
    q.signature.resize(n);
    ExpectMalformed(Verify(q), "signature cut at " + std::to_string(n));
  }
  QuoteEvidence q = good;
  q.attest.push_back(0);
  ExpectMalformed(Verify(q), "attest trailing byte");
  ExpectMalformed(ParseQuoteAttest(q.attest), "parse trailing byte");
  q = good;
  q.signature.push_back(0);
  ExpectMalformed(Verify(q), "signature trailing byte");
}

INSTANTIATE_TEST_SUITE_P(
    Ak, QuoteTest,
    ::testing::Values(AkKind{"EcdsaP256", "P-256", kAlgEcdsa, kAlgSha256},
                      AkKind{"EcdsaP384Sha384", "P-384", kAlgEcdsa, kAlgSha384},
                      AkKind{"Rsassa2048", "RSA-2048", kAlgRsassa, kAlgSha256},
                      AkKind{"Rsapss2048", "RSA-2048", kAlgRsapss, kAlgSha256}),
    [](const auto& p) { return std::string(p.param.name); });

// --- ParseQuoteAttest selection handling ----------------------------------

Result<QuoteInfo> ParseWithSelection(
    std::vector<std::pair<uint16_t, std::vector<uint32_t>>> selection) {
  QuoteFields f;
  f.extra_data = {1, 2, 3};
  f.selection = std::move(selection);
  f.pcr_digest = Bytes(32, 1);
  auto attest = MakeQuoteAttest(f);
  if (!attest.ok()) return attest.take_error();
  return ParseQuoteAttest(*attest);
}

TEST(ParseQuoteAttest, ConvertsSelectionBitmap) {
  TPMESH_ASSERT_OK_AND_ASSIGN(QuoteInfo info, ParseWithSelection({{kAlgSha1, {23, 0, 9}}}));
  EXPECT_EQ(info.selection.bank, HashAlg::kSha1);
  EXPECT_EQ(info.selection.pcrs, (std::vector<uint32_t>{0, 9, 23}));
  EXPECT_EQ(info.extra_data, (Bytes{1, 2, 3}));
  TPMESH_ASSERT_OK_AND_ASSIGN(QuoteInfo info384, ParseWithSelection({{kAlgSha384, {4}}}));
  EXPECT_EQ(info384.selection.bank, HashAlg::kSha384);
}

TEST(ParseQuoteAttest, RejectsOddSelections) {
  ExpectCheck(ParseWithSelection({}), Check::kPcrDigest);
  ExpectCheck(ParseWithSelection({{kAlgSha256, {}}}), Check::kPcrDigest);
  ExpectCheck(ParseWithSelection({{0x0012 /* SM3 */, {1}}}), Check::kPcrDigest);
  ExpectCheck(ParseWithSelection({{kAlgSha256, {1, 25}}}), Check::kPcrDigest);
  ExpectCheck(ParseWithSelection({{kAlgSha256, {1}}, {kAlgSha384, {1}}}), Check::kPcrDigest);
}

// --- CheckAkParameters (checks 4 and 5) ------------------------------------

Result<TpmPublic> AkFrom(const std::string& key, const PublicParams& p) {
  EVP_PKEY* k = CachedKey(key);
  if (k == nullptr) return Malformed("no key");
  auto blob = MakeTpmPublic(k, p);
  if (!blob.ok()) return blob.take_error();
  return ParseTpm2bPublic(*blob);
}

TEST(CheckAkParameters, AcceptsGoodAks) {
  TPMESH_ASSERT_OK_AND_ASSIGN(TpmPublic ecc, AkFrom("P-256", AkParams(kAlgEcdsa, kAlgSha256)));
  EXPECT_TRUE(CheckAkParameters(ecc).ok());
  TPMESH_ASSERT_OK_AND_ASSIGN(TpmPublic rsa, AkFrom("RSA-2048", AkParams(kAlgRsassa, kAlgSha256)));
  EXPECT_TRUE(CheckAkParameters(rsa).ok());
}

TEST(CheckAkParameters, RejectsBadAttributes) {
  for (uint32_t bit :
       {kAttrFixedTpm, kAttrFixedParent, kAttrSensitiveDataOrigin, kAttrRestricted, kAttrSign}) {
    PublicParams p = AkParams(kAlgEcdsa, kAlgSha256);
    p.attributes &= ~bit;
    TPMESH_ASSERT_OK_AND_ASSIGN(TpmPublic ak, AkFrom("P-256", p));
    ExpectCheck(CheckAkParameters(ak), Check::kAkAttributes);
  }
  PublicParams p = AkParams(kAlgRsassa, kAlgSha256);
  p.attributes |= kAttrDecrypt;
  TPMESH_ASSERT_OK_AND_ASSIGN(TpmPublic ak, AkFrom("RSA-2048", p));
  auto r = CheckAkParameters(ak);
  ExpectCheck(r, Check::kAkAttributes);
  EXPECT_NE(r.error().message.find("decrypt"), std::string::npos);
}

TEST(CheckAkParameters, RejectsWeakAks) {
  struct Weak {
    const char* key;
    PublicParams params;
  };
  PublicParams sha1_name = AkParams(kAlgEcdsa, kAlgSha256);
  sha1_name.name_alg = kAlgSha1;
  const Weak cases[] = {
      {"RSA-1024", AkParams(kAlgRsassa, kAlgSha256)},
      {"P-256", AkParams(kAlgEcdsa, kAlgSha1)},
      {"RSA-2048", AkParams(kAlgRsassa, kAlgSha1)},
      {"P-256", sha1_name},
      {"P-521", AkParams(kAlgEcdsa, kAlgSha256)},
      {"P-256", AkParams(kAlgNull, kAlgNull)},
      {"RSA-2048", AkParams(kAlgNull, kAlgNull)},
      {"P-256", AkParams(kAlgRsassa, kAlgSha256)},  // RSA scheme on an ECC key
      {"RSA-2048", AkParams(kAlgEcdsa, kAlgSha256)},
  };
  for (const Weak& w : cases) {
    TPMESH_ASSERT_OK_AND_ASSIGN(TpmPublic ak, AkFrom(w.key, w.params));
    SCOPED_TRACE(std::string(w.key) + " scheme " + std::to_string(w.params.scheme) + " hash " +
                 std::to_string(w.params.scheme_hash));
    ExpectCheck(CheckAkParameters(ak), Check::kAkWeak);
  }
}

// --- CheckQuoteTiming (check 12) -------------------------------------------

TEST(CheckQuoteTiming, AcceptsForwardProgress) {
  const ClockState prev{1000, 3, 1, true};
  EXPECT_TRUE(CheckQuoteTiming(prev, {2000, 3, 1, true}).ok());
  EXPECT_TRUE(CheckQuoteTiming(prev, {500, 3, 2, true}).ok());  // TPM Restart
  EXPECT_TRUE(CheckQuoteTiming(prev, {10, 4, 0, true}).ok());   // TPM Reset zeroes restartCount
}

TEST(CheckQuoteTiming, RejectsGoingBackwardsAndUnsafe) {
  const ClockState prev{1000, 3, 1, true};
  ExpectCheck(CheckQuoteTiming(prev, {2000, 2, 1, true}), Check::kQuoteTiming);   // reset back
  ExpectCheck(CheckQuoteTiming(prev, {2000, 3, 0, true}), Check::kQuoteTiming);   // restart back
  ExpectCheck(CheckQuoteTiming(prev, {1000, 3, 1, true}), Check::kQuoteTiming);   // clock stuck
  ExpectCheck(CheckQuoteTiming(prev, {999, 3, 1, true}), Check::kQuoteTiming);    // clock back
  ExpectCheck(CheckQuoteTiming(prev, {2000, 3, 1, false}), Check::kQuoteTiming);  // safe == 0
  auto r = CheckQuoteTiming(prev, {2000, 2, 1, true});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("3 -> 2"), std::string::npos) << r.error().message;
}

// --- CheckPcrPolicy (check 11) and PcrDigest -------------------------------

TEST(CheckPcrPolicy, MatchesAnyGoldenValue) {
  PcrPolicy policy{
      "prod", HashAlg::kSha256, {{7, {Bytes(32, 0xaa), Bytes(32, 0xbb)}}, {0, {Bytes(32, 0x01)}}}};
  EXPECT_EQ(policy.Selection(), *MakePcrSelection(HashAlg::kSha256, {0, 7}));
  EXPECT_TRUE(CheckPcrPolicy(policy, {{0, Bytes(32, 0x01)}, {7, Bytes(32, 0xaa)}}).ok());
  EXPECT_TRUE(CheckPcrPolicy(policy, {{0, Bytes(32, 0x01)}, {7, Bytes(32, 0xbb)}}).ok());
  auto r = CheckPcrPolicy(policy, {{0, Bytes(32, 0x01)}, {7, Bytes(32, 0xcc)}});
  ExpectCheck(r, Check::kPcrPolicy);
  EXPECT_NE(r.error().message.find("PCR 7"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("cccccccc"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("aaaaaaaa"), std::string::npos) << r.error().message;
  EXPECT_LT(r.error().message.size(), 200u) << r.error().message;
  ExpectCheck(CheckPcrPolicy(policy, {{7, Bytes(32, 0xaa)}}), Check::kPcrPolicy);  // 0 missing
  ExpectCheck(CheckPcrPolicy(PcrPolicy{"empty", HashAlg::kSha256, {}}, {}), Check::kPcrPolicy);
}

TEST(PcrDigest, HashesValuesInSelectionOrder) {
  const PcrValues values = {{3, Bytes(32, 3)}, {1, Bytes(32, 1)}, {9, Bytes(32, 9)}};
  const PcrSelection sel = *MakePcrSelection(HashAlg::kSha256, {3, 1});
  Bytes concat = Bytes(32, 1);
  concat.insert(concat.end(), 32, 3);
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes d256, PcrDigest(HashAlg::kSha256, sel, values));
  EXPECT_EQ(d256, Sha(EVP_sha256(), concat));
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes d384, PcrDigest(HashAlg::kSha384, sel, values));
  EXPECT_EQ(d384, Sha(EVP_sha384(), concat));
  ExpectMalformed(PcrDigest(HashAlg::kSha256, *MakePcrSelection(HashAlg::kSha256, {2}), values),
                  "missing PCR");
  ExpectMalformed(PcrDigest(HashAlg::kSha256, *MakePcrSelection(HashAlg::kSha1, {1}), values),
                  "wrong-size value");
}

}  // namespace
}  // namespace tpmesh::attest
