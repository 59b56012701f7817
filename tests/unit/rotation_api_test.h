// The RotationApiTest fixture, shared by rotation_api_test.cc (WireGuard key
// rotation through the authority's API) and rotation_keys_api_test.cc (the
// authority's own keys: config-signing key and CA rotation): the authority in
// process (testing::AuthorityFixture, its keys loaded from a state directory
// as `serve` loads them), a config publisher, three SoftTpm nodes enrolled
// through the allowlist, rotation not scheduled (the tests call
// RotationTick), a fake clock (no sleeps).
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/support/api_test_util.h"
#include "tests/support/authority_fixture.h"
#include "tests/support/soft_tpm.h"
#include "tpmesh/authority/api.h"
#include "tpmesh/authority/publisher.h"
#include "tpmesh/authority/service.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::authority::rotationtest {

using attest::KeyAlg;
using nlohmann::json;
using testing::kAdmin;
using testing::SoftTpm;
using testing::StatusReason;
inline json Parse(const net::HttpResponse& r) { return testing::ParseBody(r); }

struct Node {
  Node(std::string seed, std::string host) : tpm(std::move(seed)), hostname(std::move(host)) {}
  SoftTpm tpm;
  std::string hostname;
  std::string node_id;
  Bytes wg_key;
  std::string cert_pem;
  net::Caller caller() const { return testing::NodeCaller(node_id, cert_pem); }
};

inline Bytes Key(uint8_t fill) { return Bytes(32, fill); }

class RotationApiTest : public testing::AuthorityFixture {
 protected:
  RotationApiTest() : AuthorityFixture("tpmesh-rotation") {}

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenState());
    settings_.rotation.scheduled = false;
    settings_.rotation.live_window = std::chrono::seconds(60);
    settings_.rotation.policy.confirm_deadline = std::chrono::seconds(30);
    settings_.rotation.policy.retry_after = std::chrono::seconds(120);
    settings_.rotation.policy.overlap = std::chrono::seconds(600);
    Build();
    for (Node* n : {&a_, &b_, &c_}) Enroll(*n);
  }

  void Build() { BuildService(&publisher_); }

  void Enroll(Node& n) {
    auto r = EnrollCall(n);
    ASSERT_EQ(r.status, 200) << r.body;
    n.node_id = Parse(r).value("node_id", "");
    n.cert_pem = Parse(r).value("node_cert", "");
  }

  // One enrollment through the allowlist (AuthorityFixture::EnrollAllowlisted,
  // a new AK) with n.wg_key, or a key of its own when that is empty.
  net::HttpResponse EnrollCall(Node& n) {
    auto ak = n.tpm.CreateAk(KeyAlg::kEccP256);
    if (!ak.ok()) return net::HttpResponse{500, "test: no AK"};
    if (n.wg_key.empty()) n.wg_key = Key(static_cast<uint8_t>(0x10 + n.hostname.back()));
    return EnrollAllowlisted(n.tpm, *ak, n.hostname, n.wg_key);
  }

  int64_t Generation() { return publisher_.generation(); }

  // POST /v1/node/ack of the current generation; returns the answer.
  json Ack(const Node& n, int64_t generation = -1) {
    auto r =
        Call("POST", "/v1/node/ack",
             json{{"generation", generation < 0 ? Generation() : generation}}.dump(), n.caller());
    EXPECT_EQ(r.status, 200) << r.body;
    return Parse(r);
  }
  static std::string Action(const json& ack) {
    return ack.contains("rotation") ? ack["rotation"].value("action", "?") : "";
  }

  net::HttpResponse Prepare(const Node& n, const Bytes& key) {
    return Call("POST", "/v1/node/rotate/prepare",
                json{{"next_public_key", Base64Encode(key)}}.dump(), n.caller());
  }
  net::HttpResponse Switched(const Node& n, const Bytes& key) {
    return Call("POST", "/v1/node/rotate/switched", json{{"public_key", Base64Encode(key)}}.dump(),
                n.caller());
  }
  net::HttpResponse Rotate(const json& body) {
    return Call("POST", "/v1/admin/keys/rotate", body.dump(), kAdmin);
  }

  // The published full state's member entry for `n`.
  json Member(const Node& n) {
    auto body = publisher_.Newer(-1);
    EXPECT_TRUE(body);
    json j = json::parse(*body);
    for (const auto& m : j["full"]["state"]["members"]) {
      if (m.value("node_id", "") == n.node_id) return m;
    }
    return json::object();
  }
  json KeysOf(const Node& n) {
    json keys = Parse(Call("GET", "/v1/admin/keys", "", kAdmin));
    for (const auto& e : keys["nodes"]) {
      if (e.value("node_id", "") == n.node_id) return e;
    }
    return json::object();
  }
  std::vector<std::string> Audit() {
    std::vector<std::string> out;
    auto r = Call("GET", "/v1/admin/audit", "", kAdmin);
    EXPECT_EQ(r.status, 200) << r.body;
    const json body = Parse(r);
    for (const auto& e : body["audit"]) {
      out.push_back(e.value("action", ""));
    }
    return out;
  }
  bool Audited(const std::string& action) {
    auto a = Audit();
    return std::find(a.begin(), a.end(), action) != a.end();
  }

  // a asked to rotate, registers `next`; returns the announcing generation.
  int64_t StartRotation(const Node& n, const Bytes& next) {
    EXPECT_EQ(Rotate(json{{"nodes", {n.hostname}}}).status, 200);
    EXPECT_EQ(Action(Ack(n)), "prepare");
    auto r = Prepare(n, next);
    EXPECT_EQ(r.status, 200) << r.body;
    return Parse(r).value("announce_generation", int64_t{-1});
  }

  ConfigPublisher publisher_{SecretBytes{}};  // keys from BuildService (Configure)
  Node a_{"rot-a", "host-a"}, b_{"rot-b", "host-b"}, c_{"rot-c", "host-c"};
};

}  // namespace tpmesh::authority::rotationtest
