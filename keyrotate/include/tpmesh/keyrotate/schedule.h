// Rotation schedules: how often a key rotates, how long before the switch the
// next key is announced, how long the old key stays valid afterwards, and a
// deterministic per-node jitter that spreads rotations across the mesh.
//
// Timeline of one rotation of node N (R = NextRotation(policy, last, N)):
//   R - lead_time   announce the next key (WgRotation::Begin)
//   ... + confirm_deadline   prepare must be complete, else postponed and
//                   retried retry_after later (see rotation.h)
//   R               switch (WgRotation::NodeSwitched)
//   R + overlap     the old key stops being trusted (WgRotation::OldKeyTrusted)
//
// Pure functions; no clock reads.
#pragma once

#include <chrono>
#include <string_view>

#include "tpmesh/common/env.h"
#include "tpmesh/common/result.h"

namespace tpmesh::keyrotate {

struct RotationPolicy {
  std::chrono::seconds period{0};            // maximum key age between switches
  std::chrono::seconds lead_time{0};         // announce next this long before the switch
  std::chrono::seconds overlap{0};           // old stays valid after the switch
  std::chrono::seconds jitter{0};            // spread across the mesh (0 = none)
  std::chrono::seconds confirm_deadline{0};  // prepare phase must complete within
  std::chrono::seconds retry_after{0};       // postponed rotation retried after

  static constexpr std::chrono::seconds kMaxPeriod{10LL * 365 * 24 * 3600};

  // Rules (error "invalid_policy" naming the field and the bound):
  //   0 < period <= kMaxPeriod
  //   0 <= jitter < period / 2
  //   0 < lead_time < period - jitter   (the announcement follows the last switch)
  //   0 < overlap < period
  //   0 < confirm_deadline <= lead_time (prepare completes before the planned switch)
  //   0 < retry_after < period
  Status Validate() const;
};

// Deterministic offset in [0, jitter) from a keyed BLAKE2b hash of node_id:
// stable across restarts and processes, uniform across node ids.
// jitter <= 0 gives 0.
std::chrono::seconds JitterFor(std::string_view node_id, std::chrono::seconds jitter);

// The next planned switch: last_rotation + period - JitterFor(node_id, jitter).
// Jitter is subtracted so `period` stays the maximum key age; the interval
// between two switches of one node is constant, in (period - jitter, period].
// `policy` must be valid (Validate()).
TimePoint NextRotation(const RotationPolicy& policy, TimePoint last_rotation,
                       std::string_view node_id);

// NextRotation(...) - policy.lead_time: when to announce the next key.
TimePoint AnnounceAt(const RotationPolicy& policy, TimePoint last_rotation,
                     std::string_view node_id);

}  // namespace tpmesh::keyrotate
