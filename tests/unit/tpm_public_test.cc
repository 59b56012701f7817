// ParseTpm2bPublic, TpmPublic::Name/ToPkey/SpkiSha256 on structures built
// with tss2-mu from OpenSSL keys.
#include "tpmesh/attest/tpm_public.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "tests/support/tpm_structs.h"
#include "tpmesh/attest/checks.h"

namespace tpmesh::attest {
namespace {

using testing::AkParams;
using testing::EkParams;
using testing::GenerateEcKey;
using testing::GenerateRsaKey;
using testing::MakeTpmPublic;

void ExpectMalformed(ByteView data, const std::string& what) {
  auto r = ParseTpm2bPublic(data);
  ASSERT_FALSE(r.ok()) << what;
  EXPECT_EQ(r.error().code, Code::kInvalidArgument) << what;
  EXPECT_EQ(r.error().reason, kReasonMalformed) << what;
  EXPECT_NE(r.error().message.find("TPM2B_PUBLIC"), std::string::npos) << r.error().message;
}

Bytes Sha(const EVP_MD* md, ByteView data) {
  Bytes out(EVP_MD_get_size(md));
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr);
  return out;
}

TEST(TpmPublic, RsaRoundTrip) {
  TPMESH_ASSERT_OK_AND_ASSIGN(ossl::Pkey key, GenerateRsaKey(2048));
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes blob,
                              MakeTpmPublic(key.get(), AkParams(kAlgRsassa, kAlgSha256)));
  TPMESH_ASSERT_OK_AND_ASSIGN(TpmPublic pub, ParseTpm2bPublic(blob));
  EXPECT_EQ(pub.type, kAlgRsa);
  EXPECT_EQ(pub.name_alg, kAlgSha256);
  EXPECT_EQ(pub.attributes, AkParams(kAlgRsassa, kAlgSha256).attributes);
  EXPECT_EQ(pub.scheme, kAlgRsassa);
  EXPECT_EQ(pub.scheme_hash, kAlgSha256);
  EXPECT_EQ(pub.symmetric, kAlgNull);
  EXPECT_EQ(pub.rsa_bits, 2048);
  EXPECT_EQ(pub.rsa_exponent, 0u);
  EXPECT_EQ(pub.rsa_modulus.size(), 256u);
  EXPECT_EQ(pub.area, Bytes(blob.begin() + 2, blob.end()));

  // The area is exactly what tss2-mu marshals for the parsed TPMT_PUBLIC.
  TPM2B_PUBLIC mu{};
  size_t off = 0;
  ASSERT_EQ(Tss2_MU_TPM2B_PUBLIC_Unmarshal(blob.data(), blob.size(), &off, &mu), TSS2_RC_SUCCESS);
  Bytes area(sizeof(TPMT_PUBLIC));
  size_t moff = 0;
  ASSERT_EQ(Tss2_MU_TPMT_PUBLIC_Marshal(&mu.publicArea, area.data(), area.size(), &moff),
            TSS2_RC_SUCCESS);
  area.resize(moff);
  EXPECT_EQ(pub.area, area);

  TPMESH_ASSERT_OK_AND_ASSIGN(ossl::Pkey back, pub.ToPkey());
  EXPECT_EQ(EVP_PKEY_eq(back.get(), key.get()), 1);
}

TEST(TpmPublic, RsaKeyWithBadExponentOrEvenModulusIsMalformed) {
  TPMESH_ASSERT_OK_AND_ASSIGN(ossl::Pkey key, GenerateRsaKey(2048));
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes blob,
                              MakeTpmPublic(key.get(), AkParams(kAlgRsassa, kAlgSha256)));
  TPMESH_ASSERT_OK_AND_ASSIGN(TpmPublic pub, ParseTpm2bPublic(blob));
  for (uint32_t e : {1u, 4u, 65536u}) {
    TpmPublic bad = pub;
    bad.rsa_exponent = e;
    auto r = bad.ToPkey();
    ASSERT_FALSE(r.ok()) << "e=" << e;
    EXPECT_EQ(r.error().reason, kReasonMalformed);
  }
  TpmPublic even = pub;
  even.rsa_modulus.back() &= 0xfe;
  auto r = even.ToPkey();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, kReasonMalformed);
}

TEST(TpmPublic, EccRoundTripP256AndP384) {
  for (const char* group : {"P-256", "P-384"}) {
    TPMESH_ASSERT_OK_AND_ASSIGN(ossl::Pkey key, GenerateEcKey(group));
    TPMESH_ASSERT_OK_AND_ASSIGN(Bytes blob, MakeTpmPublic(key.get(), EkParams()));
    TPMESH_ASSERT_OK_AND_ASSIGN(TpmPublic pub, ParseTpm2bPublic(blob));
    EXPECT_EQ(pub.type, kAlgEcc);
    EXPECT_EQ(pub.curve, std::string(group) == "P-256" ? kCurveNistP256 : kCurveNistP384);
    EXPECT_EQ(pub.symmetric, kAlgAes);
    EXPECT_EQ(pub.symmetric_bits, 128);
    EXPECT_EQ(pub.symmetric_mode, kAlgCfb);
    EXPECT_EQ(pub.scheme, kAlgNull);
    EXPECT_EQ(pub.auth_policy, EkParams().auth_policy);
    EXPECT_EQ(pub.attributes & (kAttrRestricted | kAttrDecrypt), kAttrRestricted | kAttrDecrypt);
    TPMESH_ASSERT_OK_AND_ASSIGN(ossl::Pkey back, pub.ToPkey());
    EXPECT_EQ(EVP_PKEY_eq(back.get(), key.get()), 1) << group;
  }
}

TEST(TpmPublic, NameIsNameAlgAndDigestOfArea) {
  TPMESH_ASSERT_OK_AND_ASSIGN(ossl::Pkey key, GenerateEcKey("P-256"));
  for (uint16_t alg : {kAlgSha256, kAlgSha384}) {
    auto params = AkParams(kAlgEcdsa, kAlgSha256);
    params.name_alg = alg;
    TPMESH_ASSERT_OK_AND_ASSIGN(Bytes blob, MakeTpmPublic(key.get(), params));
    TPMESH_ASSERT_OK_AND_ASSIGN(TpmPublic pub, ParseTpm2bPublic(blob));
    Bytes expected = {static_cast<uint8_t>(alg >> 8), static_cast<uint8_t>(alg)};
    Bytes digest = Sha(alg == kAlgSha256 ? EVP_sha256() : EVP_sha384(), ByteView(blob).subspan(2));
    expected.insert(expected.end(), digest.begin(), digest.end());
    TPMESH_ASSERT_OK_AND_ASSIGN(Bytes name, pub.Name());
    EXPECT_EQ(name, expected);
    EXPECT_EQ(name.size(), 2u + (alg == kAlgSha256 ? 32u : 48u));
  }
}

TEST(TpmPublic, NameOfUnknownNameAlgFails) {
  TPMESH_ASSERT_OK_AND_ASSIGN(ossl::Pkey key, GenerateEcKey("P-256"));
  auto params = AkParams(kAlgEcdsa, kAlgSha256);
  params.name_alg = 0x0012;  // SM3_256: tss2-mu accepts it, we do not hash with it
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes blob, MakeTpmPublic(key.get(), params));
  TPMESH_ASSERT_OK_AND_ASSIGN(TpmPublic pub, ParseTpm2bPublic(blob));
  EXPECT_FALSE(pub.Name().ok());
}

TEST(TpmPublic, SpkiSha256MatchesOpenSsl) {
  TPMESH_ASSERT_OK_AND_ASSIGN(ossl::Pkey key, GenerateRsaKey(2048));
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes blob, MakeTpmPublic(key.get(), EkParams()));
  TPMESH_ASSERT_OK_AND_ASSIGN(TpmPublic pub, ParseTpm2bPublic(blob));
  int len = i2d_PUBKEY(key.get(), nullptr);
  ASSERT_GT(len, 0);
  Bytes der(static_cast<size_t>(len));
  uint8_t* p = der.data();
  i2d_PUBKEY(key.get(), &p);
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes spki, SpkiDer(key.get()));
  EXPECT_EQ(spki, der);
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes fp, pub.SpkiSha256());
  EXPECT_EQ(fp, Sha(EVP_sha256(), der));
}

// SpkiSha256 builds the SPKI from the public area's fields (no OSSL_ENCODER);
// it must hash exactly what i2d_PUBKEY produces for the same key, since EK
// fingerprints are node identities and allowlist entries.
TEST(TpmPublic, SpkiSha256MatchesOpenSslForEveryKeyShape) {
  auto expect_same = [](const TpmPublic& pub, const std::string& what) {
    TPMESH_ASSERT_OK_AND_ASSIGN(ossl::Pkey key, pub.ToPkey());
    TPMESH_ASSERT_OK_AND_ASSIGN(Bytes der, SpkiDer(key.get()));  // i2d_PUBKEY
    TPMESH_ASSERT_OK_AND_ASSIGN(Bytes fp, pub.SpkiSha256());
    EXPECT_EQ(fp, Sha(EVP_sha256(), der)) << what;
  };
  TPMESH_ASSERT_OK_AND_ASSIGN(ossl::Pkey rsa, GenerateRsaKey(2048));
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes rsa_blob, MakeTpmPublic(rsa.get(), EkParams()));
  TPMESH_ASSERT_OK_AND_ASSIGN(TpmPublic rsa_pub, ParseTpm2bPublic(rsa_blob));
  expect_same(rsa_pub, "RSA, default exponent");
  for (uint32_t e : {3u, 65537u, 0x10001u + 2u, 0xffffffffu}) {
    TpmPublic other = rsa_pub;
    other.rsa_exponent = e;
    expect_same(other, "RSA, e=" + std::to_string(e));
  }
  TpmPublic high = rsa_pub;  // modulus with the top bit clear: no INTEGER padding byte
  high.rsa_modulus[0] = 0x7f;
  expect_same(high, "RSA, top bit clear");

  for (const char* group : {"P-256", "P-384"}) {
    bool short_coordinate = false;
    for (int i = 0; i < 2000 && (i < 8 || !short_coordinate); ++i) {
      TPMESH_ASSERT_OK_AND_ASSIGN(ossl::Pkey key, GenerateEcKey(group));
      TPMESH_ASSERT_OK_AND_ASSIGN(Bytes blob, MakeTpmPublic(key.get(), EkParams()));
      TPMESH_ASSERT_OK_AND_ASSIGN(TpmPublic pub, ParseTpm2bPublic(blob));
      expect_same(pub, group);
      // A TPM may send a coordinate without its leading zero octets.
      for (Bytes* c : {&pub.ecc_x, &pub.ecc_y}) {
        if (c->size() > 1 && (*c)[0] == 0) {
          short_coordinate = true;
          TpmPublic stripped = pub;
          Bytes& sc = c == &pub.ecc_x ? stripped.ecc_x : stripped.ecc_y;
          sc.erase(sc.begin());
          expect_same(stripped, std::string(group) + ", coordinate with a leading zero dropped");
        }
      }
    }
    EXPECT_TRUE(short_coordinate) << group << ": no key with a leading zero octet in 2000 tries";
  }
}

TEST(TpmPublic, TruncatedAtEveryLengthIsMalformed) {
  TPMESH_ASSERT_OK_AND_ASSIGN(ossl::Pkey key, GenerateEcKey("P-256"));
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes blob, MakeTpmPublic(key.get(), EkParams()));
  for (size_t n = 0; n < blob.size(); ++n) {
    Bytes cut(blob.begin(), blob.begin() + n);
    ExpectMalformed(cut, "cut at " + std::to_string(n));
    // Same, with the size field agreeing with the truncated length, so that
    // the TPMT_PUBLIC unmarshal itself must notice.
    if (n >= 2) {
      cut[0] = static_cast<uint8_t>((n - 2) >> 8);
      cut[1] = static_cast<uint8_t>(n - 2);
      ExpectMalformed(cut, "cut at " + std::to_string(n) + " with size fixed");
    }
  }
}

TEST(TpmPublic, TrailingBytesAndLyingSizeAreMalformed) {
  TPMESH_ASSERT_OK_AND_ASSIGN(ossl::Pkey key, GenerateRsaKey(2048));
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes blob, MakeTpmPublic(key.get(), EkParams()));
  ASSERT_TRUE(ParseTpm2bPublic(blob).ok());
  Bytes longer = blob;
  longer.push_back(0);
  ExpectMalformed(longer, "one trailing byte");
  // Size field covering the extra byte: trailing bytes inside the TPM2B.
  const size_t inner = longer.size() - 2;
  longer[0] = static_cast<uint8_t>(inner >> 8);
  longer[1] = static_cast<uint8_t>(inner);
  ExpectMalformed(longer, "trailing byte inside the TPM2B");
  for (int delta : {-1, 1, 100}) {
    Bytes lie = blob;
    const size_t size = blob.size() - 2 + static_cast<size_t>(delta);
    lie[0] = static_cast<uint8_t>(size >> 8);
    lie[1] = static_cast<uint8_t>(size);
    ExpectMalformed(lie, "size off by " + std::to_string(delta));
  }
  ExpectMalformed(Bytes{0, 0}, "empty public area");
}

TEST(TpmPublic, UnsupportedTypeIsMalformed) {
  TPM2B_PUBLIC pub{};
  pub.publicArea.type = TPM2_ALG_KEYEDHASH;
  pub.publicArea.nameAlg = TPM2_ALG_SHA256;
  pub.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
  pub.publicArea.unique.keyedHash.size = 32;
  Bytes blob(sizeof pub);
  size_t off = 0;
  ASSERT_EQ(Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, blob.data(), blob.size(), &off), TSS2_RC_SUCCESS);
  blob.resize(off);
  auto r = ParseTpm2bPublic(blob);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, kReasonMalformed);
  EXPECT_NE(r.error().message.find("unsupported key type 0x0008"), std::string::npos)
      << r.error().message;
}

TEST(TpmPublic, ToPkeyRejectsBadKeyMaterial) {
  TPMESH_ASSERT_OK_AND_ASSIGN(ossl::Pkey key, GenerateEcKey("P-256"));
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes blob, MakeTpmPublic(key.get(), EkParams()));
  TPMESH_ASSERT_OK_AND_ASSIGN(TpmPublic pub, ParseTpm2bPublic(blob));
  TpmPublic off_curve = pub;
  off_curve.ecc_y.back() ^= 1;
  auto r = off_curve.ToPkey();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, kReasonMalformed);

  TpmPublic too_long = pub;
  too_long.ecc_x.insert(too_long.ecc_x.begin(), 1);
  EXPECT_FALSE(too_long.ToPkey().ok());

  TPMESH_ASSERT_OK_AND_ASSIGN(ossl::Pkey p521, GenerateEcKey("P-521"));
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes blob521, MakeTpmPublic(p521.get(), EkParams()));
  TPMESH_ASSERT_OK_AND_ASSIGN(TpmPublic pub521, ParseTpm2bPublic(blob521));
  EXPECT_EQ(pub521.curve, 0x0005);
  auto r521 = pub521.ToPkey();
  ASSERT_FALSE(r521.ok());
  EXPECT_NE(r521.error().message.find("curve 0x0005"), std::string::npos) << r521.error().message;
}

TEST(TpmPublic, RsaModulusMustMatchKeyBits) {
  TPMESH_ASSERT_OK_AND_ASSIGN(ossl::Pkey key, GenerateRsaKey(2048));
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes blob, MakeTpmPublic(key.get(), EkParams()));
  TPM2B_PUBLIC mu{};
  size_t off = 0;
  ASSERT_EQ(Tss2_MU_TPM2B_PUBLIC_Unmarshal(blob.data(), blob.size(), &off, &mu), TSS2_RC_SUCCESS);
  mu.publicArea.parameters.rsaDetail.keyBits = 3072;
  Bytes bad(sizeof mu);
  off = 0;
  ASSERT_EQ(Tss2_MU_TPM2B_PUBLIC_Marshal(&mu, bad.data(), bad.size(), &off), TSS2_RC_SUCCESS);
  bad.resize(off);
  ExpectMalformed(bad, "keyBits 3072 with a 2048-bit modulus");
}

}  // namespace
}  // namespace tpmesh::attest
