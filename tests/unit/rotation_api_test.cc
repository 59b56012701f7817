// WireGuard key rotation through the authority's API, in process: real
// service and SQLite store, SoftTpm-enrolled nodes, a fake clock (no sleeps).
// Prepare -> every live peer confirms -> switch directive -> commit;
// postponement when a live peer does not confirm, retry, offline peers not
// awaited, the schedule, restart recovery, and every refusal.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sodium.h>

#include <filesystem>

#include "tests/support/api_test_util.h"
#include "tests/support/authority_fixture.h"
#include "tests/support/fake_env.h"
#include "tests/support/soft_tpm.h"
#include "tests/support/temp_dir.h"
#include "tpmesh/authority/api.h"
#include "tpmesh/authority/service.h"
#include "tpmesh/authority/signing_keys.h"
#include "tpmesh/authority/store.h"
#include "tpmesh/meshcfg/meshcfg.h"
#include "tpmesh/pki/pki.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::authority {
namespace {

using attest::KeyAlg;
using nlohmann::json;
using testing::FakeClock;
using testing::kAdmin;
using testing::SoftTpm;
using testing::StatusReason;
json Parse(const net::HttpResponse& r) { return testing::ParseBody(r); }

struct Node {
  Node(std::string seed, std::string host) : tpm(std::move(seed)), hostname(std::move(host)) {}
  SoftTpm tpm;
  std::string hostname;
  std::string node_id;
  Bytes wg_key;
  std::string cert_pem;
  net::Caller caller() const { return testing::NodeCaller(node_id, cert_pem); }
};

Bytes Key(uint8_t fill) { return Bytes(32, fill); }

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

  // One enrollment (allowlisted EK) with n.wg_key, or a key of its own when
  // that is empty.
  net::HttpResponse EnrollCall(Node& n) {
    (void)AllowEk(n.tpm, KeyAlg::kEccP256);
    auto ak = n.tpm.CreateAk(KeyAlg::kEccP256);
    if (!ak.ok()) return net::HttpResponse{500, "test: no AK"};
    auto s = Call("POST", "/v1/enroll/start",
                  proto::ToJson(StartRequest(n.tpm, KeyAlg::kEccP256, *ak, n.hostname)));
    if (s.status != 200) return s;
    auto ch = proto::ParseEnrollStartResponse(s.body);
    EXPECT_TRUE(ch.ok());
    if (!ch.ok()) return net::HttpResponse{500, "test: bad challenge"};
    if (n.wg_key.empty()) n.wg_key = Key(static_cast<uint8_t>(0x10 + n.hostname.back()));
    auto f = FinishRequest(n.tpm, KeyAlg::kEccP256, *ak, *ch, n.hostname, n.wg_key);
    return Call("POST", "/v1/enroll/finish", proto::ToJson(f));
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
    auto body = publisher_.WaitNewer(-1, std::chrono::milliseconds(0));
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

  ConfigPublisher publisher_{SecretBytes(Bytes(64, 7))};
  Node a_{"rot-a", "host-a"}, b_{"rot-b", "host-b"}, c_{"rot-c", "host-c"};
};

TEST_F(RotationApiTest, PrepareConfirmSwitchCommit) {
  for (Node* n : {&a_, &b_, &c_}) EXPECT_EQ(Action(Ack(*n)), "");
  const Bytes next = Key(0xa1);
  const int64_t g = StartRotation(a_, next);
  EXPECT_EQ(g, Generation());
  // Announced: the member carries the current key AND the next one.
  json m = Member(a_);
  EXPECT_EQ(m.value("wg_public_key", ""), Base64Encode(a_.wg_key));
  EXPECT_EQ(m.value("next_wg_public_key", ""), Base64Encode(next));
  EXPECT_EQ(KeysOf(a_)["rotation"].value("phase", ""), "preparing");
  EXPECT_EQ(KeysOf(a_)["rotation"]["awaiting"].size(), 2u);
  // b confirms; c not yet: a is not told to switch.
  Ack(b_, g);
  EXPECT_EQ(Action(Ack(a_)), "");
  // An ack of an older generation does not count.
  Ack(c_, g - 1);
  EXPECT_EQ(Action(Ack(a_)), "");
  const int64_t before = Generation();
  Ack(c_, g);
  EXPECT_GT(Generation(), before) << "the last confirmation bumps the generation to wake the node";
  json ack = Ack(a_);
  ASSERT_EQ(Action(ack), "switch");
  EXPECT_EQ(ack["rotation"].value("next_public_key", ""), Base64Encode(next));
  EXPECT_EQ(KeysOf(a_)["rotation"].value("phase", ""), "committing");
  // Still both keys until the node says it switched.
  EXPECT_EQ(Member(a_).value("wg_public_key", ""), Base64Encode(a_.wg_key));

  auto s = Switched(a_, next);
  ASSERT_EQ(s.status, 200) << s.body;
  m = Member(a_);
  EXPECT_EQ(m.value("wg_public_key", ""), Base64Encode(next));
  EXPECT_FALSE(m.contains("next_wg_public_key") && !m["next_wg_public_key"].is_null());
  json k = KeysOf(a_);
  EXPECT_TRUE(k["rotation"].is_null());
  EXPECT_EQ(k.value("previous_public_key", ""), Base64Encode(a_.wg_key));
  EXPECT_EQ(k.value("previous_valid_until", int64_t{0}), ToUnixSeconds(clock_.Now()) + 600);
  EXPECT_EQ(k.value("age_seconds", int64_t{-1}), 0);
  for (const char* action : {"key.rotate.request", "key.prepare", "key.prepared", "key.commit"}) {
    EXPECT_TRUE(Audited(action)) << action;
  }
  // Idempotent: the same report again changes nothing.
  const int64_t after = Generation();
  EXPECT_EQ(Switched(a_, next).status, 200);
  EXPECT_EQ(Generation(), after);
  EXPECT_EQ(Action(Ack(a_)), "");
  // The old key is retired after the overlap, and never reusable before.
  EXPECT_EQ(StatusReason(Prepare(b_, a_.wg_key)), "409 rotation_not_requested");
  EXPECT_EQ(Rotate(json{{"nodes", {b_.node_id}}}).status, 200);
  EXPECT_EQ(StatusReason(Prepare(b_, a_.wg_key)), "409 key_in_use");
  clock_.Advance(601);
  settings_.rotation.scheduled = true;  // the retire pass runs with the schedule scan
  settings_.rotation.policy.jitter = std::chrono::seconds(0);
  Build();
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(KeysOf(a_).value("previous_public_key", "x"), "");
  EXPECT_TRUE(Audited("key.retire"));
  // Retired for good: no node takes it, and its node cannot re-enroll with it.
  EXPECT_EQ(StatusReason(Prepare(b_, a_.wg_key)), "409 key_in_use");
  Node again("rot-a", a_.hostname);
  again.wg_key = a_.wg_key;
  EXPECT_EQ(StatusReason(EnrollCall(again)), "409 key_in_use");
  EXPECT_EQ(Member(a_).value("wg_public_key", ""), Base64Encode(next));
}

// POST /v1/node/ack accepts only a generation the authority published.
TEST_F(RotationApiTest, AcksOutsideThePublishedGenerationsAreRefused) {
  const int64_t g = Generation();
  for (const json& bad : {json(-1), json(g + 1), json(INT64_MAX), json(UINT64_MAX)}) {
    auto r = Call("POST", "/v1/node/ack", json{{"generation", bad}}.dump(), a_.caller());
    EXPECT_EQ(StatusReason(r), "400 invalid_request") << bad.dump();
  }
  EXPECT_EQ(service_->Reports().count(a_.node_id), 0u) << "a refused ack is recorded nowhere";
  EXPECT_EQ(Call("POST", "/v1/node/ack", json{{"generation", g}}.dump(), a_.caller()).status, 200);
  EXPECT_EQ(service_->Reports().at(a_.node_id).applied_generation, g);
}

TEST_F(RotationApiTest, LivePeerThatDoesNotConfirmPostponesThenRetrySucceeds) {
  for (Node* n : {&a_, &b_, &c_}) Ack(*n);
  const Bytes next = Key(0xa2);
  const int64_t g = StartRotation(a_, next);
  Ack(b_, g);  // c stays silent
  clock_.Advance(29);
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(KeysOf(a_)["rotation"].value("phase", ""), "preparing");
  clock_.Advance(2);
  const int64_t before = Generation();
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_GT(Generation(), before);
  json k = KeysOf(a_)["rotation"];
  EXPECT_EQ(k.value("phase", ""), "postponed");
  EXPECT_EQ(k["awaiting"], json::array({"host-c"}));
  // Postponed: the next key is withdrawn, the current key stays everywhere.
  json m = Member(a_);
  EXPECT_EQ(m.value("wg_public_key", ""), Base64Encode(a_.wg_key));
  EXPECT_TRUE(!m.contains("next_wg_public_key") || m["next_wg_public_key"].is_null());
  EXPECT_TRUE(Audited("key.postpone"));
  // A confirmation that arrives now does not count, and a switch is not offered.
  Ack(c_, g);
  EXPECT_EQ(Action(Ack(a_)), "");
  // Retry after retry_after: announced again (same key), c confirms this time.
  clock_.Advance(121);
  Ack(b_);  // b and c are live again (they report every poll period)
  Ack(c_);
  ASSERT_TRUE(service_->RotationTick().ok());
  k = KeysOf(a_)["rotation"];
  EXPECT_EQ(k.value("phase", ""), "preparing");
  EXPECT_EQ(k.value("attempt", 0), 2);
  EXPECT_EQ(Member(a_).value("next_wg_public_key", ""), Base64Encode(next));
  const int64_t g2 = Generation();
  Ack(b_, g2);
  Ack(c_, g2);
  ASSERT_EQ(Action(Ack(a_)), "switch");
  ASSERT_EQ(Switched(a_, next).status, 200);
  EXPECT_EQ(Member(a_).value("wg_public_key", ""), Base64Encode(next));
}

TEST_F(RotationApiTest, OneNodeSwitchesAtATimeAndOnlyAfterApplyingTheLastCommit) {
  for (Node* n : {&a_, &b_, &c_}) Ack(*n);
  ASSERT_EQ(Rotate(json{{"nodes", {"host-a", "host-b"}}}).status, 200);
  EXPECT_EQ(Action(Ack(a_)), "prepare");
  EXPECT_EQ(Action(Ack(b_)), "prepare");
  ASSERT_EQ(Prepare(a_, Key(0xd1)).status, 200);
  ASSERT_EQ(Prepare(b_, Key(0xd2)).status, 200);
  const int64_t g = Generation();
  Ack(c_, g);
  EXPECT_EQ(Action(Ack(a_, g)), "");  // confirms b's key; a's own still waits for b
  const int64_t woke = Generation();
  EXPECT_EQ(Action(Ack(b_, woke)), "switch");  // confirms a's key: both ready, b asks first
  EXPECT_EQ(Action(Ack(a_, woke)), "") << "b holds the switch slot";
  EXPECT_EQ(KeysOf(a_)["rotation"].value("phase", ""), "committing");
  ASSERT_EQ(Switched(b_, Key(0xd2)).status, 200);
  const int64_t commit = Generation();
  EXPECT_EQ(Action(Ack(a_, commit - 1)), "") << "a has not applied b's commit yet";
  EXPECT_EQ(Action(Ack(a_, commit)), "switch");
  ASSERT_EQ(Switched(a_, Key(0xd1)).status, 200);
  EXPECT_EQ(Member(a_).value("wg_public_key", ""), Base64Encode(Key(0xd1)));
}

TEST_F(RotationApiTest, SwitchSlotOfASilentNodeIsReleasedAfterTheDeadline) {
  for (Node* n : {&a_, &b_, &c_}) Ack(*n);
  ASSERT_EQ(Rotate(json{{"nodes", {"host-a", "host-b"}}}).status, 200);
  Ack(a_);
  Ack(b_);
  ASSERT_EQ(Prepare(a_, Key(0xd3)).status, 200);
  ASSERT_EQ(Prepare(b_, Key(0xd4)).status, 200);
  const int64_t g = Generation();
  Ack(c_, g);
  Ack(a_, g);
  const int64_t woke = Generation();
  EXPECT_EQ(Action(Ack(b_, woke)), "switch");
  EXPECT_EQ(Action(Ack(a_, woke)), "");
  clock_.Advance(31);  // b never reports its switch
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(Action(Ack(a_, woke)), "switch");
}

TEST_F(RotationApiTest, PostponedRotationIsRequestedAgainAfterARestart) {
  for (Node* n : {&a_, &b_, &c_}) Ack(*n);
  StartRotation(a_, Key(0xa7));
  clock_.Advance(31);  // nobody confirmed
  ASSERT_TRUE(service_->RotationTick().ok());
  ASSERT_EQ(KeysOf(a_)["rotation"].value("phase", ""), "postponed");
  Build();  // the in-memory postponement is gone
  EXPECT_EQ(KeysOf(a_)["rotation"].value("phase", ""), "requested");
  EXPECT_EQ(Action(Ack(a_)), "prepare");
  EXPECT_EQ(Prepare(a_, Key(0xa7)).status, 200) << "the node re-registers the key it kept";
}

TEST_F(RotationApiTest, OldKeysRetireAlsoWithoutTheSchedule) {
  for (Node* n : {&a_, &b_, &c_}) Ack(*n);
  const int64_t g = StartRotation(a_, Key(0xa8));
  Ack(b_, g);
  Ack(c_, g);
  ASSERT_EQ(Action(Ack(a_)), "switch");
  ASSERT_EQ(Switched(a_, Key(0xa8)).status, 200);
  ASSERT_FALSE(settings_.rotation.scheduled);
  clock_.Advance(601);
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(KeysOf(a_).value("previous_public_key", "x"), "");
}

TEST_F(RotationApiTest, OfflinePeersAreNotAwaited) {
  Ack(a_);
  Ack(b_);
  Ack(c_);
  clock_.Advance(61);  // everyone's report is now older than the live window
  Ack(a_);
  Ack(b_);  // c is offline
  const int64_t g = StartRotation(a_, Key(0xa3));
  EXPECT_EQ(KeysOf(a_)["rotation"]["awaiting"], json::array({"host-b"}));
  Ack(b_, g);
  EXPECT_EQ(Action(Ack(a_)), "switch");
  EXPECT_EQ(Switched(a_, Key(0xa3)).status, 200);
}

TEST_F(RotationApiTest, RevokedPeerStopsBeingAwaited) {
  for (Node* n : {&a_, &b_, &c_}) Ack(*n);
  const int64_t g = StartRotation(a_, Key(0xa4));
  Ack(b_, g);
  ASSERT_EQ(Call("POST", "/v1/admin/nodes/" + c_.node_id + "/revoke", json{{"reason", "t"}}.dump(),
                 kAdmin)
                .status,
            200);
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(Action(Ack(a_)), "switch");
}

TEST_F(RotationApiTest, NodeThatSwitchedEarlyIsCommittedAtOnce) {
  for (Node* n : {&a_, &b_, &c_}) Ack(*n);
  StartRotation(a_, Key(0xa5));
  auto r = Switched(a_, Key(0xa5));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Member(a_).value("wg_public_key", ""), Base64Encode(Key(0xa5)));
}

TEST_F(RotationApiTest, RotationSurvivesAnAuthorityRestart) {
  for (Node* n : {&a_, &b_, &c_}) Ack(*n);
  StartRotation(a_, Key(0xa6));
  Build();  // a new service over the same store: in-memory state is gone
  EXPECT_EQ(KeysOf(a_)["rotation"].value("phase", ""), "preparing");
  EXPECT_EQ(Member(a_).value("next_wg_public_key", ""), Base64Encode(Key(0xa6)));
  const int64_t g = Generation();
  Ack(b_, g);
  Ack(c_, g);
  EXPECT_EQ(Action(Ack(a_)), "switch");
  // A registration repeated after a restart is idempotent.
  EXPECT_EQ(Prepare(a_, Key(0xa6)).status, 200);
  EXPECT_EQ(Switched(a_, Key(0xa6)).status, 200);
}

TEST_F(RotationApiTest, AdminRequestsAllAndTheScheduleRequestsDueNodes) {
  auto r = Rotate(json{{"all", true}, {"reason", "drill"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Parse(r)["requested"].size(), 3u);
  for (Node* n : {&a_, &b_, &c_}) {
    EXPECT_EQ(KeysOf(*n)["rotation"].value("phase", ""), "requested");
    EXPECT_EQ(Action(Ack(*n)), "prepare");
  }
  // The schedule: due once period - jitter - lead_time has passed.
  settings_.rotation.scheduled = true;
  settings_.rotation.policy = keyrotate::RotationPolicy{.period = std::chrono::hours(10),
                                                        .lead_time = std::chrono::hours(1),
                                                        .overlap = std::chrono::hours(1),
                                                        .jitter = std::chrono::hours(2),
                                                        .confirm_deadline = std::chrono::minutes(5),
                                                        .retry_after = std::chrono::minutes(10)};
  Build();  // a restart: requests survive it (they are in the store)
  EXPECT_EQ(KeysOf(a_)["rotation"].value("phase", ""), "requested");
  ASSERT_TRUE(Prepare(a_, Key(0xb1)).status == 200);
  for (Node* n : {&a_, &b_, &c_}) Ack(*n);
  ASSERT_EQ(Action(Ack(a_)), "switch");
  ASSERT_EQ(Switched(a_, Key(0xb1)).status, 200);
  // a's new key is 0 s old: not due until 10h - jitter - 1h later.
  json k = KeysOf(a_);
  const int64_t next = k.value("next_rotation", int64_t{0});
  EXPECT_GT(next, ToUnixSeconds(clock_.Now()) + 7 * 3600);
  EXPECT_LE(next, ToUnixSeconds(clock_.Now()) + 10 * 3600);
  clock_.Advance(next - 3600 - ToUnixSeconds(clock_.Now()) - 1);
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_TRUE(KeysOf(a_)["rotation"].is_null());
  clock_.Advance(20);
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(KeysOf(a_)["rotation"].value("phase", ""), "requested");
}

TEST_F(RotationApiTest, RefusesBadRequests) {
  EXPECT_EQ(StatusReason(Prepare(a_, Key(0xc1))), "409 rotation_not_requested");
  EXPECT_EQ(StatusReason(Rotate(json::object())), "400 invalid_request");
  EXPECT_EQ(StatusReason(Rotate(json{{"all", true}, {"nodes", {"host-a"}}})),
            "400 invalid_request");
  EXPECT_EQ(StatusReason(Rotate(json{{"nodes", {"nope"}}})), "404 node_not_found");
  EXPECT_EQ(StatusReason(Rotate(json{{"nodes", "host-a"}})), "400 invalid_request");
  EXPECT_EQ(StatusReason(Rotate(json{{"all", "yes"}})), "400 invalid_request");
  ASSERT_EQ(Rotate(json{{"nodes", {"host-a"}}}).status, 200);
  EXPECT_EQ(StatusReason(Call("POST", "/v1/node/rotate/prepare", R"({"next_public_key":"AAAA"})",
                              a_.caller())),
            "400 invalid_request");
  EXPECT_EQ(StatusReason(Call("POST", "/v1/node/rotate/prepare", "{}", a_.caller())),
            "400 invalid_request");
  EXPECT_EQ(StatusReason(Call("POST", "/v1/node/rotate/prepare", "not json", a_.caller())),
            "400 invalid_request");
  EXPECT_EQ(StatusReason(Prepare(a_, Bytes(32, 0))), "400 invalid_key");
  EXPECT_EQ(StatusReason(Prepare(a_, b_.wg_key)), "409 key_in_use");
  EXPECT_EQ(StatusReason(Prepare(a_, a_.wg_key)), "409 key_in_use");
  EXPECT_EQ(StatusReason(Switched(a_, Key(0xc2))), "409 rotation_not_prepared");
  EXPECT_EQ(StatusReason(Call("POST", "/v1/node/rotate/prepare", "{}", testing::kAnon)),
            "401 node_cert_required");
  // A failed request leaves nothing behind: a is still just "requested".
  EXPECT_EQ(KeysOf(a_)["rotation"].value("phase", ""), "requested");
  EXPECT_EQ(Member(a_).value("wg_public_key", ""), Base64Encode(a_.wg_key));
  // A different key restarts a rotation in progress.
  ASSERT_EQ(Prepare(a_, Key(0xc3)).status, 200);
  ASSERT_EQ(Prepare(a_, Key(0xc4)).status, 200);
  EXPECT_EQ(Member(a_).value("next_wg_public_key", ""), Base64Encode(Key(0xc4)));
}

}  // namespace
}  // namespace tpmesh::authority

namespace tpmesh::authority {
namespace {

// ---- config-signing key rotation -------------------------------------------------

class SigningRotationTest : public RotationApiTest {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    Bytes pk(crypto_sign_PUBLICKEYBYTES), sk(crypto_sign_SECRETKEYBYTES);
    crypto_sign_keypair(pk.data(), sk.data());
    original_ = pk;
    ASSERT_TRUE(
        pki::WritePrivateFile(dir_.File("config-signing.key"),
                              std::string(reinterpret_cast<const char*>(sk.data()), sk.size()))
            .ok());
    sodium_memzero(sk.data(), sk.size());
    auto keys = SigningKeys::Load(dir_.path());
    ASSERT_TRUE(keys.ok()) << keys.error().ToString();
    signing_ = std::move(keys).value();
    signing_->Configure(publisher_);
    RotationApiTest::SetUp();
  }

  void Rebuild() {
    AuthorityKeys keys{&ca_, ca_.cert_pem(), original_, signing_.get()};
    service_ = std::make_unique<AuthorityService>(*store_, trust_, keys, settings_, clock_,
                                                  SystemRandom::Instance());
    service_->SetPublisher(&publisher_);
    handler_ = MakeApiHandler(*service_, &publisher_);
    ASSERT_TRUE(service_->PublishCurrent().ok());
  }

  meshcfg::SignedState Current() {
    auto body = publisher_.WaitNewer(-1, std::chrono::milliseconds(0));
    EXPECT_TRUE(body);
    auto s = meshcfg::ParseSignedState(json::parse(*body)["full"].dump());
    EXPECT_TRUE(s.ok()) << s.error().ToString();
    return s.ok() ? *s : meshcfg::SignedState{};
  }

  std::vector<std::string> SigningStates() {
    std::vector<std::string> out;
    json keys = Parse(Call("GET", "/v1/admin/keys", "", kAdmin));
    for (const auto& k : keys["config_signing"]) out.push_back(k.value("state", ""));
    return out;
  }

  Bytes original_;
  std::unique_ptr<SigningKeys> signing_;
};

TEST_F(SigningRotationTest, AnnounceSwitchWhenAllNodesHoldItThenRetire) {
  Rebuild();
  for (Node* n : {&a_, &b_, &c_}) Ack(*n);
  EXPECT_TRUE(Current().state.signing_keys.empty())
      << "nothing announced before the first rotation";
  auto r = Call("POST", "/v1/admin/keys/signing/rotate", json{{"reason", "drill"}}.dump(), kAdmin);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(SigningStates(), (std::vector<std::string>{"current", "next"}));
  meshcfg::SignedState announced = Current();
  ASSERT_EQ(announced.state.signing_keys.size(), 2u);
  EXPECT_EQ(announced.state.signing_keys[0], original_);
  const Bytes next = announced.state.signing_keys[1];
  EXPECT_TRUE(meshcfg::VerifySignedState(announced, -1, {original_}).ok())
      << "signed by the current key";
  EXPECT_FALSE(meshcfg::VerifySignedState(announced, -1, {next}).ok());
  // A second rotation while one is under way is refused.
  EXPECT_EQ(StatusReason(Call("POST", "/v1/admin/keys/signing/rotate", "{}", kAdmin)),
            "409 rotation_in_progress");

  // Not every node holds the announcement yet: no switch.
  const int64_t g = Generation();
  Ack(a_, g);
  Ack(b_, g);
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(SigningStates(), (std::vector<std::string>{"current", "next"}));
  Ack(c_, g);
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(SigningStates(), (std::vector<std::string>{"current", "retired"}));
  EXPECT_EQ(service_->ConfigSigningPublic(), next) << "new enrollments pin the new key";
  meshcfg::SignedState switched = Current();
  EXPECT_EQ(switched.signer_public_key, next);
  EXPECT_EQ(switched.state.signing_keys, (std::vector<Bytes>{next, original_}));
  // A client that only knows the old key (it missed the announcement) still
  // verifies, through the old key's co-signature.
  EXPECT_TRUE(meshcfg::VerifySignedState(switched, -1, {original_}).ok());
  EXPECT_TRUE(meshcfg::VerifySignedState(switched, -1, {next}).ok());

  // The switch survives a restart: the files say so.
  auto reloaded = SigningKeys::Load(dir_.path());
  ASSERT_TRUE(reloaded.ok());
  EXPECT_EQ((*reloaded)->current_public(), next);
  EXPECT_TRUE((*reloaded)->has_old());

  clock_.Advance(601);  // the overlap
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(SigningStates(), (std::vector<std::string>{"current"}));
  meshcfg::SignedState retired = Current();
  EXPECT_EQ(retired.state.signing_keys, (std::vector<Bytes>{next}));
  EXPECT_TRUE(retired.co_signatures.empty());
  EXPECT_FALSE(meshcfg::VerifySignedState(retired, -1, {original_}).ok()) << "the old key is out";
  EXPECT_FALSE(std::filesystem::exists(dir_.File("config-signing.old.key")));
  for (const char* action : {"signing_key.announce", "signing_key.switch", "signing_key.retire"}) {
    EXPECT_TRUE(Audited(action)) << action;
  }
}

TEST_F(SigningRotationTest, SwitchesAfterTheOverlapEvenIfANodeNeverAcknowledges) {
  Rebuild();
  ASSERT_EQ(Call("POST", "/v1/admin/keys/signing/rotate", "{}", kAdmin).status, 200);
  Ack(a_);  // b and c stay silent
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(SigningStates(), (std::vector<std::string>{"current", "next"}));
  clock_.Advance(601);
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(SigningStates(), (std::vector<std::string>{"current", "retired"}));
}

TEST(SigningKeysFiles, CorruptOrMissingKeyFilesAreNamed) {
  testing::TempDir dir("tpmesh-signing");
  auto missing = SigningKeys::Load(dir.path());
  ASSERT_FALSE(missing.ok());
  ASSERT_TRUE(pki::WritePrivateFile(dir.File("config-signing.key"), "short").ok());
  auto corrupt = SigningKeys::Load(dir.path());
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.error().reason, "state_corrupt");
  EXPECT_NE(corrupt.error().message.find("config-signing.key"), std::string::npos);
}

}  // namespace
}  // namespace tpmesh::authority

namespace tpmesh::authority {
namespace {

// ---- authority CA rotation -----------------------------------------------------

std::string Sha256Hex(const std::string& s) {
  Bytes h(crypto_hash_sha256_BYTES);
  crypto_hash_sha256(h.data(), reinterpret_cast<const uint8_t*>(s.data()), s.size());
  return HexEncode(h);
}

class CaRotationTest : public RotationApiTest {
 protected:
  void SetUp() override {
    RotationApiTest::SetUp();  // ca_ issued the enrolled nodes' certificates
    auto write = [&](const char* name, const std::string& data) {
      ASSERT_TRUE(pki::WritePrivateFile(dir_.File(name), data).ok()) << name;
    };
    std::string key = ca_.key_pem();
    write("ca.key", key);
    write("ca.crt", ca_.cert_pem());
    auto server = ca_.IssueServerCert({"localhost"}, {"::1"}, clock_.Now(), std::chrono::hours(24));
    auto admin = ca_.IssueAdminCert("admin", clock_.Now(), std::chrono::hours(24));
    ASSERT_TRUE(server.ok() && admin.ok());
    write("server.crt", server->cert_pem + ca_.cert_pem());
    write("server.key", server->key_pem);
    write("admin.crt", admin->cert_pem);
    original_admin_ = admin->cert_pem;
    write("admin.key", admin->key_pem);
    auto cas = CaKeys::Load(dir_.path());
    ASSERT_TRUE(cas.ok()) << cas.error().ToString();
    cas_ = std::move(cas).value();
    AuthorityKeys keys{&ca_, ca_.cert_pem(), Bytes(32, 0xc5), nullptr, cas_.get()};
    service_ = std::make_unique<AuthorityService>(*store_, trust_, keys, settings_, clock_,
                                                  SystemRandom::Instance());
    service_->SetPublisher(&publisher_);
    service_->SetTlsReloader([this](const TlsFiles& t) {
      reloads_.push_back(t.client_ca_pem);
      server_chain_ = t.cert_pem;
      return OkStatus();
    });
    handler_ = MakeApiHandler(*service_, &publisher_);
    ASSERT_TRUE(service_->PublishCurrent().ok());
  }

  json AckWithBundle(const Node& n, const std::string& bundle_hash) {
    auto r = Call("POST", "/v1/node/ack",
                  json{{"generation", Generation()}, {"ca_bundle_sha256", bundle_hash}}.dump(),
                  n.caller());
    EXPECT_EQ(r.status, 200) << r.body;
    return Parse(r);
  }
  static size_t Certs(const std::string& pem) {
    auto fps = pki::BundleFingerprints(pem);
    return fps.ok() ? fps->size() : 0;
  }

  std::unique_ptr<CaKeys> cas_;
  std::string original_admin_;
  std::vector<std::string> reloads_;
  std::string server_chain_;
};

TEST_F(CaRotationTest, AnnounceDistributeSwitchRetire) {
  const std::string old_fp = ca_.Fingerprint();
  const std::string old_hash = Sha256Hex(ca_.cert_pem());
  for (Node* n : {&a_, &b_, &c_}) EXPECT_FALSE(AckWithBundle(*n, old_hash).contains("ca_bundle"));

  auto r = Call("POST", "/v1/admin/keys/ca/rotate", json{{"reason", "drill"}}.dump(), kAdmin);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(Parse(r)["authority_ca"].size(), 2u);
  ASSERT_EQ(reloads_.size(), 1u);
  EXPECT_EQ(Certs(reloads_.back()), 2u) << "the server accepts client certificates from both CAs";
  EXPECT_EQ(StatusReason(Call("POST", "/v1/admin/keys/ca/rotate", "{}", kAdmin)),
            "409 rotation_in_progress");

  // A node with the old bundle is handed the new one; with the new one, nothing.
  json answer = AckWithBundle(a_, old_hash);
  ASSERT_TRUE(answer.contains("ca_bundle"));
  const std::string bundle = answer["ca_bundle"];
  EXPECT_EQ(Certs(bundle), 2u);
  EXPECT_FALSE(AckWithBundle(a_, Sha256Hex(bundle)).contains("ca_bundle"));
  EXPECT_EQ(
      StatusReason(Call("POST", "/v1/node/ack",
                        json{{"generation", 1}, {"ca_bundle_sha256", "xyz"}}.dump(), a_.caller())),
      "400 invalid_request");

  // Not every node holds it yet: no switch.
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(service_->CurrentCa()->Fingerprint(), old_fp);
  AckWithBundle(b_, Sha256Hex(bundle));
  AckWithBundle(c_, Sha256Hex(bundle));
  ASSERT_TRUE(service_->RotationTick().ok());
  const std::string new_fp = service_->CurrentCa()->Fingerprint();
  EXPECT_NE(new_fp, old_fp) << "switched once every node trusts the new CA";
  ASSERT_EQ(reloads_.size(), 2u);
  EXPECT_EQ(Certs(reloads_.back()), 2u) << "certificates of the old CA stay valid";
  auto chain = pki::BundleFingerprints(server_chain_);
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(chain->back(), new_fp) << "the server certificate comes from the new CA";
  auto admin = pki::ReadFile(dir_.File("admin.crt"));
  ASSERT_TRUE(admin.ok());
  EXPECT_NE(*admin, original_admin_) << "the admin certificate is re-issued by the new CA";
  auto admin_id = pki::IdentityFromCertPem(*admin);
  ASSERT_TRUE(admin_id.ok());
  EXPECT_EQ(admin_id->id, "admin");
  auto ca_file = pki::ReadFile(dir_.File("ca.crt"));
  ASSERT_TRUE(ca_file.ok());
  EXPECT_EQ(*ca_file, service_->CurrentCa()->cert_pem());
  // The switch survives a restart.
  auto reloaded = CaKeys::Load(dir_.path());
  ASSERT_TRUE(reloaded.ok()) << reloaded.error().ToString();
  EXPECT_EQ((*reloaded)->Current()->Fingerprint(), new_fp);
  EXPECT_TRUE((*reloaded)->has_old());

  // Retire once every certificate the old CA issued has expired.
  clock_.Advance(settings_.node_cert_lifetime.count() - 60);
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(Certs(service_->CaBundle()), 2u);
  clock_.Advance(120);
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(Certs(service_->CaBundle()), 1u);
  ASSERT_EQ(reloads_.size(), 3u);
  EXPECT_EQ(Certs(reloads_.back()), 1u);
  for (const char* action : {"ca.announce", "ca.switch", "ca.retire"})
    EXPECT_TRUE(Audited(action)) << action;
}

}  // namespace
}  // namespace tpmesh::authority
