// WgRotation state machine and the certificate renewal rule.
#include "tpmesh/keyrotate/rotation.h"

#include <algorithm>

namespace tpmesh::keyrotate {

namespace {

Error Precondition(std::string reason, std::string message) {
  return MakeError(Code::kFailedPrecondition, std::move(reason), std::move(message));
}

Status CheckPeerId(std::string_view peer_id, const std::string& node_id, std::string_view what) {
  auto bad = [&](const std::string& problem) {
    return MakeError(Code::kInvalidArgument, "invalid_peer", std::string(what) + ": " + problem);
  };
  if (peer_id.empty()) return bad("peer id must not be empty");
  if (peer_id.size() > WgRotation::kMaxIdLength) {
    return bad("peer id longer than " + std::to_string(WgRotation::kMaxIdLength) + " bytes");
  }
  if (peer_id == node_id) return bad("'" + node_id + "' is the rotating node itself, not a peer");
  return OkStatus();
}

Status CheckLivePeers(const std::set<std::string>& live_peers, const std::string& node_id) {
  for (const auto& p : live_peers) TPMESH_RETURN_IF_ERROR(CheckPeerId(p, node_id, "live_peers"));
  return OkStatus();
}

}  // namespace

const char* PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kIdle: return "idle";
    case Phase::kPreparing: return "preparing";
    case Phase::kCommitting: return "committing";
    case Phase::kCommitted: return "committed";
    case Phase::kPostponed: return "postponed";
  }
  return "unknown";
}

Result<WgRotation> WgRotation::Begin(std::string node_id, Bytes next_public_key,
                                     std::set<std::string> live_peers, TimePoint now,
                                     const RotationPolicy& policy) {
  TPMESH_RETURN_IF_ERROR(policy.Validate());
  if (node_id.empty() || node_id.size() > kMaxIdLength) {
    return MakeError(Code::kInvalidArgument, "invalid_rotation",
                     "node_id: must be 1.." + std::to_string(kMaxIdLength) + " bytes");
  }
  if (next_public_key.size() != kPublicKeyBytes) {
    return MakeError(Code::kInvalidArgument, "invalid_rotation",
                     "next_public_key: must be " + std::to_string(kPublicKeyBytes) +
                         " bytes, got " + std::to_string(next_public_key.size()));
  }
  TPMESH_RETURN_IF_ERROR(CheckLivePeers(live_peers, node_id));
  WgRotation r;
  r.node_id_ = std::move(node_id);
  r.next_public_key_ = std::move(next_public_key);
  r.confirm_window_ = policy.confirm_deadline;
  r.retry_after_ = policy.retry_after;
  r.overlap_ = policy.overlap;
  r.latest_ = now;
  r.StartAttempt(std::move(live_peers), now);
  return r;
}

void WgRotation::StartAttempt(std::set<std::string> live_peers, TimePoint now) {
  ++attempt_;
  awaiting_ = std::move(live_peers);
  confirmed_.clear();
  retry_at_.reset();
  deadline_ = now + confirm_window_;
  phase_ = awaiting_.empty() ? Phase::kCommitting : Phase::kPreparing;
}

Status WgRotation::Started() const {
  if (phase_ == Phase::kIdle)
    return Precondition("not_started", "no rotation in progress; call Begin first");
  return OkStatus();
}

TimePoint WgRotation::Observe(TimePoint now) {
  latest_ = std::max(latest_, now);
  return latest_;
}

void WgRotation::ApplyDeadline(TimePoint now) {
  if (phase_ == Phase::kPreparing && !awaiting_.empty() && now >= deadline_) {
    phase_ = Phase::kPostponed;
    retry_at_ = now + retry_after_;
  }
}

Status WgRotation::PeerConfirmed(std::string_view peer_id, TimePoint now) {
  TPMESH_RETURN_IF_ERROR(Started());
  TPMESH_RETURN_IF_ERROR(CheckPeerId(peer_id, node_id_, "peer_id"));
  now = Observe(now);
  ApplyDeadline(now);
  if (phase_ == Phase::kPostponed) {
    return Precondition("rotation_postponed",
                        "the next key of '" + node_id_ + "' was withdrawn (attempt " +
                            std::to_string(attempt_) + " missed its confirm deadline)");
  }
  if (phase_ != Phase::kPreparing) return OkStatus();  // late duplicate: the peer already counted
  confirmed_.emplace(peer_id);
  if (auto it = awaiting_.find(std::string(peer_id)); it != awaiting_.end()) awaiting_.erase(it);
  if (awaiting_.empty()) phase_ = Phase::kCommitting;
  return OkStatus();
}

Status WgRotation::PeerOffline(std::string_view peer_id, TimePoint now) {
  TPMESH_RETURN_IF_ERROR(Started());
  TPMESH_RETURN_IF_ERROR(CheckPeerId(peer_id, node_id_, "peer_id"));
  now = Observe(now);
  ApplyDeadline(now);
  if (phase_ != Phase::kPreparing) return OkStatus();
  if (auto it = awaiting_.find(std::string(peer_id)); it != awaiting_.end()) awaiting_.erase(it);
  if (awaiting_.empty()) phase_ = Phase::kCommitting;
  return OkStatus();
}

Status WgRotation::NodeSwitched(TimePoint now) {
  TPMESH_RETURN_IF_ERROR(Started());
  now = Observe(now);
  ApplyDeadline(now);
  switch (phase_) {
    case Phase::kPreparing:
      return Precondition("prepare_incomplete",
                          std::to_string(awaiting_.size()) +
                              " live peer(s) have not confirmed the next key of '" + node_id_ +
                              "'; the node must not switch yet");
    case Phase::kPostponed:
      return Precondition(
          "rotation_postponed",
          "the next key of '" + node_id_ + "' was withdrawn; the node must keep its current key");
    case Phase::kCommitting:
      phase_ = Phase::kCommitted;
      committed_at_ = now;
      return OkStatus();
    case Phase::kCommitted:
    case Phase::kIdle: return OkStatus();
  }
  return OkStatus();
}

Status WgRotation::Tick(TimePoint now) {
  TPMESH_RETURN_IF_ERROR(Started());
  ApplyDeadline(Observe(now));
  return OkStatus();
}

Status WgRotation::Retry(std::set<std::string> live_peers, TimePoint now) {
  TPMESH_RETURN_IF_ERROR(Started());
  TPMESH_RETURN_IF_ERROR(CheckLivePeers(live_peers, node_id_));
  now = Observe(now);
  ApplyDeadline(now);
  if (phase_ != Phase::kPostponed) {
    return Precondition("not_postponed",
                        std::string("rotation is ") + PhaseName(phase_) + ", not postponed");
  }
  if (now < *retry_at_) {
    return Precondition("retry_too_early", "retry allowed from " +
                                               std::to_string(ToUnixSeconds(*retry_at_)) +
                                               ", now is " + std::to_string(ToUnixSeconds(now)));
  }
  StartAttempt(std::move(live_peers), now);
  return OkStatus();
}

bool WgRotation::OldKeyTrusted(TimePoint now) const {
  if (phase_ != Phase::kCommitted || !committed_at_) return true;
  return now < *committed_at_ + overlap_;
}

bool ShouldRenew(TimePoint not_before, TimePoint not_after, TimePoint now) {
  if (not_after <= not_before || now >= not_after) return true;
  return now >= RenewAt(not_before, not_after);
}

TimePoint RenewAt(TimePoint not_before, TimePoint not_after) {
  if (not_after <= not_before) return not_before;
  return not_before + (not_after - not_before) / 2;
}

}  // namespace tpmesh::keyrotate
