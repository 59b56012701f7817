// tpmesh_keyrotate: the authority keys' lifecycle (KeyLifecycle), schedules,
// the WgRotation state machine.
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
using testing::FakeClock;

constexpr int64_t kT0 = 1'800'000'000;
TimePoint At(int64_t offset) { return FromUnixSeconds(kT0 + offset); }

#define EXPECT_REASON(expr, want_reason)                                \
  do {                                                                  \
    auto r_ = (expr);                                                   \
    ASSERT_FALSE(r_.ok()) << #expr << " unexpectedly succeeded";        \
    EXPECT_EQ(r_.error().reason, want_reason) << r_.error().ToString(); \
  } while (0)

// ------------------------------------------------------------ KeyLifecycle

using Step = KeyStep;

TEST(KeyLifecycle, AnnounceSwitchRetire) {
  KeyLifecycle lc("test key");
  EXPECT_FALSE(lc.next() || lc.old() || lc.rotated());
  EXPECT_EQ(lc.Due(kT0, 600, true), Step::kNone) << "idle: nothing is due";
  ASSERT_TRUE(lc.Announce(kT0, 41).ok());
  EXPECT_EQ(lc.next(), (KeyLifecycle::Next{kT0, 41}));
  ASSERT_TRUE(lc.SetAnnounceGeneration(42).ok());
  EXPECT_EQ(lc.next()->announce_generation, 42);
  ASSERT_TRUE(lc.Switch(kT0 + 900).ok());
  EXPECT_FALSE(lc.next());
  EXPECT_EQ(lc.old(), (KeyLifecycle::Old{kT0 + 900}));
  EXPECT_TRUE(lc.rotated());
  lc.Retire();
  EXPECT_FALSE(lc.old());
  EXPECT_TRUE(lc.rotated()) << "rotated stays: it is about the past";
  lc.Retire();  // no-op without an old version
  ASSERT_TRUE(lc.Announce(kT0 + 1000, 50).ok()) << "idle again: the next rotation may start";
}

TEST(KeyLifecycle, OneRotationAtATimeAndRefusalsChangeNothing) {
  KeyLifecycle lc("config-signing key");
  EXPECT_REASON(lc.SetAnnounceGeneration(1), "no_next_key");
  EXPECT_REASON(lc.Switch(kT0), "no_next_key");
  EXPECT_EQ(lc.Switch(kT0).error().message, "no next config-signing key is announced");
  EXPECT_EQ(lc, KeyLifecycle("config-signing key"));
  ASSERT_TRUE(lc.Announce(kT0, 1).ok());
  const KeyLifecycle announced = lc;
  EXPECT_REASON(lc.Announce(kT0 + 1, 2), "rotation_in_progress");
  EXPECT_EQ(lc.Announce(kT0 + 1, 2).error().message,
            "a next config-signing key is announced already");
  EXPECT_EQ(lc, announced);
  ASSERT_TRUE(lc.Switch(kT0 + 600).ok());
  const KeyLifecycle switched = lc;
  EXPECT_REASON(lc.Announce(kT0 + 2, 3), "rotation_in_progress");
  EXPECT_EQ(lc.Announce(kT0 + 2, 3).error().message,
            "the previous config-signing key is still in its overlap");
  EXPECT_EQ(lc, switched);
  EXPECT_EQ(KeyLifecycle("authority CA").Switch(0).error().message,
            "no next authority CA is announced");
}

// The windows over simulated time: switch once every node holds the
// announcement or the overlap has passed; retire when the old one's time is up.
TEST(KeyLifecycle, StepsAreDueOverSimulatedTime) {
  const int64_t overlap = 600;
  FakeClock clock(kT0);
  KeyLifecycle lc("test key");
  ASSERT_TRUE(lc.Announce(ToUnixSeconds(clock.Now()), 1).ok());
  EXPECT_EQ(lc.Due(kT0, overlap, false), Step::kNone);
  EXPECT_EQ(lc.Due(kT0, overlap, true), Step::kSwitch) << "every node holds it";
  clock.Advance(overlap - 1);
  EXPECT_EQ(lc.Due(ToUnixSeconds(clock.Now()), overlap, false), Step::kNone);
  clock.Advance(1);
  EXPECT_EQ(lc.Due(ToUnixSeconds(clock.Now()), overlap, false), Step::kSwitch) << "overlap over";
  const int64_t until = ToUnixSeconds(clock.Now()) + overlap;
  ASSERT_TRUE(lc.Switch(until).ok());
  EXPECT_EQ(lc.Due(until - 1, overlap, true), Step::kNone) << "nodes' reports do not retire";
  EXPECT_EQ(lc.Due(until, overlap, false), Step::kRetire);
  lc.Retire();
  EXPECT_EQ(lc.Due(until + 1, overlap, true), Step::kNone);
}

TEST(KeyLifecycle, RestoreIsWhatTheStateDirectoryHeld) {
  const KeyLifecycle idle = KeyLifecycle::Restore("k", std::nullopt, std::nullopt, false);
  EXPECT_EQ(idle, KeyLifecycle("k"));
  const KeyLifecycle marked = KeyLifecycle::Restore("k", std::nullopt, std::nullopt, true);
  EXPECT_TRUE(marked.rotated());
  const KeyLifecycle old = KeyLifecycle::Restore("k", std::nullopt, KeyLifecycle::Old{9}, false);
  EXPECT_TRUE(old.rotated()) << "an old version means a switch happened";
  EXPECT_EQ(old.old()->until, 9);
  // A hand-edited directory with both: the next switch replaces that old one.
  KeyLifecycle both =
      KeyLifecycle::Restore("k", KeyLifecycle::Next{5, 6}, KeyLifecycle::Old{9}, false);
  EXPECT_EQ(both.Due(100, 600, false), Step::kNone) << "the announcement comes first";
  EXPECT_EQ(both.Due(605, 600, false), Step::kSwitch);
  ASSERT_TRUE(both.Switch(700).ok());
  EXPECT_EQ(both.old()->until, 700);
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

// One node's scheduled rotation as the authority drives it, over simulated time.
TEST(WgRotation, ScheduledRotationOverSimulatedTime) {
  const RotationPolicy p = GoodPolicy();
  FakeClock clock(kT0);
  const TimePoint last = clock.Now();

  clock.Set(ToUnixSeconds(AnnounceAt(p, last, "a")));
  auto r = WgRotation::Begin("a", Key(9), {"b"}, clock.Now(), p);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->PublishNextKey());
  clock.Advance(30);
  ASSERT_TRUE(r->PeerConfirmed("b", clock.Now()).ok());
  ASSERT_EQ(r->phase(), Phase::kCommitting);
  clock.Advance(2);
  ASSERT_TRUE(r->NodeSwitched(clock.Now()).ok());
  EXPECT_TRUE(r->PeersUseNextKey());
  EXPECT_LT(clock.Now(), NextRotation(p, last, "a"));  // finished before the planned switch
  clock.Advance(p.overlap.count() - 1);
  EXPECT_TRUE(r->OldKeyTrusted(clock.Now()));
  clock.Advance(1);
  EXPECT_FALSE(r->OldKeyTrusted(clock.Now()));
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
