// The announce -> switch -> retire lifecycle of one of the authority's own
// keys, with overlap. The config-signing key and the authority CA both follow
// it (authority/include/tpmesh/authority/rotating_key_files.h keeps it in the
// state directory; signing_keys.h and ca_keys.h say what each key is).
//
//   idle       the current version only.
//   announced  current + next: the next version is published (trusted by
//              verifiers) but not used yet. Recorded: when it was announced
//              and the first config generation known to carry it.
//   switched   current + old: the next version became current; the previous
//              one stays trusted (the CA: in the bundle; the signing key:
//              co-signing) until `until`.
//   Retire     drops the old version: idle again, rotated() stays true.
// One rotation at a time: Announce is refused while announced or switched.
//
// KeyLifecycle records which versions exist and their windows and decides
// when the next step is due; it holds no key material (the owner keeps the
// versions beside it, in step). Pure logic: no I/O, no clock reads; times
// are unix seconds passed in. Every refused call leaves it unchanged.
//
// Thread-safety: a value type; no internal locking.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "tpmesh/common/result.h"

namespace tpmesh::keyrotate {

// A version's state as the admin API shows it.
enum class KeyState { kNext, kCurrent, kRetired };

// "next", "current", "retired".
const char* KeyStateName(KeyState state);

// What a rotation tick should do now (KeyLifecycle::Due).
enum class KeyStep { kNone, kSwitch, kRetire };

class KeyLifecycle {
 public:
  struct Next {
    int64_t announced_at = 0;         // unix s
    int64_t announce_generation = 0;  // first generation known to carry it
    bool operator==(const Next&) const = default;
  };
  struct Old {
    int64_t until = 0;  // unix s: trusted until then
    bool operator==(const Old&) const = default;
  };

  // Idle, never rotated. `noun` names the key in error messages
  // ("config-signing key", "authority CA").
  explicit KeyLifecycle(std::string noun) : noun_(std::move(noun)) {}
  // As the state directory holds it. `rotated`: a switch happened before
  // (implied by `old`). `next` and `old` together are no state the steps
  // above reach (only a hand-edited directory holds both): the next switch
  // replaces that old version.
  static KeyLifecycle Restore(std::string noun, std::optional<Next> next, std::optional<Old> old,
                              bool rotated);

  // idle -> announced. Error "rotation_in_progress" (announced or switched).
  [[nodiscard]] Status Announce(int64_t now, int64_t announce_generation);
  // Records the first generation known to carry the announcement.
  // Error "no_next_key".
  [[nodiscard]] Status SetAnnounceGeneration(int64_t generation);
  // announced -> switched, the old version trusted until `until`.
  // Error "no_next_key".
  [[nodiscard]] Status Switch(int64_t until);
  // switched -> idle. No-op without an old version.
  void Retire() { old_.reset(); }

  // kSwitch: announced, and `every_node_holds_next` or `overlap` seconds
  // have passed since the announcement. kRetire: switched and `now` has
  // reached old().until. Otherwise kNone.
  KeyStep Due(int64_t now, int64_t overlap, bool every_node_holds_next) const;

  const std::optional<Next>& next() const { return next_; }
  const std::optional<Old>& old() const { return old_; }
  bool rotated() const { return rotated_; }  // ever switched
  const std::string& noun() const { return noun_; }

  bool operator==(const KeyLifecycle&) const = default;

 private:
  std::string noun_;
  std::optional<Next> next_;
  std::optional<Old> old_;
  bool rotated_ = false;
};

}  // namespace tpmesh::keyrotate
