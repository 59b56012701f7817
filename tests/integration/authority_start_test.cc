// The real tpmesh-authority at start-up and under hostile TPM structures:
// it refuses, by name, what would not work or not be safe (an uninitialized
// state directory, a key file others can read, more workers than the host
// allows) and creates nothing then; and bytes from clients never reach its
// log through libtss2's own logging.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/authority_proc.h"
#include "tests/support/soft_tpm.h"
#include "tpmesh/authority/state.h"
#include "tpmesh/net/http.h"
#include "tpmesh/pki/pki.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::testing {
namespace {

namespace fs = std::filesystem;

class AuthorityStartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(BinDir().empty()) << "TPMESH_BIN_DIR must point at the build's bin dir";
    auto d = ScopedTempDir::Make("tpmesh-start-test.");
    ASSERT_TRUE(d.ok()) << d.error().ToString();
    work_ = std::move(*d);
    fs::create_directories(Trust());
  }
  std::string Trust() const { return work_->path() + "/ek-trust"; }
  std::string Authority() const { return BinDir() + "/tpmesh-authority"; }
  CommandResult Serve(const std::string& state_dir, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {Authority(), "serve",   "--state-dir",    state_dir,
                                     "--listen",  "[::1]:0", "--ek-trust-dir", Trust()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunCommand(argv);
  }
  std::string Init() {
    const std::string dir = work_->path() + "/state";
    CommandResult r = RunCommand({Authority(), "init", "--state-dir", dir});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return dir;
  }
  std::unique_ptr<ScopedTempDir> work_;
};

TEST_F(AuthorityStartTest, UninitializedStateDirIsRefusedAndLeftEmpty) {
  const std::string dir = work_->path() + "/empty";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  CommandResult r = Serve(dir);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("tpmesh-authority init --state-dir " + dir), std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("serving"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST_F(AuthorityStartTest, EmptyDatabaseIsRefusedAndStaysEmpty) {
  const std::string dir = Init();
  fs::resize_file(dir + "/authority.db", 0);
  CommandResult r = Serve(dir);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("store_empty"), std::string::npos) << r.output;
  EXPECT_EQ(fs::file_size(dir + "/authority.db"), 0u);
  EXPECT_FALSE(fs::exists(dir + "/authority.db-wal"));
}

TEST_F(AuthorityStartTest, CaKeyReadableByGroupIsRefused) {
  const std::string dir = Init();
  ASSERT_EQ(::chmod((dir + "/ca.key").c_str(), 0640), 0);
  CommandResult r = Serve(dir);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("chmod 600 " + dir + "/ca.key"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("serving"), std::string::npos) << r.output;
}

// The handler pool is small and fixed (connections and long polls live on
// the event loop): a thread count meant for the old thread-per-connection
// server is refused before serving, naming the setting and its range.
TEST_F(AuthorityStartTest, AnHttpWorkerCountOutOfRangeIsRefusedBeforeServing) {
  const std::string dir = Init();
  const std::string config = work_->path() + "/authority.toml";
  std::ofstream(config) << "http_workers = 65536\n";
  CommandResult r = Serve(dir, {"--config", config});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("http_workers must be an integer in [1, 256]"), std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("serving"), std::string::npos) << r.output;
}

// Malformed TPM structures from a client (valid base64, garbage inside
// correctly sized structures): answered 400, and libtss2 prints nothing of
// its own ("WARNING:marshal:...count too big" for a quote's PCR selection).
TEST_F(AuthorityStartTest, MalformedTpmStructuresDoNotWriteToTheLog) {
  const std::string root = work_->path() + "/soft-root.pem";
  ASSERT_TRUE(WriteFileBytes(root, ToBytes(SoftTpm::TrustedRoot().Pem())).ok());
  auto auth = AuthorityProcess::Start({.ek_ca_pems = {root}});
  ASSERT_TRUE(auth.ok()) << auth.error().ToString();
  auto ca = ReadFileBytes((*auth)->state_dir() + "/ca.crt");
  ASSERT_TRUE(ca.ok()) << ca.error().ToString();
  net::ClientOptions o;
  o.base_url = (*auth)->url();
  o.ca_pem = std::string(ca->begin(), ca->end());
  auto client = net::MakeClient(o);
  ASSERT_TRUE(client.ok()) << client.error().ToString();

  // enroll/start: EK and AK public areas that do not unmarshal.
  const std::vector<Bytes> garbage = {
      {0x00, 0x10, 0x00, 0x23, 0x00, 0x0b, 0x00, 0x03, 0x00, 0x72, 0xff, 0xff, 1, 2, 3, 4, 5, 6},
      {0x00, 0x08, 0xab, 0xcd, 0x00, 0x0b, 0x00, 0x03, 0x00, 0x72},
      {0x00, 0x06, 0x00, 0x01, 0x00, 0x0b, 0x00, 0x03},
  };
  for (const Bytes& bad : garbage) {
    proto::EnrollStartRequest req;
    req.hostname = "probe-1";
    req.ek_alg = attest::KeyAlg::kEccP256;
    req.ek_public = bad;
    req.ak_public = bad;
    auto r = (*client)->Post("/v1/enroll/start", proto::ToJson(req));
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_EQ(r->status, 400) << r->body;
  }

  // enroll/finish: a real SoftTpm's answer whose quote claims 255 PCR banks.
  SoftTpm tpm("start-test");
  auto ek = tpm.ReadEk(attest::KeyAlg::kEccP256);
  ASSERT_TRUE(ek.ok()) << ek.error().ToString();
  auto ak = tpm.CreateAk(attest::KeyAlg::kEccP256);
  ASSERT_TRUE(ak.ok()) << ak.error().ToString();
  proto::EnrollStartRequest start{"probe-2",       attest::KeyAlg::kEccP256, ek->ek_public,
                                  ek->ek_cert_der, ek->intermediates,        ak->public_area};
  auto sr = (*client)->Post("/v1/enroll/start", proto::ToJson(start));
  ASSERT_TRUE(sr.ok()) << sr.error().ToString();
  ASSERT_EQ(sr->status, 200) << sr->body;
  auto challenge = proto::ParseEnrollStartResponse(sr->body);
  ASSERT_TRUE(challenge.ok()) << challenge.error().ToString();
  auto secret = tpm.ActivateCredential(*ak, attest::KeyAlg::kEccP256, challenge->credential);
  ASSERT_TRUE(secret.ok()) << secret.error().ToString();
  auto quote = tpm.Quote(*ak, challenge->pcr_selection, challenge->nonce);
  ASSERT_TRUE(quote.ok()) << quote.error().ToString();
  Bytes& attest =
      quote->attest;  // magic(4) type(2) signer(2+n) extraData(2+n) clock(17) firmware(8) pcrSelect
  size_t at = 6;
  for (int i = 0; i < 2; ++i) at += 2 + ((size_t{attest[at]} << 8) | attest[at + 1]);
  at += 17 + 8;
  ASSERT_LT(at + 4, attest.size());
  attest[at] = 0, attest[at + 1] = 0, attest[at + 2] = 0, attest[at + 3] = 0xff;
  auto key = pki::GenerateKeyPem();
  ASSERT_TRUE(key.ok());
  auto csr = pki::MakeCsr(*key, "probe-2");
  ASSERT_TRUE(csr.ok());
  proto::EnrollFinishRequest finish;
  finish.challenge_id = challenge->challenge_id;
  finish.secret = std::move(*secret);
  finish.quote = *quote;
  finish.wg_public_key = Bytes(32, 0x5a);
  finish.hostname = "probe-2";
  finish.csr_pem = *csr;
  auto fr = (*client)->Post("/v1/enroll/finish", proto::ToJson(finish));
  ASSERT_TRUE(fr.ok()) << fr.error().ToString();
  EXPECT_EQ(fr->status, 400) << fr->body;
  EXPECT_NE(fr->body.find("quote attest"), std::string::npos) << fr->body;

  const std::string log = (*auth)->log();
  EXPECT_EQ(log.find("WARNING"), std::string::npos) << log;
  EXPECT_EQ(log.find("ERROR:"), std::string::npos) << log;
  EXPECT_EQ(log.find("marshal"), std::string::npos) << log;
}

}  // namespace
}  // namespace tpmesh::testing
