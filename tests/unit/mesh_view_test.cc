// Unit tests of the authority's in-memory membership view (mesh_view.h):
// what a generation's state holds after loads and commits, and the
// per-request status check.
#include "mesh_view.h"

#include <gtest/gtest.h>

namespace tpmesh::authority::internal {
namespace {

MeshView::Params Params() {
  MeshView::Params p;
  auto prefix = ParseMeshPrefix("fd12:3456:789a::/48");
  EXPECT_TRUE(prefix.ok());
  p.mesh_prefix = *prefix;
  return p;
}

NodeRecord Node(const std::string& id, NodeStatus status, std::optional<uint32_t> subnet) {
  NodeRecord n;
  n.node_id = id;
  n.hostname = "host-" + id;
  n.status = status;
  n.status_reason = "because";
  n.subnet = subnet;
  n.wg_public_key = Bytes(32, static_cast<uint8_t>(id[0]));
  n.endpoints = {"192.0.2.1:51820"};
  n.cert_serial = "c-" + id;  // the node's current certificate
  return n;
}

constexpr int64_t kNow = 1'800'000'000;

std::vector<std::string> Ids(const meshcfg::MeshState& s) {
  std::vector<std::string> out;
  for (const auto& m : s.members) out.push_back(m.node_id);
  return out;
}

TEST(MeshViewTest, CommitsBeforeTheLoadAreIgnoredAndTheLoadSetsEverything) {
  MeshView v(Params());
  EXPECT_FALSE(v.loaded());
  v.Apply(CommitInfo{{Node("z", NodeStatus::kActive, 9)}, 4});  // not loaded yet: ignored
  v.Load({Node("b", NodeStatus::kActive, 2), Node("a", NodeStatus::kActive, 1),
          Node("p", NodeStatus::kPending, std::nullopt)},
         7);
  ASSERT_TRUE(v.loaded());
  const meshcfg::MeshState s = v.Snapshot();
  EXPECT_EQ(s.generation, 7);
  EXPECT_EQ(Ids(s), (std::vector<std::string>{"a", "b"}));  // sorted, pending left out
  EXPECT_EQ(s.members[0].allowed_ips, std::vector<std::string>{"fd12:3456:789a:1::/64"});
  EXPECT_EQ(s.mesh_prefix, "fd12:3456:789a::/48");
  EXPECT_EQ(v.member_count(), 2u);
}

TEST(MeshViewTest, CommitsMoveMembersAndStatusesAndTheGenerationOnlyForward) {
  MeshView v(Params());
  v.Load({Node("a", NodeStatus::kActive, 1), Node("b", NodeStatus::kActive, 2)}, 3);
  NodeRecord b = Node("b", NodeStatus::kRevoked, 2);
  NodeRecord c = Node("c", NodeStatus::kActive, 3);
  c.next_wg_public_key = Bytes(32, 9);
  v.Apply(CommitInfo{{b, c}, 4});
  meshcfg::MeshState s = v.Snapshot();
  EXPECT_EQ(s.generation, 4);
  EXPECT_EQ(Ids(s), (std::vector<std::string>{"a", "c"}));
  ASSERT_TRUE(s.members[1].next_wg_public_key.has_value());
  EXPECT_EQ(*s.members[1].next_wg_public_key, Bytes(32, 9));
  // A commit that wrote rows without bumping keeps the generation.
  v.Apply(CommitInfo{{Node("d", NodeStatus::kPending, std::nullopt)}, 0});
  EXPECT_EQ(v.generation(), 4);

  EXPECT_TRUE(v.Authorize("a", "c-a", kNow).ok());
  auto revoked = v.Authorize("b", "c-b", kNow);
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.error().reason, "node_revoked");
  EXPECT_NE(revoked.error().message.find("host-b"), std::string::npos) << revoked.error().message;
  EXPECT_EQ(v.Authorize("d", "c-d", kNow).error().reason, "node_not_active");
  EXPECT_EQ(v.Authorize("nobody", "c-nobody", kNow).error().reason, "node_unknown");
}

TEST(MeshViewTest, AnInvalidRecordStaysOutOfTheStateButKeepsItsStatus) {
  MeshView v(Params());
  NodeRecord bad = Node("x", NodeStatus::kActive, 5);
  bad.wg_public_key = Bytes(3, 1);  // not a Curve25519 key
  v.Load({Node("a", NodeStatus::kActive, 1), bad}, 2);
  EXPECT_EQ(Ids(v.Snapshot()), std::vector<std::string>{"a"});
  EXPECT_TRUE(v.Authorize("x", "c-x", kNow).ok());  // still an active node; just not publishable
  // Fixed by a later commit: it joins.
  v.Apply(CommitInfo{{Node("x", NodeStatus::kActive, 5)}, 3});
  EXPECT_EQ(Ids(v.Snapshot()), (std::vector<std::string>{"a", "x"}));
}

TEST(MeshViewTest, ARecordLeftOutIsLoggedWithItsNodeId) {
  MeshView::Params p = Params();
  std::vector<std::string> lines;
  p.log = [&](const std::string& line) { lines.push_back(line); };
  MeshView v(p);
  NodeRecord bad = Node("x", NodeStatus::kActive, 5);
  bad.wg_public_key = Bytes(3, 1);
  v.Load({Node("a", NodeStatus::kActive, 1), bad}, 2);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("node x"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("wg_public_key"), std::string::npos) << lines[0];
}

// Only a certificate the authority holds valid for the node is accepted:
// the current one, and the one renewal replaced until prev_cert_until.
TEST(MeshViewTest, OnlyTheNodesCurrentCertificateIsAccepted) {
  MeshView v(Params());
  NodeRecord a = Node("a", NodeStatus::kActive, 1);
  a.cert_serial = "new";
  a.prev_cert_serial = "old";
  a.prev_cert_until = kNow + 300;
  NodeRecord b = Node("b", NodeStatus::kActive, 2);
  b.cert_serial = "";  // re-enrolled, approved after a quarantine: none valid yet
  NodeRecord legacy = Node("l", NodeStatus::kActive, 3);
  legacy.cert_serial = kAnyLegacyCert;
  v.Load({a, b, legacy}, 1);
  EXPECT_TRUE(v.Authorize("a", "new", kNow).ok());
  EXPECT_TRUE(v.Authorize("a", "old", kNow + 299).ok());
  EXPECT_EQ(v.Authorize("a", "old", kNow + 300).error().reason, "node_cert_superseded");
  EXPECT_EQ(v.Authorize("a", "older", kNow).error().reason, "node_cert_superseded");
  EXPECT_EQ(v.Authorize("a", "", kNow).error().reason, "node_cert_superseded");
  EXPECT_EQ(v.Authorize("b", "", kNow).error().reason, "node_cert_superseded");
  EXPECT_EQ(v.Authorize("b", "anything", kNow).error().reason, "node_cert_superseded");
  EXPECT_TRUE(v.Authorize("l", "anything", kNow).ok());
  // The next commit moves it: a re-enrollment ends both.
  a.cert_serial = "newest";
  a.prev_cert_serial.clear();
  v.Apply(CommitInfo{{a}, 2});
  EXPECT_EQ(v.Authorize("a", "new", kNow).error().reason, "node_cert_superseded");
  EXPECT_EQ(v.Authorize("a", "old", kNow).error().reason, "node_cert_superseded");
  EXPECT_TRUE(v.Authorize("a", "newest", kNow).ok());
}

}  // namespace
}  // namespace tpmesh::authority::internal
