// proto/admin_requests.h and admin_fields.h: the admin API's request bodies
// print and parse back; a body of the wrong shape, a field breaking its rule
// and a field the request does not take are refused naming the field.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tpmesh/proto/admin_requests.h"

namespace tpmesh::proto {
namespace {

using nlohmann::json;

template <typename T>
std::string ProblemOf(const Result<T>& r) {
  return r.ok() ? "<ok>" : r.error().message;
}

template <typename T>
std::string ReasonOf(const Result<T>& r) {
  return r.ok() ? "<ok>" : r.error().reason;
}

const std::string kHexA(64, 'a');
const std::string kHexB(64, 'b');

TEST(ProtoAdminRequests, EmptyRequestTakesNothing) {
  EXPECT_EQ(ToJson(EmptyRequest{}), "{}");
  EXPECT_TRUE(ParseEmptyRequest("").ok());
  EXPECT_TRUE(ParseEmptyRequest("{}").ok());
  EXPECT_TRUE(ParseEmptyRequest(" { } ").ok());
  auto extra = ParseEmptyRequest(R"({"limit": 1})");
  EXPECT_EQ(ReasonOf(extra), "invalid_request");
  EXPECT_EQ(ProblemOf(extra), "'limit': unknown field (this request takes no body fields)");
  // A null is an absent field when a request takes it, but not a field nobody reads.
  EXPECT_EQ(ProblemOf(ParseEmptyRequest(R"({"x": null})")),
            "'x': unknown field (this request takes no body fields)");
  EXPECT_EQ(ProblemOf(ParseEmptyRequest("not json")), "body: is not valid JSON");
  EXPECT_EQ(ProblemOf(ParseEmptyRequest("[]")), "body: must be a JSON object");
  EXPECT_EQ(ProblemOf(ParseEmptyRequest("null")), "body: must be a JSON object");
}

TEST(ProtoAdminRequests, NodeActionRoundTripAndRefusals) {
  EXPECT_EQ(ToJson(NodeActionRequest{}), "{}");  // no reason: nothing sent
  EXPECT_EQ(ToJson(NodeActionRequest{"disk stolen"}), R"({"reason":"disk stolen"})");
  auto back = ParseNodeActionRequest(ToJson(NodeActionRequest{"disk stolen"}));
  ASSERT_TRUE(back.ok()) << ProblemOf(back);
  EXPECT_EQ(back->reason, "disk stolen");
  auto none = ParseNodeActionRequest("");
  ASSERT_TRUE(none.ok()) << ProblemOf(none);
  EXPECT_EQ(none->reason, "");
  EXPECT_TRUE(ParseNodeActionRequest(R"({"reason": null})").ok());

  EXPECT_EQ(ProblemOf(ParseNodeActionRequest(R"({"reason": 5})")),
            "reason: must be a string, not number");
  EXPECT_EQ(ProblemOf(ParseNodeActionRequest(R"({"reason": {}})")),
            "reason: must be a string, not object");
  EXPECT_EQ(ProblemOf(ParseNodeActionRequest(R"({"reason": "stolen", "force": true})")),
            "'force': unknown field (this request takes reason)");
  EXPECT_EQ(ProblemOf(ParseNodeActionRequest(json{{"reason", "two\nlines"}}.dump())),
            "reason: contains the control or formatting character U+000A (at byte 3); plain "
            "single-line text only");
  EXPECT_EQ(ProblemOf(ParseNodeActionRequest(R"(["stolen"])")), "body: must be a JSON object");
}

TEST(ProtoAdminRequests, TokenCreateRoundTripDefaultsAndRefusals) {
  EXPECT_EQ(ToJson(TokenCreateRequest{7200, "rack 4"}),
            R"({"comment":"rack 4","ttl_seconds":7200})");
  auto back = ParseTokenCreateRequest(ToJson(TokenCreateRequest{7200, "rack 4"}));
  ASSERT_TRUE(back.ok()) << ProblemOf(back);
  EXPECT_EQ(back->ttl_seconds, 7200);
  EXPECT_EQ(back->comment, "rack 4");
  auto defaults = ParseTokenCreateRequest("{}");
  ASSERT_TRUE(defaults.ok()) << ProblemOf(defaults);
  EXPECT_EQ(defaults->ttl_seconds, 3600);
  EXPECT_EQ(defaults->comment, "");
  // The range is the service's rule ("invalid_ttl"), not the parser's.
  EXPECT_TRUE(ParseTokenCreateRequest(R"({"ttl_seconds": 0})").ok());

  EXPECT_EQ(ProblemOf(ParseTokenCreateRequest(R"({"ttl_seconds": "1h"})")),
            "ttl_seconds: must be an integer, not string");
  EXPECT_EQ(ProblemOf(ParseTokenCreateRequest(R"({"ttl_seconds": 1e300})")),
            "ttl_seconds: must be an integer, not number");
  EXPECT_EQ(ProblemOf(ParseTokenCreateRequest(R"({"ttl_seconds": 18446744073709551615})")),
            "ttl_seconds: out of range");
  EXPECT_EQ(ProblemOf(ParseTokenCreateRequest(R"({"comment": 5})")),
            "comment: must be a string, not number");
  EXPECT_EQ(ProblemOf(ParseTokenCreateRequest(R"({"ttl_second": 60})")),
            "'ttl_second': unknown field (this request takes comment, ttl_seconds)");
  EXPECT_EQ(ProblemOf(ParseTokenCreateRequest(json{{"comment", std::string(1025, 'x')}}.dump())),
            "comment: longer than 1024 bytes (1025)");
  EXPECT_TRUE(ParseTokenCreateRequest(json{{"comment", std::string(1024, 'x')}}.dump()).ok());
  // The first problem wins: a mistyped field before an unknown one.
  EXPECT_EQ(ProblemOf(ParseTokenCreateRequest(R"({"zzz": 1, "comment": 5})")),
            "comment: must be a string, not number");
}

TEST(ProtoAdminRequests, EkAllowRoundTripAndRefusals) {
  EkAllowRequest req{Bytes(32, 0xab), "asset 7"};
  std::string ab;
  for (int i = 0; i < 32; ++i) ab += "ab";
  EXPECT_EQ(ToJson(req), R"({"comment":"asset 7","ek_sha256":")" + ab + "\"}");
  auto back = ParseEkAllowRequest(ToJson(req));
  ASSERT_TRUE(back.ok()) << ProblemOf(back);
  EXPECT_EQ(back->ek_sha256, req.ek_sha256);
  EXPECT_EQ(back->comment, "asset 7");
  auto upper = ParseEkAllowRequest(json{{"ek_sha256", std::string(64, 'A')}}.dump());
  ASSERT_TRUE(upper.ok()) << ProblemOf(upper);
  EXPECT_EQ(upper->ek_sha256, Bytes(32, 0xaa));

  EXPECT_EQ(ProblemOf(ParseEkAllowRequest("")), "ek_sha256: required field missing");
  EXPECT_EQ(ProblemOf(ParseEkAllowRequest("{}")), "ek_sha256: required field missing");
  EXPECT_EQ(ProblemOf(ParseEkAllowRequest(R"({"ek_sha256": ""})")),
            "ek_sha256: must be 64 hex digits (a SHA-256 fingerprint)");
  EXPECT_EQ(ProblemOf(ParseEkAllowRequest(json{{"ek_sha256", std::string(62, 'a')}}.dump())),
            "ek_sha256: must be 64 hex digits (a SHA-256 fingerprint)");
  EXPECT_EQ(ProblemOf(ParseEkAllowRequest(R"({"ek_sha256": 5})")),
            "ek_sha256: must be a string, not number");
  EXPECT_EQ(ProblemOf(ParseEkAllowRequest(json{{"ek_sha256", kHexA}, {"comment", {"x"}}}.dump())),
            "comment: must be a string, not array");
  EXPECT_EQ(ProblemOf(ParseEkAllowRequest(json{{"ek_sha256", kHexA}, {"note", "x"}}.dump())),
            "'note': unknown field (this request takes comment, ek_sha256)");
}

TEST(ProtoAdminRequests, PolicyPutDefineAdoptAndRefusals) {
  PolicyPutRequest define{"gold", std::nullopt,
                          std::map<uint32_t, std::vector<Bytes>>{
                              {7, {Bytes(32, 0xaa), Bytes(32, 0xbb)}}, {0, {Bytes(32, 0xaa)}}}};
  EXPECT_EQ(json::parse(ToJson(define)),
            (json{{"name", "gold"}, {"pcrs", {{"0", {kHexA}}, {"7", {kHexA, kHexB}}}}}));
  auto back = ParsePolicyPutRequest(ToJson(define));
  ASSERT_TRUE(back.ok()) << ProblemOf(back);
  EXPECT_EQ(back->name, "gold");
  EXPECT_FALSE(back->from_node);
  ASSERT_TRUE(back->pcrs);
  EXPECT_EQ(*back->pcrs, *define.pcrs);
  // One value need not be an array.
  auto single = ParsePolicyPutRequest(json{{"name", "p"}, {"pcrs", {{"23", kHexB}}}}.dump());
  ASSERT_TRUE(single.ok()) << ProblemOf(single);
  EXPECT_EQ(single->pcrs->at(23), std::vector<Bytes>{Bytes(32, 0xbb)});

  PolicyPutRequest adopt{"from-db", "DB-1", std::nullopt};
  EXPECT_EQ(ToJson(adopt), R"({"from_node":"DB-1","name":"from-db"})");
  auto adopted = ParsePolicyPutRequest(ToJson(adopt));
  ASSERT_TRUE(adopted.ok()) << ProblemOf(adopted);
  EXPECT_EQ(adopted->from_node, "db-1");  // canonical: lower case
  EXPECT_FALSE(adopted->pcrs);

  const std::vector<std::pair<json, std::string>> refused = {
      {{{"name", 5}, {"pcrs", {{"7", kHexA}}}}, "name: must be a string, not number"},
      {{{"name", "Gold"}, {"pcrs", {{"7", kHexA}}}},
       "name: 'Gold' must be 1-64 characters of a-z, 0-9, '.', '_' and '-', starting with a "
       "letter or digit"},
      {{{"name", "p"}, {"from_node", 5}}, "from_node: must be a string, not number"},
      {{{"name", "p"}, {"from_node", "a..b"}}, "from_node: is neither a node id"},
      {{{"pcrs", {{"7", kHexA}}}}, "name: required field missing"},
      {{{"name", "p"}}, "pcrs: required field missing (or from_node, to adopt a node's values)"},
      {{{"name", "p"}, {"from_node", "db-1"}, {"pcrs", {{"7", kHexA}}}},
       "pcrs: give either from_node (adopt) or pcrs (define), not both"},
      {{{"name", "p"}, {"pcrs", 5}}, "pcrs: must be an object"},
      {{{"name", "p"}, {"pcrs", {{"07", kHexA}}}}, "pcrs: '07' is not a PCR index 0-23"},
      {{{"name", "p"}, {"pcrs", {{"24", kHexA}}}}, "pcrs: '24' is not a PCR index 0-23"},
      {{{"name", "p"}, {"pcrs", {{"7", json::array()}}}}, "pcrs.7: must list 1-64 values"},
      {{{"name", "p"}, {"pcrs", {{"7", 5}}}}, "pcrs.7: must be 64 hex digits (SHA-256)"},
      {{{"name", "p"}, {"pcrs", {{"7", {kHexA, 5}}}}}, "pcrs.7: must be 64 hex digits (SHA-256)"},
      {{{"name", "p"}, {"pcrs", {{"7", std::vector<std::string>(65, kHexA)}}}},
       "pcrs.7: must list 1-64 values"},
      {{{"name", "p"}, {"pcrs", {{"7", kHexA}}}, {"bank", "sha1"}},
       "'bank': unknown field (this request takes from_node, name, pcrs)"},
  };
  for (const auto& [body, problem] : refused) {
    auto r = ParsePolicyPutRequest(body.dump());
    EXPECT_EQ(ReasonOf(r), "invalid_request") << body.dump();
    EXPECT_EQ(ProblemOf(r).rfind(problem, 0), 0u) << body.dump() << ": " << ProblemOf(r);
  }
}

TEST(ProtoAdminFields, RulesNameTheField) {
  EXPECT_TRUE(ValidatePolicyName("fleet-2026_1.x").ok());
  EXPECT_TRUE(ValidatePolicyName(std::string(kMaxPolicyName, 'a')).ok());
  for (const std::string& bad : {std::string(), std::string("-x"), std::string("a b"),
                                 std::string(kMaxPolicyName + 1, 'a')}) {
    auto st = ValidatePolicyName(bad, "policy name");
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_EQ(st.error().reason, "invalid_request");
    EXPECT_EQ(st.error().message.rfind("policy name: ", 0), 0u) << st.error().message;
  }
  EXPECT_EQ(ValidatePolicyName("").error().message.rfind("name: must be 1-64", 0), 0u);

  EXPECT_TRUE(ValidateAdminText("", "reason").ok());
  EXPECT_TRUE(ValidateAdminText("caf\xc3\xa9 \xe2\x9c\x93", "reason").ok());
  EXPECT_EQ(ValidateAdminText("\xff", "comment").error().message,
            "comment: is not valid UTF-8 (at byte 0)");
  EXPECT_EQ(ValidateAdminText("rlo \xe2\x80\xae", "reason").error().message,
            "reason: contains the control or formatting character U+202E (at byte 4); plain "
            "single-line text only");

  auto node = CanonicalNodeRef("AABBCCDDEEFF00112233", "node");
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(*node, "aabbccddeeff00112233");
  auto host = CanonicalNodeRef("Web-1.Example", "node");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(*host, "web-1.example");
  EXPECT_EQ(CanonicalNodeRef("bad_name", "node")
                .error()
                .message.rfind("node: is neither a node id (20 hex digits) nor a hostname: ", 0),
            0u);

  auto token = CanonicalTokenId("0123456789ABCDEF", "token id");
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(*token, "0123456789abcdef");
  EXPECT_EQ(CanonicalTokenId("xyz", "token id").error().message,
            "token id: 'xyz' is not a token id (16 hex digits, the ID column of 'tpmeshctl "
            "tokens list')");

  auto hash = ParseSha256Hex(std::string(64, 'F'), "ek_sha256");
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(*hash, Bytes(32, 0xff));
  EXPECT_EQ(ParseSha256Hex("abcd", "ek_sha256").error().message,
            "ek_sha256: must be 64 hex digits (a SHA-256 fingerprint)");
  EXPECT_FALSE(ParseSha256Hex(std::string(64, 'g'), "x").ok());
}

// The field reader the keys routes still read through (api_admin_keys.cc).
TEST(ProtoAdminFields, ReaderGettersAndFinish) {
  AdminFields f(json{{"nodes", {"WEB-1", "aabbccddeeff00112233"}}, {"all", true}}.dump());
  EXPECT_EQ(f.NodeRefs("nodes", 2), (std::vector<std::string>{"web-1", "aabbccddeeff00112233"}));
  EXPECT_EQ(f.Bool("all"), true);
  EXPECT_EQ(f.Text("reason"), std::nullopt);
  EXPECT_TRUE(f.Finish().ok());

  AdminFields too_many(json{{"nodes", {"a", "b", "c"}}}.dump());
  too_many.NodeRefs("nodes", 2);
  EXPECT_EQ(too_many.Finish().error().message,
            "nodes: must be an array of at most 2 node ids or hostnames");
  AdminFields item(json{{"nodes", {"web-1", 7}}}.dump());
  item.NodeRefs("nodes", 8);
  EXPECT_EQ(item.Finish().error().message, "nodes[1]: must be a string, not number");
  AdminFields flag(R"({"all": "yes"})");
  flag.Bool("all");
  EXPECT_EQ(flag.Finish().error().message, "all: must be true or false, not string");
  AdminFields unread(R"({"all": true, "reason": "x"})");
  unread.Bool("all");
  EXPECT_EQ(unread.Finish().error().message, "'reason': unknown field (this request takes all)");
}

}  // namespace
}  // namespace tpmesh::proto
