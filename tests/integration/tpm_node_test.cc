// The node side (OpenTpm / Tpm) against a real swtpm: EK and certificates
// from NV, AK creation, quotes, PCRs, credential activation against
// tpm2-tools' software MakeCredential, error paths, and handle hygiene
// (TransientHandleCount() == 0 after every call). Each test gets its own
// freshly manufactured swtpm.
#include <signal.h>

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#include <cstring>
#include <memory>
#include <string>

#include "tests/support/swtpm.h"
#include "tpmesh/attest/tpm.h"
#include "tpmesh/common/bytes.h"

namespace tpmesh::attest {

// Readable parameter values in gtest/ctest output (found by ADL).
void PrintTo(KeyAlg alg, std::ostream* os) { *os << KeyAlgName(alg); }

namespace {

using testing::RunCommand;
using testing::Swtpm;

#define NODE_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  NODE_ASSIGN_IMPL_(TPMESH_CONCAT_(node_r_, __LINE__), lhs, expr)
#define NODE_ASSIGN_IMPL_(tmp, lhs, expr)          \
  auto tmp = (expr);                               \
  ASSERT_TRUE(tmp.ok()) << tmp.error().ToString(); \
  lhs = std::move(tmp).value()

#define EXPECT_NO_HANDLES(tpm)                                      \
  do {                                                              \
    auto n_ = (tpm)->TransientHandleCount();                        \
    ASSERT_TRUE(n_.ok()) << n_.error().ToString();                  \
    EXPECT_EQ(*n_, 0u) << "transient objects/sessions left behind"; \
  } while (0)

TPM2B_PUBLIC ParsePublic(const Bytes& data) {
  TPM2B_PUBLIC pub{};
  size_t offset = 0;
  EXPECT_EQ(Tss2_MU_TPM2B_PUBLIC_Unmarshal(data.data(), data.size(), &offset, &pub),
            TSS2_RC_SUCCESS);
  EXPECT_EQ(offset, data.size());
  return pub;
}

Bytes Sha256(ByteView data) {
  Bytes out(32);
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

// TPM name of a public area: nameAlg SHA-256 (0x000b) || SHA-256(TPMT_PUBLIC).
Bytes NameOf(const Bytes& tpm2b_public) {
  Bytes area(tpm2b_public.begin() + 2, tpm2b_public.end());
  Bytes name = {0x00, 0x0b};
  Bytes digest = Sha256(area);
  name.insert(name.end(), digest.begin(), digest.end());
  return name;
}

// The key in a DER certificate, as RSA modulus or uncompressed EC point.
struct CertKey {
  std::string type;  // "rsa" or the EC group name
  Bytes material;
};

CertKey KeyOfCert(const Bytes& der) {
  const unsigned char* p = der.data();
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      d2i_X509(nullptr, &p, static_cast<long>(der.size())), X509_free);
  EXPECT_NE(cert, nullptr) << "EK certificate is not DER";
  if (!cert) return {};
  EXPECT_EQ(p, der.data() + der.size()) << "bytes after the DER certificate";
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  EXPECT_NE(key, nullptr);
  if (!key) return {};
  CertKey out;
  if (EVP_PKEY_is_a(key, "RSA")) {
    BIGNUM* n = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    out.type = "rsa";
    out.material.resize(BN_num_bytes(n));
    BN_bn2bin(n, out.material.data());
    BN_free(n);
  } else {
    char group[64] = {};
    size_t len = 0;
    EXPECT_EQ(
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len),
        1);
    out.type = group;
    out.material.resize(200);
    EXPECT_EQ(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, out.material.data(),
                                              out.material.size(), &len),
              1);
    out.material.resize(len);
  }
  return out;
}

Bytes DerOfPem(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  EXPECT_NE(f, nullptr) << path;
  if (!f) return {};
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  EXPECT_NE(cert, nullptr);
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  Bytes out(der, der + (len > 0 ? len : 0));
  OPENSSL_free(der);
  X509_free(cert);
  return out;
}

PcrSelection Sha256Pcrs(std::vector<uint32_t> pcrs) {
  auto sel = MakePcrSelection(HashAlg::kSha256, std::move(pcrs));
  EXPECT_TRUE(sel.ok());
  return sel.ok() ? *sel : PcrSelection{};
}

class TpmNodeTest : public ::testing::Test {
 protected:
  void SetUp() override { StartWith(Swtpm::Options()); }

  void StartWith(Swtpm::Options options) {
    tpm_.reset();
    swtpm_.reset();
    auto sw = Swtpm::Start(std::move(options));
    ASSERT_TRUE(sw.ok()) << sw.error().ToString();
    swtpm_ = std::move(*sw);
    Reopen();
  }

  void Reopen() {
    tpm_.reset();
    auto t = OpenTpm(swtpm_->tcti());
    ASSERT_TRUE(t.ok()) << t.error().ToString();
    tpm_ = std::move(*t);
  }

  // Software MakeCredential by tpm2-tools, split into our Credential.
  Credential MakeCredentialWithTools(const Bytes& ek_public, const Bytes& name,
                                     const Bytes& secret) {
    const std::string ek_path = swtpm_->dir() + "/ek.pub";
    const std::string secret_path = swtpm_->dir() + "/secret.bin";
    const std::string cred_path = swtpm_->dir() + "/cred.out";
    EXPECT_TRUE(testing::WriteFileBytes(ek_path, ek_public).ok());
    EXPECT_TRUE(testing::WriteFileBytes(secret_path, secret).ok());
    auto r = RunCommand({"tpm2_makecredential", "-T", "none", "-u", ek_path, "-s", secret_path,
                         "-n", HexEncode(name), "-o", cred_path});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    auto file = testing::ReadFileBytes(cred_path);
    EXPECT_TRUE(file.ok());
    if (!file.ok() || file->size() < 8) return {};
    // Header: magic 0xBADCC0DE, version 1 (big-endian u32 each).
    const Bytes header(file->begin(), file->begin() + 8);
    EXPECT_EQ(header, (Bytes{0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1}));
    size_t offset = 8;
    TPM2B_ID_OBJECT id{};
    EXPECT_EQ(Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(file->data(), file->size(), &offset, &id),
              TSS2_RC_SUCCESS);
    const size_t id_end = offset;
    TPM2B_ENCRYPTED_SECRET enc{};
    EXPECT_EQ(Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(file->data(), file->size(), &offset, &enc),
              TSS2_RC_SUCCESS);
    EXPECT_EQ(offset, file->size());
    Credential cred;
    cred.id_object.assign(file->begin() + 8, file->begin() + id_end);
    cred.encrypted_secret.assign(file->begin() + id_end, file->begin() + offset);
    return cred;
  }

  std::unique_ptr<Swtpm> swtpm_;
  std::unique_ptr<Tpm> tpm_;
};

void ExpectEkMatchesCert(const EkBundle& ek) {
  const TPM2B_PUBLIC pub = ParsePublic(ek.ek_public);
  const TPMT_PUBLIC& area = pub.publicArea;
  EXPECT_EQ(area.nameAlg, TPM2_ALG_SHA256);
  EXPECT_EQ(area.objectAttributes,
            static_cast<TPMA_OBJECT>(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                     TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
                                     TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT));
  EXPECT_EQ(HexEncode(ByteView(area.authPolicy.buffer, area.authPolicy.size)),
            "837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa");
  ASSERT_TRUE(ek.ek_cert_der.has_value()) << "no EK certificate in NV";
  const CertKey key = KeyOfCert(*ek.ek_cert_der);
  if (ek.alg == KeyAlg::kRsa2048) {
    ASSERT_EQ(area.type, TPM2_ALG_RSA);
    EXPECT_EQ(area.parameters.rsaDetail.keyBits, 2048);
    EXPECT_EQ(key.type, "rsa");
    EXPECT_EQ(key.material, Bytes(area.unique.rsa.buffer, area.unique.rsa.buffer + 256));
  } else {
    ASSERT_EQ(area.type, TPM2_ALG_ECC);
    EXPECT_EQ(area.parameters.eccDetail.curveID, TPM2_ECC_NIST_P256);
    EXPECT_EQ(key.type, "prime256v1");
    Bytes point = {0x04};
    point.insert(point.end(), area.unique.ecc.x.buffer, area.unique.ecc.x.buffer + 32);
    point.insert(point.end(), area.unique.ecc.y.buffer, area.unique.ecc.y.buffer + 32);
    EXPECT_EQ(key.material, point);
  }
}

TEST_F(TpmNodeTest, ReadEkRsaMatchesItsCertificate) {
  NODE_ASSERT_OK_AND_ASSIGN(EkBundle ek, tpm_->ReadEk(KeyAlg::kRsa2048));
  EXPECT_EQ(ek.alg, KeyAlg::kRsa2048);
  ExpectEkMatchesCert(ek);
  EXPECT_TRUE(ek.intermediates.empty());
  EXPECT_NO_HANDLES(tpm_);
  // The EK is recreated from the template: same key every time.
  NODE_ASSERT_OK_AND_ASSIGN(EkBundle again, tpm_->ReadEk(KeyAlg::kRsa2048));
  EXPECT_EQ(again.ek_public, ek.ek_public);
  EXPECT_NO_HANDLES(tpm_);
}

TEST_F(TpmNodeTest, ReadEkEccMatchesItsCertificate) {
  NODE_ASSERT_OK_AND_ASSIGN(EkBundle ek, tpm_->ReadEk(KeyAlg::kEccP256));
  EXPECT_EQ(ek.alg, KeyAlg::kEccP256);
  ExpectEkMatchesCert(ek);
  EXPECT_NO_HANDLES(tpm_);
}

TEST_F(TpmNodeTest, EkCertOnlyOwnerReadableAndIntermediateFromNv) {
  Swtpm::Options options;
  options.ecc_cert_nv_attributes = "ownerwrite|ownerread|no_da";  // no authread
  options.provision_intermediate_nv = true;
  StartWith(options);
  NODE_ASSERT_OK_AND_ASSIGN(EkBundle ek, tpm_->ReadEk(KeyAlg::kEccP256));
  ExpectEkMatchesCert(ek);
  ASSERT_EQ(ek.intermediates.size(), 1u);
  EXPECT_EQ(ek.intermediates[0], DerOfPem(swtpm_->ca_intermediate_pem()));
  EXPECT_NO_HANDLES(tpm_);
}

// An EK chain index larger than one NV_Read (chunked reads) holding two
// certificates and NV padding: split into DER certificates, padding dropped.
TEST_F(TpmNodeTest, NvChainIsReadInChunksAndSplit) {
  NODE_ASSERT_OK_AND_ASSIGN(EkBundle ecc, tpm_->ReadEk(KeyAlg::kEccP256));
  ASSERT_TRUE(ecc.ek_cert_der.has_value());
  const Bytes first = *ecc.ek_cert_der;  // any two certificates will do
  const Bytes second = DerOfPem(swtpm_->ca_intermediate_pem());
  Bytes chain = first;
  chain.insert(chain.end(), second.begin(), second.end());
  ASSERT_LT(chain.size(), 1990u);
  chain.resize(2000, 0xff);  // erased flash; the TPM's NV index limit is 2048
  tpm_.reset();              // swtpm serves one client at a time
  auto written = swtpm_->WriteNvIndex(0x01c00123, chain);
  ASSERT_TRUE(written.ok()) << written.error().ToString();
  Reopen();
  NODE_ASSERT_OK_AND_ASSIGN(EkBundle ek, tpm_->ReadEk(KeyAlg::kRsa2048));
  ASSERT_EQ(ek.intermediates.size(), 2u);
  EXPECT_EQ(ek.intermediates[0], first);
  EXPECT_EQ(ek.intermediates[1], second);
  EXPECT_NO_HANDLES(tpm_);
}

TEST_F(TpmNodeTest, MissingEkCertIsNotAnError) {
  Swtpm::Options options;
  options.provision_ecc_p256_ek_cert = false;
  StartWith(options);
  NODE_ASSERT_OK_AND_ASSIGN(EkBundle ek, tpm_->ReadEk(KeyAlg::kEccP256));
  EXPECT_FALSE(ek.ek_cert_der.has_value());
  EXPECT_FALSE(ek.ek_public.empty());
  EXPECT_NO_HANDLES(tpm_);
}

class TpmNodeAkTest : public TpmNodeTest, public ::testing::WithParamInterface<KeyAlg> {};

TEST_P(TpmNodeAkTest, AkIsRestrictedSigningAndSurvivesRestart) {
  NODE_ASSERT_OK_AND_ASSIGN(AkBlob ak, tpm_->CreateAk(GetParam()));
  EXPECT_NO_HANDLES(tpm_);
  EXPECT_EQ(ak.alg, GetParam());
  const TPMT_PUBLIC area = ParsePublic(ak.public_area).publicArea;
  EXPECT_EQ(area.objectAttributes,
            static_cast<TPMA_OBJECT>(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                     TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                     TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT));
  EXPECT_EQ(area.nameAlg, TPM2_ALG_SHA256);
  if (GetParam() == KeyAlg::kRsa2048) {
    EXPECT_EQ(area.type, TPM2_ALG_RSA);
    EXPECT_EQ(area.parameters.rsaDetail.scheme.scheme, TPM2_ALG_RSASSA);
    EXPECT_EQ(area.parameters.rsaDetail.keyBits, 2048);
  } else {
    EXPECT_EQ(area.type, TPM2_ALG_ECC);
    EXPECT_EQ(area.parameters.eccDetail.scheme.scheme, TPM2_ALG_ECDSA);
    EXPECT_EQ(area.parameters.eccDetail.curveID, TPM2_ECC_NIST_P256);
  }
  // Through the blob file format and a TPM reboot.
  NODE_ASSERT_OK_AND_ASSIGN(AkBlob stored, AkBlob::Parse(ak.Serialize()));
  tpm_.reset();
  ASSERT_TRUE(swtpm_->Restart().ok());
  Reopen();
  const Bytes nonce(32, 0x5a);
  NODE_ASSERT_OK_AND_ASSIGN(QuoteEvidence q, tpm_->Quote(stored, Sha256Pcrs({0, 7}), nonce));
  EXPECT_FALSE(q.attest.empty());
  TPMT_SIGNATURE sig{};
  size_t offset = 0;
  ASSERT_EQ(Tss2_MU_TPMT_SIGNATURE_Unmarshal(q.signature.data(), q.signature.size(), &offset, &sig),
            TSS2_RC_SUCCESS);
  EXPECT_EQ(offset, q.signature.size());
  EXPECT_EQ(sig.sigAlg, GetParam() == KeyAlg::kRsa2048 ? TPM2_ALG_RSASSA : TPM2_ALG_ECDSA);
  EXPECT_NO_HANDLES(tpm_);
}

INSTANTIATE_TEST_SUITE_P(Algs, TpmNodeAkTest, ::testing::Values(KeyAlg::kEccP256, KeyAlg::kRsa2048),
                         [](const auto& param_info) {
                           return param_info.param == KeyAlg::kRsa2048 ? "Rsa2048" : "EccP256";
                         });

TEST_F(TpmNodeTest, QuoteStructureNonceAndPcrDigest) {
  NODE_ASSERT_OK_AND_ASSIGN(AkBlob ak, tpm_->CreateAk(KeyAlg::kEccP256));
  // 11 PCRs: more than one PCR_Read (8 digests max) is needed.
  const PcrSelection sel = Sha256Pcrs({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16});
  Bytes nonce(20);
  for (size_t i = 0; i < nonce.size(); ++i) nonce[i] = static_cast<uint8_t>(i * 7 + 1);
  NODE_ASSERT_OK_AND_ASSIGN(QuoteEvidence q, tpm_->Quote(ak, sel, nonce));
  EXPECT_NO_HANDLES(tpm_);
  EXPECT_EQ(q.selection, sel);
  ASSERT_EQ(q.pcr_values.size(), sel.pcrs.size());
  Bytes concat;
  for (uint32_t pcr : sel.pcrs) {
    ASSERT_TRUE(q.pcr_values.count(pcr)) << "PCR " << pcr;
    EXPECT_EQ(q.pcr_values.at(pcr).size(), 32u);
    concat.insert(concat.end(), q.pcr_values.at(pcr).begin(), q.pcr_values.at(pcr).end());
  }
  TPMS_ATTEST attest{};
  size_t offset = 0;
  ASSERT_EQ(Tss2_MU_TPMS_ATTEST_Unmarshal(q.attest.data(), q.attest.size(), &offset, &attest),
            TSS2_RC_SUCCESS);
  EXPECT_EQ(offset, q.attest.size());
  EXPECT_EQ(attest.magic, 0xff544347u);
  EXPECT_EQ(attest.type, TPM2_ST_ATTEST_QUOTE);
  EXPECT_EQ(Bytes(attest.extraData.buffer, attest.extraData.buffer + attest.extraData.size), nonce);
  const TPML_PCR_SELECTION& qs = attest.attested.quote.pcrSelect;
  ASSERT_EQ(qs.count, 1u);
  EXPECT_EQ(qs.pcrSelections[0].hash, TPM2_ALG_SHA256);
  EXPECT_EQ(qs.pcrSelections[0].pcrSelect[0], 0xff);
  EXPECT_EQ(qs.pcrSelections[0].pcrSelect[1], 0x03);
  EXPECT_EQ(qs.pcrSelections[0].pcrSelect[2], 0x01);
  const TPM2B_DIGEST& d = attest.attested.quote.pcrDigest;
  EXPECT_EQ(Bytes(d.buffer, d.buffer + d.size), Sha256(concat));
}

TEST_F(TpmNodeTest, ExtendPcrChangesOnlyThatPcr) {
  const PcrSelection all = Sha256Pcrs(
      {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23});
  NODE_ASSERT_OK_AND_ASSIGN(PcrValues before, tpm_->ReadPcrs(all));
  ASSERT_EQ(before.size(), 24u);
  const Bytes digest = Sha256(AsView("measured thing"));
  ASSERT_TRUE(tpm_->ExtendPcr(12, digest).ok());
  NODE_ASSERT_OK_AND_ASSIGN(PcrValues after, tpm_->ReadPcrs(all));
  for (uint32_t pcr = 0; pcr < 24; ++pcr) {
    if (pcr == 12) continue;
    EXPECT_EQ(after.at(pcr), before.at(pcr)) << "PCR " << pcr;
  }
  Bytes chain = before.at(12);
  chain.insert(chain.end(), digest.begin(), digest.end());
  EXPECT_EQ(after.at(12), Sha256(chain));
  EXPECT_NO_HANDLES(tpm_);
}

TEST_F(TpmNodeTest, BadInputsAreErrorsWithoutLeaks) {
  auto bad_digest = tpm_->ExtendPcr(12, Bytes(20, 1));
  ASSERT_FALSE(bad_digest.ok());
  EXPECT_EQ(bad_digest.error().code, Code::kInvalidArgument);
  auto bad_pcr = tpm_->ExtendPcr(24, Bytes(32, 1));
  ASSERT_FALSE(bad_pcr.ok());
  EXPECT_EQ(bad_pcr.error().code, Code::kInvalidArgument);
  auto sha1 = tpm_->ReadPcrs(PcrSelection{HashAlg::kSha1, {0}});  // bank not allocated
  ASSERT_FALSE(sha1.ok());
  EXPECT_EQ(sha1.error().reason, "pcr_bank_unavailable");

  NODE_ASSERT_OK_AND_ASSIGN(AkBlob ak, tpm_->CreateAk(KeyAlg::kEccP256));
  auto long_nonce = tpm_->Quote(ak, Sha256Pcrs({0}), Bytes(65, 1));
  ASSERT_FALSE(long_nonce.ok());
  EXPECT_EQ(long_nonce.error().code, Code::kInvalidArgument);
  EXPECT_NO_HANDLES(tpm_);

  AkBlob trailing = ak;
  trailing.private_area.push_back(0);
  auto q1 = tpm_->Quote(trailing, Sha256Pcrs({0}), Bytes(32, 1));
  ASSERT_FALSE(q1.ok());
  EXPECT_EQ(q1.error().code, Code::kInvalidArgument);
  EXPECT_NE(q1.error().message.find("ak.private_area"), std::string::npos) << q1.error().message;

  // A private blob the TPM cannot unwrap: flipped bit in the encrypted part.
  AkBlob tampered = ak;
  tampered.private_area[tampered.private_area.size() - 3] ^= 0x01;
  auto q2 = tpm_->Quote(tampered, Sha256Pcrs({0}), Bytes(32, 1));
  ASSERT_FALSE(q2.ok());
  EXPECT_EQ(q2.error().reason, "tpm_ak_invalid") << q2.error().ToString();
  EXPECT_NO_HANDLES(tpm_);
}

class TpmNodeActivateTest : public TpmNodeTest, public ::testing::WithParamInterface<KeyAlg> {};

TEST_P(TpmNodeActivateTest, RecoversSecretFromToolsCredential) {
  NODE_ASSERT_OK_AND_ASSIGN(EkBundle ek, tpm_->ReadEk(GetParam()));
  NODE_ASSERT_OK_AND_ASSIGN(AkBlob ak, tpm_->CreateAk(KeyAlg::kEccP256));
  Bytes secret(32);
  for (size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<uint8_t>(0xa0 + i);
  Credential cred = MakeCredentialWithTools(ek.ek_public, NameOf(ak.public_area), secret);
  ASSERT_FALSE(cred.id_object.empty());

  NODE_ASSERT_OK_AND_ASSIGN(SecretBytes got, tpm_->ActivateCredential(ak, GetParam(), cred));
  EXPECT_TRUE(ConstantTimeEqual(got.view(), secret));
  EXPECT_NO_HANDLES(tpm_);

  // Tampered integrity HMAC / encrypted identity: the TPM refuses, we report it.
  for (size_t pos : {size_t{4}, cred.id_object.size() - 1}) {
    Credential bad = {cred.id_object, cred.encrypted_secret};
    bad.id_object[pos] ^= 0x40;
    auto r = tpm_->ActivateCredential(ak, GetParam(), bad);
    ASSERT_FALSE(r.ok()) << "byte " << pos;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_EQ(r.error().reason, "tpm_activation_failed") << r.error().ToString();
    EXPECT_NO_HANDLES(tpm_);
  }
  // Seed for another EK.
  Credential bad_seed = {cred.id_object, cred.encrypted_secret};
  bad_seed.encrypted_secret[bad_seed.encrypted_secret.size() / 2] ^= 0x01;
  auto r = tpm_->ActivateCredential(ak, GetParam(), bad_seed);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "tpm_activation_failed") << r.error().ToString();
  EXPECT_NO_HANDLES(tpm_);
  // Credential for another object name (another AK).
  Bytes other_name = NameOf(ak.public_area);
  other_name.back() ^= 1;
  Credential other = MakeCredentialWithTools(ek.ek_public, other_name, secret);
  r = tpm_->ActivateCredential(ak, GetParam(), other);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "tpm_activation_failed") << r.error().ToString();
  EXPECT_NO_HANDLES(tpm_);
  // Structurally broken input never reaches the TPM.
  Credential trailing = {cred.id_object, cred.encrypted_secret};
  trailing.encrypted_secret.push_back(0);
  r = tpm_->ActivateCredential(ak, GetParam(), trailing);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_NE(r.error().message.find("credential.encrypted_secret"), std::string::npos);
  Credential truncated = {Bytes(cred.id_object.begin(), cred.id_object.end() - 1),
                          cred.encrypted_secret};
  r = tpm_->ActivateCredential(ak, GetParam(), truncated);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("credential.id_object"), std::string::npos);
  EXPECT_NO_HANDLES(tpm_);
}

INSTANTIATE_TEST_SUITE_P(EkAlgs, TpmNodeActivateTest,
                         ::testing::Values(KeyAlg::kRsa2048, KeyAlg::kEccP256),
                         [](const auto& param_info) {
                           return param_info.param == KeyAlg::kRsa2048 ? "RsaEk" : "EccEk";
                         });

// TransientHandleCount must see what others leave behind: objects and both
// kinds of sessions (swtpm has no resource manager, nothing flushes them).
TEST_F(TpmNodeTest, TransientHandleCountSeesLeakedObjectsAndSessions) {
  tpm_.reset();
  {
    TSS2_TCTI_CONTEXT* tcti = nullptr;
    ASSERT_EQ(Tss2_TctiLdr_Initialize(swtpm_->tcti().c_str(), &tcti), TSS2_RC_SUCCESS);
    ESYS_CONTEXT* ctx = nullptr;
    ASSERT_EQ(Esys_Initialize(&ctx, tcti, nullptr), TSS2_RC_SUCCESS);
    TPMT_SYM_DEF sym{};
    sym.algorithm = TPM2_ALG_NULL;
    ESYS_TR hmac = ESYS_TR_NONE, policy = ESYS_TR_NONE, key = ESYS_TR_NONE;
    EXPECT_EQ(
        Esys_StartAuthSession(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                              ESYS_TR_NONE, nullptr, TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, &hmac),
        TSS2_RC_SUCCESS);
    EXPECT_EQ(Esys_StartAuthSession(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                    ESYS_TR_NONE, nullptr, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256,
                                    &policy),
              TSS2_RC_SUCCESS);
    TPM2B_SENSITIVE_CREATE sensitive{};
    TPM2B_PUBLIC tmpl{};
    tmpl.publicArea.type = TPM2_ALG_KEYEDHASH;
    tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
    tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                       TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                       TPMA_OBJECT_SIGN_ENCRYPT;
    tmpl.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_HMAC;
    tmpl.publicArea.parameters.keyedHashDetail.scheme.details.hmac.hashAlg = TPM2_ALG_SHA256;
    TPM2B_DATA outside{};
    TPML_PCR_SELECTION pcrs{};
    EXPECT_EQ(Esys_CreatePrimary(ctx, ESYS_TR_RH_NULL, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                 &sensitive, &tmpl, &outside, &pcrs, &key, nullptr, nullptr,
                                 nullptr, nullptr),
              TSS2_RC_SUCCESS);
    Esys_Finalize(&ctx);  // forgets the handles; the TPM keeps them
    Tss2_TctiLdr_Finalize(&tcti);
  }
  Reopen();
  NODE_ASSERT_OK_AND_ASSIGN(size_t n, tpm_->TransientHandleCount());
  EXPECT_EQ(n, 3u);
}

TEST_F(TpmNodeTest, DeadTpmIsUnavailable) {
  // The TCTI writes to a socket whose peer is gone: a library must not be
  // killed by SIGPIPE, but the process disposition is the program's choice.
  struct sigaction old {
  }, ign{};
  ign.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ign, &old);
  ASSERT_TRUE(swtpm_->Stop().ok());
  auto r = tpm_->ReadPcrs(Sha256Pcrs({0}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnavailable) << r.error().ToString();
  EXPECT_EQ(r.error().reason, "tpm_unavailable");
  sigaction(SIGPIPE, &old, nullptr);
}

TEST(TpmNodeOpenTest, NothingListeningIsUnavailable) {
  const std::string tcti = "swtpm:host=127.0.0.1,port=1";
  auto r = OpenTpm(tcti);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_EQ(r.error().reason, "tpm_unavailable");
  EXPECT_NE(r.error().message.find(tcti), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("check"), std::string::npos) << r.error().message;
}

TEST(TpmNodeOpenTest, UnknownTctiIsUnavailable) {
  auto r = OpenTpm("nosuchtcti:foo");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
}

// Options::ca_dir: instances sharing a CA dir are certified by one CA;
// another dir is an unrelated CA.
TEST(SwtpmFixtureTest, SharedAndSeparateCaDirs) {
  auto ca_a = Swtpm::Start();  // its CA dir is shared with b
  ASSERT_TRUE(ca_a.ok()) << ca_a.error().ToString();
  Swtpm::Options shared;
  shared.ca_dir = (*ca_a)->ca_dir();
  shared.provision_ecc_p256_ek_cert = false;
  auto b = Swtpm::Start(shared);
  ASSERT_TRUE(b.ok()) << b.error().ToString();
  Swtpm::Options separate;
  separate.provision_ecc_p256_ek_cert = false;
  auto c = Swtpm::Start(separate);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ((*b)->ca_intermediate_pem(), (*ca_a)->ca_intermediate_pem());

  auto issuer_key = [](const std::string& pem) {
    FILE* f = std::fopen(pem.c_str(), "r");
    X509* cert = f ? PEM_read_X509(f, nullptr, nullptr, nullptr) : nullptr;
    if (f) std::fclose(f);
    EVP_PKEY* key = cert ? X509_get_pubkey(cert) : nullptr;
    X509_free(cert);
    return std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>(key, EVP_PKEY_free);
  };
  auto signed_by = [](const Bytes& der, EVP_PKEY* key) {
    const unsigned char* p = der.data();
    X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
    const bool ok = cert != nullptr && X509_verify(cert, key) == 1;
    X509_free(cert);
    ERR_clear_error();
    return ok;
  };
  auto key_a = issuer_key((*ca_a)->ca_intermediate_pem());
  auto key_c = issuer_key((*c)->ca_intermediate_pem());
  ASSERT_TRUE(key_a && key_c);
  for (Swtpm* sw : {b->get(), c->get()}) {
    auto tpm = OpenTpm(sw->tcti());
    ASSERT_TRUE(tpm.ok()) << tpm.error().ToString();
    auto ek = (*tpm)->ReadEk(KeyAlg::kRsa2048);
    ASSERT_TRUE(ek.ok() && ek->ek_cert_der) << "no RSA EK cert";
    EXPECT_EQ(signed_by(*ek->ek_cert_der, key_a.get()), sw == b->get());
    EXPECT_EQ(signed_by(*ek->ek_cert_der, key_c.get()), sw == c->get());
  }
}

}  // namespace
}  // namespace tpmesh::attest
