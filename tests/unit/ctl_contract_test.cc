// Contract test of tpmeshctl against the real authority: every command runs
// through ctl::Run, the production transport (ConnectWith over net::Client)
// and the authority's real API handler in process (no sockets, no TLS), so
// the request tpmeshctl builds and the response the authority sends meet
// exactly as they do on the wire. What ctl_test checks with canned responses
// (rendering details, usage errors) stays there; what the two sides must
// agree on is checked here.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "ctl/common.h"
#include "ctl/connect.h"
#include "tests/support/fake_env.h"
#include "tests/support/inproc_authority.h"
#include "tests/support/inproc_net.h"
#include "tests/support/soft_tpm.h"
#include "tests/support/temp_dir.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::ctl {
namespace {

using testing::InProcessAuthority;
using testing::InProcessNet;

class CtlContract : public ::testing::Test {
 protected:
  void SetUp() override {
    auto auth = InProcessAuthority::Create(clock_);
    ASSERT_TRUE(auth.ok()) << auth.error().ToString();
    auth_ = std::move(*auth);
    net_ = std::make_unique<InProcessNet>(auth_->handler());
    // The in-process transport takes the caller from the certificate alone
    // (as the TLS server does after verifying it): an admin certificate.
    auto ca = pki::AuthorityCa::Create("ctl contract", clock_.Now(), std::chrono::hours(24));
    ASSERT_TRUE(ca.ok()) << ca.error().ToString();
    auto admin = ca->IssueAdminCert("root", clock_.Now(), std::chrono::hours(1));
    ASSERT_TRUE(admin.ok()) << admin.error().ToString();
    std::ofstream(dir_.File("ca.crt")) << ca->cert_pem();
    std::ofstream(dir_.File("admin.crt")) << admin->cert_pem;
    std::ofstream(dir_.File("admin.key")) << admin->key_pem;
  }

  // tpmeshctl ARGS... against the in-process authority; returns the exit code.
  int Ctl(std::vector<std::string> args) {
    args.insert(args.begin(),
                {"--authority", "https://authority.test:8443", "--admin-dir", dir_.path()});
    out_.str("");
    err_.str("");
    Io io{out_, err_, ToUnixSeconds(clock_.Now()), [this](const Connection& c) {
            return ConnectWith(c,
                               [this](const net::ClientOptions& o) { return net_->MakeClient(o); });
          }};
    return tpmesh::ctl::Run(args, io);
  }
  bool Out(const std::string& needle) const { return out_.str().find(needle) != std::string::npos; }
  bool Err(const std::string& needle) const { return err_.str().find(needle) != std::string::npos; }

  // Enrolls a SoftTpm host; returns its node id.
  std::string EnrollHost(const std::string& hostname, const std::string& seed) {
    tpms_.push_back(std::make_unique<testing::SoftTpm>(seed));
    auto key = pki::GenerateKeyPem();
    EXPECT_TRUE(key.ok());
    auto e =
        auth_->Enroll(*tpms_.back(), hostname, Bytes(32, static_cast<uint8_t>(tpms_.size())), *key);
    EXPECT_TRUE(e.ok()) << (e.ok() ? "" : e.error().ToString());
    return e.ok() ? e->result.node_id : "";
  }

  testing::FakeClock clock_;
  std::unique_ptr<InProcessAuthority> auth_;
  std::unique_ptr<InProcessNet> net_;
  testing::TempDir dir_{"ctl-contract"};
  std::vector<std::unique_ptr<testing::SoftTpm>> tpms_;
  std::ostringstream out_, err_;
};

TEST_F(CtlContract, NodesListShowRevokeRestore) {
  const std::string id = EnrollHost("web-1", "contract-a");
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(Ctl({"nodes", "list"}), 0) << err_.str();
  EXPECT_TRUE(Out("1 active / 1 total")) << out_.str();
  EXPECT_TRUE(Out(id + "   web-1      active")) << out_.str();

  ASSERT_EQ(Ctl({"nodes", "show", "WEB-1"}), 0) << err_.str();
  EXPECT_TRUE(Out("node id:          " + id + "\n")) << out_.str();
  EXPECT_TRUE(Out("overlay prefix:   fd12:3456:789a:")) << out_.str();

  ASSERT_EQ(Ctl({"nodes", "revoke", "web-1", "--reason", "disk stolen"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "node " + id + " (web-1) is now revoked: disk stolen\n");
  ASSERT_EQ(Ctl({"nodes", "restore", id}), 0) << err_.str();
  EXPECT_TRUE(Out("is now ")) << out_.str();

  EXPECT_EQ(Ctl({"nodes", "show", "nobody"}), 1);
  EXPECT_TRUE(Err("tpmeshctl: node_not_found: ")) << err_.str();
}

TEST_F(CtlContract, TokensCreateListRevoke) {
  ASSERT_EQ(Ctl({"tokens", "create", "--ttl", "2h", "--comment", "rack 4"}), 0) << err_.str();
  const std::string created = out_.str();
  ASSERT_EQ(Ctl({"tokens", "list", "-o", "json"}), 0) << err_.str();
  json list = json::parse(out_.str());
  ASSERT_EQ(list["tokens"].size(), 1u);
  const std::string token_id = list["tokens"][0]["id"];
  EXPECT_EQ(list["tokens"][0]["comment"], "rack 4");
  EXPECT_EQ(list["tokens"][0]["expires_at"].get<int64_t>() -
                list["tokens"][0]["created_at"].get<int64_t>(),
            7200);
  EXPECT_NE(created.find(token_id), std::string::npos) << created;
  ASSERT_EQ(Ctl({"tokens", "list"}), 0);
  EXPECT_TRUE(Out(token_id)) << out_.str();
  ASSERT_EQ(Ctl({"tokens", "revoke", token_id}), 0) << err_.str();
  ASSERT_EQ(Ctl({"tokens", "list", "-o", "json"}), 0);
  EXPECT_TRUE(json::parse(out_.str())["tokens"][0]["revoked"].get<bool>());
}

TEST_F(CtlContract, EkAllowlistRoundTrip) {
  const std::string hex(64, 'a');
  ASSERT_EQ(Ctl({"ek", "allow", "sha256:" + std::string(64, 'A'), "--comment", "asset 17"}), 0)
      << err_.str();
  ASSERT_EQ(Ctl({"ek", "list"}), 0) << err_.str();
  EXPECT_TRUE(Out(hex)) << out_.str();
  EXPECT_TRUE(Out("asset 17")) << out_.str();
  ASSERT_EQ(Ctl({"ek", "remove", hex}), 0) << err_.str();
  ASSERT_EQ(Ctl({"ek", "list", "-o", "json"}), 0);
  EXPECT_TRUE(json::parse(out_.str())["ek_allowlist"].empty()) << out_.str();
}

TEST_F(CtlContract, PolicySetListAdoptRemove) {
  const std::string id = EnrollHost("db-1", "contract-b");
  ASSERT_EQ(Ctl({"policy", "set", "gold", "--pcr", "7=" + std::string(64, 'b')}), 0) << err_.str();
  ASSERT_EQ(Ctl({"policy", "adopt", "from-db", "--from-node", "db-1"}), 0) << err_.str();
  ASSERT_EQ(Ctl({"policy", "list", "-o", "json"}), 0) << err_.str();
  json pols = json::parse(out_.str())["policies"];
  ASSERT_EQ(pols.size(), 2u) << out_.str();
  ASSERT_EQ(Ctl({"policy", "list"}), 0);
  EXPECT_TRUE(Out("gold")) << out_.str();
  EXPECT_TRUE(Out("from-db")) << out_.str();
  ASSERT_EQ(Ctl({"policy", "remove", "gold"}), 0) << err_.str();
  EXPECT_EQ(Ctl({"policy", "remove", "gold"}), 1);
  EXPECT_TRUE(Err("tpmeshctl: policy_not_found")) << err_.str();
}

TEST_F(CtlContract, StatusKeysAndAuditAgree) {
  const std::string id = EnrollHost("app-1", "contract-c");
  ASSERT_EQ(Ctl({"nodes", "revoke", id, "--reason", "test"}), 0) << err_.str();
  ASSERT_EQ(Ctl({"status"}), 0) << err_.str();
  ASSERT_EQ(Ctl({"keys", "list"}), 0) << err_.str();
  ASSERT_EQ(Ctl({"audit", "list", "--limit", "50", "-o", "json"}), 0) << err_.str();
  json audit = json::parse(out_.str())["audit"];
  bool revoked = false;
  for (const auto& a : audit)
    revoked = revoked ||
              (a["action"] == "node.revoke" && a["actor"] == "admin:root" && a["target"] == id);
  EXPECT_TRUE(revoked) << audit.dump();
  ASSERT_EQ(Ctl({"audit", "list"}), 0) << err_.str();
  EXPECT_TRUE(Out("admin:root")) << out_.str();
}

// What tpmeshctl does not check itself, the authority's typed body parser
// (proto/admin_requests.h) refuses, naming the field; nothing is written.
TEST_F(CtlContract, BodyRuleRefusalsNameTheField) {
  const std::string id = EnrollHost("edge-1", "contract-d");
  ASSERT_EQ(Ctl({"policy", "set", "Gold", "--pcr", "7=" + std::string(64, 'b')}), 1);
  EXPECT_TRUE(Err("tpmeshctl: invalid_request: name: 'Gold' must be 1-64 characters"))
      << err_.str();
  EXPECT_EQ(Ctl({"nodes", "revoke", id, "--reason", "rlo \xe2\x80\xae"}), 1);
  EXPECT_TRUE(
      Err("tpmeshctl: invalid_request: reason: contains the control or formatting "
          "character U+202E"))
      << err_.str();
  EXPECT_EQ(Ctl({"tokens", "create", "--comment", "bom \xef\xbb\xbf"}), 1);
  EXPECT_TRUE(Err("tpmeshctl: invalid_request: comment: ")) << err_.str();
  ASSERT_EQ(Ctl({"policy", "list", "-o", "json"}), 0) << err_.str();
  EXPECT_TRUE(json::parse(out_.str())["policies"].empty()) << out_.str();
  ASSERT_EQ(Ctl({"tokens", "list", "-o", "json"}), 0) << err_.str();
  EXPECT_TRUE(json::parse(out_.str())["tokens"].empty()) << out_.str();
  // The refused revocation wrote nothing: the node is still active.
  ASSERT_EQ(Ctl({"nodes", "show", id}), 0) << err_.str();
  EXPECT_TRUE(Out("status:           active")) << out_.str();
  // Revoked, restored (pending) and approved with no --reason: the body is
  // {} and the authority records its default reason.
  ASSERT_EQ(Ctl({"nodes", "revoke", id, "--reason", "test"}), 0) << err_.str();
  ASSERT_EQ(Ctl({"nodes", "restore", id}), 0) << err_.str();
  ASSERT_EQ(Ctl({"nodes", "approve", id}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "node " + id + " (edge-1) is now active: approved by admin\n");
}

TEST_F(CtlContract, RefusalsCarryTheAuthoritysReason) {
  EXPECT_EQ(Ctl({"nodes", "approve", "unknown-host"}), 1);
  EXPECT_TRUE(Err("tpmeshctl: node_not_found")) << err_.str();
  EXPECT_EQ(Ctl({"tokens", "revoke", "0123456789abcdef"}), 1);
  EXPECT_TRUE(Err("tpmeshctl: token_not_found")) << err_.str();
}

}  // namespace
}  // namespace tpmesh::ctl
