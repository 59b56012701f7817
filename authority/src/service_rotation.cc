// AuthorityService: WireGuard key rotation (service.h, "WireGuard key
// rotation"; keyrotate/rotation.h for the phases).
#include <algorithm>

#include "service_util.h"
#include "store_util.h"
#include "tpmesh/authority/service.h"

namespace tpmesh::authority {
namespace {

using internal::FindNode;
using internal::InTx;
using internal::KeyText;
using internal::NodeNotFound;
using internal::Usable;
using keyrotate::Phase;

Status CheckWgKey(ByteView key, const char* field) {
  if (key.size() != 32) {
    return MakeError(Code::kInvalidArgument, "invalid_key",
                     std::string(field) + ": a WireGuard public key is 32 bytes, got " +
                         std::to_string(key.size()));
  }
  if (std::all_of(key.begin(), key.end(), [](uint8_t b) { return b == 0; })) {
    return MakeError(Code::kInvalidArgument, "invalid_key",
                     std::string(field) + ": the all-zero key");
  }
  return OkStatus();
}

}  // namespace

Status AuthorityService::BumpAndPublish(const std::function<Status(Tx&, int64_t)>& fn) {
  TPMESH_ASSIGN_OR_RETURN(int64_t published, InTx(store_, [&](Tx& tx) -> Result<int64_t> {
                            TPMESH_ASSIGN_OR_RETURN(int64_t generation, tx.BumpGeneration());
                            TPMESH_RETURN_IF_ERROR(fn(tx, generation));
                            return generation;
                          }));
  return PublishThrough(published);
}

bool AuthorityService::EveryActiveNodeReported(
    const std::vector<NodeRecord>& nodes,
    const std::function<bool(const NodeReport&)>& pred) const {
  std::lock_guard<std::mutex> lock(reports_mu_);
  for (const auto& n : nodes) {
    if (!Usable(n)) continue;
    auto it = reports_.find(n.node_id);
    if (it == reports_.end() || !pred(it->second)) return false;
  }
  return true;
}

std::set<std::string> AuthorityService::LivePeers(const std::vector<NodeRecord>& nodes,
                                                  std::string_view self) const {
  const int64_t cutoff = Now() - settings_.rotation.live_window.count();
  std::set<std::string> live;
  std::lock_guard<std::mutex> lock(reports_mu_);
  for (const auto& n : nodes) {
    if (n.node_id == self || !Usable(n)) continue;
    auto it = reports_.find(n.node_id);
    if (it != reports_.end() && it->second.at >= cutoff) live.insert(n.node_id);
  }
  return live;
}

void AuthorityService::ForgetRotation(std::string_view node_id) {
  std::lock_guard<std::mutex> lock(rot_mu_);
  if (switch_holder_ == node_id) switch_holder_.clear();
  rotations_.erase(std::string(node_id));
  rotation_requested_.erase(std::string(node_id));
}

Status AuthorityService::RecoverRotations() {
  std::vector<NodeRecord> nodes;
  int64_t generation = 0;
  TPMESH_RETURN_IF_ERROR(InTx(store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(nodes, tx.ListNodes());
    TPMESH_ASSIGN_OR_RETURN(generation, tx.Generation());
    return OkStatus();
  }));
  std::lock_guard<std::mutex> lock(rot_mu_);
  last_commit_generation_ = std::max(last_commit_generation_, generation);
  for (const auto& n : nodes) {
    if (!Usable(n)) continue;
    if (n.rotate_requested_at != 0) rotation_requested_.insert(n.node_id);
    if (n.next_wg_public_key.empty() || rotations_.count(n.node_id)) continue;
    // After a restart nobody has reported yet: wait for every active peer;
    // those that stay away make it postpone, and the retry waits only for
    // the live ones.
    std::set<std::string> peers;
    for (const auto& p : nodes) {
      if (p.node_id != n.node_id && Usable(p)) peers.insert(p.node_id);
    }
    auto r = keyrotate::WgRotation::Begin(n.node_id, n.next_wg_public_key, std::move(peers),
                                          clock_.Now(), settings_.rotation.policy);
    if (r.ok()) rotations_[n.node_id] = RotationEntry{std::move(r).value(), generation};
  }
  return OkStatus();
}

Result<std::vector<NodeRecord>> AuthorityService::RequestRotation(
    const std::vector<std::string>& ids, bool all, const std::string& actor,
    const std::string& reason) {
  if (all == !ids.empty()) {
    return MakeError(Code::kInvalidArgument, "invalid_request",
                     all ? "name nodes or ask for all of them, not both"
                         : "name the nodes to rotate, or ask for all of them");
  }
  const int64_t now = Now();
  std::vector<NodeRecord> targets;
  std::lock_guard<std::mutex> lock(rot_mu_);
  Status pub = BumpAndPublish([&](Tx& tx, int64_t) -> Status {
    targets.clear();
    if (all) {
      TPMESH_ASSIGN_OR_RETURN(auto nodes, tx.ListNodes());
      for (auto& n : nodes) {
        if (Usable(n)) targets.push_back(std::move(n));
      }
      if (targets.empty()) {
        return MakeError(Code::kFailedPrecondition, "no_active_nodes",
                         "there are no active nodes to rotate");
      }
    } else {
      for (const auto& id : ids) {
        TPMESH_ASSIGN_OR_RETURN(auto n, FindNode(tx, id));
        if (!n) return NodeNotFound(id);
        if (!Usable(*n)) {
          return MakeError(Code::kFailedPrecondition, "node_not_active",
                           "node " + n->node_id + " (" + n->hostname + ") is " +
                               NodeStatusName(n->status) + ": only active nodes rotate keys");
        }
        targets.push_back(std::move(*n));
      }
    }
    for (auto& n : targets) {
      n.rotate_requested_at = now;
      n.updated_at = now;
      TPMESH_RETURN_IF_ERROR(tx.UpdateNode(n));
      TPMESH_RETURN_IF_ERROR(tx.AppendAudit(AuditEntry{
          0, now, actor, "key.rotate.request", n.node_id, reason, "hostname " + n.hostname}));
    }
    return OkStatus();
  });
  if (!Committed(pub)) return pub.take_error();
  for (const auto& n : targets) rotation_requested_.insert(n.node_id);
  if (!pub.ok()) return pub.take_error();
  return targets;
}

Result<int64_t> AuthorityService::RotatePrepare(std::string_view node_id,
                                                ByteView next_public_key) {
  TPMESH_RETURN_IF_ERROR(CheckWgKey(next_public_key, "next_public_key"));
  const std::string id(node_id);
  const Bytes key(next_public_key.begin(), next_public_key.end());
  std::lock_guard<std::mutex> lock(rot_mu_);
  auto it = rotations_.find(id);
  if (it != rotations_.end() && it->second.rotation.next_public_key() == key) {
    return it->second.announce_generation;  // the same registration again
  }
  if (it == rotations_.end() && !rotation_requested_.count(id)) {
    return MakeError(Code::kFailedPrecondition, "rotation_not_requested",
                     "no key rotation is due for node " + id +
                         " (the schedule or 'tpmeshctl rotate --node' starts one)");
  }
  std::optional<keyrotate::WgRotation> started;
  int64_t announce = 0;
  const int64_t now = Now();
  Status pub = BumpAndPublish([&](Tx& tx, int64_t generation) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto nodes, tx.ListNodes());
    NodeRecord* self = nullptr;
    for (auto& n : nodes) {
      if (n.node_id == id) self = &n;
    }
    if (self == nullptr) return NodeNotFound(id);
    // Another node's key, or one retired, is refused by the store (UpdateNode
    // claims it: store.h, "WireGuard keys"); its own current key is no next key.
    if (self->wg_public_key == key) {
      return MakeError(Code::kAlreadyExists, "key_in_use",
                       "next_public_key: this is the node's current key; generate a new one");
    }
    if (!Usable(*self)) {
      return MakeError(Code::kFailedPrecondition, "node_not_active",
                       "node " + id + " is not active");
    }
    TPMESH_ASSIGN_OR_RETURN(
        auto rotation, keyrotate::WgRotation::Begin(id, key, LivePeers(nodes, id), clock_.Now(),
                                                    settings_.rotation.policy));
    self->next_wg_public_key = key;
    self->rotate_requested_at = 0;
    self->updated_at = now;
    TPMESH_RETURN_IF_ERROR(tx.UpdateNode(*self));
    TPMESH_RETURN_IF_ERROR(tx.AppendAudit(
        AuditEntry{0, now, "node:" + id, "key.prepare", id, "",
                   "next key " + KeyText(next_public_key) + ", attempt 1, waiting for " +
                       std::to_string(rotation.awaiting().size()) + " live peer(s)"}));
    started = std::move(rotation);
    announce = generation;
    return OkStatus();
  });
  if (!Committed(pub)) return pub.take_error();
  rotations_[id] = RotationEntry{std::move(*started), announce};
  rotation_requested_.erase(id);
  if (!pub.ok()) return pub.take_error();
  return announce;
}

void AuthorityService::OnAck(std::string_view node_id, int64_t applied_generation) {
  std::lock_guard<std::mutex> lock(rot_mu_);
  std::vector<std::string> ready;
  for (auto& [id, e] : rotations_) {
    auto& r = e.rotation;
    if (r.phase() != Phase::kPreparing || applied_generation < e.announce_generation) continue;
    if (!r.awaiting().count(std::string(node_id))) continue;
    if (!r.PeerConfirmed(node_id, clock_.Now()).ok()) continue;
    if (r.phase() == Phase::kCommitting) ready.push_back(id);
  }
  if (ready.empty()) return;
  // A new generation wakes the rotating nodes; their next ack answer says
  // "switch". Best effort: failing that, they learn at their next ack.
  const int64_t now = Now();
  (void)BumpAndPublish([&](Tx& tx, int64_t) -> Status {
    for (const auto& id : ready) {
      TPMESH_RETURN_IF_ERROR(tx.AppendAudit(
          AuditEntry{0, now, "system", "key.prepared", id, "",
                     "every live peer holds the next key; the node switches now (attempt " +
                         std::to_string(rotations_[id].rotation.attempt()) + ")"}));
    }
    return OkStatus();
  });
}

Status AuthorityService::RotateSwitched(std::string_view node_id, ByteView public_key) {
  TPMESH_RETURN_IF_ERROR(CheckWgKey(public_key, "public_key"));
  const std::string id(node_id);
  const Bytes key(public_key.begin(), public_key.end());
  std::lock_guard<std::mutex> lock(rot_mu_);
  auto it = rotations_.find(id);
  if (it != rotations_.end() && it->second.rotation.next_public_key() == key) {
    auto& r = it->second.rotation;
    if (r.phase() == Phase::kCommitting) {
      TPMESH_RETURN_IF_ERROR(r.NodeSwitched(clock_.Now()));
      return CommitRotation(id, key, "after every live peer confirmed");
    }
    return CommitRotation(id, key,
                          std::string("early: the node switched while the rotation was ") +
                              keyrotate::PhaseName(r.phase()) + "; committed at once");
  }
  TPMESH_ASSIGN_OR_RETURN(std::optional<NodeRecord> node,
                          InTx(store_, [&](Tx& tx) { return tx.FindNodeById(id); }));
  if (!node) return NodeNotFound(id);
  if (node->wg_public_key == key) return OkStatus();  // committed already
  if (node->next_wg_public_key == key) return CommitRotation(id, key, "recovered from the store");
  return MakeError(Code::kFailedPrecondition, "rotation_not_prepared",
                   "public_key: not the next key registered for node " + id);
}

Status AuthorityService::CommitRotation(std::string_view node_id, ByteView public_key,
                                        const std::string& how) {
  const std::string id(node_id);
  const int64_t now = Now();
  const int64_t until = now + settings_.rotation.policy.overlap.count();
  int64_t committed = 0;
  Status pub = BumpAndPublish([&](Tx& tx, int64_t generation) -> Status {
    committed = generation;
    TPMESH_ASSIGN_OR_RETURN(auto n, tx.FindNodeById(id));
    if (!n) return NodeNotFound(id);
    if (!Usable(*n))
      return MakeError(Code::kFailedPrecondition, "node_not_active",
                       "node " + id + " is not active");
    const std::string old = KeyText(n->wg_public_key);
    n->prev_wg_public_key = n->wg_public_key;
    n->prev_wg_key_until = until;
    n->wg_public_key.assign(public_key.begin(), public_key.end());
    n->wg_key_since = now;
    n->next_wg_public_key.clear();
    n->rotate_requested_at = 0;
    n->updated_at = now;
    TPMESH_RETURN_IF_ERROR(tx.UpdateNode(*n));
    return tx.AppendAudit(AuditEntry{0, now, "node:" + id, "key.commit", id, how,
                                     "new key " + KeyText(public_key) + "; old key " + old +
                                         " retired, never accepted again (kept as previous until " +
                                         std::to_string(until) + ")"});
  });
  if (!Committed(pub)) return pub;
  rotations_.erase(id);
  rotation_requested_.erase(id);
  last_commit_generation_ = std::max(last_commit_generation_, committed);
  if (switch_holder_ == id) switch_holder_.clear();
  return pub;
}

Result<std::vector<NodeKeys>> AuthorityService::Keys() {
  TPMESH_ASSIGN_OR_RETURN(std::vector<NodeRecord> nodes,
                          InTx(store_, [](Tx& tx) { return tx.ListNodes(); }));
  std::vector<NodeKeys> out;
  std::lock_guard<std::mutex> lock(rot_mu_);
  for (auto& n : nodes) {
    NodeKeys k;
    k.next_rotation = ToUnixSeconds(keyrotate::NextRotation(
        settings_.rotation.policy, FromUnixSeconds(n.wg_key_since), n.node_id));
    if (auto it = rotations_.find(n.node_id); it != rotations_.end()) {
      const auto& r = it->second.rotation;
      k.phase = keyrotate::PhaseName(r.phase());
      k.attempt = r.attempt();
      for (const auto& a : r.awaiting()) k.awaiting.push_back(a);
      k.confirm_deadline = ToUnixSeconds(r.confirm_deadline());
      k.retry_at = r.retry_at() ? ToUnixSeconds(*r.retry_at()) : 0;
      if (n.next_wg_public_key.empty()) n.next_wg_public_key = r.next_public_key();
    } else if (rotation_requested_.count(n.node_id)) {
      k.phase = "requested";
    }
    k.node = std::move(n);
    out.push_back(std::move(k));
  }
  return out;
}

}  // namespace tpmesh::authority
