// The node side of certificate renewal (client::RenewNodeCert) against the
// authority's handler in process (the fixture: renew_api_test.h): when it
// renews, that key and certificate are swapped together, that a refusal
// keeps the old pair; and client::RecoverRenewal after a crash mid-swap.
#include <filesystem>
#include <memory>

#include "tests/support/inproc_net.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/renew_api_test.h"
#include "tpmesh/client/renew.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::authority::renewtest {
namespace {

namespace fs = std::filesystem;

bool KeyMatchesCert(const std::string& key_pem, const std::string& cert_pem) {
  auto key = ossl::ReadKeyPem(key_pem, "key", "test");
  auto cert = ossl::ReadCertPem(cert_pem, "certificate", "test");
  return key.ok() && cert.ok() && X509_check_private_key(cert->get(), key->get()) == 1;
}

// A client of `net` presenting `n`'s certificate (the caller is `n`).
std::unique_ptr<net::Client> ClientAs(testing::InProcessNet& inproc, const Node& n) {
  net::ClientOptions o;
  o.base_url = "https://authority.test:8443";
  o.client_cert_pem = n.cert_pem;
  auto c = inproc.MakeClient(o);
  EXPECT_TRUE(c.ok());
  return c.ok() ? std::move(c).value() : nullptr;
}

TEST_F(RenewApiTest, ClientRenewsAtHalfLifeAndSwapsKeyAndCertTogether) {
  Node a("renew-client-a", "renew-client-a");
  ASSERT_NO_FATAL_FAILURE(Enroll(a));
  testing::TempDir state("tpmesh-renew-client");
  auto put = [&](const char* name, const std::string& data) {
    ASSERT_TRUE(pki::WritePrivateFile(state.File(name), data).ok());
  };
  put("node.crt", a.cert_pem);
  put("node.key", "old key");
  Bytes blob = a.ak->Serialize();
  put("ak.blob", std::string(blob.begin(), blob.end()));
  testing::InProcessNet inproc(handler_);
  std::unique_ptr<net::Client> client = ClientAs(inproc, a);

  auto early = client::RenewNodeCert(state.File(""), a.tpm, *client, clock_);
  ASSERT_TRUE(early.ok()) << early.error().ToString();
  EXPECT_FALSE(*early) << "not due before half the 24 h lifetime";
  EXPECT_EQ(*pki::ReadFile(state.File("node.crt")), a.cert_pem);

  clock_.Advance(12 * 3600 + 60);
  auto due = client::RenewNodeCert(state.File(""), a.tpm, *client, clock_);
  ASSERT_TRUE(due.ok()) << due.error().ToString();
  EXPECT_TRUE(*due);
  auto cert = pki::ReadFile(state.File("node.crt"));
  auto key = pki::ReadFile(state.File("node.key"));
  ASSERT_TRUE(cert.ok() && key.ok());
  EXPECT_NE(*cert, a.cert_pem);
  EXPECT_TRUE(KeyMatchesCert(*key, *cert));
  EXPECT_TRUE(SignedBy(*cert, ca_.cert_pem()));
  EXPECT_EQ(pki::IdentityFromCertPem(*cert)->id, a.node_id);
  EXPECT_FALSE(fs::exists(state.File("node.key.new")));
  EXPECT_FALSE(fs::exists(state.File("node.crt.new")));
  EXPECT_TRUE(Audited("node.renew", a));

  // Refused by the authority (policy mismatch): old pair kept, no leftovers.
  ASSERT_NO_FATAL_FAILURE(AdoptPolicy(a));
  ASSERT_TRUE(a.tpm.ExtendPcr(7, Bytes(32, 0x99)).ok());
  testing::InProcessNet rebuilt(handler_);  // the rebuilt service's handler
  auto refused =
      client::RenewNodeCert(state.File(""), a.tpm, *ClientAs(rebuilt, a), clock_, /*force=*/true);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().reason, "pcr_policy_mismatch");
  EXPECT_EQ(*pki::ReadFile(state.File("node.crt")), *cert);
  EXPECT_EQ(*pki::ReadFile(state.File("node.key")), *key);
  EXPECT_FALSE(fs::exists(state.File("node.key.new")));
  EXPECT_EQ(NodeJson(a).value("status", ""), "quarantined");
}

TEST(RenewRecoveryTest, InterruptedSwapRollsForwardOrBack) {
  testing::TempDir dir("tpmesh-renew-recovery");
  auto put = [&](const char* name, const std::string& data) {
    ASSERT_TRUE(pki::WritePrivateFile(dir.File(name), data).ok());
  };
  // Crash after the key rename: the new cert is waiting.
  put("node.key", "new key");
  put("node.crt", "old cert");
  put("node.crt.new", "new cert");
  ASSERT_TRUE(client::RecoverRenewal(dir.File("")).ok());
  EXPECT_EQ(*pki::ReadFile(dir.File("node.crt")), "new cert");
  EXPECT_FALSE(fs::exists(dir.File("node.crt.new")));
  // Crash before the cert arrived: the stray new key is discarded.
  put("node.key.new", "newer key");
  ASSERT_TRUE(client::RecoverRenewal(dir.File("")).ok());
  EXPECT_EQ(*pki::ReadFile(dir.File("node.key")), "new key");
  EXPECT_FALSE(fs::exists(dir.File("node.key.new")));
  // Crash with both written, before any rename: both move.
  put("node.key.new", "k2");
  put("node.crt.new", "c2");
  ASSERT_TRUE(client::RecoverRenewal(dir.File("")).ok());
  EXPECT_EQ(*pki::ReadFile(dir.File("node.key")), "k2");
  EXPECT_EQ(*pki::ReadFile(dir.File("node.crt")), "c2");
}

}  // namespace
}  // namespace tpmesh::authority::renewtest
