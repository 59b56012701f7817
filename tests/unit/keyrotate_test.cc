// tpmesh_keyrotate: KeyRing lifecycle, schedules, WgRotation state machine.
// Simulated time only (FakeClock / fixed TimePoints); no sleeps.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "tests/support/fake_env.h"
#include "tpmesh/keyrotate/lifecycle.h"
#include "tpmesh/keyrotate/rotation.h"
#include "tpmesh/keyrotate/schedule.h"

namespace tpmesh::keyrotate {
namespace {

using std::chrono::seconds;
using Ids = std::vector<std::string>;
using testing::FakeClock;

constexpr int64_t kT0 = 1'800'000'000;
TimePoint At(int64_t offset) { return FromUnixSeconds(kT0 + offset); }

#define EXPECT_REASON(expr, want_reason)                                \
  do {                                                                  \
    auto r_ = (expr);                                                   \
    ASSERT_FALSE(r_.ok()) << #expr << " unexpectedly succeeded";        \
    EXPECT_EQ(r_.error().reason, want_reason) << r_.error().ToString(); \
  } while (0)

KeyRing MakeRing(int64_t overlap_s = 3600) {
  auto r = KeyRing::Create(seconds(overlap_s));
  EXPECT_TRUE(r.ok());
  return *r;
}

// A ring with k1 current, valid [T0, T0 + 1 year).
KeyRing RingWithCurrent(int64_t overlap_s = 3600) {
  KeyRing ring = MakeRing(overlap_s);
  EXPECT_TRUE(ring.Announce("k1", At(0), At(365 * 86400)).ok());
  EXPECT_TRUE(ring.Promote(At(0)).ok());
  return ring;
}

// ---------------------------------------------------------------- KeyRing

TEST(KeyRing, CreateRejectsBadOverlap) {
  EXPECT_REASON(KeyRing::Create(seconds(0)), "invalid_overlap");
  EXPECT_REASON(KeyRing::Create(seconds(-5)), "invalid_overlap");
  EXPECT_REASON(KeyRing::Create(KeyRing::kMaxOverlap + seconds(1)), "invalid_overlap");
  auto ok = KeyRing::Create(seconds(60));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->overlap(), seconds(60));
  EXPECT_FALSE(ok->initialized());
  EXPECT_TRUE(ok->Trusted(At(0)).empty());
}

TEST(KeyRing, EmptyRingRefusesPromoteAndAbort) {
  KeyRing ring = MakeRing();
  EXPECT_REASON(ring.Promote(At(0)), "no_next_key");
  EXPECT_REASON(ring.Abort(), "no_next_key");
  EXPECT_EQ(ring.Prune(At(0)), 0u);
}

TEST(KeyRing, FirstPromoteInitializes) {
  KeyRing ring = MakeRing();
  ASSERT_TRUE(ring.Announce("k1", At(0), At(1000)).ok());
  EXPECT_FALSE(ring.initialized());
  ASSERT_NE(ring.next(), nullptr);
  EXPECT_EQ(ring.next()->state, KeyState::kNext);
  ASSERT_TRUE(ring.Promote(At(10)).ok());
  ASSERT_TRUE(ring.initialized());
  EXPECT_EQ(ring.current()->key_id, "k1");
  EXPECT_EQ(ring.next(), nullptr);
  EXPECT_EQ(ring.versions().size(), 1u);
  EXPECT_EQ(ring.Trusted(At(10)), Ids{"k1"});
  EXPECT_TRUE(ring.CheckInvariants().ok());
}

TEST(KeyRing, AnnounceRejectsBadInput) {
  KeyRing ring = RingWithCurrent();
  EXPECT_REASON(ring.Announce("", At(0), At(10)), "invalid_key_id");
  EXPECT_REASON(ring.Announce(std::string("a\nb"), At(0), At(10)), "invalid_key_id");
  EXPECT_REASON(ring.Announce(std::string(KeyRing::kMaxKeyIdLength + 1, 'x'), At(0), At(10)),
                "invalid_key_id");
  EXPECT_REASON(ring.Announce("k2", At(10), At(10)), "invalid_validity");
  EXPECT_REASON(ring.Announce("k2", At(10), At(5)), "invalid_validity");
  // Within one second: rounded to [ceil, floor) = empty.
  EXPECT_REASON(ring.Announce("k2", At(10) + std::chrono::milliseconds(100),
                              At(10) + std::chrono::milliseconds(900)),
                "invalid_validity");
  EXPECT_REASON(ring.Announce("k1", At(0), At(10)), "duplicate_key_id");
  ASSERT_TRUE(ring.Announce("k2", At(0), At(10)).ok());
  auto again = ring.Announce("k3", At(0), At(10));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().reason, "rotation_in_progress");
  EXPECT_EQ(again.error().code, Code::kFailedPrecondition);
  EXPECT_NE(again.error().message.find("k2"), std::string::npos);
  EXPECT_EQ(ring.versions().size(), 2u);
}

TEST(KeyRing, AnnounceRoundsConservatively) {
  KeyRing ring = RingWithCurrent();
  ASSERT_TRUE(ring.Announce("k2", At(10) + std::chrono::milliseconds(1),
                            At(20) + std::chrono::milliseconds(999))
                  .ok());
  EXPECT_EQ(ring.next()->not_before, At(11));
  EXPECT_EQ(ring.next()->not_after, At(20));
}

TEST(KeyRing, PromoteRefusedTransitionsLeaveRingUnchanged) {
  KeyRing ring = RingWithCurrent();
  ASSERT_TRUE(ring.Announce("k2", At(100), At(200)).ok());
  const KeyRing before = ring;
  EXPECT_REASON(ring.Promote(At(99)), "not_yet_valid");
  EXPECT_EQ(ring, before);
  EXPECT_REASON(ring.Promote(At(200)), "next_expired");
  EXPECT_EQ(ring, before);
  ASSERT_TRUE(ring.Promote(At(100)).ok());
  EXPECT_EQ(ring.current()->key_id, "k2");
}

TEST(KeyRing, AbortDropsNextOnly) {
  KeyRing ring = RingWithCurrent();
  ASSERT_TRUE(ring.Announce("k2", At(100), At(200)).ok());
  ASSERT_TRUE(ring.Abort().ok());
  EXPECT_EQ(ring.next(), nullptr);
  EXPECT_EQ(ring.current()->key_id, "k1");
  EXPECT_EQ(ring.versions().size(), 1u);
  EXPECT_REASON(ring.Abort(), "no_next_key");
  // The rotation can be re-announced (same id, since it was dropped).
  EXPECT_TRUE(ring.Announce("k2", At(300), At(400)).ok());
}

TEST(KeyRing, OverlapAroundTheSwitchOverSimulatedTime) {
  FakeClock clock(kT0);
  KeyRing ring = RingWithCurrent(/*overlap_s=*/3600);
  // Announce k2 valid from T0+100; switch at T0+200; overlap one hour.
  ASSERT_TRUE(ring.Announce("k2", At(100), At(365 * 86400 + 200)).ok());
  EXPECT_EQ(ring.Trusted(clock.Now()), Ids{"k1"});
  clock.Advance(99);
  EXPECT_EQ(ring.Trusted(clock.Now()), Ids{"k1"});  // next not yet valid
  EXPECT_FALSE(ring.IsTrusted("k2", clock.Now()));
  clock.Advance(1);
  EXPECT_EQ(ring.Trusted(clock.Now()), (Ids{"k1", "k2"}));  // prepare window: both
  clock.Advance(100);
  ASSERT_TRUE(ring.Promote(clock.Now()).ok());  // T0+200
  EXPECT_EQ(ring.current()->key_id, "k2");
  ASSERT_EQ(ring.versions().size(), 2u);
  EXPECT_EQ(ring.versions()[1].state, KeyState::kRetired);
  EXPECT_EQ(ring.versions()[1].not_after, At(200 + 3600));
  EXPECT_EQ(ring.Trusted(clock.Now()), (Ids{"k2", "k1"}));
  clock.Advance(3599);  // last second of the overlap
  EXPECT_EQ(ring.Trusted(clock.Now()), (Ids{"k2", "k1"}));
  EXPECT_TRUE(ring.IsTrusted("k1", clock.Now()));
  EXPECT_EQ(ring.Prune(clock.Now()), 0u);
  clock.Advance(1);  // overlap over
  EXPECT_EQ(ring.Trusted(clock.Now()), Ids{"k2"});
  EXPECT_FALSE(ring.IsTrusted("k1", clock.Now()));
  EXPECT_EQ(ring.versions().size(), 2u);  // kept until pruned
  EXPECT_EQ(ring.Prune(clock.Now()), 1u);
  EXPECT_EQ(ring.versions().size(), 1u);
  EXPECT_FALSE(ring.IsTrusted("unknown", clock.Now()));
  EXPECT_TRUE(ring.CheckInvariants().ok());
}

TEST(KeyRing, RetirementNeverExtendsValidity) {
  KeyRing ring = MakeRing(/*overlap_s=*/3600);
  ASSERT_TRUE(ring.Announce("k1", At(0), At(1000)).ok());
  ASSERT_TRUE(ring.Promote(At(0)).ok());
  ASSERT_TRUE(ring.Announce("k2", At(0), At(5000)).ok());
  ASSERT_TRUE(ring.Promote(At(900)).ok());
  ASSERT_EQ(ring.versions().size(), 2u);
  EXPECT_EQ(ring.versions()[1].not_after, At(1000));  // min(own not_after, now + overlap)
  EXPECT_EQ(ring.Trusted(At(999)), (Ids{"k2", "k1"}));
  EXPECT_EQ(ring.Trusted(At(1000)), Ids{"k2"});
}

TEST(KeyRing, ExpiredCurrentIsDroppedNotRetired) {
  KeyRing ring = MakeRing();
  ASSERT_TRUE(ring.Announce("k1", At(0), At(100)).ok());
  ASSERT_TRUE(ring.Promote(At(0)).ok());
  EXPECT_TRUE(ring.Trusted(At(100)).empty());  // even the current key has a window
  ASSERT_TRUE(ring.Announce("k2", At(0), At(5000)).ok());
  ASSERT_TRUE(ring.Promote(At(150)).ok());
  EXPECT_EQ(ring.versions().size(), 1u);
  EXPECT_EQ(ring.current()->key_id, "k2");
}

TEST(KeyRing, SuccessiveRotationsOrderRetiredNewestFirst) {
  KeyRing ring = RingWithCurrent(/*overlap_s=*/1000);
  ASSERT_TRUE(ring.Announce("k2", At(0), At(100000)).ok());
  ASSERT_TRUE(ring.Promote(At(100)).ok());
  ASSERT_TRUE(ring.Announce("k3", At(0), At(100000)).ok());
  ASSERT_TRUE(ring.Promote(At(200)).ok());
  EXPECT_REASON(ring.Announce("k1", At(0), At(10)),
                "duplicate_key_id");  // retired id still reserved
  EXPECT_EQ(ring.Trusted(At(200)), (Ids{"k3", "k2", "k1"}));
  EXPECT_EQ(ring.Trusted(At(1100)), (Ids{"k3", "k2"}));
  EXPECT_EQ(ring.Prune(At(1200)), 2u);
  EXPECT_EQ(ring.Trusted(At(1200)), Ids{"k3"});
  EXPECT_TRUE(ring.CheckInvariants().ok());
}

// ----------------------------------------------------------- KeyRing JSON

TEST(KeyRingJson, RoundTrip) {
  KeyRing ring = RingWithCurrent(/*overlap_s=*/777);
  ASSERT_TRUE(ring.Announce("k2", At(0), At(100000)).ok());
  ASSERT_TRUE(ring.Promote(At(50)).ok());
  ASSERT_TRUE(ring.Announce("k3 \"quoted\" ✓", At(60), At(200000)).ok());
  const std::string text = ring.ToJson();
  auto back = KeyRing::FromJson(text);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, ring);
  EXPECT_EQ(back->ToJson(), text);
  EXPECT_EQ(back->Trusted(At(60)), ring.Trusted(At(60)));

  auto empty = KeyRing::FromJson(MakeRing(5).ToJson());
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->initialized());
  EXPECT_EQ(empty->overlap(), seconds(5));
}

TEST(KeyRingJson, MalformedInputNamesTheField) {
  const std::string key_ok = R"({"key_id":"k1","state":"current","not_before":1,"not_after":2})";
  auto doc = [](const std::string& keys, const std::string& overlap = "60") {
    return R"({"format":"tpmesh-keyring-v1","overlap_s":)" + overlap + R"(,"keys":[)" + keys + "]}";
  };
  ASSERT_TRUE(KeyRing::FromJson(doc(key_ok)).ok());
  struct Case {
    std::string text;
    std::string want;  // substring of the message
  };
  const std::vector<Case> cases = {
      {"{", "not valid JSON"},
      {"", "not valid JSON"},
      {"[]", "document: must be a JSON object"},
      {R"({"overlap_s":60,"keys":[]})", "format: required field missing"},
      {R"({"format":"other","overlap_s":60,"keys":[]})", "format: must be"},
      {R"({"format":"tpmesh-keyring-v1","keys":[]})", "overlap_s: required field missing"},
      {doc("", "\"60\""), "overlap_s: must be an integer"},
      {doc("", "0"), "overlap_s: out of range"},
      {doc("", "18446744073709551615"), "overlap_s: out of range"},
      {R"({"format":"tpmesh-keyring-v1","overlap_s":60,"keys":{}})", "keys: must be an array"},
      {doc("1"), "keys[0]: must be an object"},
      {doc(key_ok + R"(,{"state":"next","not_before":1,"not_after":2})"),
       "keys[1].key_id: required field missing"},
      {doc(R"({"key_id":"","state":"next","not_before":1,"not_after":2})"),
       "keys[0].key_id: must not be empty"},
      {doc(key_ok + R"(,{"key_id":"k2","state":"old","not_before":1,"not_after":2})"),
       "keys[1].state: must be one of next, current, retired"},
      {doc(R"({"key_id":"k1","state":"next","not_before":"1","not_after":2})"),
       "keys[0].not_before: must be an integer"},
      {doc(R"({"key_id":"k1","state":"next","not_before":-1,"not_after":2})"),
       "keys[0].not_before: out of range"},
      {doc(R"({"key_id":"k1","state":"next","not_before":1.5,"not_after":2})"),
       "keys[0].not_before: must be an integer"},
      {doc(R"({"key_id":"k1","state":"next","not_before":5,"not_after":5})"),
       "keys[0]: not_before must be earlier than not_after"},
      {doc(key_ok + "," + key_ok), "keys[1].key_id: 'k1' also names keys[0]"},
      {doc(key_ok + R"(,{"key_id":"k2","state":"current","not_before":1,"not_after":2})"),
       "more than one current"},
      {doc(R"({"key_id":"k1","state":"next","not_before":1,"not_after":2},)"
           R"({"key_id":"k2","state":"next","not_before":1,"not_after":2})"),
       "more than one next"},
      {doc(R"({"key_id":"k1","state":"retired","not_before":1,"not_after":2})"),
       "retired keys without a current"},
  };
  for (const auto& c : cases) {
    auto r = KeyRing::FromJson(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().reason, "malformed_keyring") << c.text;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_NE(r.error().message.find(c.want), std::string::npos)
        << c.text << " -> " << r.error().message;
  }

  std::string many;
  for (size_t i = 0; i <= KeyRing::kMaxVersions; ++i) {
    many += (i ? "," : "") + std::string(R"({"key_id":"r)") + std::to_string(i) +
            R"(","state":"retired","not_before":1,"not_after":2})";
  }
  auto r = KeyRing::FromJson(doc(many));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("keys: 65 entries, limit 64"), std::string::npos)
      << r.error().message;
}

// --------------------------------------------------------------- Schedule

RotationPolicy GoodPolicy() {
  RotationPolicy p;
  p.period = seconds(30 * 86400);
  p.lead_time = seconds(3600);
  p.overlap = seconds(86400);
  p.jitter = seconds(86400);
  p.confirm_deadline = seconds(600);
  p.retry_after = seconds(1800);
  return p;
}

TEST(RotationPolicy, ValidPolicyPasses) {
  EXPECT_TRUE(GoodPolicy().Validate().ok());
  RotationPolicy no_jitter = GoodPolicy();
  no_jitter.jitter = seconds(0);
  EXPECT_TRUE(no_jitter.Validate().ok());
}

TEST(RotationPolicy, ValidationErrorsNameTheField) {
  struct Case {
    std::string field;
    void (*mutate)(RotationPolicy&);
  };
  const std::vector<Case> cases = {
      {"period", [](RotationPolicy& p) { p.period = seconds(0); }},
      {"period", [](RotationPolicy& p) { p.period = RotationPolicy::kMaxPeriod + seconds(1); }},
      {"jitter", [](RotationPolicy& p) { p.jitter = seconds(-1); }},
      {"jitter", [](RotationPolicy& p) { p.jitter = p.period / 2; }},
      {"lead_time", [](RotationPolicy& p) { p.lead_time = seconds(0); }},
      {"lead_time", [](RotationPolicy& p) { p.lead_time = p.period - p.jitter; }},
      {"overlap", [](RotationPolicy& p) { p.overlap = seconds(0); }},
      {"overlap", [](RotationPolicy& p) { p.overlap = p.period; }},
      {"confirm_deadline", [](RotationPolicy& p) { p.confirm_deadline = seconds(0); }},
      {"confirm_deadline",
       [](RotationPolicy& p) { p.confirm_deadline = p.lead_time + seconds(1); }},
      {"retry_after", [](RotationPolicy& p) { p.retry_after = seconds(0); }},
      {"retry_after", [](RotationPolicy& p) { p.retry_after = p.period; }},
  };
  for (const auto& c : cases) {
    RotationPolicy p = GoodPolicy();
    c.mutate(p);
    auto s = p.Validate();
    ASSERT_FALSE(s.ok()) << c.field;
    EXPECT_EQ(s.error().reason, "invalid_policy");
    EXPECT_EQ(s.error().message.rfind(c.field + ": must be", 0), 0u) << s.error().message;
  }
}

TEST(Schedule, JitterIsStableAndInRange) {
  EXPECT_EQ(JitterFor("node-a", seconds(0)), seconds(0));
  EXPECT_EQ(JitterFor("node-a", seconds(-3)), seconds(0));
  EXPECT_EQ(JitterFor("node-a", seconds(1)), seconds(0));
  const seconds j = JitterFor("node-a", seconds(86400));
  EXPECT_EQ(JitterFor("node-a", seconds(86400)), j);
  EXPECT_NE(JitterFor("node-b", seconds(86400)), j);
  // Pinned values: the schedule must not change across releases/hosts.
  // Independently computed: BLAKE2b-64 keyed "tpmesh-jitter-v1", big-endian,
  // (h * 86400) >> 64 (Python hashlib).
  EXPECT_EQ(JitterFor("node-a", seconds(86400)).count(), 858);
  EXPECT_EQ(JitterFor("", seconds(86400)).count(), 34812);
}

TEST(Schedule, JitterSpreadsNodesUniformly) {
  constexpr int kNodes = 1000;
  constexpr int kBuckets = 10;
  const seconds jitter(86400);
  std::array<int, kBuckets> counts{};
  std::set<int64_t> distinct;
  for (int i = 0; i < kNodes; ++i) {
    const seconds s = JitterFor("node-" + std::to_string(i), jitter);
    ASSERT_GE(s, seconds(0));
    ASSERT_LT(s, jitter);
    ++counts[static_cast<size_t>(s.count() * kBuckets / jitter.count())];
    distinct.insert(s.count());
  }
  double chi2 = 0;
  const double expected = static_cast<double>(kNodes) / kBuckets;
  for (int c : counts) chi2 += (c - expected) * (c - expected) / expected;
  // 9 degrees of freedom: P(chi2 > 27.88) = 0.001. Deterministic input.
  EXPECT_LT(chi2, 27.88);
  EXPECT_GT(distinct.size(), 990u);  // 1000 draws from 86400 values: ~6 collisions expected
}

TEST(Schedule, NextRotationSubtractsJitter) {
  const RotationPolicy p = GoodPolicy();
  for (const char* node : {"node-a", "node-b", "node-c"}) {
    const TimePoint next = NextRotation(p, At(0), node);
    EXPECT_EQ(next, At(0) + p.period - JitterFor(node, p.jitter));
    EXPECT_LE(next, At(0) + p.period);
    EXPECT_GT(next, At(0) + p.period - p.jitter);
    EXPECT_EQ(AnnounceAt(p, At(0), node), next - p.lead_time);
    EXPECT_GT(AnnounceAt(p, At(0), node), At(0));
    // Stable: the same inputs after a "restart" give the same answer.
    EXPECT_EQ(NextRotation(p, At(0), node), next);
  }
  RotationPolicy no_jitter = p;
  no_jitter.jitter = seconds(0);
  EXPECT_EQ(NextRotation(no_jitter, At(0), "node-a"), At(0) + p.period);
}

// ------------------------------------------------------------- WgRotation

Bytes Key(uint8_t fill) { return Bytes(32, fill); }

TEST(WgRotation, BeginValidatesInput) {
  const RotationPolicy p = GoodPolicy();
  RotationPolicy bad = p;
  bad.overlap = seconds(0);
  EXPECT_REASON(WgRotation::Begin("a", Key(1), {"b"}, At(0), bad), "invalid_policy");
  EXPECT_REASON(WgRotation::Begin("", Key(1), {"b"}, At(0), p), "invalid_rotation");
  EXPECT_REASON(WgRotation::Begin("a", Bytes(31, 1), {"b"}, At(0), p), "invalid_rotation");
  EXPECT_REASON(WgRotation::Begin("a", Bytes(), {"b"}, At(0), p), "invalid_rotation");
  EXPECT_REASON(WgRotation::Begin("a", Key(1), {"b", ""}, At(0), p), "invalid_peer");
  EXPECT_REASON(WgRotation::Begin("a", Key(1), {"b", "a"}, At(0), p), "invalid_peer");
}

TEST(WgRotation, IdleRefusesEverything) {
  WgRotation r;
  EXPECT_EQ(r.phase(), Phase::kIdle);
  EXPECT_REASON(r.PeerConfirmed("b", At(0)), "not_started");
  EXPECT_REASON(r.PeerOffline("b", At(0)), "not_started");
  EXPECT_REASON(r.NodeSwitched(At(0)), "not_started");
  EXPECT_REASON(r.Tick(At(0)), "not_started");
  EXPECT_REASON(r.Retry({}, At(0)), "not_started");
  EXPECT_FALSE(r.PublishNextKey());
  EXPECT_TRUE(r.OldKeyTrusted(At(0)));
}

TEST(WgRotation, HappyPathPrepareCommit) {
  const RotationPolicy p = GoodPolicy();
  FakeClock clock(kT0);
  auto begun = WgRotation::Begin("a", Key(7), {"b", "c"}, clock.Now(), p);
  ASSERT_TRUE(begun.ok()) << begun.error().ToString();
  WgRotation r = *begun;
  EXPECT_EQ(r.phase(), Phase::kPreparing);
  EXPECT_EQ(r.attempt(), 1u);
  EXPECT_EQ(r.node_id(), "a");
  EXPECT_EQ(r.next_public_key(), Key(7));
  EXPECT_EQ(r.awaiting(), (std::set<std::string>{"b", "c"}));
  EXPECT_EQ(r.confirm_deadline(), clock.Now() + p.confirm_deadline);
  EXPECT_TRUE(r.PublishNextKey());
  EXPECT_FALSE(r.PeersUseNextKey());

  // The node must not switch before every live peer has the next key.
  EXPECT_REASON(r.NodeSwitched(clock.Now()), "prepare_incomplete");
  EXPECT_REASON(r.PeerConfirmed("a", clock.Now()), "invalid_peer");
  EXPECT_REASON(r.PeerConfirmed("", clock.Now()), "invalid_peer");
  clock.Advance(10);
  ASSERT_TRUE(r.PeerConfirmed("b", clock.Now()).ok());
  ASSERT_TRUE(r.PeerConfirmed("b", clock.Now()).ok());  // duplicate: idempotent
  EXPECT_EQ(r.awaiting(), std::set<std::string>{"c"});
  EXPECT_EQ(r.phase(), Phase::kPreparing);
  EXPECT_REASON(r.NodeSwitched(clock.Now()), "prepare_incomplete");
  ASSERT_TRUE(r.Tick(clock.Now()).ok());
  EXPECT_EQ(r.phase(), Phase::kPreparing);
  ASSERT_TRUE(r.PeerConfirmed("c", clock.Now()).ok());
  EXPECT_EQ(r.phase(), Phase::kCommitting);
  EXPECT_TRUE(r.awaiting().empty());
  EXPECT_EQ(r.confirmed(), (std::set<std::string>{"b", "c"}));
  EXPECT_TRUE(r.PublishNextKey());    // both keys still published
  EXPECT_FALSE(r.PeersUseNextKey());  // peers must not move before the node
  EXPECT_EQ(r.Retry({}, clock.Now()).error().reason, "not_postponed");

  // Past the confirm deadline while committing: no postponement any more.
  clock.Advance(p.confirm_deadline.count() * 2);
  ASSERT_TRUE(r.Tick(clock.Now()).ok());
  EXPECT_EQ(r.phase(), Phase::kCommitting);
  ASSERT_TRUE(r.NodeSwitched(clock.Now()).ok());
  EXPECT_EQ(r.phase(), Phase::kCommitted);
  const TimePoint switched = clock.Now();
  EXPECT_EQ(r.committed_at(), switched);
  EXPECT_FALSE(r.PublishNextKey());
  EXPECT_TRUE(r.PeersUseNextKey());
  ASSERT_TRUE(r.NodeSwitched(clock.Now()).ok());  // duplicate: idempotent
  EXPECT_EQ(r.committed_at(), switched);
  ASSERT_TRUE(r.PeerConfirmed("b", clock.Now()).ok());  // late duplicate: no-op
  EXPECT_EQ(r.Retry({}, clock.Now()).error().reason, "not_postponed");

  // Old key trusted for the overlap after the switch.
  EXPECT_TRUE(r.OldKeyTrusted(switched));
  EXPECT_TRUE(r.OldKeyTrusted(switched + p.overlap - seconds(1)));
  EXPECT_FALSE(r.OldKeyTrusted(switched + p.overlap));
}

TEST(WgRotation, OfflinePeersAreNotWaitedFor) {
  const RotationPolicy p = GoodPolicy();
  // Nobody live: straight to committing.
  auto alone = WgRotation::Begin("a", Key(1), {}, At(0), p);
  ASSERT_TRUE(alone.ok());
  EXPECT_EQ(alone->phase(), Phase::kCommitting);
  EXPECT_TRUE(alone->NodeSwitched(At(1)).ok());

  // c is offline (not in the live set): b alone completes the prepare phase.
  auto r = WgRotation::Begin("a", Key(1), {"b"}, At(0), p);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->PeerConfirmed("b", At(5)).ok());
  EXPECT_EQ(r->phase(), Phase::kCommitting);
  // c returns and reconciles: its confirmation is harmless.
  ASSERT_TRUE(r->PeerConfirmed("c", At(6)).ok());
  EXPECT_EQ(r->phase(), Phase::kCommitting);

  // A live peer that leaves mid-prepare stops being awaited.
  auto s = WgRotation::Begin("a", Key(1), {"b", "c"}, At(0), p);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(s->PeerConfirmed("d", At(1)).ok());  // unawaited peer: recorded only
  EXPECT_EQ(s->awaiting(), (std::set<std::string>{"b", "c"}));
  EXPECT_TRUE(s->confirmed().contains("d"));
  ASSERT_TRUE(s->PeerConfirmed("b", At(2)).ok());
  EXPECT_REASON(s->PeerOffline("a", At(3)), "invalid_peer");
  ASSERT_TRUE(s->PeerOffline("c", At(3)).ok());
  EXPECT_EQ(s->phase(), Phase::kCommitting);
  ASSERT_TRUE(s->PeerOffline("c", At(4)).ok());  // no-op outside preparing
  EXPECT_EQ(s->phase(), Phase::kCommitting);
}

TEST(WgRotation, PeerThatNeverConfirmsPostponesAndRetries) {
  const RotationPolicy p = GoodPolicy();  // confirm_deadline 600 s, retry_after 1800 s
  FakeClock clock(kT0);
  auto begun = WgRotation::Begin("a", Key(2), {"b", "c"}, clock.Now(), p);
  ASSERT_TRUE(begun.ok());
  WgRotation r = *begun;
  const TimePoint deadline = r.confirm_deadline();
  ASSERT_TRUE(r.PeerConfirmed("b", clock.Now()).ok());

  clock.Advance(599);
  ASSERT_TRUE(r.Tick(clock.Now()).ok());
  EXPECT_EQ(r.phase(), Phase::kPreparing);
  clock.Advance(1);  // exactly the deadline
  ASSERT_EQ(clock.Now(), deadline);
  ASSERT_TRUE(r.Tick(clock.Now()).ok());
  EXPECT_EQ(r.phase(), Phase::kPostponed);
  ASSERT_TRUE(r.retry_at().has_value());
  EXPECT_EQ(*r.retry_at(), deadline + p.retry_after);
  EXPECT_FALSE(r.PublishNextKey());  // next key withdrawn
  EXPECT_FALSE(r.PeersUseNextKey());
  EXPECT_TRUE(r.OldKeyTrusted(clock.Now()));

  EXPECT_REASON(r.PeerConfirmed("c", clock.Now()), "rotation_postponed");
  EXPECT_REASON(r.NodeSwitched(clock.Now()), "rotation_postponed");
  ASSERT_TRUE(r.Tick(clock.Now() + seconds(5)).ok());
  EXPECT_EQ(r.phase(), Phase::kPostponed);
  ASSERT_TRUE(r.PeerOffline("c", clock.Now()).ok());  // no-op while postponed
  EXPECT_EQ(r.phase(), Phase::kPostponed);

  clock.Advance(p.retry_after.count() - 1);
  EXPECT_REASON(r.Retry({"b", "c"}, clock.Now()), "retry_too_early");
  EXPECT_REASON(r.Retry({"a"}, clock.Now() + seconds(1)), "invalid_peer");
  EXPECT_EQ(r.phase(), Phase::kPostponed);
  clock.Advance(1);
  ASSERT_TRUE(r.Retry({"b", "c"}, clock.Now()).ok());
  EXPECT_EQ(r.phase(), Phase::kPreparing);
  EXPECT_EQ(r.attempt(), 2u);
  EXPECT_EQ(r.awaiting(), (std::set<std::string>{"b", "c"}));  // confirmations re-collected
  EXPECT_TRUE(r.confirmed().empty());
  EXPECT_EQ(r.confirm_deadline(), clock.Now() + p.confirm_deadline);
  EXPECT_FALSE(r.retry_at().has_value());
  EXPECT_TRUE(r.PublishNextKey());

  // c still never answers: postponed again.
  ASSERT_TRUE(r.PeerConfirmed("b", clock.Now()).ok());
  clock.Advance(p.confirm_deadline.count());
  ASSERT_TRUE(r.Tick(clock.Now()).ok());
  EXPECT_EQ(r.phase(), Phase::kPostponed);

  // Third attempt: c is now known offline, so only b is waited for.
  clock.Advance(p.retry_after.count());
  ASSERT_TRUE(r.Retry({"b"}, clock.Now()).ok());
  EXPECT_EQ(r.attempt(), 3u);
  ASSERT_TRUE(r.PeerConfirmed("b", clock.Now()).ok());
  EXPECT_EQ(r.phase(), Phase::kCommitting);
  ASSERT_TRUE(r.NodeSwitched(clock.Now()).ok());
  EXPECT_EQ(r.phase(), Phase::kCommitted);
}

TEST(WgRotation, LateConfirmationWithoutTickDoesNotCount) {
  const RotationPolicy p = GoodPolicy();
  auto r = WgRotation::Begin("a", Key(3), {"b"}, At(0), p);
  ASSERT_TRUE(r.ok());
  EXPECT_REASON(r->PeerConfirmed("b", At(p.confirm_deadline.count())), "rotation_postponed");
  EXPECT_EQ(r->phase(), Phase::kPostponed);
  EXPECT_EQ(*r->retry_at(), At(p.confirm_deadline.count()) + p.retry_after);
}

TEST(WgRotation, DeadlineAppliesBeforeNodeSwitched) {
  const RotationPolicy p = GoodPolicy();
  auto r = WgRotation::Begin("a", Key(3), {"b"}, At(0), p);
  ASSERT_TRUE(r.ok());
  EXPECT_REASON(r->NodeSwitched(At(p.confirm_deadline.count() + 1)), "rotation_postponed");
  EXPECT_EQ(r->phase(), Phase::kPostponed);
}

TEST(WgRotation, SteppedBackClockNeverReopensADeadline) {
  const RotationPolicy p = GoodPolicy();
  auto r = WgRotation::Begin("a", Key(4), {"b"}, At(0), p);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->Tick(At(p.confirm_deadline.count() + 5)).ok());
  ASSERT_EQ(r->phase(), Phase::kPostponed);
  // The clock jumps back to before the deadline: still postponed.
  EXPECT_REASON(r->PeerConfirmed("b", At(1)), "rotation_postponed");
  EXPECT_EQ(r->phase(), Phase::kPostponed);
  // retry_at is measured on the latest time seen, not the stepped-back one.
  EXPECT_REASON(r->Retry({"b"}, At(1) + p.retry_after), "retry_too_early");
}

// The authority's use of KeyRing and WgRotation together, over simulated time.
TEST(WgRotation, DrivesKeyRingThroughAScheduledRotation) {
  const RotationPolicy p = GoodPolicy();
  FakeClock clock(kT0);
  KeyRing ring = *KeyRing::Create(p.overlap);
  ASSERT_TRUE(ring.Announce("old", clock.Now(), clock.Now() + seconds(10 * 365 * 86400)).ok());
  ASSERT_TRUE(ring.Promote(clock.Now()).ok());
  const TimePoint last = clock.Now();

  clock.Set(ToUnixSeconds(AnnounceAt(p, last, "a")));
  auto r = WgRotation::Begin("a", Key(9), {"b"}, clock.Now(), p);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(ring.Announce("new", clock.Now(), clock.Now() + seconds(10 * 365 * 86400)).ok());
  EXPECT_EQ(ring.Trusted(clock.Now()), (Ids{"old", "new"}));
  clock.Advance(30);
  ASSERT_TRUE(r->PeerConfirmed("b", clock.Now()).ok());
  ASSERT_EQ(r->phase(), Phase::kCommitting);
  clock.Advance(2);
  ASSERT_TRUE(r->NodeSwitched(clock.Now()).ok());
  ASSERT_TRUE(ring.Promote(clock.Now()).ok());
  EXPECT_LT(clock.Now(), NextRotation(p, last, "a"));  // finished before the planned switch
  EXPECT_EQ(ring.Trusted(clock.Now()), (Ids{"new", "old"}));
  clock.Advance(p.overlap.count() - 1);
  EXPECT_TRUE(r->OldKeyTrusted(clock.Now()));
  EXPECT_TRUE(ring.IsTrusted("old", clock.Now()));
  clock.Advance(1);
  EXPECT_FALSE(r->OldKeyTrusted(clock.Now()));
  EXPECT_FALSE(ring.IsTrusted("old", clock.Now()));
  EXPECT_EQ(ring.Prune(clock.Now()), 1u);
}

// ------------------------------------------------------------ ShouldRenew

TEST(ShouldRenew, AtHalfLife) {
  EXPECT_FALSE(ShouldRenew(At(0), At(1000), At(0)));
  EXPECT_FALSE(ShouldRenew(At(0), At(1000), At(499)));
  EXPECT_TRUE(ShouldRenew(At(0), At(1000), At(500)));
  EXPECT_TRUE(ShouldRenew(At(0), At(1000), At(999)));
  EXPECT_TRUE(ShouldRenew(At(0), At(1000), At(1000)));  // expired
  EXPECT_TRUE(ShouldRenew(At(0), At(1000), At(5000)));
  EXPECT_TRUE(ShouldRenew(At(10), At(10), At(0)));  // empty window
  EXPECT_TRUE(ShouldRenew(At(10), At(5), At(0)));   // inverted window
}

TEST(Names, StatesAndPhases) {
  EXPECT_STREQ(KeyStateName(KeyState::kNext), "next");
  EXPECT_STREQ(KeyStateName(KeyState::kCurrent), "current");
  EXPECT_STREQ(KeyStateName(KeyState::kRetired), "retired");
  EXPECT_STREQ(PhaseName(Phase::kIdle), "idle");
  EXPECT_STREQ(PhaseName(Phase::kPreparing), "preparing");
  EXPECT_STREQ(PhaseName(Phase::kCommitting), "committing");
  EXPECT_STREQ(PhaseName(Phase::kCommitted), "committed");
  EXPECT_STREQ(PhaseName(Phase::kPostponed), "postponed");
}

}  // namespace
}  // namespace tpmesh::keyrotate
