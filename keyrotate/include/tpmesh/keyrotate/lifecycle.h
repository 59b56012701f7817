// Key lifecycle as data: next -> current -> retired, each version with a
// validity window [not_before, not_after).
//
// A KeyRing tracks the versions of ONE key (a node's WireGuard key, a node
// certificate, the authority's signing key). It is pure logic: no I/O, no
// clock reads; every time-dependent call takes `now`.
//
// Invariants (checked by CheckInvariants(), kept by every operation):
//   - key ids are non-empty, at most kMaxKeyIdLength bytes and unique in the
//     ring (a version's id never names two versions at once);
//   - not_before < not_after for every version;
//   - at most one kNext and at most one kCurrent;
//   - retired versions exist only while there is a kCurrent ("exactly one
//     current once initialized": the first Promote initializes the ring and
//     nothing ever removes the current version afterwards).
// Retired versions stay until their not_after passes; Prune(now) drops them.
//
// Time precision: the ring keeps whole seconds (the JSON form stores unix
// seconds). Inputs are rounded conservatively: not_before up, not_after down,
// so a stored window never grows.
//
// Thread-safety: a value type; no internal locking.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "tpmesh/common/env.h"
#include "tpmesh/common/result.h"

namespace tpmesh::keyrotate {

enum class KeyState { kNext, kCurrent, kRetired };

// "next", "current", "retired" (also the JSON spelling).
const char* KeyStateName(KeyState state);

struct KeyVersion {
  std::string key_id;
  KeyState state = KeyState::kNext;
  TimePoint not_before;
  TimePoint not_after;

  // not_before <= now < not_after.
  bool ValidAt(TimePoint now) const { return not_before <= now && now < not_after; }
  bool operator==(const KeyVersion&) const = default;
};

class KeyRing {
 public:
  static constexpr size_t kMaxKeyIdLength = 256;
  static constexpr size_t kMaxVersions = 64;  // parse limit; a healthy ring holds ~3
  static constexpr std::chrono::seconds kMaxOverlap{10LL * 365 * 24 * 3600};

  // An empty (uninitialized) ring whose Promote keeps the outgoing current
  // key valid for `overlap` (1 s .. kMaxOverlap, else "invalid_overlap").
  static Result<KeyRing> Create(std::chrono::seconds overlap);

  // Adds `key_id` as kNext. Errors: "invalid_key_id" (empty, too long,
  // control characters), "invalid_validity" (not_before >= not_after after
  // rounding), "rotation_in_progress" (a kNext exists), "duplicate_key_id".
  Status Announce(std::string key_id, TimePoint not_before, TimePoint not_after);

  // next -> current; the old current (if any) -> retired with
  // not_after = min(its own not_after, now + overlap) (a rotation never
  // extends a key's validity; a retired key already expired is dropped).
  // On an empty ring the first Promote initializes it (nothing retires).
  // Errors: "no_next_key", "not_yet_valid" (next.not_before > now),
  // "next_expired" (next.not_after <= now). The ring is unchanged on error.
  Status Promote(TimePoint now);

  // Drops the kNext version (a postponed or cancelled rotation).
  // Error: "no_next_key".
  Status Abort();

  // Drops retired versions whose not_after <= now. Returns how many.
  // Never drops the current or next version.
  size_t Prune(TimePoint now);

  // Key ids a verifier accepts at `now`: the current version, the next one
  // once its not_before has passed, and retired ones still in their overlap;
  // each only within its own [not_before, not_after). Order: current, next,
  // retired (most recently retired first).
  std::vector<std::string> Trusted(TimePoint now) const;
  bool IsTrusted(std::string_view key_id, TimePoint now) const;

  const KeyVersion* current() const { return Find(KeyState::kCurrent); }
  const KeyVersion* next() const { return Find(KeyState::kNext); }
  bool initialized() const { return current() != nullptr; }
  // Ordered: next, current, retired (most recently retired first).
  const std::vector<KeyVersion>& versions() const { return versions_; }
  std::chrono::seconds overlap() const { return overlap_; }

  // "keyring_invariant_violated" naming the first broken invariant.
  Status CheckInvariants() const;

  // {"format":"tpmesh-keyring-v1","overlap_s":N,"keys":[{"key_id":..,
  //  "state":"next|current|retired","not_before":unix_s,"not_after":unix_s}]}
  std::string ToJson() const;
  // Never throws. Errors: "malformed_keyring" with the field path, e.g.
  // "keys[1].state: must be one of next, current, retired", also when the
  // decoded ring breaks an invariant.
  static Result<KeyRing> FromJson(std::string_view text);

  bool operator==(const KeyRing&) const = default;

 private:
  explicit KeyRing(std::chrono::seconds overlap) : overlap_(overlap) {}
  const KeyVersion* Find(KeyState state) const;
  void Normalize();

  std::chrono::seconds overlap_;
  std::vector<KeyVersion> versions_;
};

}  // namespace tpmesh::keyrotate
