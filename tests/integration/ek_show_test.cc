// `tpmesh-client ek show` against a real swtpm (manufactured with RSA and
// ECC EK certificates by swtpm's local CA): both fingerprints, exactly as
// the attestation library computes them from the TPM's EKs, the
// certificates' names and dates, and whether they chain to a trust
// directory: not to an empty one (no roots), and, with swtpm's CA as the
// root, refused as a software TPM (check 15), with the reason.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/swtpm.h"
#include "tests/support/temp_dir.h"
#include "tpmesh/attest/tpm.h"
#include "tpmesh/attest/tpm_public.h"

namespace tpmesh::testing {
namespace {

std::string Bin() {
  const char* d = std::getenv("TPMESH_BIN_DIR");
  return std::string(d ? d : "build/bin") + "/tpmesh-client";
}

TEST(EkShow, PrintsFingerprintsCertificatesAndWhetherTheyChain) {
  auto sw = Swtpm::Start();
  ASSERT_TRUE(sw.ok()) << sw.error().ToString();
  std::vector<std::string> fingerprints;
  {
    auto tpm = attest::OpenTpm((*sw)->tcti());
    ASSERT_TRUE(tpm.ok()) << tpm.error().ToString();
    for (auto alg : {attest::KeyAlg::kRsa2048, attest::KeyAlg::kEccP256}) {
      auto ek = (*tpm)->ReadEk(alg);
      ASSERT_TRUE(ek.ok()) << ek.error().ToString();
      auto fp = attest::ParseTpm2bPublic(ek->ek_public)->SpkiSha256();
      ASSERT_TRUE(fp.ok());
      fingerprints.push_back(HexEncode(*fp));
    }
  }  // swtpm serves one connection at a time
  TempDir empty("tpmesh-ek-show-empty");
  TempDir roots("tpmesh-ek-show-roots");
  std::filesystem::copy_file((*sw)->ca_root_pem(), roots.File("swtpm-root.pem"));
  std::filesystem::copy_file((*sw)->ca_intermediate_pem(), roots.File("swtpm-issuer.pem"));

  auto plain = RunCommand({Bin(), "ek", "show", "--tcti", (*sw)->tcti()});
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  for (const auto& fp : fingerprints) {
    EXPECT_NE(plain.output.find("fingerprint: " + fp), std::string::npos) << plain.output;
    EXPECT_NE(plain.output.find("node id " + fp.substr(0, 20)), std::string::npos);
  }
  EXPECT_NE(plain.output.find("EK rsa2048 (TCG EK template L-1, RSA-2048)"), std::string::npos);
  EXPECT_NE(plain.output.find("EK ecc-p256 (TCG EK template L-2, ECC NIST P-256)"),
            std::string::npos);
  EXPECT_NE(plain.output.find("issuer \""), std::string::npos) << plain.output;
  EXPECT_EQ(plain.output.find("chains to"), std::string::npos) << "no --trust-dir, no verdict";

  auto none =
      RunCommand({Bin(), "ek", "show", "--tcti", (*sw)->tcti(), "--trust-dir", empty.path()});
  ASSERT_EQ(none.exit_code, 0) << none.output;
  EXPECT_NE(none.output.find("chains to " + empty.path() + ": no (ek_cert_untrusted"),
            std::string::npos)
      << none.output;

  auto sw_root =
      RunCommand({Bin(), "ek", "show", "--tcti", (*sw)->tcti(), "--trust-dir", roots.path()});
  ASSERT_EQ(sw_root.exit_code, 0) << sw_root.output;
  EXPECT_NE(sw_root.output.find("no (software_tpm_rejected"), std::string::npos) << sw_root.output;

  auto bad =
      RunCommand({Bin(), "ek", "show", "--tcti", (*sw)->tcti(), "--trust-dir", "/nonexistent/x"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("/nonexistent/x"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace tpmesh::testing
