// proto/admin.h: the admin API's responses print and parse back, and a
// response of the wrong shape is refused naming the field.
#include <gtest/gtest.h>

#include "tpmesh/proto/admin.h"

namespace tpmesh::proto {
namespace {

template <typename T>
std::string ProblemOf(const Result<T>& r) {
  return r.ok() ? "<ok>" : r.error().message;
}

TEST(ProtoAdmin, TokensRoundTripAndTheSecretOnlyWhenSet) {
  TokenView t{"0123456789abcdef", "rack 4", 100, 200, false, "", std::nullopt, std::nullopt};
  EXPECT_EQ(ToJson(t).find("token\""), std::string::npos);
  EXPECT_EQ(ToJson(t).find("used_at"), std::string::npos);
  t.token = "tpmesh-secret";
  t.used_at = 150;
  auto back = ParseTokenView(ToJson(t));
  ASSERT_TRUE(back.ok()) << ProblemOf(back);
  EXPECT_EQ(back->token, "tpmesh-secret");
  EXPECT_EQ(back->used_at, 150);
  auto list = ParseTokenListResponse(ToJson(TokenListResponse{{t, t}}));
  ASSERT_TRUE(list.ok()) << ProblemOf(list);
  EXPECT_EQ(list->tokens.size(), 2u);
  EXPECT_NE(ProblemOf(ParseTokenListResponse(
                          R"({"tokens":[{"id":"x","created_at":"1","expires_at":2}]})"))
                .find("tokens[0].created_at: must be an integer"),
            std::string::npos);
  EXPECT_NE(ProblemOf(ParseTokenView(R"({"id":"x","created_at":1,"expires_at":2,"revoked":"no"})"))
                .find("revoked"),
            std::string::npos);
}

TEST(ProtoAdmin, EkPoliciesAuditRoundTrip) {
  EkAllowlistResponse ek{{{std::string(64, 'a'), "asset 7", 5}}};
  auto ek_back = ParseEkAllowlistResponse(ToJson(ek));
  ASSERT_TRUE(ek_back.ok()) << ProblemOf(ek_back);
  EXPECT_EQ(ek_back->ek_allowlist[0].comment, "asset 7");
  EXPECT_EQ(ParseEkAllowResponse(ToJson(EkAllowResponse{"ab"}))->ek_sha256, "ab");
  EXPECT_EQ(ParseRemovedResponse(ToJson(RemovedResponse{"prod"}))->removed, "prod");

  PolicyView p{"prod",
               "sha256",
               {{7, {std::string(64, 'b'), std::string(64, 'c')}}, {0, {std::string(64, 'd')}}},
               9};
  auto p_back = ParsePolicyView(ToJson(p));
  ASSERT_TRUE(p_back.ok()) << ProblemOf(p_back);
  EXPECT_EQ(p_back->pcrs, p.pcrs);
  EXPECT_EQ(ToJson(*p_back), ToJson(p));
  EXPECT_NE(
      ProblemOf(ParsePolicyView(R"({"name":"p","bank":"sha256","created_at":1,"pcrs":{"24":[]}})"))
          .find("not a PCR index"),
      std::string::npos);
  EXPECT_NE(
      ProblemOf(ParsePolicyView(R"({"name":"p","bank":"sha256","created_at":1,"pcrs":{"7":"ab"}})"))
          .find("pcrs.7"),
      std::string::npos);
  auto pl = ParsePolicyListResponse(ToJson(PolicyListResponse{{p}}));
  ASSERT_TRUE(pl.ok());
  EXPECT_EQ(pl->policies.size(), 1u);

  AuditListResponse a{{{9, 1714564800, "admin:root", "node.revoke", "web1", "stolen", ""}}};
  auto a_back = ParseAuditListResponse(ToJson(a));
  ASSERT_TRUE(a_back.ok()) << ProblemOf(a_back);
  EXPECT_EQ(a_back->audit[0].action, "node.revoke");
  EXPECT_NE(ProblemOf(ParseAuditListResponse(R"({"audit":[{"id":1}]})")).find("audit[0].at"),
            std::string::npos);
}

TEST(ProtoAdmin, StatusKeepsUnreportedNodesApart) {
  StatusResponse s;
  s.generation = 4;
  s.active = 1;
  s.expired = 1;
  s.converged = 1;
  s.nodes.push_back(
      {"n1", "web1", "active", 4, 100, std::vector<StatusPeer>{{"key", "db1", 90, 1, 2}}});
  s.nodes.push_back({"n2", "db1", "expired", std::nullopt, std::nullopt, std::nullopt});
  const std::string text = ToJson(s);
  auto back = ParseStatusResponse(text);
  ASSERT_TRUE(back.ok()) << ProblemOf(back);
  ASSERT_EQ(back->nodes.size(), 2u);
  EXPECT_EQ(back->nodes[0].peers->at(0).hostname, "db1");
  EXPECT_FALSE(back->nodes[1].applied_generation.has_value());
  EXPECT_FALSE(back->nodes[1].peers.has_value());
  EXPECT_EQ(back->nodes[1].status, "expired");
  EXPECT_EQ(back->expired, 1);
  EXPECT_EQ(ToJson(*back), text);
  // A node's status is one of the two an active node can have.
  std::string bad = text;
  bad.replace(bad.find("\"expired\"}"), 9, "\"revoked\"");
  EXPECT_NE(ProblemOf(ParseStatusResponse(bad)).find("status"), std::string::npos) << bad;
}

}  // namespace
}  // namespace tpmesh::proto
