// proto/node.h: the node API's bodies (config envelope, ack and its answer,
// rotation, node view) print and parse back, and the parsers refuse what is
// mistyped, naming the field, where the hand-written JSON of before took ""
// or 0.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sodium.h>

#include "tpmesh/proto/node.h"

namespace tpmesh::proto {
namespace {

using nlohmann::json;

Bytes Key(uint8_t fill) { return Bytes(32, fill); }

std::string Problem(const Error& e) { return e.reason + ": " + e.message; }

template <typename T>
std::string ProblemOf(const Result<T>& r) {
  return r.ok() ? "<ok>" : Problem(r.error());
}

meshcfg::SignedState Signed(int64_t generation) {
  Bytes pk(crypto_sign_PUBLICKEYBYTES), sk(crypto_sign_SECRETKEYBYTES);
  crypto_sign_seed_keypair(pk.data(), sk.data(), Bytes(32, 9).data());
  meshcfg::MeshMember m{"n1", "node-1", Key(1), {"[2001:db8::1]:51820"}, {"fd12:3456:789a:1::/64"},
                        25,   {}};
  meshcfg::MeshState s{generation, "fd12:3456:789a::/48", 1420, {m}, {}};
  auto st = meshcfg::SignState(s, sk);
  EXPECT_TRUE(st.ok());
  return *st;
}

TEST(ProtoNode, ConfigEnvelopeCarriesExactlyOnePart) {
  ConfigEnvelope full{5, Signed(5), std::nullopt};
  const std::string text = ToJson(full);
  EXPECT_EQ(text, "{\"generation\":5,\"full\":" + meshcfg::ToJson(*full.full) + "}");
  auto back = ParseConfigEnvelope(text);
  ASSERT_TRUE(back.ok()) << ProblemOf(back);
  EXPECT_EQ(back->generation, 5);
  ASSERT_TRUE(back->full.has_value());
  EXPECT_EQ(meshcfg::ToJson(*back->full), meshcfg::ToJson(*full.full));
  EXPECT_FALSE(back->delta.has_value());

  auto neither = ParseConfigEnvelope(R"({"generation":5})");
  ASSERT_FALSE(neither.ok());
  EXPECT_NE(neither.error().message.find("exactly one of 'full' and 'delta'"), std::string::npos);
  auto bad_part = ParseConfigEnvelope(R"({"generation":5,"full":{"hash":1}})");
  ASSERT_FALSE(bad_part.ok());
  EXPECT_EQ(bad_part.error().message.rfind("full: ", 0), 0u) << Problem(bad_part.error());
  EXPECT_FALSE(ParseConfigEnvelope(R"({"generation":"5","full":{}})").ok());
}

TEST(ProtoNode, AckRequestRoundTripAndStrictFields) {
  AckRequest a;
  a.generation = 12;
  a.ca_bundle_sha256 = std::string(64, 'a');
  a.peers.push_back(PeerStatus{Key(2), 1'800'000'000, 10, UINT64_MAX});
  auto back = ParseAckRequest(ToJson(a));
  ASSERT_TRUE(back.ok()) << ProblemOf(back);
  EXPECT_EQ(back->generation, 12);
  EXPECT_EQ(back->ca_bundle_sha256, a.ca_bundle_sha256);
  ASSERT_EQ(back->peers.size(), 1u);
  EXPECT_EQ(back->peers[0].public_key, Key(2));
  EXPECT_EQ(back->peers[0].tx_bytes, UINT64_MAX);

  struct Case {
    const char* body;
    const char* want;
  };
  const Case cases[] = {
      {R"({})", "generation: required field missing"},
      {R"({"generation":"1"})", "generation: must be an integer"},
      {R"({"generation":1,"ca_bundle_sha256":"xyz"})",
       "ca_bundle_sha256: must be 64 lower-case hex"},
      {R"({"generation":1,"peers":{}})", "peers: must be an array"},
      {R"({"generation":1,"peers":[1]})", "peers[0]: must be an object"},
      {R"({"generation":1,"peers":[{"public_key":7}]})",
       "peers[0].public_key: must be a base64 string of 32 bytes"},
      {R"({"generation":1,"peers":[{"public_key":"AAAA"}]})",
       "peers[0].public_key: must be 32 bytes"},
      {R"({"generation":1,"peers":[{"public_key":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=","rx_bytes":-1}]})",
       "peers[0].rx_bytes: must be a non-negative integer"},
  };
  for (const Case& c : cases) {
    auto r = ParseAckRequest(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.error().reason, "invalid_request");
    EXPECT_NE(r.error().message.find(c.want), std::string::npos)
        << c.body << " -> " << r.error().message;
  }
}

TEST(ProtoNode, AckResponseDirectives) {
  AckResponse none;
  EXPECT_EQ(ToJson(none), R"({"ok":true})");
  AckResponse sw;
  sw.rotation = AckResponse::Rotation::kSwitch;
  sw.next_public_key = Key(3);
  sw.ca_bundle = "PEM";
  auto back = ParseAckResponse(ToJson(sw));
  ASSERT_TRUE(back.ok()) << ProblemOf(back);
  EXPECT_EQ(back->rotation, AckResponse::Rotation::kSwitch);
  EXPECT_EQ(back->next_public_key, Key(3));
  EXPECT_EQ(back->ca_bundle, "PEM");
  auto prepare = ParseAckResponse(R"({"ok":true,"rotation":{"action":"prepare"},"unknown":1})");
  ASSERT_TRUE(prepare.ok());
  EXPECT_EQ(prepare->rotation, AckResponse::Rotation::kPrepare);
  EXPECT_NE(
      ProblemOf(ParseAckResponse(R"({"rotation":{"action":"jump"}})")).find("rotation.action"),
      std::string::npos);
  EXPECT_NE(ProblemOf(ParseAckResponse(R"({"rotation":{"action":"switch"}})"))
                .find("rotation.next_public_key"),
            std::string::npos);
  EXPECT_NE(ProblemOf(ParseAckResponse(R"({"ca_bundle":5})")).find("ca_bundle: must be a string"),
            std::string::npos);
  EXPECT_TRUE(ParseAckResponse(R"({"ok":true,"rotation":null,"ca_bundle":null})").ok());
}

TEST(ProtoNode, RotationBodies) {
  auto prep = ParseRotatePrepareRequest(ToJson(RotatePrepareRequest{Key(4)}));
  ASSERT_TRUE(prep.ok());
  EXPECT_EQ(prep->next_public_key, Key(4));
  auto gen = ParseRotatePrepareResponse(ToJson(RotatePrepareResponse{42}));
  ASSERT_TRUE(gen.ok());
  EXPECT_EQ(gen->announce_generation, 42);
  auto sw = ParseRotateSwitchedRequest(ToJson(RotateSwitchedRequest{Key(5)}));
  ASSERT_TRUE(sw.ok());
  EXPECT_EQ(sw->public_key, Key(5));
  EXPECT_NE(
      ProblemOf(ParseRotatePrepareRequest("{}")).find("next_public_key: required field missing"),
      std::string::npos);
  EXPECT_NE(ProblemOf(ParseRotateSwitchedRequest(R"({"public_key":""})"))
                .find("public_key: must be 32 bytes"),
            std::string::npos);
  EXPECT_NE(ProblemOf(ParseRotatePrepareRequest("[]")).find("body: must be a JSON object"),
            std::string::npos);
}

TEST(ProtoNode, NodeViewRoundTrip) {
  NodeView v;
  v.node_id = "n1";
  v.hostname = "node-1";
  v.status = "active";
  v.ek_sha256 = std::string(64, 'b');
  v.wg_public_key = Key(6);
  v.endpoints = {"[2001:db8::1]:51820"};
  v.pcrs = {{0, "00"}, {7, "ff"}};
  v.enrolled_at = 1;
  v.overlay_prefix = "fd12:3456:789a:1::/64";
  auto back = ParseNodeView(ToJson(v));
  ASSERT_TRUE(back.ok()) << ProblemOf(back);
  EXPECT_EQ(back->pcrs, v.pcrs);
  EXPECT_EQ(back->overlay_prefix, v.overlay_prefix);
  EXPECT_FALSE(back->overlay_address.has_value());
  EXPECT_EQ(ToJson(*back), ToJson(v));
  json j = json::parse(ToJson(v));
  j["pcrs"]["24"] = "00";
  EXPECT_NE(ProblemOf(ParseNodeView(j.dump())).find("pcrs"), std::string::npos);
  EXPECT_EQ(ParseCaBundleResponse(ToJson(CaBundleResponse{"PEM"}))->ca_bundle_pem, "PEM");
}

}  // namespace
}  // namespace tpmesh::proto
