// The node daemon when its certificate has expired (the host was off, or
// cut off from every authority, for longer than the certificate's life):
// with a TPM it enrolls again as the same node, without a token, and goes
// on; without one, or when the authority refuses, it ends with
// "node_cert_expired" (exit 7). Meanwhile the authority shows the node as
// expired. Real authority in process, simulated time (daemon_fixture.h).
#include <filesystem>

#include "tests/support/daemon_fixture.h"
#include "tpmesh/client/exit_codes.h"
#include "tpmesh/client/renew.h"
#include "tpmesh/client/tcti.h"
#include "tpmesh/keyrotate/rotation.h"

namespace tpmesh::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class DaemonExpiryTest : public DaemonFixture {
 protected:
  // Moves the clocks past the end of the node certificate.
  void ExpireSelf() {
    auto window = client::ReadCertWindow(Read("node.crt"));
    ASSERT_TRUE(window.ok());
    clock_.Set(ToUnixSeconds(window->not_after) + 60);
  }
  json NodeOf(const std::string& node_id) {
    auto r = Admin("GET", "/v1/admin/nodes/" + node_id, json::object());
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
  }
  json AdminStatus() {
    auto r = Admin("GET", "/v1/admin/status", json::object());
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
  }
};

TEST_F(DaemonExpiryTest, EnrollsAgainWithTheTpmAndGoesOn) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  EXPECT_TRUE(Logged("renews the node certificate at half life with the TPM at " +
                     std::string(attest::kDefaultTcti)))
      << Log();
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  const std::string old_cert = Read("node.crt"), old_wg = Read("wg.key");
  const Bytes old_device_key = DevicePrivateKey();
  ASSERT_NO_FATAL_FAILURE(ExpireSelf());
  // The authority tells an expired node from an active one.
  EXPECT_EQ(NodeOf(self_.node_id).value("status", ""), "expired");
  json st = AdminStatus();
  EXPECT_EQ(st.value("expired", -1), 2) << st.dump() << " (host-b's certificate ended too)";
  EXPECT_EQ(st.value("active", -1), 0) << st.dump();
  ASSERT_EQ(st["nodes"].size(), 2u);
  EXPECT_EQ(st["nodes"][0].value("status", ""), "expired");

  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_TRUE(Logged("the node certificate expired: enrolling again with the TPM")) << Log();
  auto finished = Requests("POST", "/v1/enroll/finish");
  ASSERT_EQ(finished.size(), 1u) << Log();
  EXPECT_EQ(finished[0].status, 200) << finished[0].response;
  EXPECT_FALSE(json::parse(finished[0].body).contains("token")) << "no token: the node is active";
  // The same node, new credentials, set on the running interface.
  EXPECT_NE(Read("node.crt"), old_cert);
  EXPECT_NE(Read("wg.key"), old_wg);
  EXPECT_NE(DevicePrivateKey(), old_device_key);
  auto ident = pki::IdentityFromCertPem(Read("node.crt"));
  ASSERT_TRUE(ident.ok());
  EXPECT_EQ(ident->id, self_.node_id);
  EXPECT_EQ(NodeOf(self_.node_id).value("status", ""), "active");
  EXPECT_EQ(NodeOf(self_.node_id).value("hostname", ""), "host-self");
  st = AdminStatus();
  EXPECT_EQ(st.value("active", -1), 1) << st.dump();
  EXPECT_EQ(st.value("expired", -1), 1) << st.dump();

  // It polls again with the new certificate, which the authority accepts.
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_EQ(net_->clients().back().client_cert_pem, Read("node.crt"));
  EXPECT_TRUE(Polls().back().status == 200 || Polls().back().status == 204)
      << Polls().back().response;
  EXPECT_EQ(SavedGeneration(), Generation());
  EXPECT_TRUE(Requests("POST", "/v1/node/renew").empty())
      << "an expired certificate renews nothing";
}

TEST_F(DaemonExpiryTest, RetriesWhileTheAuthorityIsUnreachable) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  ASSERT_NO_FATAL_FAILURE(ExpireSelf());
  net_->SetReachable(kUrl1, false);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_TRUE(Logged("enrolling again failed: authority_unreachable")) << Log();
  EXPECT_EQ(mono_.sleeps().size(), 2u) << "backs off like any unreachable authority";
  EXPECT_EQ(PeerKeys(), std::vector<Bytes>{b_.wg_public}) << "the mesh keeps its last config";
  net_->SetReachable(kUrl1, true);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_EQ(NodeOf(self_.node_id).value("status", ""), "active");
}

TEST_F(DaemonExpiryTest, WithoutATpmTheDaemonEndsWithExitSeven) {
  options_.tcti = "";  // run --tcti none
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  EXPECT_TRUE(Logged("certificate renewal is off (--tcti none)")) << Log();
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  ASSERT_NO_FATAL_FAILURE(ExpireSelf());
  auto end = d->Step();
  ASSERT_TRUE(end.has_value());
  ASSERT_FALSE(end->ok());
  EXPECT_EQ(end->error().reason, "node_cert_expired");
  EXPECT_EQ(client::ExitCodeFor(end->error()), client::ExitCode::kCertInvalid);
  EXPECT_TRUE(tpm_opens_.empty());
  EXPECT_TRUE(Requests("POST", "/v1/enroll").empty());
  EXPECT_EQ(link_.Count("teardown tpmtest0"), 0u) << "the interface keeps its last config";
}

TEST_F(DaemonExpiryTest, ARefusedReenrollmentEndsTheDaemonNamingTheRefusal) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  ASSERT_NO_FATAL_FAILURE(ExpireSelf());
  // The admin revoked the node while its certificate had ended: the
  // attempt to enroll again is refused, and the daemon says so.
  ASSERT_NO_FATAL_FAILURE(RevokeSelf("stolen"));
  auto end = d->Step();
  ASSERT_TRUE(end.has_value());
  ASSERT_FALSE(end->ok());
  EXPECT_EQ(end->error().reason, "node_revoked") << end->error().ToString();
  EXPECT_EQ(link_.Count("teardown tpmtest0"), 1u);
}

TEST_F(DaemonExpiryTest, AnotherMachinesTpmCannotTakeTheNodeOver) {
  SoftTpm other("daemon-other");
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  // The state directory moved to another machine (or its TPM was cleared).
  tpm_swap_ = &other;
  ASSERT_NO_FATAL_FAILURE(ExpireSelf());
  auto end = d->Step();
  ASSERT_TRUE(end.has_value());
  ASSERT_FALSE(end->ok());
  EXPECT_EQ(end->error().reason, "node_cert_expired");
  EXPECT_NE(end->error().message.find("ek_mismatch"), std::string::npos) << end->error().message;
  EXPECT_TRUE(Requests("POST", "/v1/enroll").empty()) << "nothing was sent";
}

// A long poll ends just after the renewal time: it must not sleep through
// it (60 s certificates with 25 s polls renewed at 50 s, 10 s before the end).
TEST_F(DaemonExpiryTest, TheLongPollEndsInTimeForTheRenewal) {
  auto window = client::ReadCertWindow(Read("node.crt"));
  ASSERT_TRUE(window.ok());
  const int64_t half = ToUnixSeconds(keyrotate::RenewAt(window->not_before, window->not_after));
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_EQ(Polls().back().target.substr(Polls().back().target.find("&wait=")), "&wait=25");
  clock_.Set(half - 10);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_EQ(Polls().back().target.substr(Polls().back().target.find("&wait=")), "&wait=11");
  // Without renewal the poll ends in time to notice the certificate's end.
  options_.tcti = "";
  auto quiet = StartDaemon();
  ASSERT_TRUE(quiet);
  clock_.Set(ToUnixSeconds(window->not_after) - 4);
  ASSERT_NO_FATAL_FAILURE(Step(*quiet));
  EXPECT_EQ(Polls().back().target.substr(Polls().back().target.find("&wait=")), "&wait=5");
}

TEST(Tcti, FlagThenEnvironmentThenTheKernelResourceManager) {
  using client::ResolveTcti;
  EXPECT_EQ(*ResolveTcti(std::nullopt, nullptr, false), "device:/dev/tpmrm0");
  EXPECT_EQ(*ResolveTcti(std::nullopt, "", false), "device:/dev/tpmrm0");
  EXPECT_EQ(*ResolveTcti(std::nullopt, "swtpm:port=2321", false), "swtpm:port=2321");
  EXPECT_EQ(*ResolveTcti(std::string("mssim:"), "swtpm:port=2321", false), "mssim:");
  EXPECT_EQ(*ResolveTcti(std::string("none"), nullptr, true), "");
  EXPECT_EQ(*ResolveTcti(std::nullopt, "none", true), "");
  auto refused = ResolveTcti(std::string("none"), nullptr, false);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().reason, "usage");
  EXPECT_NE(refused.error().message.find("--tcti none"), std::string::npos);
  auto from_file = ResolveTcti(std::string("none"), nullptr, false, "client.toml: tcti =");
  ASSERT_FALSE(from_file.ok());
  EXPECT_NE(from_file.error().message.find("client.toml: tcti = none"), std::string::npos)
      << from_file.error().message;
  auto empty = ResolveTcti(std::string(""), nullptr, true);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("--tcti is empty"), std::string::npos);
}

}  // namespace
}  // namespace tpmesh::testing
