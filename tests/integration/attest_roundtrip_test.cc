// Both sides of attestation together against a real swtpm: the verifier
// (attest::Verifier) judging evidence produced by our node side (OpenTpm) and
// by an independent implementation (tpm2-tools), and refusing each attack of
// docs/attestation.md that a real TPM lets us stage.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/support/fake_env.h"
#include "tests/support/swtpm.h"
#include "tests/support/tpm_structs.h"
#include "tpmesh/attest/tpm.h"
#include "tpmesh/attest/verifier.h"

namespace tpmesh::attest {
namespace {

using testing::RunCommand;
using testing::Swtpm;

#define RT_ASSERT_OK_AND_ASSIGN(lhs, expr) TPMESH_ASSERT_OK_AND_ASSIGN(lhs, expr)

std::string Reason(const Error& e) { return e.reason; }

class AttestRoundTrip : public ::testing::Test {
 protected:
  void SetUp() override {
    RT_ASSERT_OK_AND_ASSIGN(swtpm_, Swtpm::Start());
    RT_ASSERT_OK_AND_ASSIGN(auto root, testing::ReadFileBytes(swtpm_->ca_root_pem()));
    RT_ASSERT_OK_AND_ASSIGN(auto inter, testing::ReadFileBytes(swtpm_->ca_intermediate_pem()));
    ASSERT_TRUE(trust_.AddPem(std::string(root.begin(), root.end())).ok());
    ASSERT_TRUE(trust_.AddPem(std::string(inter.begin(), inter.end())).ok());
    clock_.Set(ToUnixSeconds(SystemClock::Instance().Now()));
    VerifierOptions opts;
    opts.allow_software_tpm = true;
    verifier_ = std::make_unique<Verifier>(trust_, opts, clock_, SystemRandom::Instance());
    OpenTpmOrDie();
  }

  void OpenTpmOrDie() {
    auto t = OpenTpm(swtpm_->tcti());
    ASSERT_TRUE(t.ok()) << t.error().ToString();
    tpm_ = std::move(*t);
  }

  void ExpectNoHandles() {
    auto n = tpm_->TransientHandleCount();
    ASSERT_TRUE(n.ok()) << n.error().ToString();
    EXPECT_EQ(*n, 0u);
  }

  // Round 1 + round 2 with our own node side. Returns the verdict.
  Result<AttestedNode> RoundTrip(KeyAlg ek_alg, KeyAlg ak_alg, const PcrPolicy* policy,
                                 CheckLog* log = nullptr) {
    TPMESH_ASSIGN_OR_RETURN(auto ek, tpm_->ReadEk(ek_alg));
    TPMESH_ASSIGN_OR_RETURN(auto ak, tpm_->CreateAk(ak_alg));
    EnrollEvidence ev{ek.ek_public, ek.ek_cert_der, ek.intermediates, ak.public_area};
    TPMESH_ASSIGN_OR_RETURN(auto begun, verifier_->Begin(ev, log));
    TPMESH_ASSIGN_OR_RETURN(auto secret,
                            tpm_->ActivateCredential(ak, ek_alg, begun.first.credential));
    TPMESH_ASSIGN_OR_RETURN(auto quote, tpm_->Quote(ak, begun.first.selection, begun.first.nonce));
    return verifier_->Complete(begun.second, ChallengeResponse{std::move(secret), quote}, policy,
                               log);
  }

  PcrPolicy CurrentPolicy() {
    auto values = tpm_->ReadPcrs(verifier_->options().selection);
    EXPECT_TRUE(values.ok());
    PcrPolicy p{"golden", HashAlg::kSha256, {}};
    if (values.ok())
      for (auto& [pcr, v] : *values) p.golden[pcr].push_back(v);
    return p;
  }

  std::unique_ptr<Swtpm> swtpm_;
  TrustStore trust_;
  testing::FakeClock clock_;
  std::unique_ptr<Verifier> verifier_;
  std::unique_ptr<Tpm> tpm_;
};

TEST_F(AttestRoundTrip, RsaEkEccAkIsAdmittedWithEveryCheckPassed) {
  PcrPolicy policy = CurrentPolicy();
  CheckLog log;
  auto node = RoundTrip(KeyAlg::kRsa2048, KeyAlg::kEccP256, &policy, &log);
  ASSERT_TRUE(node.ok()) << node.error().ToString();
  EXPECT_EQ(node->ek_spki_sha256.size(), 32u);
  ASSERT_TRUE(node->ek_cert.has_value());
  EXPECT_TRUE(node->ek_cert->software_tpm);
  // Every check except 12 and 13 (the caller's, with prior records) ran and passed.
  std::set<int> passed;
  for (const auto& o : log) {
    EXPECT_TRUE(o.passed) << CheckReason(o.check) << ": " << o.detail;
    passed.insert(static_cast<int>(o.check));
  }
  EXPECT_EQ(passed, (std::set<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15}));
  ExpectNoHandles();
}

TEST_F(AttestRoundTrip, EccEkRsaAkIsAdmitted) {
  PcrPolicy policy = CurrentPolicy();
  auto node = RoundTrip(KeyAlg::kEccP256, KeyAlg::kRsa2048, &policy);
  ASSERT_TRUE(node.ok()) << node.error().ToString();
  ExpectNoHandles();
}

TEST_F(AttestRoundTrip, SoftwareTpmRefusedOutsideDevMode) {
  Verifier strict(trust_, VerifierOptions{}, clock_, SystemRandom::Instance());
  RT_ASSERT_OK_AND_ASSIGN(auto ek, tpm_->ReadEk(KeyAlg::kRsa2048));
  RT_ASSERT_OK_AND_ASSIGN(auto ak, tpm_->CreateAk(KeyAlg::kEccP256));
  auto r = strict.Begin(EnrollEvidence{ek.ek_public, ek.ek_cert_der, {}, ak.public_area});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Reason(r.error()), "software_tpm_rejected");
}

TEST_F(AttestRoundTrip, EkCertFromAnotherUntrustedLocalCaIsRefused) {
  RT_ASSERT_OK_AND_ASSIGN(auto other, Swtpm::Start());  // its own, untrusted CA
  RT_ASSERT_OK_AND_ASSIGN(auto other_tpm, OpenTpm(other->tcti()));
  RT_ASSERT_OK_AND_ASSIGN(auto ek, other_tpm->ReadEk(KeyAlg::kRsa2048));
  RT_ASSERT_OK_AND_ASSIGN(auto ak, other_tpm->CreateAk(KeyAlg::kEccP256));
  auto r = verifier_->Begin(EnrollEvidence{ek.ek_public, ek.ek_cert_der, {}, ak.public_area});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Reason(r.error()), "ek_cert_untrusted") << r.error().message;
}

TEST_F(AttestRoundTrip, GenuineCertWithAnotherTpmsEkIsRefused) {
  // A node copies this TPM's genuine certificate but presents its own EK.
  RT_ASSERT_OK_AND_ASSIGN(auto other, Swtpm::Start());
  RT_ASSERT_OK_AND_ASSIGN(auto other_tpm, OpenTpm(other->tcti()));
  RT_ASSERT_OK_AND_ASSIGN(auto their_ek, other_tpm->ReadEk(KeyAlg::kRsa2048));
  RT_ASSERT_OK_AND_ASSIGN(auto ek, tpm_->ReadEk(KeyAlg::kRsa2048));
  RT_ASSERT_OK_AND_ASSIGN(auto ak, other_tpm->CreateAk(KeyAlg::kEccP256));
  auto r = verifier_->Begin(EnrollEvidence{their_ek.ek_public, ek.ek_cert_der, {}, ak.public_area});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Reason(r.error()), "ek_key_mismatch");
}

TEST_F(AttestRoundTrip, PcrExtendedAfterPolicyWasSetIsRefused) {
  PcrPolicy policy = CurrentPolicy();
  ASSERT_TRUE(tpm_->ExtendPcr(7, Bytes(32, 0xab)).ok());
  auto node = RoundTrip(KeyAlg::kRsa2048, KeyAlg::kEccP256, &policy);
  ASSERT_FALSE(node.ok());
  EXPECT_EQ(Reason(node.error()), "pcr_policy_mismatch");
  EXPECT_NE(node.error().message.find("7"), std::string::npos) << node.error().message;
  ExpectNoHandles();
}

struct Staged {
  EkBundle ek;
  AkBlob ak;
};

TEST_F(AttestRoundTrip, QuoteReplayedWithAnOldNonceIsRefused) {
  RT_ASSERT_OK_AND_ASSIGN(auto ek, tpm_->ReadEk(KeyAlg::kRsa2048));
  RT_ASSERT_OK_AND_ASSIGN(auto ak, tpm_->CreateAk(KeyAlg::kEccP256));
  EnrollEvidence ev{ek.ek_public, ek.ek_cert_der, {}, ak.public_area};
  RT_ASSERT_OK_AND_ASSIGN(auto first, verifier_->Begin(ev));
  RT_ASSERT_OK_AND_ASSIGN(auto old_quote,
                          tpm_->Quote(ak, first.first.selection, first.first.nonce));
  RT_ASSERT_OK_AND_ASSIGN(auto second, verifier_->Begin(ev));
  RT_ASSERT_OK_AND_ASSIGN(auto secret,
                          tpm_->ActivateCredential(ak, KeyAlg::kRsa2048, second.first.credential));
  auto r =
      verifier_->Complete(second.second, ChallengeResponse{std::move(secret), old_quote}, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Reason(r.error()), "quote_nonce_mismatch");
  ExpectNoHandles();
}

TEST_F(AttestRoundTrip, SecretReplayedOrChallengeReusedIsRefused) {
  RT_ASSERT_OK_AND_ASSIGN(auto ek, tpm_->ReadEk(KeyAlg::kRsa2048));
  RT_ASSERT_OK_AND_ASSIGN(auto ak, tpm_->CreateAk(KeyAlg::kEccP256));
  EnrollEvidence ev{ek.ek_public, ek.ek_cert_der, {}, ak.public_area};
  ChallengeBook book(clock_);
  RT_ASSERT_OK_AND_ASSIGN(auto first, verifier_->Begin(ev));
  RT_ASSERT_OK_AND_ASSIGN(auto old_secret,
                          tpm_->ActivateCredential(ak, KeyAlg::kRsa2048, first.first.credential));
  std::string id = book.Put(std::move(first.second), SystemRandom::Instance());
  RT_ASSERT_OK_AND_ASSIGN(auto pending, book.Take(id));
  RT_ASSERT_OK_AND_ASSIGN(auto quote, tpm_->Quote(ak, first.first.selection, first.first.nonce));
  ASSERT_TRUE(
      verifier_
          ->Complete(pending, ChallengeResponse{SecretBytes(old_secret.view()), quote}, nullptr)
          .ok());

  // The same challenge again: already used.
  auto again = book.Take(id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(Reason(again.error()), "activation_secret_invalid");

  // The old secret against a new challenge: wrong secret.
  RT_ASSERT_OK_AND_ASSIGN(auto second, verifier_->Begin(ev));
  RT_ASSERT_OK_AND_ASSIGN(auto quote2, tpm_->Quote(ak, second.first.selection, second.first.nonce));
  auto r =
      verifier_->Complete(second.second, ChallengeResponse{std::move(old_secret), quote2}, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Reason(r.error()), "activation_secret_invalid");

  // An expired challenge.
  RT_ASSERT_OK_AND_ASSIGN(auto third, verifier_->Begin(ev));
  RT_ASSERT_OK_AND_ASSIGN(auto secret3,
                          tpm_->ActivateCredential(ak, KeyAlg::kRsa2048, third.first.credential));
  RT_ASSERT_OK_AND_ASSIGN(auto quote3, tpm_->Quote(ak, third.first.selection, third.first.nonce));
  clock_.Advance(61);
  auto late =
      verifier_->Complete(third.second, ChallengeResponse{std::move(secret3), quote3}, nullptr);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(Reason(late.error()), "activation_secret_invalid");
  ExpectNoHandles();
}

TEST_F(AttestRoundTrip, ForgedSignatureIsRefused) {
  RT_ASSERT_OK_AND_ASSIGN(auto ek, tpm_->ReadEk(KeyAlg::kRsa2048));
  RT_ASSERT_OK_AND_ASSIGN(auto ak, tpm_->CreateAk(KeyAlg::kEccP256));
  RT_ASSERT_OK_AND_ASSIGN(auto begun, verifier_->Begin(EnrollEvidence{
                                          ek.ek_public, ek.ek_cert_der, {}, ak.public_area}));
  RT_ASSERT_OK_AND_ASSIGN(auto secret,
                          tpm_->ActivateCredential(ak, KeyAlg::kRsa2048, begun.first.credential));
  RT_ASSERT_OK_AND_ASSIGN(auto quote, tpm_->Quote(ak, begun.first.selection, begun.first.nonce));
  quote.signature[quote.signature.size() - 5] ^= 0x01;
  auto r = verifier_->Complete(begun.second, ChallengeResponse{std::move(secret), quote}, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Reason(r.error()), "quote_signature_invalid");
}

TEST_F(AttestRoundTrip, TruncatedOrOversizedStructuresAreMalformed) {
  RT_ASSERT_OK_AND_ASSIGN(auto ek, tpm_->ReadEk(KeyAlg::kRsa2048));
  RT_ASSERT_OK_AND_ASSIGN(auto ak, tpm_->CreateAk(KeyAlg::kEccP256));
  Bytes truncated(ek.ek_public.begin(), ek.ek_public.end() - 7);
  auto r1 = verifier_->Begin(EnrollEvidence{truncated, ek.ek_cert_der, {}, ak.public_area});
  ASSERT_FALSE(r1.ok());
  EXPECT_EQ(Reason(r1.error()), kReasonMalformed);
  EXPECT_NE(r1.error().message.find("ek_public"), std::string::npos);
  Bytes oversized = ak.public_area;
  oversized.push_back(0);
  auto r2 = verifier_->Begin(EnrollEvidence{ek.ek_public, ek.ek_cert_der, {}, oversized});
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(Reason(r2.error()), kReasonMalformed);

  RT_ASSERT_OK_AND_ASSIGN(auto begun, verifier_->Begin(EnrollEvidence{
                                          ek.ek_public, ek.ek_cert_der, {}, ak.public_area}));
  RT_ASSERT_OK_AND_ASSIGN(auto secret,
                          tpm_->ActivateCredential(ak, KeyAlg::kRsa2048, begun.first.credential));
  RT_ASSERT_OK_AND_ASSIGN(auto quote, tpm_->Quote(ak, begun.first.selection, begun.first.nonce));
  quote.attest.push_back(0);
  auto r3 = verifier_->Complete(begun.second, ChallengeResponse{std::move(secret), quote}, nullptr);
  ASSERT_FALSE(r3.ok());
  EXPECT_EQ(Reason(r3.error()), kReasonMalformed);
}

// ---- Keys made on the same TPM with tpm2-tools, posing as the AK ----------

class AttestWithTools : public AttestRoundTrip {
 protected:
  // Creates a key under an owner-hierarchy ECC primary with `attributes`;
  // returns the TPM2B_PUBLIC. Leaves key.ctx in the swtpm dir.
  Result<Bytes> ToolsKey(const std::string& attributes, const std::string& scheme) {
    tpm_.reset();  // swtpm serves one connection at a time
    const std::string d = swtpm_->dir();
    auto env = swtpm_->ToolsEnv();
    // swtpm has no resource manager and 3 object slots: flush after each tool.
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {"tpm2_createprimary", "-C", "o", "-g", "sha256", "-G", "ecc", "-c", d + "/prim.ctx"},
             {"tpm2_flushcontext", "-t"},
             {"tpm2_create", "-C", d + "/prim.ctx", "-G", scheme, "-a", attributes, "-u",
              d + "/key.pub", "-r", d + "/key.priv"},
             {"tpm2_flushcontext", "-t"}}) {
      auto r = RunCommand(argv, env);
      if (r.exit_code != 0) {
        return MakeError(Code::kInternal, "tool_failed", argv[0] + ": " + r.output);
      }
    }
    return testing::ReadFileBytes(d + "/key.pub");
  }
};

TEST_F(AttestWithTools, UnrestrictedSigningKeyPosingAsAkCannotPassForgedQuote) {
  RT_ASSERT_OK_AND_ASSIGN(auto ek, tpm_->ReadEk(KeyAlg::kRsa2048));
  RT_ASSERT_OK_AND_ASSIGN(Bytes key_pub,
                          ToolsKey("fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign",
                                   "ecc256:ecdsa-sha256"));
  auto begun = verifier_->Begin(EnrollEvidence{ek.ek_public, ek.ek_cert_der, {}, key_pub});
  ASSERT_FALSE(begun.ok());
  EXPECT_EQ(Reason(begun.error()), "ak_attributes_invalid");

  // Why check 4 matters: this key signs a forged TPMS_ATTEST with chosen PCR
  // values, and that signature is cryptographically valid.
  RT_ASSERT_OK_AND_ASSIGN(auto key, ParseTpm2bPublic(key_pub));
  PcrSelection sel{HashAlg::kSha256, {0}};
  PcrValues forged_values{{0, Bytes(32, 0)}};
  RT_ASSERT_OK_AND_ASSIGN(Bytes digest, PcrDigest(HashAlg::kSha256, sel, forged_values));
  Bytes nonce(32, 0x5a);
  testing::QuoteFields f;
  f.extra_data = nonce;
  f.selection = {{kAlgSha256, {0}}};
  f.pcr_digest = digest;
  RT_ASSERT_OK_AND_ASSIGN(Bytes attest, testing::MakeQuoteAttest(f));
  const std::string d = swtpm_->dir();
  ASSERT_TRUE(testing::WriteFileBytes(d + "/forged.bin", attest).ok());
  auto env = swtpm_->ToolsEnv();
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {"tpm2_load", "-C", d + "/prim.ctx", "-u", d + "/key.pub", "-r", d + "/key.priv", "-c",
            d + "/key.ctx"},
           {"tpm2_flushcontext", "-t"},
           {"tpm2_sign", "-c", d + "/key.ctx", "-g", "sha256", "-o", d + "/forged.sig",
            d + "/forged.bin"},
           {"tpm2_flushcontext", "-t"}}) {
    auto r = RunCommand(argv, env);
    ASSERT_EQ(r.exit_code, 0) << argv[0] << ": " << r.output;
  }
  RT_ASSERT_OK_AND_ASSIGN(Bytes sig, testing::ReadFileBytes(d + "/forged.sig"));
  auto q = VerifyQuote(key, QuoteEvidence{attest, sig, sel, forged_values}, nonce, sel);
  EXPECT_TRUE(q.ok()) << "the forged quote's signature should verify: " << q.error().ToString();
}

TEST_F(AttestWithTools, AkWithoutFixedTpmIsRefused) {
  RT_ASSERT_OK_AND_ASSIGN(auto ek, tpm_->ReadEk(KeyAlg::kRsa2048));
  RT_ASSERT_OK_AND_ASSIGN(
      Bytes key_pub,
      ToolsKey("sensitivedataorigin|userwithauth|restricted|sign", "ecc256:ecdsa-sha256:null"));
  auto begun = verifier_->Begin(EnrollEvidence{ek.ek_public, ek.ek_cert_der, {}, key_pub});
  ASSERT_FALSE(begun.ok());
  EXPECT_EQ(Reason(begun.error()), "ak_attributes_invalid");
  EXPECT_NE(begun.error().message.find("fixedTPM"), std::string::npos) << begun.error().message;
}

// ---- Interoperability: tpm2-tools on the node side -------------------------

TEST_F(AttestWithTools, Tpm2ToolsEvidenceIsAcceptedAndActivatesOurCredential) {
  RT_ASSERT_OK_AND_ASSIGN(auto ek, tpm_->ReadEk(KeyAlg::kRsa2048));
  RT_ASSERT_OK_AND_ASSIGN(auto pcrs, tpm_->ReadPcrs(verifier_->options().selection));
  tpm_.reset();
  const std::string d = swtpm_->dir();
  auto env = swtpm_->ToolsEnv();
  auto run = [&](const std::vector<std::string>& argv) {
    auto r = RunCommand(argv, env);
    EXPECT_EQ(r.exit_code, 0) << argv[0] << ": " << r.output;
    return r.exit_code == 0;
  };
  ASSERT_TRUE(run({"tpm2_createek", "-G", "rsa", "-u", d + "/ek.pub", "-c", d + "/ek.ctx"}));
  ASSERT_TRUE(
      run({"tpm2_createak", "-C", d + "/ek.ctx", "-c", d + "/ak.ctx", "-G", "ecc", "-g", "sha256",
           "-s", "ecdsa", "-u", d + "/ak.pub", "-n", d + "/ak.name", "-r", d + "/ak.priv"}));
  ASSERT_TRUE(run({"tpm2_flushcontext", "-t"}));
  RT_ASSERT_OK_AND_ASSIGN(Bytes tools_ek, testing::ReadFileBytes(d + "/ek.pub"));
  RT_ASSERT_OK_AND_ASSIGN(Bytes tools_ak, testing::ReadFileBytes(d + "/ak.pub"));
  EXPECT_EQ(tools_ek, ek.ek_public) << "tpm2_createek and ReadEk must use the same TCG template";

  RT_ASSERT_OK_AND_ASSIGN(auto begun,
                          verifier_->Begin(EnrollEvidence{tools_ek, ek.ek_cert_der, {}, tools_ak}));
  // Our MakeCredential's output in tpm2-tools' file format.
  Bytes cred = {0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1};
  cred.insert(cred.end(), begun.first.credential.id_object.begin(),
              begun.first.credential.id_object.end());
  cred.insert(cred.end(), begun.first.credential.encrypted_secret.begin(),
              begun.first.credential.encrypted_secret.end());
  ASSERT_TRUE(testing::WriteFileBytes(d + "/cred.in", cred).ok());
  ASSERT_TRUE(testing::WriteFileBytes(d + "/nonce.bin", begun.first.nonce).ok());
  ASSERT_TRUE(run({"tpm2_startauthsession", "--policy-session", "-S", d + "/session.ctx"}));
  ASSERT_TRUE(run({"tpm2_policysecret", "-S", d + "/session.ctx", "-c", "e"}));
  ASSERT_TRUE(
      run({"tpm2_activatecredential", "-c", d + "/ak.ctx", "-C", d + "/ek.ctx", "-i",
           d + "/cred.in", "-o", d + "/secret.out", "-P", "session:" + d + "/session.ctx"}));
  ASSERT_TRUE(run({"tpm2_flushcontext", d + "/session.ctx"}));
  ASSERT_TRUE(run({"tpm2_flushcontext", "-t"}));
  ASSERT_TRUE(run({"tpm2_quote", "-c", d + "/ak.ctx", "-l", "sha256:0,1,2,3,4,5,6,7", "-q",
                   HexEncode(begun.first.nonce), "-m", d + "/quote.msg", "-s", d + "/quote.sig",
                   "-g", "sha256"}));
  ASSERT_TRUE(run({"tpm2_flushcontext", "-t"}));
  RT_ASSERT_OK_AND_ASSIGN(Bytes secret, testing::ReadFileBytes(d + "/secret.out"));
  RT_ASSERT_OK_AND_ASSIGN(Bytes msg, testing::ReadFileBytes(d + "/quote.msg"));
  RT_ASSERT_OK_AND_ASSIGN(Bytes sig, testing::ReadFileBytes(d + "/quote.sig"));
  QuoteEvidence q{msg, sig, begun.first.selection, pcrs};
  auto node = verifier_->Complete(begun.second, ChallengeResponse{SecretBytes(secret), q}, nullptr);
  ASSERT_TRUE(node.ok()) << node.error().ToString();
  EXPECT_EQ(node->ak_public, tools_ak);
}

}  // namespace
}  // namespace tpmesh::attest
