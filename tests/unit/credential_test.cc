// MakeCredential, undone in software with the EK private key exactly as
// TPM2_ActivateCredential would (Part 1 section 24, B.10.3, C.6.1).
#include "tpmesh/attest/credential.h"

#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include <cstring>

#include "attest/src/kdf.h"
#include "tests/support/fake_env.h"
#include "tests/support/tpm_structs.h"
#include "tpmesh/attest/checks.h"

namespace tpmesh::attest {
namespace {

using testing::AkParams;
using testing::EkParams;
using testing::FakeRandom;
using testing::GenerateEcKey;
using testing::GenerateRsaKey;
using testing::MakeTpmPublic;
using testing::PublicParams;

struct Ek {
  ossl::Pkey key;
  TpmPublic pub;
};

Result<Ek> MakeEk(const char* alg, PublicParams params = EkParams()) {
  auto key = std::string(alg) == "RSA" ? GenerateRsaKey(2048) : GenerateEcKey(alg);
  if (!key.ok()) return key.take_error();
  auto blob = MakeTpmPublic(key->get(), params);
  if (!blob.ok()) return blob.take_error();
  auto pub = ParseTpm2bPublic(*blob);
  if (!pub.ok()) return pub.take_error();
  return Ek{std::move(key).value(), std::move(pub).value()};
}

Bytes AkName() {
  Bytes name = {0x00, 0x0B};
  for (int i = 0; i < 32; ++i) name.push_back(static_cast<uint8_t>(0xA0 + i));
  return name;
}

// --- the TPM side, in software -------------------------------------------

Result<Bytes> RecoverSeed(const Ek& ek, const Credential& cred) {
  TPM2B_ENCRYPTED_SECRET es{};
  size_t off = 0;
  if (Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(cred.encrypted_secret.data(),
                                               cred.encrypted_secret.size(), &off,
                                               &es) != TSS2_RC_SUCCESS ||
      off != cred.encrypted_secret.size()) {
    return Malformed("encrypted_secret");
  }
  if (ek.pub.type == kAlgRsa) {
    std::unique_ptr<EVP_PKEY_CTX, void (*)(EVP_PKEY_CTX*)> ctx(
        EVP_PKEY_CTX_new_from_pkey(nullptr, ek.key.get(), nullptr), EVP_PKEY_CTX_free);
    void* label = OPENSSL_memdup("IDENTITY", 9);
    if (EVP_PKEY_decrypt_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), label, 9) != 1) {
      return Malformed("OAEP setup");
    }
    Bytes seed(256);
    size_t len = seed.size();
    if (EVP_PKEY_decrypt(ctx.get(), seed.data(), &len, es.secret, es.size) != 1) {
      return Malformed("OAEP decrypt");
    }
    seed.resize(len);
    return seed;
  }
  TPMS_ECC_POINT point{};
  off = 0;
  if (Tss2_MU_TPMS_ECC_POINT_Unmarshal(es.secret, es.size, &off, &point) != TSS2_RC_SUCCESS ||
      off != es.size) {
    return Malformed("ephemeral point");
  }
  TpmPublic eph = ek.pub;
  eph.ecc_x.assign(point.x.buffer, point.x.buffer + point.x.size);
  eph.ecc_y.assign(point.y.buffer, point.y.buffer + point.y.size);
  auto eph_key = eph.ToPkey();
  if (!eph_key.ok()) return eph_key.take_error();
  std::unique_ptr<EVP_PKEY_CTX, void (*)(EVP_PKEY_CTX*)> ctx(
      EVP_PKEY_CTX_new_from_pkey(nullptr, ek.key.get(), nullptr), EVP_PKEY_CTX_free);
  Bytes z(66);
  size_t zlen = z.size();
  if (EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), eph_key->get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), z.data(), &zlen) != 1) {
    return Malformed("ECDH");
  }
  z.resize(zlen);
  auto seed = KDFe(ek.pub.name_alg, z, "IDENTITY", eph.ecc_x, ek.pub.ecc_x, 256);
  if (!seed.ok()) return seed.take_error();
  return Bytes(seed->data(), seed->data() + seed->size());
}

// TPM2_ActivateCredential after the seed is known.
Result<Bytes> Activate(const Ek& ek, ByteView name, const Credential& cred) {
  auto seed = RecoverSeed(ek, cred);
  if (!seed.ok()) return seed.take_error();
  TPM2B_ID_OBJECT id{};
  size_t off = 0;
  if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(cred.id_object.data(), cred.id_object.size(), &off, &id) !=
          TSS2_RC_SUCCESS ||
      off != cred.id_object.size()) {
    return Malformed("id_object");
  }
  TPM2B_DIGEST outer{};
  size_t hoff = 0;
  if (Tss2_MU_TPM2B_DIGEST_Unmarshal(id.credential, id.size, &hoff, &outer) != TSS2_RC_SUCCESS) {
    return Malformed("outer HMAC");
  }
  Bytes enc(id.credential + hoff, id.credential + id.size);

  auto hmac_key = KDFa(ek.pub.name_alg, *seed, "INTEGRITY", {}, {}, 256);
  if (!hmac_key.ok()) return hmac_key.take_error();
  Bytes msg = enc;
  msg.insert(msg.end(), name.begin(), name.end());
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), hmac_key->data(), static_cast<int>(hmac_key->size()), msg.data(), msg.size(),
       mac, &mac_len);
  if (mac_len != outer.size || std::memcmp(mac, outer.buffer, mac_len) != 0) {
    return CheckFailure(Check::kActivationSecret, "integrity HMAC mismatch");
  }

  auto sym = KDFa(ek.pub.name_alg, *seed, "STORAGE", name, {}, ek.pub.symmetric_bits);
  if (!sym.ok()) return sym.take_error();
  const EVP_CIPHER* cipher =
      ek.pub.symmetric_bits == 256 ? EVP_aes_256_cfb128() : EVP_aes_128_cfb128();
  std::unique_ptr<EVP_CIPHER_CTX, void (*)(EVP_CIPHER_CTX*)> cctx(EVP_CIPHER_CTX_new(),
                                                                  EVP_CIPHER_CTX_free);
  const uint8_t iv[16] = {};
  Bytes plain(enc.size() + 16);
  int len = 0, fin = 0;
  if (EVP_DecryptInit_ex(cctx.get(), cipher, nullptr, sym->data(), iv) != 1 ||
      EVP_DecryptUpdate(cctx.get(), plain.data(), &len, enc.data(), static_cast<int>(enc.size())) !=
          1 ||
      EVP_DecryptFinal_ex(cctx.get(), plain.data() + len, &fin) != 1) {
    return Malformed("AES-CFB");
  }
  plain.resize(static_cast<size_t>(len + fin));
  TPM2B_DIGEST secret{};
  size_t soff = 0;
  if (Tss2_MU_TPM2B_DIGEST_Unmarshal(plain.data(), plain.size(), &soff, &secret) !=
          TSS2_RC_SUCCESS ||
      soff != plain.size()) {
    return Malformed("decrypted TPM2B_DIGEST");
  }
  return Bytes(secret.buffer, secret.buffer + secret.size);
}

// --- tests ---------------------------------------------------------------

class CredentialTest : public ::testing::TestWithParam<const char*> {};

TEST_P(CredentialTest, ActivationRecoversSecret) {
  TPMESH_ASSERT_OK_AND_ASSIGN(Ek ek, MakeEk(GetParam()));
  FakeRandom rng(7);
  const Bytes name = AkName();
  for (size_t n : {size_t{1}, size_t{16}, size_t{32}}) {
    Bytes secret(n);
    for (size_t i = 0; i < n; ++i) secret[i] = static_cast<uint8_t>(i * 13 + 5);
    TPMESH_ASSERT_OK_AND_ASSIGN(Credential cred, MakeCredential(ek.pub, name, secret, rng));
    // id_object: 2 + (2 + 32 HMAC) + (2 + n encrypted TPM2B_DIGEST).
    EXPECT_EQ(cred.id_object.size(), 2 + 34 + 2 + n);
    TPMESH_ASSERT_OK_AND_ASSIGN(Bytes got, Activate(ek, name, cred));
    EXPECT_EQ(got, secret) << GetParam() << " secret of " << n;

    // Bound to the object name: another name fails the integrity check.
    Bytes other = name;
    other.back() ^= 1;
    auto wrong = Activate(ek, other, cred);
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.error().reason, CheckReason(Check::kActivationSecret));
  }
}

TEST_P(CredentialTest, Aes256EkWorks) {
  PublicParams params = EkParams();
  params.symmetric_bits = 256;
  TPMESH_ASSERT_OK_AND_ASSIGN(Ek ek, MakeEk(GetParam(), params));
  FakeRandom rng(3);
  const Bytes secret = {1, 2, 3, 4, 5, 6, 7, 8};
  TPMESH_ASSERT_OK_AND_ASSIGN(Credential cred, MakeCredential(ek.pub, AkName(), secret, rng));
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes got, Activate(ek, AkName(), cred));
  EXPECT_EQ(got, secret);
}

TEST_P(CredentialTest, AnotherEkCannotActivate) {
  TPMESH_ASSERT_OK_AND_ASSIGN(Ek ek, MakeEk(GetParam()));
  TPMESH_ASSERT_OK_AND_ASSIGN(Ek other, MakeEk(GetParam()));
  FakeRandom rng(5);
  const Bytes secret(32, 0x42);
  TPMESH_ASSERT_OK_AND_ASSIGN(Credential cred, MakeCredential(ek.pub, AkName(), secret, rng));
  other.pub = ek.pub;  // the public area the TPM holding `other.key` would not have
  auto got = Activate(other, AkName(), cred);
  EXPECT_FALSE(got.ok() && *got == secret);
}

TEST_P(CredentialTest, RejectsBadSecretAndName) {
  TPMESH_ASSERT_OK_AND_ASSIGN(Ek ek, MakeEk(GetParam()));
  FakeRandom rng(1);
  EXPECT_FALSE(MakeCredential(ek.pub, AkName(), Bytes{}, rng).ok());
  EXPECT_FALSE(MakeCredential(ek.pub, AkName(), Bytes(33, 1), rng).ok());
  EXPECT_TRUE(MakeCredential(ek.pub, AkName(), Bytes(32, 1), rng).ok());
  Bytes short_name = AkName();
  short_name.pop_back();
  auto r = MakeCredential(ek.pub, short_name, Bytes(8, 1), rng);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, kReasonMalformed);
  EXPECT_FALSE(MakeCredential(ek.pub, Bytes{0x00, 0x0B}, Bytes(8, 1), rng).ok());
}

TEST_P(CredentialTest, RejectsKeysThatAreNotStorageEks) {
  FakeRandom rng(1);
  // A signing AK is not a restricted decryption key.
  TPMESH_ASSERT_OK_AND_ASSIGN(
      Ek ak, MakeEk(GetParam(), AkParams(std::string(GetParam()) == "RSA" ? kAlgRsassa : kAlgEcdsa,
                                         kAlgSha256)));
  auto r = MakeCredential(ak.pub, AkName(), Bytes(8, 1), rng);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_NE(r.error().message.find("restricted decryption"), std::string::npos)
      << r.error().message;

  PublicParams unrestricted = EkParams();
  unrestricted.attributes &= ~kAttrRestricted;
  TPMESH_ASSERT_OK_AND_ASSIGN(Ek ek1, MakeEk(GetParam(), unrestricted));
  EXPECT_FALSE(MakeCredential(ek1.pub, AkName(), Bytes(8, 1), rng).ok());

  PublicParams no_sym = EkParams();
  no_sym.symmetric = kAlgNull;
  no_sym.symmetric_bits = 0;
  no_sym.symmetric_mode = kAlgNull;
  TPMESH_ASSERT_OK_AND_ASSIGN(Ek ek2, MakeEk(GetParam(), no_sym));
  EXPECT_FALSE(MakeCredential(ek2.pub, AkName(), Bytes(8, 1), rng).ok());
}

INSTANTIATE_TEST_SUITE_P(Ek, CredentialTest, ::testing::Values("RSA", "P-256", "P-384"),
                         [](const auto& p) {
                           std::string s = p.param;
                           s.erase(std::remove(s.begin(), s.end(), '-'), s.end());
                           return s;
                         });

TEST(Credential, RsaSeedComesFromRng) {
  TPMESH_ASSERT_OK_AND_ASSIGN(Ek ek, MakeEk("RSA"));
  FakeRandom a(11), b(11), c(12);
  const Bytes secret(16, 9);
  TPMESH_ASSERT_OK_AND_ASSIGN(Credential ca, MakeCredential(ek.pub, AkName(), secret, a));
  TPMESH_ASSERT_OK_AND_ASSIGN(Credential cb, MakeCredential(ek.pub, AkName(), secret, b));
  TPMESH_ASSERT_OK_AND_ASSIGN(Credential cc, MakeCredential(ek.pub, AkName(), secret, c));
  EXPECT_EQ(ca.id_object, cb.id_object);                // same seed, same blob
  EXPECT_NE(ca.encrypted_secret, cb.encrypted_secret);  // OAEP is randomized
  EXPECT_NE(ca.id_object, cc.id_object);
}

TEST(Credential, RejectsWeakOrOddEks) {
  FakeRandom rng(1);
  TPMESH_ASSERT_OK_AND_ASSIGN(ossl::Pkey rsa3072, GenerateRsaKey(3072));
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes blob, MakeTpmPublic(rsa3072.get(), EkParams()));
  TPMESH_ASSERT_OK_AND_ASSIGN(TpmPublic pub, ParseTpm2bPublic(blob));
  EXPECT_FALSE(MakeCredential(pub, AkName(), Bytes(8, 1), rng).ok());
  TPMESH_ASSERT_OK_AND_ASSIGN(ossl::Pkey p521, GenerateEcKey("P-521"));
  TPMESH_ASSERT_OK_AND_ASSIGN(Bytes blob521, MakeTpmPublic(p521.get(), EkParams()));
  TPMESH_ASSERT_OK_AND_ASSIGN(TpmPublic pub521, ParseTpm2bPublic(blob521));
  EXPECT_FALSE(MakeCredential(pub521, AkName(), Bytes(8, 1), rng).ok());
}

}  // namespace
}  // namespace tpmesh::attest
