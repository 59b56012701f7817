// proto/keys.h: the key routes' responses print the bytes the authority has
// always sent and parse back; a response of the wrong shape is refused naming
// the field; request bodies print as tpmeshctl has always sent them and parse
// strictly.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tpmesh/proto/keys.h"

namespace tpmesh::proto {
namespace {

template <typename T>
std::string ProblemOf(const Result<T>& r) {
  return r.ok() ? "<ok>" : r.error().message;
}

KeysResponse Sample() {
  KeysResponse v;
  v.generation = 12;
  v.now = 1800000000;
  v.policy = {2592000, 3600, 3600, 259200, 300, 600, true};
  v.config_signing = {{"Q3VycmVudA==", "current", 0, 0}, {"TmV4dA==", "next", 1800000100, 0}};
  v.authority_ca = {{std::string(64, 'a'), "current", 0, 0},
                    {std::string(64, 'b'), "retired", 0, 1800086400}};
  NodeKeysView idle{"00112233445566778899",
                    "web1",
                    "active",
                    "d2c=",
                    1799900000,
                    100000,
                    1802000000,
                    "",
                    0,
                    std::nullopt};
  NodeKeysView rotating = idle;
  rotating.node_id = "aabbccddeeff00112233";
  rotating.hostname = "db1";
  rotating.previous_public_key = "cHJldg==";
  rotating.previous_valid_until = 1800000600;
  rotating.rotation = NodeRotationView{"preparing", "bmV4dA==", 2, {"web1"}, 1800000030, 0};
  v.nodes = {idle, rotating};
  return v;
}

TEST(ProtoKeys, KeysResponsePrintsTheAuthoritysBytesAndParsesBack) {
  const KeysResponse v = Sample();
  const std::string text = ToJson(v);
  // nlohmann's sorted keys, a node without a rotation carries "rotation":null.
  EXPECT_EQ(text.rfind(R"({"authority_ca":[{"fingerprint":")", 0), 0u) << text;
  EXPECT_NE(text.find(R"("policy":{"confirm_deadline_seconds":300,"jitter_seconds":259200,)"
                      R"("lead_time_seconds":3600,"overlap_seconds":3600,"period_seconds":2592000,)"
                      R"("retry_after_seconds":600,"scheduled":true})"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"("next_rotation":1802000000,"node_id":"00112233445566778899",)"
                      R"("previous_public_key":"","previous_valid_until":0,"rotation":null,)"
                      R"("status":"active","wg_public_key":"d2c="})"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find(R"("rotation":{"attempt":2,"awaiting":["web1"],"confirm_deadline":1800000030,)"
                R"("next_public_key":"bmV4dA==","phase":"preparing","retry_at":0})"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find(R"({"not_after":0,"not_before":1800000100,"public_key":"TmV4dA==",)"
                      R"("state":"next"})"),
            std::string::npos)
      << text;
  auto back = ParseKeysResponse(text);
  ASSERT_TRUE(back.ok()) << ProblemOf(back);
  EXPECT_EQ(ToJson(*back), text);
  EXPECT_FALSE(back->nodes[0].rotation.has_value());
  ASSERT_TRUE(back->nodes[1].rotation.has_value());
  EXPECT_EQ(back->nodes[1].rotation->awaiting, std::vector<std::string>{"web1"});
  EXPECT_TRUE(back->policy.scheduled);
  EXPECT_EQ(back->authority_ca[1].not_after, 1800086400);
}

TEST(ProtoKeys, KeysResponseOfTheWrongShapeIsRefusedNamingTheField) {
  auto with = [](const char* field, nlohmann::json value) {
    nlohmann::json j = nlohmann::json::parse(ToJson(Sample()));
    nlohmann::json* at = &j;
    std::string path = field;
    for (size_t dot; (dot = path.find('.')) != std::string::npos; path = path.substr(dot + 1)) {
      const std::string key = path.substr(0, dot);
      at = key.find_first_not_of("0123456789") == std::string::npos ? &(*at)[std::stoul(key)]
                                                                    : &(*at)[key];
    }
    if (value.is_discarded())
      at->erase(path);
    else
      (*at)[path] = value;
    return j.dump();
  };
  const nlohmann::json gone = nlohmann::json::value_t::discarded;
  struct Case {
    std::string text, problem;
  };
  for (const Case& c : {
           Case{"[1,2]", "body: must be a JSON object"},
           Case{with("generation", "12"), "generation: must be an integer"},
           Case{with("policy", gone), "policy: required field missing"},
           Case{with("policy.scheduled", gone), "policy.scheduled: required field missing"},
           Case{with("policy.period_seconds", -1), "policy.period_seconds"},
           Case{with("config_signing", "x"), "config_signing: must be an array"},
           Case{with("config_signing.0.public_key", 7), "config_signing[0].public_key"},
           Case{with("authority_ca.1.not_after", "soon"), "authority_ca[1].not_after"},
           Case{with("nodes.0.hostname", nlohmann::json::array()), "nodes[0].hostname"},
           Case{with("nodes.1.rotation", "preparing"), "nodes[1].rotation: must be an object"},
           Case{with("nodes.1.rotation.awaiting", "web1"), "nodes[1].rotation.awaiting"},
           Case{with("nodes.1.rotation.attempt", "2"), "nodes[1].rotation.attempt"},
       }) {
    auto r = ParseKeysResponse(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().reason, "invalid_request");
    EXPECT_NE(r.error().message.find(c.problem), std::string::npos)
        << r.error().message << " / " << c.problem;
  }
  // A null rotation is no rotation; unknown fields are ignored.
  auto ok = ParseKeysResponse(with("nodes.0.later", "x"));
  EXPECT_TRUE(ok.ok()) << ProblemOf(ok);
}

TEST(ProtoKeys, RotateResponseRoundTrip) {
  KeysRotateResponse v{{{"00112233445566778899", "web1"}, {"aabbccddeeff00112233", ""}}, 13};
  EXPECT_EQ(ToJson(v), R"({"generation":13,"requested":[{"hostname":"web1",)"
                       R"("node_id":"00112233445566778899"},{"hostname":"",)"
                       R"("node_id":"aabbccddeeff00112233"}]})");
  auto back = ParseKeysRotateResponse(ToJson(v));
  ASSERT_TRUE(back.ok()) << ProblemOf(back);
  EXPECT_EQ(back->requested[1].node_id, "aabbccddeeff00112233");
  EXPECT_EQ(back->generation, 13);
  EXPECT_NE(ProblemOf(ParseKeysRotateResponse(R"({"requested":[{"node_id":1}],"generation":1})"))
                .find("requested[0].node_id"),
            std::string::npos);
  EXPECT_NE(ProblemOf(ParseKeysRotateResponse(R"({"requested":[]})")).find("generation"),
            std::string::npos);
}

TEST(ProtoKeys, RequestsPrintWhatTpmeshctlSentAndParseStrictly) {
  EXPECT_EQ(ToJson(KeysRotateRequest{{}, true, ""}), R"({"all":true})");
  EXPECT_EQ(ToJson(KeysRotateRequest{{"web1", "aabbccddeeff00112233"}, false, "disk swapped"}),
            R"({"nodes":["web1","aabbccddeeff00112233"],"reason":"disk swapped"})");
  EXPECT_EQ(ToJson(AuthorityKeyRotateRequest{}), "{}");
  EXPECT_EQ(ToJson(AuthorityKeyRotateRequest{"yearly"}), R"({"reason":"yearly"})");

  auto r = ParseKeysRotateRequest(R"({"nodes":["WEB1","AABBCCDDEEFF00112233"],"reason":"x"})");
  ASSERT_TRUE(r.ok()) << ProblemOf(r);
  EXPECT_EQ(r->nodes, (std::vector<std::string>{"web1", "aabbccddeeff00112233"}));
  EXPECT_FALSE(r->all);
  EXPECT_EQ(r->reason, "x");
  auto all = ParseKeysRotateRequest(R"({"all":true})");
  ASSERT_TRUE(all.ok()) << ProblemOf(all);
  EXPECT_TRUE(all->all);
  EXPECT_TRUE(all->nodes.empty());
  EXPECT_TRUE(ParseKeysRotateRequest("").ok()) << "an empty body is {}";
  struct Case {
    std::string text, problem;
  };
  for (const Case& c : {
           Case{R"({"nodes":"host-a"})", "nodes: must be an array"},
           Case{R"({"nodes":[1]})", "nodes[0]: must be a string"},
           Case{R"({"all":"yes"})", "all"},
           Case{R"({"reason":"a\nb"})", "reason"},
           Case{R"({"all":true,"node":["a"]})", "unknown field"},
           Case{"not json", "body"},
       }) {
    auto bad = ParseKeysRotateRequest(c.text);
    ASSERT_FALSE(bad.ok()) << c.text;
    EXPECT_EQ(bad.error().reason, "invalid_request");
    EXPECT_NE(bad.error().message.find(c.problem), std::string::npos)
        << bad.error().message << " / " << c.problem;
  }
  auto reason = ParseAuthorityKeyRotateRequest(R"({"reason":"drill"})");
  ASSERT_TRUE(reason.ok()) << ProblemOf(reason);
  EXPECT_EQ(reason->reason, "drill");
  EXPECT_EQ(ParseAuthorityKeyRotateRequest("{}")->reason, "");
  EXPECT_NE(ProblemOf(ParseAuthorityKeyRotateRequest(R"({"reason":1})")).find("reason"),
            std::string::npos);
  EXPECT_NE(ProblemOf(ParseAuthorityKeyRotateRequest(R"({"all":true})")).find("unknown field"),
            std::string::npos);
}

}  // namespace
}  // namespace tpmesh::proto
