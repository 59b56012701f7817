// Unit tests of ConfigPublisher: generations never go backwards, deltas from
// the history, and the history's member budget.
#include "tpmesh/authority/publisher.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sodium.h>

namespace tpmesh::authority {
namespace {

using nlohmann::json;

SecretBytes Key() {
  Bytes pk(32), sk(64);
  EXPECT_EQ(sodium_init() < 0, false);
  crypto_sign_keypair(pk.data(), sk.data());
  return SecretBytes(sk);
}

meshcfg::MeshState State(int64_t generation, int members) {
  meshcfg::MeshState s;
  s.generation = generation;
  s.mesh_prefix = "fd12:3456:789a::/48";
  for (int i = 0; i < members; ++i) {
    meshcfg::MeshMember m;
    m.node_id = "n" + std::to_string(i);
    m.hostname = "h" + std::to_string(i);
    m.wg_public_key = Bytes(32, static_cast<uint8_t>(i + 1));
    m.allowed_ips = {"fd12:3456:789a:" + std::to_string(i + 1) + "::/64"};
    s.members.push_back(m);
  }
  return s;
}

// "delta" or "full" for a client at `since`.
std::string Kind(ConfigPublisher& p, int64_t since) {
  auto body = p.Newer(since);
  if (!body) return "none";
  json j = json::parse(*body);
  return j.contains("delta") ? "delta" : j.contains("full") ? "full" : "?";
}

TEST(ConfigPublisherTest, OlderGenerationsAreIgnored) {
  ConfigPublisher p(Key());
  ASSERT_TRUE(p.Publish(State(5, 2)).ok());
  ASSERT_TRUE(p.Publish(State(4, 3)).ok());
  EXPECT_EQ(p.generation(), 5);
  EXPECT_EQ(Kind(p, 5), "none");
  EXPECT_EQ(Kind(p, 4), "full");  // 4 was never published: full state
}

TEST(ConfigPublisherTest, HistoryKeepsAMemberBudgetButAlwaysTwoStates) {
  // Budget of 7 members summed over the history: three states of 3 members
  // do not fit, so the oldest goes and a client there gets the full state.
  ConfigPublisher p(Key(), 256, 7);
  ASSERT_TRUE(p.Publish(State(1, 3)).ok());
  ASSERT_TRUE(p.Publish(State(2, 3)).ok());
  EXPECT_EQ(Kind(p, 1), "delta");
  ASSERT_TRUE(p.Publish(State(3, 4)).ok());
  EXPECT_EQ(Kind(p, 1), "full");
  EXPECT_EQ(Kind(p, 2), "delta");
  // States larger than the whole budget: the newest two stay regardless.
  ASSERT_TRUE(p.Publish(State(4, 20)).ok());
  ASSERT_TRUE(p.Publish(State(5, 20)).ok());
  EXPECT_EQ(Kind(p, 4), "delta");
  EXPECT_EQ(Kind(p, 3), "full");
}

TEST(ConfigPublisherTest, GenerationCountLimitHolds) {
  ConfigPublisher p(Key(), 3);
  for (int g = 1; g <= 5; ++g) ASSERT_TRUE(p.Publish(State(g, 1)).ok());
  EXPECT_EQ(Kind(p, 3), "delta");
  EXPECT_EQ(Kind(p, 2), "full");
}

}  // namespace
}  // namespace tpmesh::authority
