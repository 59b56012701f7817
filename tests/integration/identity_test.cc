// Node identity is absolute (issue 11), with real tpmesh-authority and
// tpmesh-client processes and real swtpms: an old node certificate never
// comes back, a WireGuard key belongs to one node, and a known TPM is held
// to the EK certificate checks (or the allowlist) at every enrollment.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/support/authority_proc.h"
#include "tests/support/swtpm.h"
#include "tpmesh/net/http.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::testing {
namespace {

std::string Text(const std::string& path) {
  auto b = ReadFileBytes(path);
  return b.ok() ? std::string(b->begin(), b->end()) : "<missing " + path + ">";
}

class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(BinDir().empty()) << "TPMESH_BIN_DIR must point at the build's bin dir";
    auto d = ScopedTempDir::Make("tpmesh-identity-test.");
    ASSERT_TRUE(d.ok()) << d.error().ToString();
    work_ = std::move(*d);
    for (int i = 0; i < 2; ++i) {
      auto t = Swtpm::Start(Swtpm::Options{.ca_dir = work_->path() + "/tpm-ca"});
      ASSERT_TRUE(t.ok()) << t.error().ToString();
      tpms_.push_back(std::move(*t));
    }
    auto a = AuthorityProcess::Start(
        AuthorityOptions{{tpms_[0]->ca_root_pem(), tpms_[0]->ca_intermediate_pem()}});
    ASSERT_TRUE(a.ok()) << a.error().ToString();
    auth_ = std::move(*a);
  }

  std::string Dir(int host) const { return work_->path() + "/host-" + std::to_string(host); }

  CommandResult Enroll(int host, bool force, bool with_token = true) {
    std::vector<std::string> argv = {BinDir() + "/tpmesh-client",
                                     "enroll",
                                     "--authority",
                                     auth_->url(),
                                     "--ca-fingerprint",
                                     auth_->fingerprint(),
                                     "--hostname",
                                     "host-" + std::to_string(host),
                                     "--tcti",
                                     tpms_[host]->tcti(),
                                     "--state-dir",
                                     Dir(host)};
    if (force) argv.push_back("--force");
    std::vector<std::pair<std::string, std::string>> env;
    if (with_token) {
      auto t = auth_->CreateToken();
      EXPECT_TRUE(t.ok()) << t.error().ToString();
      env.emplace_back("TPMESH_TOKEN", t.ok() ? *t : "");
    }
    return RunCommand(argv, env);
  }

  std::string NodeId(int host) {
    auto nj = proto::ParseEnrollFinishResponse(Text(Dir(host) + "/node.json"));
    EXPECT_TRUE(nj.ok()) << (nj.ok() ? "" : nj.error().ToString());
    return nj.ok() ? nj->node_id : "";
  }

  // GET /v1/node/self over mutual TLS with the given certificate and key:
  // "<status> <reason>" ("200" on success).
  std::string Self(int host, const std::string& cert, const std::string& key) {
    auto c = net::MakeClient(
        net::ClientOptions{auth_->url(), Text(Dir(host) + "/ca.crt"), cert, key, 10});
    if (!c.ok()) return "client: " + c.error().ToString();
    auto r = (*c)->Get("/v1/node/self");
    if (!r.ok()) return "transport: " + r.error().ToString();
    if (r->status == 200) return "200";
    return std::to_string(r->status) + " " + net::ErrorFromResponse(*r).reason;
  }

  void Admin(const std::string& id, const std::string& action) {
    auto r = auth_->AdminPost("/v1/admin/nodes/" + id + "/" + action, {{"reason", "test"}});
    ASSERT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->raw : r.error().ToString());
  }

  std::unique_ptr<ScopedTempDir> work_;
  std::vector<std::unique_ptr<Swtpm>> tpms_;
  std::unique_ptr<AuthorityProcess> auth_;
};

#define ASSERT_OK_RUN(r) \
  ASSERT_EQ((r).exit_code, 0) << (r).output << "\nauthority log:\n" << auth_->log()

// Hole 1: a saved node certificate and key are refused after revoke,
// restore and re-enrollment (before: accepted until they expired).
TEST_F(IdentityTest, ASavedOldCertificateIsRefusedAfterRevokeRestoreReenroll) {
  ASSERT_OK_RUN(Enroll(0, false));
  const std::string id = NodeId(0);
  const std::string old_cert = Text(Dir(0) + "/node.crt"), old_key = Text(Dir(0) + "/node.key");
  const std::string old_wg = Text(Dir(0) + "/wg.pub");
  ASSERT_EQ(Self(0, old_cert, old_key), "200");
  Admin(id, "revoke");
  EXPECT_EQ(Self(0, old_cert, old_key), "403 node_revoked");
  Admin(id, "restore");
  ASSERT_OK_RUN(Enroll(0, true));
  EXPECT_EQ(Self(0, old_cert, old_key), "401 node_cert_superseded");
  EXPECT_EQ(Self(0, Text(Dir(0) + "/node.crt"), Text(Dir(0) + "/node.key")), "200");
  EXPECT_NE(Text(Dir(0) + "/wg.pub"), old_wg) << "the revoked node's WireGuard key came back";
  EXPECT_TRUE(auth_->Stop().ok());
}

// Hole 2: a second node enrolling with the first one's WireGuard key is
// refused and nothing is written (before: both listed with one key).
TEST_F(IdentityTest, TwoNodesCannotShareAWireGuardKey) {
  ASSERT_OK_RUN(Enroll(0, false));
  std::filesystem::create_directories(Dir(1));
  std::filesystem::permissions(Dir(1), std::filesystem::perms::owner_all);
  std::filesystem::copy_file(Dir(0) + "/wg.key", Dir(1) + "/wg.key");
  auto before = auth_->Nodes();
  ASSERT_TRUE(before.ok()) << before.error().ToString();
  CommandResult r = Enroll(1, false);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("key_in_use"), std::string::npos) << r.output;
  auto after = auth_->Nodes();
  ASSERT_TRUE(after.ok()) << after.error().ToString();
  EXPECT_EQ((*after)["nodes"].size(), 1u) << after->dump();
  EXPECT_EQ((*after)["generation"], (*before)["generation"]);
  EXPECT_TRUE(auth_->Stop().ok());
}

// Hole 3: a TPM enrolled under dev mode is refused once dev mode is off,
// with its certificate and (the hole) without it.
TEST_F(IdentityTest, AKnownTpmIsRefusedWithOrWithoutItsCertificateOnceDevModeIsOff) {
  ASSERT_OK_RUN(Enroll(0, false));
  auth_->set_dev_mode(false);
  ASSERT_TRUE(auth_->Restart().ok()) << auth_->log();
  CommandResult with_cert = Enroll(0, true, false);
  EXPECT_NE(with_cert.exit_code, 0) << with_cert.output;
  EXPECT_NE(with_cert.output.find("software_tpm_rejected"), std::string::npos) << with_cert.output;
  // The same TPM with its EK certificates removed from NV (the platform
  // hierarchy wrote them at manufacture).
  for (const char* index : {"0x01c00002", "0x01c0000a"}) {
    CommandResult u = RunCommand({"tpm2_nvundefine", "-T", tpms_[0]->tcti(), "-C", "p", index});
    ASSERT_EQ(u.exit_code, 0) << u.output;
  }
  CommandResult no_cert = Enroll(0, true, false);
  EXPECT_NE(no_cert.exit_code, 0) << no_cert.output;
  EXPECT_NE(no_cert.output.find("ek_cert_untrusted"), std::string::npos) << no_cert.output;
  auto nodes = auth_->Nodes();
  ASSERT_TRUE(nodes.ok());
  EXPECT_EQ((*nodes)["nodes"][0]["enroll_count"], 1) << nodes->dump();
  EXPECT_TRUE(auth_->Stop().ok());
}

}  // namespace
}  // namespace tpmesh::testing
