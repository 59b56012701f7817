// WireGuard key rotation through the authority's API, in process: real
// service and SQLite store, SoftTpm-enrolled nodes, a fake clock (no sleeps).
// Prepare -> every live peer confirms -> switch directive -> commit;
// postponement when a live peer does not confirm, retry, offline peers not
// awaited, the schedule, restart recovery, and every refusal. The fixture:
// rotation_api_test.h.
#include "tests/unit/rotation_api_test.h"

namespace tpmesh::authority::rotationtest {
namespace {

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
}  // namespace tpmesh::authority::rotationtest
