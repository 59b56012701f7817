// EK certificate verification: checks 1, 2, 3, 14, 15 and TrimDer.
#include "tpmesh/attest/ekcert.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/support/test_certs.h"
#include "tpmesh/attest/checks.h"

namespace tpmesh::attest {
namespace {

using testing::EkCertSpec;
using testing::MakeEcP256Key;
using testing::MakeEkCert;
using testing::MakeIntermediate;
using testing::MakeRootCa;
using testing::MakeRsaKey;
using testing::TestCa;
using testing::Validity;

const TimePoint kNow = FromUnixSeconds(1'800'000'000);  // 2027-01-15

#define EXPECT_REASON(result, check)                                           \
  do {                                                                         \
    const auto& r_ = (result);                                                 \
    ASSERT_FALSE(r_.ok()) << "expected " << CheckReason(check);                \
    EXPECT_EQ(r_.error().reason, CheckReason(check)) << r_.error().ToString(); \
    EXPECT_EQ(r_.error().code, Code::kPermissionDenied);                       \
  } while (0)

#define EXPECT_MALFORMED(result)                                             \
  do {                                                                       \
    const auto& r_ = (result);                                               \
    ASSERT_FALSE(r_.ok());                                                   \
    EXPECT_EQ(r_.error().reason, kReasonMalformed) << r_.error().ToString(); \
    EXPECT_EQ(r_.error().code, Code::kInvalidArgument);                      \
  } while (0)

Bytes SpkiSha256(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key, &der);
  Bytes out(32);
  unsigned int n = 0;
  EVP_Digest(der, static_cast<size_t>(len), out.data(), &n, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  return out;
}

Bytes BnParam(EVP_PKEY* key, const char* name, size_t pad_to = 0) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &bn), 1) << name;
  size_t n = std::max(pad_to, static_cast<size_t>(BN_num_bytes(bn)));
  Bytes out(n);
  BN_bn2binpad(bn, out.data(), static_cast<int>(n));
  BN_free(bn);
  return out;
}

// TpmPublic for an OpenSSL key, filled field by field (as ParseTpm2bPublic would).
TpmPublic TpmPublicFor(EVP_PKEY* key) {
  TpmPublic pub;
  pub.name_alg = kAlgSha256;
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
    pub.type = kAlgRsa;
    pub.rsa_bits = static_cast<uint16_t>(EVP_PKEY_get_bits(key));
    pub.rsa_exponent = 0;
    pub.rsa_modulus = BnParam(key, OSSL_PKEY_PARAM_RSA_N);
  } else {
    pub.type = kAlgEcc;
    pub.curve = kCurveNistP256;
    pub.ecc_x = BnParam(key, OSSL_PKEY_PARAM_EC_PUB_X, 32);
    pub.ecc_y = BnParam(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
  }
  return pub;
}

// One CA hierarchy and two EK keys shared by all tests (key generation is slow).
class EkCertTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new TestCa(MakeRootCa("Test TPM Vendor Root"));
    ica_ = new TestCa(MakeIntermediate(*root_, "Test TPM EK Issuer"));
    rsa_ = new testing::PkeyPtr(MakeRsaKey());
    ec_ = new testing::PkeyPtr(MakeEcP256Key());
  }
  static void TearDownTestSuite() {
    delete root_;
    delete ica_;
    delete rsa_;
    delete ec_;
  }

  // Root trusted; the intermediate in the store only if `with_ica`.
  static TrustStore Store(bool with_ica = true) {
    TrustStore s;
    EXPECT_TRUE(s.AddDer(root_->Der()).ok());
    if (with_ica) {
      EXPECT_TRUE(s.AddPem(ica_->Pem()).ok());
    }
    return s;
  }

  static Result<EkCertInfo> Verify(const Bytes& der, const TrustStore& store,
                                   std::vector<Bytes> node_intermediates = {},
                                   bool dev_mode = false,
                                   EkChainTime chain_time = EkChainTime::kIssuance) {
    return VerifyEkCertificate(
        der, node_intermediates, store,
        EkCertOptions{.now = kNow, .allow_software_tpm = dev_mode, .chain_time = chain_time});
  }
  static Result<EkCertInfo> VerifyNow(const Bytes& der, const TrustStore& store,
                                      std::vector<Bytes> node_intermediates = {}) {
    return Verify(der, store, std::move(node_intermediates), false, EkChainTime::kNow);
  }

  static inline TestCa* root_ = nullptr;
  static inline TestCa* ica_ = nullptr;
  static inline testing::PkeyPtr* rsa_ = nullptr;
  static inline testing::PkeyPtr* ec_ = nullptr;
};

// --- check 1: chain ---

TEST_F(EkCertTest, ValidChainWithStoreIntermediate) {
  EkCertSpec spec;
  spec.validity.not_after = FromUnixSeconds(1'893'456'000);  // 2030-01-01
  Bytes der = MakeEkCert(*ica_, rsa_->get(), spec);
  auto info = Verify(der, Store());
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(info->tpm_manufacturer, "id:49465800");
  EXPECT_EQ(info->tpm_model, "SLB9670");
  EXPECT_EQ(info->tpm_version, "id:00070055");
  EXPECT_FALSE(info->software_tpm);
  EXPECT_EQ(info->issuer, "CN=Test TPM EK Issuer");
  EXPECT_EQ(ToUnixSeconds(info->not_after), 1'893'456'000);
  EXPECT_EQ(info->spki_sha256, SpkiSha256(rsa_->get()));
}

TEST_F(EkCertTest, ValidChainWithNodeSuppliedIntermediate) {
  Bytes der = MakeEkCert(*ica_, ec_->get());
  auto info = Verify(der, Store(/*with_ica=*/false), {ica_->Der()});
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(info->spki_sha256, SpkiSha256(ec_->get()));
  EXPECT_EQ(info->issuer, "CN=Test TPM EK Issuer");
}

TEST_F(EkCertTest, CertDirectlyUnderRoot) {
  auto info = Verify(MakeEkCert(*root_, rsa_->get()), Store(false));
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(info->issuer, "CN=Test TPM Vendor Root");
}

TEST_F(EkCertTest, UntrustedRoot) {
  TestCa other = MakeRootCa("Test TPM Vendor Root");  // same name, different key
  TestCa other_ica = MakeIntermediate(other, "Test TPM EK Issuer");
  auto r = Verify(MakeEkCert(other_ica, rsa_->get()), Store(false), {other_ica.Der()});
  EXPECT_REASON(r, Check::kEkCertChain);
  EXPECT_NE(r.error().message.find("Test TPM"), std::string::npos) << r.error().message;
}

TEST_F(EkCertTest, NodeSuppliedRootIsNotTrusted) {
  TestCa other = MakeRootCa("Rogue Root");
  auto r = Verify(MakeEkCert(other, rsa_->get()), Store(), {other.Der()});
  EXPECT_REASON(r, Check::kEkCertChain);
}

TEST_F(EkCertTest, MissingIntermediate) {
  auto r = Verify(MakeEkCert(*ica_, rsa_->get()), Store(/*with_ica=*/false));
  EXPECT_REASON(r, Check::kEkCertChain);
  EXPECT_NE(r.error().message.find("unable to get local issuer certificate"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("CN=Test TPM EK Issuer"), std::string::npos)
      << r.error().message;
}

TEST_F(EkCertTest, EmptyTrustStoreSaysSo) {
  auto r = Verify(MakeEkCert(*ica_, rsa_->get()), TrustStore(), {ica_->Der()});
  EXPECT_REASON(r, Check::kEkCertChain);
  EXPECT_NE(r.error().message.find("no roots"), std::string::npos) << r.error().message;
}

TEST_F(EkCertTest, NonCriticalSanAndCriticalDirectoryNameSanBothChain) {
  EkCertSpec spec;
  spec.san_critical = false;
  EXPECT_TRUE(Verify(MakeEkCert(*ica_, rsa_->get(), spec), Store()).ok());
  spec.san_critical = true;
  EXPECT_TRUE(Verify(MakeEkCert(*ica_, rsa_->get(), spec), Store()).ok());
}

TEST_F(EkCertTest, CriticalSubjectDirectoryAttributesAccepted) {
  // TPMSpecification "2.0", level 0, revision 164 (as swtpm writes it).
  auto sda = HexDecode("3019301706056781050210310E300C0C03322E30020100020200A4");
  ASSERT_TRUE(sda.ok());
  EkCertSpec spec;
  spec.extra_extensions.push_back({"2.5.29.9", *sda, /*critical=*/true});
  auto info = Verify(MakeEkCert(*ica_, rsa_->get(), spec), Store());
  EXPECT_TRUE(info.ok()) << info.error().ToString();
}

TEST_F(EkCertTest, MalformedSubjectDirectoryAttributesIsProfileViolation) {
  EkCertSpec spec;
  spec.extra_extensions.push_back({"2.5.29.9", Bytes{0x30, 0x03, 0x02, 0x01, 0x00}, true});
  EXPECT_REASON(Verify(MakeEkCert(*ica_, rsa_->get(), spec), Store()), Check::kEkCertProfile);
}

TEST_F(EkCertTest, UnknownCriticalExtensionOnLeafRejected) {
  EkCertSpec spec;
  spec.extra_extensions.push_back({"1.3.6.1.4.1.55555.1", Bytes{0x05, 0x00}, true});
  auto r = Verify(MakeEkCert(*ica_, rsa_->get(), spec), Store());
  EXPECT_REASON(r, Check::kEkCertChain);
  EXPECT_NE(r.error().message.find("unhandled critical extension"), std::string::npos)
      << r.error().message;
  // The same extension non-critical is ignored.
  spec.extra_extensions[0].critical = false;
  EXPECT_TRUE(Verify(MakeEkCert(*ica_, rsa_->get(), spec), Store()).ok());
}

// --- check 2: validity ---

// ek_chain_time = "now": everything at the current time. By default
// ("issuance") the chain as it stood when the EK certificate was issued, so
// the same certificate passes (EkChainTimeTest below).
TEST_F(EkCertTest, ExpiredEk) {
  EkCertSpec spec;
  spec.validity.not_after = FromUnixSeconds(1'767'225'600);  // 2026-01-01
  auto r = VerifyNow(MakeEkCert(*ica_, rsa_->get(), spec), Store());
  EXPECT_REASON(r, Check::kEkCertValidity);
  EXPECT_NE(r.error().message.find("EK certificate is not valid after 2026-01-01"),
            std::string::npos)
      << r.error().message;
  EXPECT_TRUE(Verify(MakeEkCert(*ica_, rsa_->get(), spec), Store()).ok());
}

TEST_F(EkCertTest, NotYetValidEk) {
  EkCertSpec spec;
  spec.validity.not_before = FromUnixSeconds(1'893'456'000);  // 2030-01-01
  auto r = Verify(MakeEkCert(*ica_, rsa_->get(), spec), Store());
  EXPECT_REASON(r, Check::kEkCertValidity);
  EXPECT_NE(r.error().message.find("not valid before 2030-01-01"), std::string::npos)
      << r.error().message;
}

TEST_F(EkCertTest, ExpiredIntermediate) {
  Validity old;
  old.not_after = FromUnixSeconds(1'767'225'600);  // 2026-01-01
  TestCa ica = MakeIntermediate(*root_, "Old EK Issuer", old);
  auto r = VerifyNow(MakeEkCert(ica, rsa_->get()), Store(false), {ica.Der()});
  EXPECT_REASON(r, Check::kEkCertValidity);
  EXPECT_NE(r.error().message.find("Old EK Issuer"), std::string::npos) << r.error().message;
  EXPECT_TRUE(Verify(MakeEkCert(ica, rsa_->get()), Store(false), {ica.Der()}).ok())
      << "issued while its issuer was valid";
}

TEST_F(EkCertTest, ValidityUsesOptionsNowNotWallClock) {
  EkCertSpec spec;
  spec.validity.not_after = FromUnixSeconds(1'800'000'100);  // just after kNow
  Bytes der = MakeEkCert(*ica_, rsa_->get(), spec);
  EXPECT_TRUE(VerifyNow(der, Store()).ok());
  auto later = VerifyEkCertificate(
      der, {}, Store(),
      EkCertOptions{.now = kNow + std::chrono::hours(1), .chain_time = EkChainTime::kNow});
  EXPECT_REASON(later, Check::kEkCertValidity);
}

// --- check 14: profile ---

TEST_F(EkCertTest, EkCertIsCa) {
  EkCertSpec spec;
  spec.is_ca = true;
  auto r = Verify(MakeEkCert(*ica_, rsa_->get(), spec), Store());
  EXPECT_REASON(r, Check::kEkCertProfile);
  EXPECT_NE(r.error().message.find("CA=TRUE"), std::string::npos) << r.error().message;
}

TEST_F(EkCertTest, MissingSan) {
  EkCertSpec spec;
  spec.include_san = false;
  auto r = Verify(MakeEkCert(*ica_, rsa_->get(), spec), Store());
  EXPECT_REASON(r, Check::kEkCertProfile);
  EXPECT_NE(r.error().message.find("no subjectAltName"), std::string::npos) << r.error().message;
}

TEST_F(EkCertTest, SanWithoutManufacturer) {
  EkCertSpec spec;
  spec.include_manufacturer = false;
  auto r = Verify(MakeEkCert(*ica_, rsa_->get(), spec), Store());
  EXPECT_REASON(r, Check::kEkCertProfile);
  EXPECT_NE(r.error().message.find("tpmManufacturer"), std::string::npos) << r.error().message;
}

TEST_F(EkCertTest, WrongEku) {
  EkCertSpec spec;
  spec.eku_oid = "serverAuth";
  auto r = Verify(MakeEkCert(*ica_, rsa_->get(), spec), Store());
  EXPECT_REASON(r, Check::kEkCertProfile);
  EXPECT_NE(r.error().message.find("2.23.133.8.1"), std::string::npos) << r.error().message;
}

TEST_F(EkCertTest, EkuAndKeyUsageOptional) {
  EkCertSpec spec;
  spec.include_eku = false;
  spec.include_key_usage = false;
  EXPECT_TRUE(Verify(MakeEkCert(*ica_, ec_->get(), spec), Store()).ok());
}

// --- check 15: software TPM ---

TEST_F(EkCertTest, SwtpmRejectedOutsideDevMode) {
  EkCertSpec spec;
  spec.manufacturer = "id:00001014";
  spec.model = "swtpm";
  spec.version = "id:20191023";
  Bytes der = MakeEkCert(*ica_, rsa_->get(), spec);
  auto r = Verify(der, Store());
  EXPECT_REASON(r, Check::kSoftwareTpm);
  EXPECT_NE(r.error().message.find("enable dev mode"), std::string::npos) << r.error().message;

  auto dev = Verify(der, Store(), {}, /*dev_mode=*/true);
  ASSERT_TRUE(dev.ok()) << dev.error().ToString();
  EXPECT_TRUE(dev->software_tpm);
  EXPECT_EQ(dev->tpm_manufacturer, "id:00001014");
  EXPECT_EQ(dev->tpm_model, "swtpm");
  EXPECT_EQ(dev->tpm_version, "id:20191023");
}

TEST_F(EkCertTest, SwtpmManufacturerWithOtherModelStillSoftware) {
  EkCertSpec spec;
  spec.manufacturer = "id:00001014";
  spec.model = "QEMU";
  EXPECT_REASON(Verify(MakeEkCert(*ica_, ec_->get(), spec), Store()), Check::kSoftwareTpm);
}

TEST_F(EkCertTest, ChainCheckedBeforeSoftwareTpm) {
  EkCertSpec spec;
  spec.manufacturer = "id:00001014";
  spec.model = "swtpm";
  TestCa other = MakeRootCa("swtpm-localca-rootca");
  EXPECT_REASON(Verify(MakeEkCert(other, rsa_->get(), spec), Store(), {}, true),
                Check::kEkCertChain);
}

// --- check 3: key match ---

TEST_F(EkCertTest, KeyMatchesCert) {
  EXPECT_TRUE(CheckEkMatchesCert(TpmPublicFor(rsa_->get()), MakeEkCert(*ica_, rsa_->get())).ok());
  EXPECT_TRUE(CheckEkMatchesCert(TpmPublicFor(ec_->get()), MakeEkCert(*ica_, ec_->get())).ok());
}

TEST_F(EkCertTest, KeyMismatch) {
  testing::PkeyPtr other_rsa = MakeRsaKey();
  Bytes der = MakeEkCert(*ica_, rsa_->get());
  EXPECT_REASON(CheckEkMatchesCert(TpmPublicFor(other_rsa.get()), der), Check::kEkKeyMismatch);
  // Different algorithm entirely.
  EXPECT_REASON(CheckEkMatchesCert(TpmPublicFor(ec_->get()), der), Check::kEkKeyMismatch);
}

// --- DER handling ---

TEST_F(EkCertTest, TrailingNvPaddingAccepted) {
  Bytes der = MakeEkCert(*ica_, rsa_->get());
  Bytes padded = der;
  padded.resize(der.size() + 300, 0xff);
  auto trimmed = TrimDer(padded);
  ASSERT_TRUE(trimmed.ok()) << trimmed.error().ToString();
  EXPECT_EQ(*trimmed, der);
  EXPECT_TRUE(Verify(padded, Store()).ok());
  EXPECT_TRUE(CheckEkMatchesCert(TpmPublicFor(rsa_->get()), padded).ok());
}

TEST_F(EkCertTest, TruncatedDerMalformed) {
  Bytes der = MakeEkCert(*ica_, rsa_->get());
  Bytes cut(der.begin(), der.begin() + 100);
  auto r = Verify(cut, Store());
  EXPECT_MALFORMED(r);
  EXPECT_NE(r.error().message.find("truncated: DER says " + std::to_string(der.size()) +
                                   " bytes, 100 given"),
            std::string::npos)
      << r.error().message;
  EXPECT_MALFORMED(TrimDer(Bytes{0x30}));
  EXPECT_MALFORMED(TrimDer(Bytes{}));
}

TEST_F(EkCertTest, GarbageMalformed) {
  EXPECT_MALFORMED(Verify(ToBytes("this is not a certificate"), Store()));
  EXPECT_MALFORMED(Verify(Bytes(64, 0xff), Store()));
  // A well-formed SEQUENCE header around junk.
  EXPECT_MALFORMED(Verify(Bytes{0x30, 0x03, 0x02, 0x01, 0x00}, Store()));
  // Bad node-supplied intermediate.
  auto r = Verify(MakeEkCert(*ica_, rsa_->get()), Store(), {Bytes{0x01, 0x02}});
  EXPECT_MALFORMED(r);
  EXPECT_NE(r.error().message.find("intermediate #0"), std::string::npos) << r.error().message;
}

// --- TrustStore ---

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tpmesh-ekcert-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  void Write(const std::string& name, std::string_view content) const {
    std::ofstream(path_ + "/" + name, std::ios::binary) << content;
  }

 private:
  std::string path_;
};

std::string AsString(const Bytes& b) { return std::string(b.begin(), b.end()); }

TEST_F(EkCertTest, LoadDirectoryCountsRootsAndIntermediates) {
  TestCa root2 = MakeRootCa("Second Vendor Root");
  TestCa ica2 = MakeIntermediate(root2, "Second Vendor EK CA");
  TempDir dir;
  dir.Write("vendor1-root.pem", root_->Pem());
  dir.Write("vendor1-ek-ca.der", AsString(ica_->Der()));
  dir.Write("vendor2-bundle.crt", root2.Pem() + ica2.Pem());  // two certs in one PEM
  dir.Write("vendor2-root-copy.cer", AsString(root2.Der()));  // duplicate, DER in .cer
  dir.Write("README.txt", "ignored");
  auto store = TrustStore::LoadDirectory(dir.path());
  ASSERT_TRUE(store.ok()) << store.error().ToString();
  EXPECT_EQ(store->root_count(), 2u);
  EXPECT_EQ(store->intermediate_count(), 2u);
  EXPECT_TRUE(Verify(MakeEkCert(ica2, ec_->get()), *store).ok());
}

TEST_F(EkCertTest, LoadDirectoryGarbageNamed) {
  TempDir dir;
  dir.Write("good.pem", root_->Pem());
  dir.Write("broken.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  auto store = TrustStore::LoadDirectory(dir.path());
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find("broken.pem"), std::string::npos)
      << store.error().ToString();

  TempDir dir2;
  dir2.Write("junk.der", "junk");
  auto store2 = TrustStore::LoadDirectory(dir2.path());
  ASSERT_FALSE(store2.ok());
  EXPECT_NE(store2.error().message.find("junk.der"), std::string::npos)
      << store2.error().ToString();
}

TEST_F(EkCertTest, LoadDirectoryMissingOrEmpty) {
  auto missing = TrustStore::LoadDirectory("/nonexistent/tpmesh-certs");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/nonexistent/tpmesh-certs"), std::string::npos);
  TempDir dir;
  auto empty = TrustStore::LoadDirectory(dir.path());
  ASSERT_TRUE(empty.ok()) << empty.error().ToString();
  EXPECT_EQ(empty->root_count(), 0u);
  EXPECT_EQ(empty->intermediate_count(), 0u);
}

TEST_F(EkCertTest, TrustStoreMovable) {
  TrustStore a = Store();
  TrustStore b = std::move(a);
  EXPECT_EQ(b.root_count(), 1u);
  EXPECT_EQ(b.intermediate_count(), 1u);
  EXPECT_TRUE(Verify(MakeEkCert(*ica_, rsa_->get()), b).ok());
}

// --- a real swtpm_localca chain (tests/unit/data/swtpm-localca, generated by
// swtpm_setup --create-ek-cert; ek-*.nv are the NV index contents) ---

Bytes ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(SwtpmLocalCaTest, RealSwtpmChain) {
  const std::string dir = std::string(TPMESH_TEST_DATA_DIR) + "/swtpm-localca";
  auto store = TrustStore::LoadDirectory(dir);
  ASSERT_TRUE(store.ok()) << store.error().ToString();
  EXPECT_EQ(store->root_count(), 1u);                    // swtpm-localca-rootca-cert.pem
  EXPECT_EQ(store->intermediate_count(), 1u);            // issuercert.pem (swtpm-localca)
  const TimePoint now = FromUnixSeconds(1'900'000'000);  // 2030: within validity
  for (const char* file : {"ek-rsa.nv", "ek-ecc.nv"}) {
    SCOPED_TRACE(file);
    Bytes nv = ReadFile(dir + "/" + file);
    ASSERT_FALSE(nv.empty());
    auto prod = VerifyEkCertificate(nv, {}, *store, EkCertOptions{.now = now});
    EXPECT_REASON(prod, Check::kSoftwareTpm);
    auto dev =
        VerifyEkCertificate(nv, {}, *store, EkCertOptions{.now = now, .allow_software_tpm = true});
    ASSERT_TRUE(dev.ok()) << dev.error().ToString();
    EXPECT_TRUE(dev->software_tpm);
    EXPECT_EQ(dev->tpm_manufacturer, "id:00001014");
    EXPECT_EQ(dev->tpm_model, "swtpm");
    EXPECT_EQ(dev->tpm_version, "id:20191023");
    EXPECT_EQ(dev->issuer, "CN=swtpm-localca");
    EXPECT_EQ(dev->spki_sha256.size(), 32u);
  }
  // Without the localca root the swtpm chain is untrusted.
  auto r = VerifyEkCertificate(ReadFile(dir + "/ek-rsa.nv"), {}, TrustStore(),
                               EkCertOptions{.now = now, .allow_software_tpm = true});
  EXPECT_REASON(r, Check::kEkCertChain);
}

}  // namespace
}  // namespace tpmesh::attest
