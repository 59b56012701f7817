// KDFa / KDFe against the TPM 2.0 Part 1 11.4.10 formulas computed block by
// block in the test (EVP_Digest / HMAC as the oracle), plus the TPM reference
// implementation's KDFa self-test vectors.
#include "attest/src/kdf.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "tests/support/tpm_structs.h"
#include "tpmesh/attest/tpm_public.h"

namespace tpmesh::attest {
namespace {

constexpr uint16_t kAlgSha512 = 0x000D;

const EVP_MD* Md(uint16_t alg) {
  switch (alg) {
    case kAlgSha1: return EVP_sha1();
    case kAlgSha256: return EVP_sha256();
    case kAlgSha384: return EVP_sha384();
    default: return EVP_sha512();
  }
}

void PutBe32(Bytes& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}
void Append(Bytes& out, ByteView v) { out.insert(out.end(), v.begin(), v.end()); }

// KDFa: K(i) = HMAC(key, [i]_32 || label || 0x00 || contextU || contextV || [bits]_32).
Bytes OracleKdfa(uint16_t alg, ByteView key, const std::string& label, ByteView u, ByteView v,
                 uint32_t bits) {
  Bytes out;
  for (uint32_t i = 1; out.size() < bits / 8; ++i) {
    Bytes msg;
    PutBe32(msg, i);
    Append(msg, AsView(label));
    msg.push_back(0);
    Append(msg, u);
    Append(msg, v);
    PutBe32(msg, bits);
    uint8_t block[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(Md(alg), key.data(), static_cast<int>(key.size()), msg.data(), msg.size(), block, &len);
    out.insert(out.end(), block, block + len);
  }
  out.resize(bits / 8);
  return out;
}

// KDFe: K(i) = H([i]_32 || Z || label || 0x00 || partyU || partyV).
Bytes OracleKdfe(uint16_t alg, ByteView z, const std::string& label, ByteView u, ByteView v,
                 uint32_t bits) {
  Bytes out;
  for (uint32_t i = 1; out.size() < bits / 8; ++i) {
    Bytes msg;
    PutBe32(msg, i);
    Append(msg, z);
    Append(msg, AsView(label));
    msg.push_back(0);
    Append(msg, u);
    Append(msg, v);
    uint8_t block[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(msg.data(), msg.size(), block, &len, Md(alg), nullptr);
    out.insert(out.end(), block, block + len);
  }
  out.resize(bits / 8);
  return out;
}

Bytes Seq(size_t n, uint8_t start) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(start + 7 * i);
  return b;
}

Bytes ToVec(const SecretBytes& s) { return Bytes(s.data(), s.data() + s.size()); }

struct Case {
  uint16_t alg;
  uint32_t bits;
};
// Single partial block, exact block, and multi-block outputs.
constexpr Case kCases[] = {{kAlgSha256, 128},  {kAlgSha256, 256}, {kAlgSha256, 520},
                           {kAlgSha1, 160},    {kAlgSha1, 328},   {kAlgSha384, 384},
                           {kAlgSha384, 1032}, {kAlgSha512, 8}};

TEST(Kdfa, MatchesSpecFormula) {
  const Bytes key = Seq(32, 1), name = Seq(34, 9), other = Seq(5, 200);
  for (const Case& c : kCases) {
    for (auto [u, v] :
         {std::pair{name, Bytes{}}, std::pair{Bytes{}, Bytes{}}, std::pair{name, other}}) {
      TPMESH_ASSERT_OK_AND_ASSIGN(SecretBytes got, KDFa(c.alg, key, "STORAGE", u, v, c.bits));
      EXPECT_EQ(ToVec(got), OracleKdfa(c.alg, key, "STORAGE", u, v, c.bits))
          << "alg " << c.alg << " bits " << c.bits << " |u| " << u.size() << " |v| " << v.size();
    }
  }
}

TEST(Kdfa, ReferenceImplementationSelfTestVectors) {
  // TPM 2.0 reference implementation KDFa self-test (KdfTestData.h):
  // label "KDFSELFTESTLABEL" (NUL-terminated), 160-bit output.
  const Bytes key = {0x27, 0x1F, 0xA0, 0x8B, 0xBD, 0xC5, 0x06, 0x0E, 0xC3, 0xDF,
                     0xA9, 0x28, 0xFF, 0x9B, 0x73, 0x12, 0x3A, 0x12, 0xDA, 0x0C};
  const Bytes u = {0xCE, 0x24, 0x4F, 0x39, 0x5D, 0xCA, 0x73, 0x91};
  const Bytes v = {0xDA, 0x50, 0x40, 0x31, 0xDD, 0xF1, 0x2E, 0x83};
  const std::pair<uint16_t, const char*> vectors[] = {
      {kAlgSha1, "55b5a7184aa07423c47dae766c26a2377d7cf851"},
      {kAlgSha256, "bb0259e1c8ba607e6a2cd704b69a902e9ade84c4"},
      {kAlgSha384, "1dce70c9113eb2dba47bd9cfc72bf46f45b09312"},
      {kAlgSha512, "8be2c1b85b78569b9fa759f5857c56d684810fd3"},
  };
  for (const auto& [alg, hex] : vectors) {
    TPMESH_ASSERT_OK_AND_ASSIGN(SecretBytes got, KDFa(alg, key, "KDFSELFTESTLABEL", u, v, 160));
    EXPECT_EQ(HexEncode(got.view()), hex) << "alg " << alg;
  }
}

TEST(Kdfe, MatchesSpecFormula) {
  const Bytes z = Seq(32, 3), eph_x = Seq(32, 50), ek_x = Seq(32, 90);
  for (const Case& c : kCases) {
    TPMESH_ASSERT_OK_AND_ASSIGN(SecretBytes got, KDFe(c.alg, z, "IDENTITY", eph_x, ek_x, c.bits));
    EXPECT_EQ(ToVec(got), OracleKdfe(c.alg, z, "IDENTITY", eph_x, ek_x, c.bits))
        << "alg " << c.alg << " bits " << c.bits;
    TPMESH_ASSERT_OK_AND_ASSIGN(SecretBytes empty_parties,
                                KDFe(c.alg, z, "IDENTITY", {}, {}, c.bits));
    EXPECT_EQ(ToVec(empty_parties), OracleKdfe(c.alg, z, "IDENTITY", {}, {}, c.bits));
  }
}

TEST(Kdf, InputsChangeOutput) {
  const Bytes key = Seq(32, 1), ctx = Seq(10, 4);
  TPMESH_ASSERT_OK_AND_ASSIGN(SecretBytes a, KDFa(kAlgSha256, key, "STORAGE", ctx, {}, 256));
  TPMESH_ASSERT_OK_AND_ASSIGN(SecretBytes b, KDFa(kAlgSha256, key, "INTEGRITY", ctx, {}, 256));
  // Moving bytes between contextU and contextV does not change the KDFa input.
  TPMESH_ASSERT_OK_AND_ASSIGN(SecretBytes c, KDFa(kAlgSha256, key, "STORAGE", {}, ctx, 256));
  TPMESH_ASSERT_OK_AND_ASSIGN(SecretBytes d, KDFa(kAlgSha256, key, "STORAGE", ctx, {}, 128));
  EXPECT_NE(ToVec(a), ToVec(b));
  EXPECT_EQ(ToVec(a), ToVec(c));
  // L is part of the input: a shorter output is not a prefix.
  EXPECT_NE(Bytes(a.data(), a.data() + 16), ToVec(d));
}

TEST(Kdf, RejectsBadArguments) {
  const Bytes key = Seq(16, 1);
  for (size_t bits : {size_t{0}, size_t{12}, size_t{129}, size_t{8200}}) {
    EXPECT_FALSE(KDFa(kAlgSha256, key, "STORAGE", {}, {}, bits).ok()) << bits;
    EXPECT_FALSE(KDFe(kAlgSha256, key, "IDENTITY", {}, {}, bits).ok()) << bits;
  }
  EXPECT_FALSE(KDFa(0x0012 /* SM3 */, key, "STORAGE", {}, {}, 128).ok());
  EXPECT_FALSE(KDFe(kAlgNull, key, "IDENTITY", {}, {}, 128).ok());
  EXPECT_FALSE(KDFa(kAlgSha256, key, std::string_view("STO\0RAGE", 8), {}, {}, 128).ok());
  EXPECT_FALSE(KDFa(kAlgSha256, {}, "STORAGE", {}, {}, 128).ok());
  EXPECT_FALSE(KDFe(kAlgSha256, {}, "IDENTITY", {}, {}, 128).ok());
}

}  // namespace
}  // namespace tpmesh::attest
