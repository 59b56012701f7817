// KeyLifecycle: announce -> switch -> retire of one authority key.
#include "tpmesh/keyrotate/lifecycle.h"

namespace tpmesh::keyrotate {

namespace {

Error Precondition(std::string reason, std::string message) {
  return MakeError(Code::kFailedPrecondition, std::move(reason), std::move(message));
}

}  // namespace

const char* KeyStateName(KeyState state) {
  switch (state) {
    case KeyState::kNext: return "next";
    case KeyState::kCurrent: return "current";
    case KeyState::kRetired: return "retired";
  }
  return "unknown";
}

KeyLifecycle KeyLifecycle::Restore(std::string noun, std::optional<Next> next,
                                   std::optional<Old> old, bool rotated) {
  KeyLifecycle lc(std::move(noun));
  lc.next_ = next;
  lc.old_ = old;
  lc.rotated_ = rotated || old.has_value();
  return lc;
}

Status KeyLifecycle::Announce(int64_t now, int64_t announce_generation) {
  if (next_)
    return Precondition("rotation_in_progress", "a next " + noun_ + " is announced already");
  if (old_) {
    return Precondition("rotation_in_progress",
                        "the previous " + noun_ + " is still in its overlap");
  }
  next_ = Next{now, announce_generation};
  return OkStatus();
}

Status KeyLifecycle::SetAnnounceGeneration(int64_t generation) {
  if (!next_) return Precondition("no_next_key", "no next " + noun_ + " is announced");
  next_->announce_generation = generation;
  return OkStatus();
}

Status KeyLifecycle::Switch(int64_t until) {
  if (!next_) return Precondition("no_next_key", "no next " + noun_ + " is announced");
  next_.reset();
  old_ = Old{until};
  rotated_ = true;
  return OkStatus();
}

KeyStep KeyLifecycle::Due(int64_t now, int64_t overlap, bool every_node_holds_next) const {
  if (next_) {
    const bool overlap_over = now - next_->announced_at >= overlap;
    return every_node_holds_next || overlap_over ? KeyStep::kSwitch : KeyStep::kNone;
  }
  if (old_ && now >= old_->until) return KeyStep::kRetire;
  return KeyStep::kNone;
}

}  // namespace tpmesh::keyrotate
