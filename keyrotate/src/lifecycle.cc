// KeyRing operations and invariants (JSON form in keyring_json.cc).
#include "tpmesh/keyrotate/lifecycle.h"

#include <algorithm>

#include "internal.h"

namespace tpmesh::keyrotate {

namespace {

Error Precondition(std::string reason, std::string message) {
  return MakeError(Code::kFailedPrecondition, std::move(reason), std::move(message));
}

int Rank(KeyState s) {
  switch (s) {
    case KeyState::kNext: return 0;
    case KeyState::kCurrent: return 1;
    case KeyState::kRetired: return 2;
  }
  return 3;
}

}  // namespace

Status internal::CheckKeyId(std::string_view id, std::string_view what) {
  auto bad = [&](const std::string& problem) {
    return MakeError(Code::kInvalidArgument, "invalid_key_id", std::string(what) + ": " + problem);
  };
  if (id.empty()) return bad("must not be empty");
  if (id.size() > KeyRing::kMaxKeyIdLength) {
    return bad("longer than " + std::to_string(KeyRing::kMaxKeyIdLength) + " bytes");
  }
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f) return bad("contains a control character");
  }
  return OkStatus();
}

const char* KeyStateName(KeyState state) {
  switch (state) {
    case KeyState::kNext: return "next";
    case KeyState::kCurrent: return "current";
    case KeyState::kRetired: return "retired";
  }
  return "unknown";
}

Result<KeyRing> KeyRing::Create(std::chrono::seconds overlap) {
  if (overlap <= std::chrono::seconds(0) || overlap > kMaxOverlap) {
    return MakeError(Code::kInvalidArgument, "invalid_overlap",
                     "overlap: must be in [1, " + std::to_string(kMaxOverlap.count()) +
                         "] seconds, got " + std::to_string(overlap.count()));
  }
  return KeyRing(overlap);
}

const KeyVersion* KeyRing::Find(KeyState state) const {
  for (const auto& v : versions_) {
    if (v.state == state) return &v;
  }
  return nullptr;
}

void KeyRing::Normalize() {
  std::stable_sort(versions_.begin(), versions_.end(),
                   [](const KeyVersion& a, const KeyVersion& b) {
                     if (Rank(a.state) != Rank(b.state)) return Rank(a.state) < Rank(b.state);
                     return a.not_after > b.not_after;  // most recently retired first
                   });
}

Status KeyRing::Announce(std::string key_id, TimePoint not_before, TimePoint not_after) {
  TPMESH_RETURN_IF_ERROR(internal::CheckKeyId(key_id, "key_id"));
  const TimePoint nb = internal::CeilSeconds(not_before);
  const TimePoint na = internal::FloorSeconds(not_after);
  if (nb >= na) {
    return MakeError(Code::kInvalidArgument, "invalid_validity",
                     "key '" + key_id + "': not_before (" + std::to_string(ToUnixSeconds(nb)) +
                         ") must be earlier than not_after (" + std::to_string(ToUnixSeconds(na)) +
                         ") in whole seconds");
  }
  if (const KeyVersion* n = next()) {
    return Precondition(
        "rotation_in_progress",
        "key '" + n->key_id + "' is already announced as next; Promote or Abort it first");
  }
  for (const auto& v : versions_) {
    if (v.key_id == key_id) {
      return MakeError(
          Code::kAlreadyExists, "duplicate_key_id",
          "key id '" + key_id + "' is already in the ring as " + KeyStateName(v.state));
    }
  }
  versions_.push_back(KeyVersion{std::move(key_id), KeyState::kNext, nb, na});
  Normalize();
  return OkStatus();
}

Status KeyRing::Promote(TimePoint now) {
  auto next_it = std::find_if(versions_.begin(), versions_.end(),
                              [](const KeyVersion& v) { return v.state == KeyState::kNext; });
  if (next_it == versions_.end())
    return Precondition("no_next_key", "no next key announced; Announce one first");
  if (next_it->not_before > now) {
    return Precondition("not_yet_valid", "next key '" + next_it->key_id + "' is valid only from " +
                                             std::to_string(ToUnixSeconds(next_it->not_before)) +
                                             ", now is " + std::to_string(ToUnixSeconds(now)));
  }
  if (next_it->not_after <= now) {
    return Precondition("next_expired", "next key '" + next_it->key_id + "' expired at " +
                                            std::to_string(ToUnixSeconds(next_it->not_after)) +
                                            "; Abort it and announce a fresh one");
  }
  next_it->state = KeyState::kCurrent;
  // Retire the old current (now the other kCurrent, if any).
  for (auto it = versions_.begin(); it != versions_.end(); ++it) {
    if (it->state != KeyState::kCurrent || it == next_it) continue;
    it->state = KeyState::kRetired;
    it->not_after = std::min(it->not_after, internal::FloorSeconds(now + overlap_));
    if (it->not_after <= now || it->not_after <= it->not_before) versions_.erase(it);
    break;
  }
  Normalize();
  return OkStatus();
}

Status KeyRing::Abort() {
  auto it = std::find_if(versions_.begin(), versions_.end(),
                         [](const KeyVersion& v) { return v.state == KeyState::kNext; });
  if (it == versions_.end()) return Precondition("no_next_key", "no next key to abort");
  versions_.erase(it);
  return OkStatus();
}

size_t KeyRing::Prune(TimePoint now) {
  return std::erase_if(versions_, [now](const KeyVersion& v) {
    return v.state == KeyState::kRetired && v.not_after <= now;
  });
}

std::vector<std::string> KeyRing::Trusted(TimePoint now) const {
  std::vector<std::string> ids;
  const KeyVersion* c = current();
  if (c && c->ValidAt(now)) ids.push_back(c->key_id);
  const KeyVersion* n = next();
  if (n && n->ValidAt(now)) ids.push_back(n->key_id);
  for (const auto& v : versions_) {
    if (v.state == KeyState::kRetired && v.ValidAt(now)) ids.push_back(v.key_id);
  }
  return ids;
}

bool KeyRing::IsTrusted(std::string_view key_id, TimePoint now) const {
  for (const auto& v : versions_) {
    if (v.key_id == key_id) return v.ValidAt(now);
  }
  return false;
}

Status KeyRing::CheckInvariants() const {
  auto broken = [](std::string message) {
    return MakeError(Code::kInternal, "keyring_invariant_violated", std::move(message));
  };
  if (overlap_ <= std::chrono::seconds(0) || overlap_ > kMaxOverlap) {
    return broken("overlap: must be in [1, " + std::to_string(kMaxOverlap.count()) + "] seconds");
  }
  size_t nexts = 0, currents = 0, retired = 0;
  for (size_t i = 0; i < versions_.size(); ++i) {
    const KeyVersion& v = versions_[i];
    const std::string where = "keys[" + std::to_string(i) + "]";
    if (auto s = internal::CheckKeyId(v.key_id, where + ".key_id"); !s.ok())
      return broken(s.error().message);
    if (v.not_before >= v.not_after) {
      return broken(where + ": not_before must be earlier than not_after (key '" + v.key_id + "')");
    }
    for (size_t j = 0; j < i; ++j) {
      if (versions_[j].key_id == v.key_id) {
        return broken(where + ".key_id: '" + v.key_id + "' also names keys[" + std::to_string(j) +
                      "]");
      }
    }
    switch (v.state) {
      case KeyState::kNext: ++nexts; break;
      case KeyState::kCurrent: ++currents; break;
      case KeyState::kRetired: ++retired; break;
    }
  }
  if (nexts > 1) return broken("more than one next key (" + std::to_string(nexts) + ")");
  if (currents > 1) return broken("more than one current key (" + std::to_string(currents) + ")");
  if (retired > 0 && currents == 0) return broken("retired keys without a current key");
  return OkStatus();
}

}  // namespace tpmesh::keyrotate
