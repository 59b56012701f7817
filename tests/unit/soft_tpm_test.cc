// SoftTpm against the real verifier: what it produces must pass every check,
// and what a real TPM would refuse it must refuse too.
#include "tests/support/soft_tpm.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include "tests/support/fake_env.h"
#include "tests/support/tpm_structs.h"
#include "tpmesh/attest/credential.h"
#include "tpmesh/attest/verifier.h"

namespace tpmesh::testing {
namespace {

using attest::KeyAlg;

class SoftTpmTest : public ::testing::TestWithParam<KeyAlg> {
 protected:
  void SetUp() override { ASSERT_TRUE(trust_.AddPem(SoftTpm::TrustedRoot().Pem()).ok()); }

  attest::Verifier MakeVerifier(bool require_ek_cert = true) {
    attest::VerifierOptions o;
    o.require_ek_cert = require_ek_cert;
    return attest::Verifier(trust_, o, clock_, rng_);
  }

  static attest::EnrollEvidence Evidence(const attest::EkBundle& ek, const attest::AkBlob& ak) {
    return attest::EnrollEvidence{ek.ek_public, ek.ek_cert_der, ek.intermediates, ak.public_area};
  }

  static attest::PcrPolicy PolicyOf(const attest::PcrValues& values) {
    attest::PcrPolicy p{"golden", attest::HashAlg::kSha256, {}};
    for (const auto& [pcr, v] : values) p.golden[pcr].push_back(v);
    return p;
  }

  attest::TrustStore trust_;
  FakeClock clock_;
  FakeRandom rng_{7};
};

TEST_P(SoftTpmTest, FullVerifierRoundTripPasses) {
  SoftTpm tpm("round-trip-" + std::string(attest::KeyAlgName(GetParam())));
  ASSERT_TRUE(tpm.ExtendPcr(7, Bytes(32, 0x5a)).ok());
  auto verifier = MakeVerifier();
  TPMESH_ASSERT_OK_AND_ASSIGN(auto ek, tpm.ReadEk(GetParam()));
  ASSERT_TRUE(ek.ek_cert_der.has_value());
  ASSERT_EQ(ek.intermediates.size(), 1u);
  TPMESH_ASSERT_OK_AND_ASSIGN(auto ak, tpm.CreateAk(KeyAlg::kEccP256));
  attest::CheckLog log;
  TPMESH_ASSERT_OK_AND_ASSIGN(auto begun, verifier.Begin(Evidence(ek, ak), &log));
  auto& [challenge, pending] = begun;

  TPMESH_ASSERT_OK_AND_ASSIGN(SecretBytes secret,
                              tpm.ActivateCredential(ak, GetParam(), challenge.credential));
  EXPECT_TRUE(ConstantTimeEqual(secret.view(), pending.secret.view()));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto quote, tpm.Quote(ak, challenge.selection, challenge.nonce));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto golden, tpm.ReadPcrs(challenge.selection));
  const attest::PcrPolicy policy = PolicyOf(golden);

  attest::ChallengeResponse response{std::move(secret), quote};
  TPMESH_ASSERT_OK_AND_ASSIGN(auto node, verifier.Complete(pending, response, &policy, &log));
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes ek_hash, tpm.EkSha256(GetParam()));
  EXPECT_EQ(node.ek_spki_sha256, ek_hash);
  EXPECT_EQ(node.quote.extra_data, challenge.nonce);
  ASSERT_TRUE(node.ek_cert.has_value());
  EXPECT_FALSE(node.ek_cert->software_tpm);
  for (const auto& c : log) EXPECT_TRUE(c.passed) << static_cast<int>(c.check) << c.detail;
  EXPECT_GE(log.size(), 12u);
  EXPECT_EQ(tpm.TransientHandleCount().value(), 0u);
}

TEST_P(SoftTpmTest, ChangedPcrFailsThePolicy) {
  SoftTpm tpm("policy-" + std::string(attest::KeyAlgName(GetParam())));
  auto verifier = MakeVerifier();
  TPMESH_ASSERT_OK_AND_ASSIGN(auto ek, tpm.ReadEk(GetParam()));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto ak, tpm.CreateAk(KeyAlg::kEccP256));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto begun, verifier.Begin(Evidence(ek, ak)));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto golden, tpm.ReadPcrs(begun.first.selection));
  ASSERT_TRUE(tpm.ExtendPcr(4, Bytes(32, 0x01)).ok());  // e.g. a different bootloader
  TPMESH_ASSERT_OK_AND_ASSIGN(SecretBytes secret,
                              tpm.ActivateCredential(ak, GetParam(), begun.first.credential));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto quote, tpm.Quote(ak, begun.first.selection, begun.first.nonce));
  const attest::PcrPolicy policy = PolicyOf(golden);
  auto r = verifier.Complete(begun.second, {std::move(secret), quote}, &policy);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "pcr_policy_mismatch");
}

TEST_P(SoftTpmTest, WrongCredentialFailsActivation) {
  SoftTpm tpm("wrong-cred-" + std::string(attest::KeyAlgName(GetParam())));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto ek, tpm.ReadEk(GetParam()));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto ek_pub, attest::ParseTpm2bPublic(ek.ek_public));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto ak, tpm.CreateAk(KeyAlg::kEccP256));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto other_ak, tpm.CreateAk(KeyAlg::kEccP256));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto other_pub, attest::ParseTpm2bPublic(other_ak.public_area));
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes other_name, other_pub.Name());
  const Bytes secret(32, 0x42);

  // Made for another AK of the same TPM: the HMAC binds the AK name.
  TPMESH_ASSERT_OK_AND_ASSIGN(auto for_other,
                              attest::MakeCredential(ek_pub, other_name, secret, rng_));
  auto r = tpm.ActivateCredential(ak, GetParam(), for_other);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "tpm_activation_failed");
  // ...and with the right AK it activates.
  TPMESH_ASSERT_OK_AND_ASSIGN(SecretBytes got,
                              tpm.ActivateCredential(other_ak, GetParam(), for_other));
  EXPECT_TRUE(ConstantTimeEqual(got.view(), secret));

  // Tampered encrypted identity (last byte of the ID object).
  TPMESH_ASSERT_OK_AND_ASSIGN(auto good, attest::MakeCredential(ek_pub, other_name, secret, rng_));
  good.id_object.back() ^= 0x01;
  r = tpm.ActivateCredential(other_ak, GetParam(), good);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "tpm_activation_failed");

  // Made for another TPM's EK.
  SoftTpm other("wrong-cred-other-" + std::string(attest::KeyAlgName(GetParam())));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto other_ek, other.ReadEk(GetParam()));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto other_ek_pub, attest::ParseTpm2bPublic(other_ek.ek_public));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto foreign,
                              attest::MakeCredential(other_ek_pub, other_name, secret, rng_));
  r = tpm.ActivateCredential(other_ak, GetParam(), foreign);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "tpm_activation_failed");

  // Truncated structure.
  attest::Credential cut = for_other;
  cut.id_object.resize(cut.id_object.size() - 3);
  r = tpm.ActivateCredential(other_ak, GetParam(), cut);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "tpm_structure_malformed");
}

INSTANTIATE_TEST_SUITE_P(EkAlgs, SoftTpmTest, ::testing::Values(KeyAlg::kRsa2048, KeyAlg::kEccP256),
                         [](const ::testing::TestParamInfo<KeyAlg>& p) {
                           return p.param == KeyAlg::kRsa2048 ? "Rsa" : "Ecc";
                         });

TEST(SoftTpm, SeedNamesTheEk) {
  SoftTpm a("seed-a"), a2("seed-a"), b("seed-b");
  TPMESH_ASSERT_OK_AND_ASSIGN(auto ha, a.EkSha256(KeyAlg::kEccP256));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto ha2, a2.EkSha256(KeyAlg::kEccP256));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto hb, b.EkSha256(KeyAlg::kEccP256));
  EXPECT_EQ(ha, ha2);
  EXPECT_NE(ha, hb);
  TPMESH_ASSERT_OK_AND_ASSIGN(auto ra, a.EkSha256(KeyAlg::kRsa2048));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto ra2, a2.EkSha256(KeyAlg::kRsa2048));
  EXPECT_EQ(ra, ra2);
  EXPECT_NE(ra, ha);
}

TEST(SoftTpm, UntrustedAndAbsentEkCertificates) {
  attest::TrustStore trust;
  ASSERT_TRUE(trust.AddPem(SoftTpm::TrustedRoot().Pem()).ok());
  FakeClock clock;
  FakeRandom rng;
  attest::Verifier verifier(trust, attest::VerifierOptions{}, clock, rng);

  SoftTpm untrusted("untrusted", EkCertSource::kUntrusted);
  TPMESH_ASSERT_OK_AND_ASSIGN(auto ek, untrusted.ReadEk(KeyAlg::kEccP256));
  ASSERT_TRUE(ek.ek_cert_der.has_value());
  TPMESH_ASSERT_OK_AND_ASSIGN(auto ak, untrusted.CreateAk(KeyAlg::kEccP256));
  auto r = verifier.Begin({ek.ek_public, ek.ek_cert_der, ek.intermediates, ak.public_area});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "ek_cert_untrusted");

  SoftTpm absent("absent", EkCertSource::kAbsent);
  TPMESH_ASSERT_OK_AND_ASSIGN(auto ek2, absent.ReadEk(KeyAlg::kEccP256));
  EXPECT_FALSE(ek2.ek_cert_der.has_value());
  EXPECT_TRUE(ek2.intermediates.empty());
  TPMESH_ASSERT_OK_AND_ASSIGN(auto ak2, absent.CreateAk(KeyAlg::kEccP256));
  r = verifier.Begin({ek2.ek_public, ek2.ek_cert_der, ek2.intermediates, ak2.public_area});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "ek_cert_untrusted");
}

TEST(SoftTpm, SoftwareTpmManufacturerNeedsDevMode) {
  SoftTpmOptions o;
  o.seed = "swtpm-like";
  o.cert_spec.manufacturer = "id:00001014";  // IBM: swtpm
  o.cert_spec.model = "swtpm";
  SoftTpm tpm(o);
  attest::TrustStore trust;
  ASSERT_TRUE(trust.AddPem(SoftTpm::TrustedRoot().Pem()).ok());
  FakeClock clock;
  FakeRandom rng;
  TPMESH_ASSERT_OK_AND_ASSIGN(auto ek, tpm.ReadEk(KeyAlg::kEccP256));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto ak, tpm.CreateAk(KeyAlg::kEccP256));
  attest::EnrollEvidence ev{ek.ek_public, ek.ek_cert_der, ek.intermediates, ak.public_area};
  auto strict = attest::Verifier(trust, attest::VerifierOptions{}, clock, rng).Begin(ev);
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.error().reason, "software_tpm_rejected");
  attest::VerifierOptions dev;
  dev.allow_software_tpm = true;
  EXPECT_TRUE(attest::Verifier(trust, dev, clock, rng).Begin(ev).ok());
}

TEST(SoftTpm, AkOfAnotherTpmDoesNotLoad) {
  SoftTpm a("ak-owner"), b("ak-thief");
  TPMESH_ASSERT_OK_AND_ASSIGN(auto ak, a.CreateAk(KeyAlg::kEccP256));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto sel, attest::MakePcrSelection(attest::HashAlg::kSha256, {0}));
  const Bytes nonce(16, 1);
  EXPECT_TRUE(a.Quote(ak, sel, nonce).ok());
  auto r = b.Quote(ak, sel, nonce);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "tpm_ak_invalid");
  // The same TPM (same seed) in a new instance still loads it.
  SoftTpm a2("ak-owner");
  EXPECT_TRUE(a2.Quote(ak, sel, nonce).ok());
  // A blob round-trips through its file format.
  TPMESH_ASSERT_OK_AND_ASSIGN(auto parsed, attest::AkBlob::Parse(ak.Serialize()));
  EXPECT_TRUE(a.Quote(parsed, sel, nonce).ok());
}

TEST(SoftTpm, PcrsExtendAndQuoteClockAdvances) {
  SoftTpm tpm("pcrs");
  TPMESH_ASSERT_OK_AND_ASSIGN(auto sel,
                              attest::MakePcrSelection(attest::HashAlg::kSha256, {0, 17}));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto before, tpm.ReadPcrs(sel));
  EXPECT_EQ(before[0], Bytes(32, 0));
  EXPECT_EQ(before[17], Bytes(32, 0xff));
  const Bytes d(32, 0xab);
  ASSERT_TRUE(tpm.ExtendPcr(0, d).ok());
  Bytes concat(64, 0);  // old value (zeros) || digest
  for (size_t i = 0; i < d.size(); ++i) concat[32 + i] = d[i];
  Bytes expect(32);
  SHA256(concat.data(), concat.size(), expect.data());
  TPMESH_ASSERT_OK_AND_ASSIGN(auto after, tpm.ReadPcrs(sel));
  EXPECT_EQ(after[0], expect);
  EXPECT_FALSE(tpm.ExtendPcr(24, d).ok());
  EXPECT_FALSE(tpm.ExtendPcr(0, Bytes(20, 0)).ok());

  TPMESH_ASSERT_OK_AND_ASSIGN(auto ak, tpm.CreateAk(KeyAlg::kEccP256));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto q1, tpm.Quote(ak, sel, Bytes(32, 1)));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto q2, tpm.Quote(ak, sel, Bytes(32, 2)));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto i1, attest::ParseQuoteAttest(q1.attest));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto i2, attest::ParseQuoteAttest(q2.attest));
  EXPECT_GT(i2.clock.clock_ms, i1.clock.clock_ms);
  EXPECT_TRUE(attest::CheckQuoteTiming(i1.clock, i2.clock).ok());
  EXPECT_EQ(q1.pcr_values.at(0), expect);

  tpm.Reset();
  TPMESH_ASSERT_OK_AND_ASSIGN(auto reset, tpm.ReadPcrs(sel));
  EXPECT_EQ(reset[0], Bytes(32, 0));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto q3, tpm.Quote(ak, sel, Bytes(32, 3)));
  TPMESH_ASSERT_OK_AND_ASSIGN(auto i3, attest::ParseQuoteAttest(q3.attest));
  EXPECT_EQ(i3.clock.reset_count, i2.clock.reset_count + 1);

  auto sha1 = tpm.ReadPcrs(attest::PcrSelection{attest::HashAlg::kSha1, {0}});
  ASSERT_FALSE(sha1.ok());
  EXPECT_EQ(sha1.error().reason, "pcr_bank_unavailable");
}

}  // namespace
}  // namespace tpmesh::testing
