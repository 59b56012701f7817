// The AuthorityApiTest fixture, shared by authority_api_test.cc
// (enrollment and admission), authority_admin_test.cc (admin routes,
// revocation, identity) and authority_push_test.cc (config publishing): the
// authority's HTTP handler in process (testing::AuthorityFixture), SoftTpm
// nodes enrolling as the enroll client does. Every failure case asserts the
// HTTP status and the stable error reason, and that nothing was
// half-written.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sodium.h>

#include <optional>
#include <string>
#include <vector>

#include "tests/support/api_test_util.h"
#include "tests/support/authority_fixture.h"
#include "tests/support/soft_tpm.h"
#include "tpmesh/authority/service.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::authority::apitest {

using attest::KeyAlg;
using nlohmann::json;
using testing::EkCertSource;
using testing::FakeClock;
using testing::kAdmin;
using testing::kAnon;
using testing::Reason;
using testing::SoftTpm;
using testing::StatusReason;

// Each hostname's own WireGuard public key (a key belongs to one node).
inline Bytes WgKeyFor(const std::string& hostname) {
  Bytes k(32);
  crypto_generichash(k.data(), k.size(), reinterpret_cast<const uint8_t*>(hostname.data()),
                     hostname.size(), nullptr, 0);
  return k;
}

inline json Parse(const net::HttpResponse& r) { return testing::ParseBody(r); }

// A machine: a SoftTpm plus what the enroll client keeps.
struct Node {
  explicit Node(std::string seed, std::string host, KeyAlg alg = KeyAlg::kEccP256,
                EkCertSource cert = EkCertSource::kTrusted)
      : tpm(std::move(seed), cert), hostname(std::move(host)), ek_alg(alg) {}
  SoftTpm tpm;
  std::string hostname;
  KeyAlg ek_alg;
  std::optional<attest::AkBlob> ak;
  int wg_key_number = 0;        // bumped for a new WireGuard key, as `enroll --force` makes one
  std::optional<Bytes> wg_key;  // set: this key instead
};

class AuthorityApiTest : public testing::AuthorityFixture {
 protected:
  AuthorityApiTest() : AuthorityFixture("tpmesh-api") {}

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenState());
    settings_.dev_mode = false;
    Build();
  }

  // (Re)creates the service over the same store with the current settings_.
  void Build() { BuildService(); }

  std::string NewToken() {
    auto r =
        Call("POST", "/v1/admin/tokens", R"({"ttl_seconds": 3600, "comment": "test"})", kAdmin);
    EXPECT_EQ(r.status, 201) << r.body;
    return Parse(r).value("token", "");
  }

  void Allow(Node& n) {
    auto r = AllowEk(n.tpm, n.ek_alg, n.hostname);
    ASSERT_EQ(r.status, 201) << r.body;
  }

  // The node's AK is created at its first enrollment and kept.
  proto::EnrollStartRequest StartRequest(Node& n) {
    if (!n.ak) {
      auto ak = n.tpm.CreateAk(KeyAlg::kEccP256);
      EXPECT_TRUE(ak.ok());
      n.ak = *ak;
    }
    return AuthorityFixture::StartRequest(n.tpm, n.ek_alg, *n.ak, n.hostname);
  }

  // POST /v1/enroll/start; on 200 fills *out.
  net::HttpResponse Start(Node& n, proto::EnrollStartResponse* out = nullptr) {
    auto r = Call("POST", "/v1/enroll/start", proto::ToJson(StartRequest(n)));
    if (r.status == 200 && out != nullptr) {
      auto parsed = proto::ParseEnrollStartResponse(r.body);
      EXPECT_TRUE(parsed.ok()) << r.body;
      if (parsed.ok()) *out = std::move(parsed).value();
    }
    return r;
  }

  // What the node sends back: ActivateCredential + Quote + keys.
  proto::EnrollFinishRequest Answer(Node& n, const proto::EnrollStartResponse& ch,
                                    std::optional<std::string> token = std::nullopt) {
    Bytes wg = n.wg_key ? *n.wg_key : WgKeyFor(n.hostname + "#" + std::to_string(n.wg_key_number));
    proto::EnrollFinishRequest req =
        FinishRequest(n.tpm, n.ek_alg, *n.ak, ch, n.hostname, std::move(wg));
    req.endpoints = {"192.0.2.10:51820", "[2001:db8::10]:51820"};
    req.token = std::move(token);
    return req;
  }

  net::HttpResponse Finish(const proto::EnrollFinishRequest& req) {
    return Call("POST", "/v1/enroll/finish", proto::ToJson(req));
  }

  // start + finish.
  net::HttpResponse Enroll(Node& n, std::optional<std::string> token = std::nullopt) {
    proto::EnrollStartResponse ch;
    auto s = Start(n, &ch);
    if (s.status != 200) return s;
    return Finish(Answer(n, ch, std::move(token)));
  }

  struct Snapshot {
    int64_t generation = -1;
    size_t nodes = 0;
    std::vector<std::string> statuses;
  };
  Snapshot Nodes() {
    auto r = Call("GET", "/v1/admin/nodes", "", kAdmin);
    EXPECT_EQ(r.status, 200) << r.body;
    json j = Parse(r);
    Snapshot s;
    s.generation = j.value("generation", int64_t{-1});
    for (const auto& n : j.value("nodes", json::array())) {
      s.statuses.push_back(n.value("hostname", "") + ":" + n.value("status", ""));
    }
    s.nodes = s.statuses.size();
    return s;
  }
  void ExpectUnchanged(const Snapshot& before, const std::string& what) {
    Snapshot now = Nodes();
    EXPECT_EQ(now.generation, before.generation) << what;
    EXPECT_EQ(now.statuses, before.statuses) << what;
  }
};

}  // namespace tpmesh::authority::apitest
