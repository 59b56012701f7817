// Two-phase rotation of one node's WireGuard key, atomic from the control
// plane's view (WireGuard reference notes, "Consequence for key rotation",
// measured with wireguard-go). Changing node A's key is a per-peer cutover; the zero-loss
// order is: every live peer learns A's next key first, then A switches, then
// the peers move A's prefix to the new key. Moving a peer before A switches
// loses A's packets, so the phases below must not be reordered.
//
//   kIdle        default-constructed; every call is refused ("not_started").
//   kPreparing   A's next public key is announced in a config generation.
//                PUBLISH: A's member entry carries the current key AND the
//                next key (meshcfg next_wg_public_key); peers keep routing
//                A's prefix to the current key. Waits for every peer that
//                was LIVE at Begin/Retry to confirm it holds the next key
//                (it acknowledged a generation >= the announcing one for this
//                attempt()). Offline peers are not waited for: they reconcile
//                from the authority when they return (PeerOffline() drops a
//                peer that leaves mid-prepare).
//   kCommitting  every awaited peer confirmed. PUBLISH: unchanged (both
//                keys); tell A to switch its private key. A switches FIRST
//                and confirms (NodeSwitched).
//   kCommitted   PUBLISH: A's entry carries only the new key, so peers move
//                A's allowed IPs to it in one operation and send a keepalive.
//                The old key stays trusted by the authority for `overlap`
//                (OldKeyTrusted(now); the authority keeps it as the node's
//                previous key until then).
//   kPostponed   a live peer had not confirmed by the confirm deadline.
//                PUBLISH: next key withdrawn; the old key
//                stays valid and in use. Retry() is allowed retry_after later.
//
// Transitions: Begin -> kPreparing (or kCommitting if nobody is awaited);
// last PeerConfirmed/PeerOffline -> kCommitting; NodeSwitched -> kCommitted;
// Tick/any call at or after the deadline with peers still awaited ->
// kPostponed; Retry -> kPreparing (or kCommitting if nobody is awaited).
// Refused calls leave the state unchanged.
//
// Time: every call takes `now`. A `now` earlier than the latest one seen is
// treated as that latest time (a stepped-back clock never reopens a deadline).
// Deadlines are applied by every call, not only Tick, so a confirmation that
// arrives after the deadline never counts.
//
// Thread-safety: a value type; no internal locking.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/env.h"
#include "tpmesh/common/result.h"
#include "tpmesh/keyrotate/schedule.h"

namespace tpmesh::keyrotate {

enum class Phase { kIdle, kPreparing, kCommitting, kCommitted, kPostponed };

// "idle", "preparing", "committing", "committed", "postponed".
const char* PhaseName(Phase phase);

class WgRotation {
 public:
  static constexpr size_t kPublicKeyBytes = 32;  // X25519
  static constexpr size_t kMaxIdLength = 256;

  WgRotation() = default;  // kIdle

  // Starts attempt 1. `live_peers` are the peers to wait for (connected now);
  // they must not contain node_id. `policy` must pass Validate().
  // Errors: "invalid_policy", "invalid_rotation" (empty/overlong node id,
  // next_public_key not 32 bytes), "invalid_peer" (empty id, or node_id).
  static Result<WgRotation> Begin(std::string node_id, Bytes next_public_key,
                                  std::set<std::string> live_peers, TimePoint now,
                                  const RotationPolicy& policy);

  // `peer_id` holds the next key. kPreparing: removes it from awaiting()
  // (unawaited peers are recorded, harmless); kCommitting/kCommitted: no-op.
  // Errors: "not_started", "invalid_peer", "rotation_postponed" (the
  // announcement was withdrawn; confirmations for it do not count).
  Status PeerConfirmed(std::string_view peer_id, TimePoint now);

  // `peer_id` went offline: stop waiting for it (it reconciles on return).
  // No-op outside kPreparing. Errors: "not_started", "invalid_peer".
  Status PeerOffline(std::string_view peer_id, TimePoint now);

  // The rotating node switched its private key. kCommitting -> kCommitted;
  // repeated in kCommitted: no-op. Errors: "not_started",
  // "prepare_incomplete" (peers still awaited), "rotation_postponed".
  Status NodeSwitched(TimePoint now);

  // Deadline handling: kPreparing past the confirm deadline with peers still
  // awaited -> kPostponed. Otherwise a no-op. Error: "not_started".
  Status Tick(TimePoint now);

  // kPostponed -> kPreparing again (attempt()+1) for the same next key, with
  // a fresh live set and deadline. Errors: "not_started", "not_postponed",
  // "retry_too_early" (now < retry_at()), "invalid_peer".
  Status Retry(std::set<std::string> live_peers, TimePoint now);

  Phase phase() const { return phase_; }
  const std::string& node_id() const { return node_id_; }
  const Bytes& next_public_key() const { return next_public_key_; }
  std::set<std::string> awaiting() const { return awaiting_; }
  const std::set<std::string>& confirmed() const { return confirmed_; }
  uint32_t attempt() const { return attempt_; }
  TimePoint confirm_deadline() const { return deadline_; }         // current attempt
  std::optional<TimePoint> retry_at() const { return retry_at_; }  // set in kPostponed
  std::optional<TimePoint> committed_at() const { return committed_at_; }

  // What the authority publishes now (see the phase table above).
  bool PublishNextKey() const {
    return phase_ == Phase::kPreparing || phase_ == Phase::kCommitting;
  }
  bool PeersUseNextKey() const { return phase_ == Phase::kCommitted; }
  // The old key is trusted except in kCommitted from committed_at + overlap on.
  bool OldKeyTrusted(TimePoint now) const;

 private:
  Status Started() const;
  TimePoint Observe(TimePoint now);  // clamps to the latest time seen
  void ApplyDeadline(TimePoint now);
  void StartAttempt(std::set<std::string> live_peers, TimePoint now);

  Phase phase_ = Phase::kIdle;
  std::string node_id_;
  Bytes next_public_key_;
  std::chrono::seconds confirm_window_{0};
  std::chrono::seconds retry_after_{0};
  std::chrono::seconds overlap_{0};
  std::set<std::string> awaiting_;
  std::set<std::string> confirmed_;
  uint32_t attempt_ = 0;
  TimePoint latest_{};
  TimePoint deadline_{};
  std::optional<TimePoint> retry_at_;
  std::optional<TimePoint> committed_at_;
};

// Certificate renewal rule: renew once half the validity has elapsed
// (now >= not_before + (not_after - not_before) / 2), and always when the
// window is empty or inverted or already over.
bool ShouldRenew(TimePoint not_before, TimePoint not_after, TimePoint now);
// When ShouldRenew turns true: half the window (not_before if it is empty
// or inverted).
TimePoint RenewAt(TimePoint not_before, TimePoint not_after);

}  // namespace tpmesh::keyrotate
