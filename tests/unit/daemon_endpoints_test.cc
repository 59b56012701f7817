// Endpoints that follow the host, through the real daemon and authority in
// process (daemon_fixture.h): the daemon reports the endpoints derived from
// the host's addresses in its acks (or the configured ones), the authority
// publishes a change, and a peer's new endpoint reaches this node's device
// within one poll, without re-enrollment.
#include <sys/socket.h>

#include "tests/support/daemon_fixture.h"

namespace tpmesh::testing {
namespace {

using nlohmann::json;

class DaemonEndpointsTest : public DaemonFixture {
 protected:
  std::vector<std::string> EndpointsOf(const std::string& node_id) {
    auto r = Admin("GET", "/v1/admin/nodes/" + node_id, json::object());
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body)["endpoints"].get<std::vector<std::string>>();
  }
  std::optional<std::string> DeviceEndpointOf(const Bytes& key) {
    auto cfg = device_->Get();
    if (!cfg.ok()) return std::nullopt;
    for (const auto& p : cfg->peers) {
      if (p.public_key == key) return p.endpoint;
    }
    return std::nullopt;
  }
  std::string LastAckBody() {
    auto acks = Requests("POST", "/v1/node/ack");
    return acks.empty() ? "" : acks.back().body;
  }
};

TEST_F(DaemonEndpointsTest, ReportsTheHostsAddressesAndFollowsThemWhenTheyChange) {
  host_addresses_ = {{"lo", AF_INET6, "::1", true, true},
                     {"eth0", AF_INET6, "2001:db8::77", true, false},
                     {"eth0", AF_INET, "192.0.2.77", true, false}};
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  const std::string port = std::to_string(options_.listen_port);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_NE(LastAckBody().find("[2001:db8::77]:" + port), std::string::npos) << LastAckBody();
  EXPECT_EQ(EndpointsOf(self_.node_id),
            (std::vector<std::string>{"[2001:db8::77]:" + port, "192.0.2.77:" + port}));
  EXPECT_TRUE(Logged("underlay endpoints: [2001:db8::77]:" + port)) << Log();

  // The host's address changes: the next report carries it (after the
  // authority's per-node interval).
  clock_.Advance(authority::kEndpointChangeIntervalSeconds);
  host_addresses_ = {{"eth0", AF_INET6, "2001:db8::78", true, false}};
  for (int i = 0; i < 3 && EndpointsOf(self_.node_id).front() != "[2001:db8::78]:" + port; ++i)
    ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_EQ(EndpointsOf(self_.node_id), std::vector<std::string>{"[2001:db8::78]:" + port});
}

TEST_F(DaemonEndpointsTest, APeersNewEndpointReachesTheDeviceWithinOnePoll) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  ASSERT_NE(DeviceEndpointOf(b_.wg_public), "[2001:db8::b2]:51820");
  const int64_t before = Generation();
  auto r = authority_->Call(
      "POST", "/v1/node/ack",
      json{{"generation", Generation()}, {"endpoints", {"[2001:db8::b2]:51820"}}}.dump(),
      b_.caller());
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(Generation(), before + 1);
  ASSERT_NO_FATAL_FAILURE(Step(*d));  // the long poll answers with the new generation
  EXPECT_EQ(DeviceEndpointOf(b_.wg_public), "[2001:db8::b2]:51820");
  EXPECT_EQ(SavedGeneration(), before + 1);
}

// The address watch nudges the daemon (RunDaemon wires it to the real
// rtnetlink watch): the next round reports before it polls, where it would
// otherwise poll first and report only after the next generation or 204.
TEST_F(DaemonEndpointsTest, ANudgeReportsTheNewAddressesBeforeTheNextPoll) {
  host_addresses_ = {{"eth0", AF_INET6, "2001:db8::77", true, false}};
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  Peer c;
  ASSERT_NO_FATAL_FAILURE(EnrollPeer("host-c", &c));
  ASSERT_NO_FATAL_FAILURE(Step(*d));  // 200, applied, acknowledged: no ack pending
  clock_.Advance(authority::kEndpointChangeIntervalSeconds);
  host_addresses_ = {{"eth0", AF_INET6, "2001:db8::79", true, false}};
  const size_t before = net_->requests().size();
  stop_.Nudge();
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  const auto requests = net_->requests();  // a copy: requests() returns by value
  ASSERT_GT(requests.size(), before);
  const auto& first = requests[before];
  EXPECT_EQ(first.method + " " + first.target, "POST /v1/node/ack");
  EXPECT_NE(first.body.find("[2001:db8::79]"), std::string::npos) << first.body;
  EXPECT_FALSE(stop_.nudged());
  EXPECT_FALSE(stop_.stopped());
  const std::string port = std::to_string(options_.listen_port);
  EXPECT_EQ(EndpointsOf(self_.node_id), std::vector<std::string>{"[2001:db8::79]:" + port});
}

TEST_F(DaemonEndpointsTest, ConfiguredEndpointsAreReportedAsGiven) {
  options_.endpoints = {"198.51.100.7:51820"};
  host_addresses_ = {{"eth0", AF_INET6, "2001:db8::77", true, false}};
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_EQ(EndpointsOf(self_.node_id), std::vector<std::string>{"198.51.100.7:51820"});
  EXPECT_EQ(LastAckBody().find("2001:db8::77"), std::string::npos) << LastAckBody();
}

}  // namespace
}  // namespace tpmesh::testing
