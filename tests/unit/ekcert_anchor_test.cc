// Trust anchors chosen on purpose and the date rule for EK chains (issue
// 15 item 1), with test CAs shaped like the vendors' (a vendor root
// cross-signed by a CA not in the store, an intermediate that expired while
// its EK certificates stay in the field); then the certificates that ship
// in certs/: every file against certs/MANIFEST.tsv, and two EK certificates
// of real ST33 TPMs (tests/unit/data/field-ek) verified against them.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tests/support/temp_dir.h"
#include "tests/support/test_certs.h"
#include "tpmesh/attest/checks.h"
#include "tpmesh/attest/ekcert.h"

namespace tpmesh::attest {
namespace {

using testing::MakeEkCert;
using testing::MakeIntermediate;
using testing::MakeRootCa;
using testing::TestCa;
using testing::Validity;
namespace fs = std::filesystem;

const TimePoint kNow = FromUnixSeconds(1'796'515'200);  // 2026-12-06
constexpr int64_t k2020 = 1'577'836'800, k2022 = 1'640'995'200, k2024 = 1'704'067'200,
                  k2025 = 1'735'689'600, k2028 = 1'830'297'600, k2040 = 2'208'988'800;

Validity Between(int64_t from, int64_t to) { return {FromUnixSeconds(from), FromUnixSeconds(to)}; }

Result<EkCertInfo> Verify(const Bytes& der, const TrustStore& store, EkChainTime t,
                          std::vector<Bytes> hints = {}) {
  return VerifyEkCertificate(der, hints, store, EkCertOptions{.now = kNow, .chain_time = t});
}

std::string Reason(const Result<EkCertInfo>& r) { return r.ok() ? "ok" : r.error().reason; }

// Like STM's ECC root and Infineon's RSA root: the vendor root is signed by
// a CA (GlobalSign's, VeriSign's) that the store does not hold.
struct CrossSigned {
  TestCa outside = MakeRootCa("Outside TPM Root CA");
  TestCa vendor_root = MakeIntermediate(outside, "Vendor TPM ECC Root CA 01");
  TestCa issuing = MakeIntermediate(vendor_root, "Vendor TPM ECC Intermediate CA 01");
  testing::PkeyPtr ek = testing::MakeEcP256Key();
  Bytes ek_cert = MakeEkCert(issuing, ek.get());
};

TEST(EkAnchors, ACrossSignedVendorRootIsTrustedOnlyWhenChosenAsAnAnchor) {
  CrossSigned c;
  TrustStore plain;  // the vendor root as a mere intermediate, plus an unrelated root
  ASSERT_TRUE(plain.AddDer(MakeRootCa("Unrelated Root").Der()).ok());
  ASSERT_TRUE(plain.AddPem(c.vendor_root.Pem()).ok());
  ASSERT_TRUE(plain.AddPem(c.issuing.Pem()).ok());
  EXPECT_EQ(Reason(Verify(c.ek_cert, plain, EkChainTime::kIssuance)),
            CheckReason(Check::kEkCertChain));

  TrustStore anchored;
  ASSERT_TRUE(anchored.AddPem(c.vendor_root.Pem(), /*anchor=*/true).ok());
  ASSERT_TRUE(anchored.AddPem(c.issuing.Pem()).ok());
  EXPECT_EQ(anchored.root_count(), 1u);
  auto ok = Verify(c.ek_cert, anchored, EkChainTime::kIssuance);
  EXPECT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_TRUE(Verify(c.ek_cert, anchored, EkChainTime::kNow).ok());

  // A node's hints never become anchors: the vendor root (or the outside
  // root) sent from NV does not make the chain trusted.
  EXPECT_EQ(Reason(Verify(c.ek_cert, plain, EkChainTime::kIssuance,
                          {c.vendor_root.Der(), c.outside.Der()})),
            CheckReason(Check::kEkCertChain));
  // An issuing CA under another root is not vouched for by the anchor.
  CrossSigned other;
  EXPECT_EQ(Reason(Verify(other.ek_cert, anchored, EkChainTime::kIssuance, {other.issuing.Der()})),
            CheckReason(Check::kEkCertChain));
}

TEST(EkAnchors, LoadDirectoryMakesEveryFileInAnchorsAnAnchor) {
  CrossSigned c;
  testing::TempDir dir("tpmesh-anchors");
  fs::create_directories(dir.File("anchors"));
  std::ofstream(dir.File("anchors/vendor-root.pem")) << c.vendor_root.Pem();
  std::ofstream(dir.File("vendor-issuing.pem")) << c.issuing.Pem();
  auto store = TrustStore::LoadDirectory(dir.path());
  ASSERT_TRUE(store.ok()) << store.error().ToString();
  EXPECT_EQ(store->root_count(), 1u);
  EXPECT_EQ(store->intermediate_count(), 1u);
  EXPECT_TRUE(Verify(c.ek_cert, *store, EkChainTime::kIssuance).ok());
  // The same file at the top level is an intermediate: not trusted.
  fs::rename(dir.File("anchors/vendor-root.pem"), dir.File("vendor-root.pem"));
  auto top = TrustStore::LoadDirectory(dir.path());
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->root_count(), 0u);
  EXPECT_EQ(Reason(Verify(c.ek_cert, *top, EkChainTime::kIssuance)),
            CheckReason(Check::kEkCertChain));
}

// Like Infineon's Intermediate CA 01: expired in 2025, while TPMs whose EK
// certificates it issued are still in service.
TEST(EkChainTimeTest, AnExpiredIntermediateDependsOnTheRule) {
  TestCa root = MakeRootCa("Vendor TPM EK Root CA", Between(k2020, k2040));
  TestCa old = MakeIntermediate(root, "Vendor TPM EK Intermediate CA 01", Between(k2020, k2025));
  TrustStore store;
  ASSERT_TRUE(store.AddDer(root.Der()).ok());
  ASSERT_TRUE(store.AddPem(old.Pem()).ok());
  auto key = testing::MakeRsaKey();
  testing::EkCertSpec in_service;
  in_service.validity = Between(k2022, k2040);  // issued while the CA was valid
  const Bytes ek = MakeEkCert(old, key.get(), in_service);
  auto issuance = Verify(ek, store, EkChainTime::kIssuance);
  EXPECT_TRUE(issuance.ok()) << issuance.error().ToString();
  auto now = Verify(ek, store, EkChainTime::kNow);
  EXPECT_EQ(Reason(now), CheckReason(Check::kEkCertValidity));
  EXPECT_NE(now.error().message.find("Vendor TPM EK Intermediate CA 01"), std::string::npos)
      << now.error().message;

  // Issued after its issuer had expired: refused under both rules.
  testing::EkCertSpec late;
  late.validity = Between(k2025 + 86400, k2040);
  auto r = Verify(MakeEkCert(old, key.get(), late), store, EkChainTime::kIssuance);
  EXPECT_EQ(Reason(r), CheckReason(Check::kEkCertValidity));
  EXPECT_NE(r.error().message.find("checked at the EK certificate's issuance"), std::string::npos)
      << r.error().message;

  // Claiming issuance in the future: refused under both rules.
  testing::EkCertSpec future;
  future.validity = Between(k2028, k2040);
  TestCa current = MakeIntermediate(root, "Vendor TPM EK Intermediate CA 02");
  ASSERT_TRUE(store.AddPem(current.Pem()).ok());
  EXPECT_EQ(Reason(Verify(MakeEkCert(current, key.get(), future), store, EkChainTime::kIssuance)),
            CheckReason(Check::kEkCertValidity));

  // An EK certificate that itself ended: accepted at issuance (the TCG
  // profile's EK certificates carry no meaningful end), refused under "now".
  testing::EkCertSpec ended;
  ended.validity = Between(k2022, k2024);
  const Bytes ended_ek = MakeEkCert(current, key.get(), ended);
  EXPECT_TRUE(Verify(ended_ek, store, EkChainTime::kIssuance).ok());
  EXPECT_EQ(Reason(Verify(ended_ek, store, EkChainTime::kNow)),
            CheckReason(Check::kEkCertValidity));
  EXPECT_EQ(ParseEkChainTime("issuance").value(), EkChainTime::kIssuance);
  EXPECT_EQ(ParseEkChainTime("now").value(), EkChainTime::kNow);
  EXPECT_FALSE(ParseEkChainTime("never").ok());
}

// --- what ships in certs/ ---

// tests/unit/data -> the checkout.
std::string SourceDir() {
  return fs::path(TPMESH_TEST_DATA_DIR).parent_path().parent_path().parent_path().string();
}

Bytes ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(ShippedCerts, EveryFileMatchesTheManifest) {
  const fs::path certs = fs::path(SourceDir()) / "certs";
  std::ifstream manifest(certs / "MANIFEST.tsv");
  ASSERT_TRUE(manifest.good()) << "no certs/MANIFEST.tsv";
  std::string line;
  std::getline(manifest, line);
  EXPECT_EQ(line.rfind("file\trole\tsubject\tissuer\tnot_after\tsha256", 0), 0u) << line;
  std::set<std::string> listed;
  std::map<std::string, int> roles;
  while (std::getline(manifest, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string col; std::getline(ss, col, '\t');) f.push_back(col);
    ASSERT_EQ(f.size(), 7u) << line;
    listed.insert(f[0]);
    ++roles[f[1]];
    const Bytes pem = ReadFile(certs / f[0]);
    ASSERT_FALSE(pem.empty()) << f[0] << " is listed but missing";
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    ASSERT_NE(x, nullptr) << f[0] << " does not parse";
    unsigned char md[32];
    unsigned int n = 0;
    X509_digest(x, EVP_sha256(), md, &n);
    EXPECT_EQ(HexEncode(ByteView(md, n)), f[5]) << f[0] << ": SHA-256 differs from the manifest";
    const bool self_signed = X509_check_issued(x, x) == X509_V_OK;
    X509_free(x);
    EXPECT_EQ(self_signed, f[1] == "root") << f[0] << " is listed as " << f[1];
    EXPECT_EQ(f[0].rfind("anchors/", 0) == 0, f[1] == "anchor") << f[0];
  }
  for (const char* sub : {"", "anchors"}) {
    for (const auto& e : fs::directory_iterator(certs / sub)) {
      if (e.path().extension() != ".pem") continue;
      const std::string rel =
          (std::string(sub).empty() ? "" : std::string(sub) + "/") + e.path().filename().string();
      EXPECT_TRUE(listed.count(rel)) << rel << " ships but is not in the manifest";
    }
  }
  auto store = TrustStore::LoadDirectory(certs.string());
  ASSERT_TRUE(store.ok()) << store.error().ToString();
  EXPECT_EQ(store->root_count(), static_cast<size_t>(roles["root"] + roles["anchor"]));
  EXPECT_EQ(store->intermediate_count(), static_cast<size_t>(roles["intermediate"]));
  EXPECT_GE(roles["anchor"], 2) << "STM's ECC root and Infineon's RSA root are cross-signed";
}

TEST(ShippedCerts, EkCertificatesOfRealSt33TpmsVerify) {
  auto store = TrustStore::LoadDirectory(SourceDir() + "/certs");
  ASSERT_TRUE(store.ok()) << store.error().ToString();
  const std::string data = SourceDir() + "/tests/unit/data/field-ek/";
  for (const char* name : {"stm-st33-rsa-ek.der", "stm-st33-ecc-ek.der"}) {
    auto der = TrimDer(ReadFile(data + name));  // the RSA one has 0xFF NV padding
    ASSERT_TRUE(der.ok()) << name << ": " << der.error().ToString();
    for (EkChainTime t : {EkChainTime::kIssuance, EkChainTime::kNow}) {
      auto info = Verify(*der, *store, t);
      ASSERT_TRUE(info.ok()) << name << " (" << EkChainTimeName(t)
                             << "): " << info.error().ToString();
      EXPECT_NE(info->issuer.find("STM TPM"), std::string::npos) << info->issuer;
      EXPECT_FALSE(info->software_tpm);
    }
  }
}

}  // namespace
}  // namespace tpmesh::attest
