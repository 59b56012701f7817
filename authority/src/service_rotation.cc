// AuthorityService: WireGuard key rotation (service.h, "WireGuard key
// rotation"; keyrotate/rotation.h for the phases).
#include <algorithm>

#include "service_util.h"
#include "tpmesh/authority/service.h"

namespace tpmesh::authority {
namespace {

using internal::FindNode;
using internal::NodeNotFound;
using keyrotate::Phase;

std::string Key(ByteView k) { return Base64Encode(k); }

bool Usable(const NodeRecord& n) { return n.status == NodeStatus::kActive && n.subnet.has_value(); }

Status CheckWgKey(ByteView key, const char* field) {
  if (key.size() != 32) {
    return MakeError(Code::kInvalidArgument, "invalid_key",
                     std::string(field) + ": a WireGuard public key is 32 bytes, got " +
                         std::to_string(key.size()));
  }
  if (std::all_of(key.begin(), key.end(), [](uint8_t b) { return b == 0; })) {
    return MakeError(Code::kInvalidArgument, "invalid_key", std::string(field) + ": the all-zero key");
  }
  return OkStatus();
}

std::string Hostnames(const std::set<std::string>& ids, const std::map<std::string, NodeRecord>& by_id) {
  std::string out;
  for (const auto& id : ids) {
    auto it = by_id.find(id);
    out += (out.empty() ? "" : ", ") + (it != by_id.end() ? it->second.hostname : id);
  }
  return out;
}

}  // namespace

Status AuthorityService::BumpAndPublish(const std::function<Status(Tx&, int64_t)>& fn) {
  int64_t published = 0;
  if (Status st_ = store_.Transact([&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(int64_t generation, tx.BumpGeneration());
    TPMESH_RETURN_IF_ERROR(fn(tx, generation));
    published = generation;
    return OkStatus();
  }); !st_.ok()) return st_.take_error();
  return PublishThrough(published);
}

bool AuthorityService::EveryActiveNodeReported(const std::vector<NodeRecord>& nodes,
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
  if (Status st_ = store_.Transact([&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(nodes, tx.ListNodes());
    TPMESH_ASSIGN_OR_RETURN(generation, tx.Generation());
    return OkStatus();
  }); !st_.ok()) return st_.take_error();
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

Result<std::vector<NodeRecord>> AuthorityService::RequestRotation(const std::vector<std::string>& ids,
                                                                  bool all, const std::string& actor,
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
        return MakeError(Code::kFailedPrecondition, "no_active_nodes", "there are no active nodes to rotate");
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
      TPMESH_RETURN_IF_ERROR(tx.AppendAudit(AuditEntry{0, now, actor, "key.rotate.request", n.node_id,
                                                       reason, "hostname " + n.hostname}));
    }
    return OkStatus();
  });
  if (!Committed(pub)) return pub.take_error();
  for (const auto& n : targets) rotation_requested_.insert(n.node_id);
  if (!pub.ok()) return pub.take_error();
  return targets;
}

Result<int64_t> AuthorityService::RotatePrepare(std::string_view node_id, ByteView next_public_key) {
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
      return MakeError(Code::kFailedPrecondition, "node_not_active", "node " + id + " is not active");
    }
    TPMESH_ASSIGN_OR_RETURN(auto rotation,
                            keyrotate::WgRotation::Begin(id, key,
                                                         LivePeers(nodes, id), clock_.Now(),
                                                         settings_.rotation.policy));
    self->next_wg_public_key = key;
    self->rotate_requested_at = 0;
    self->updated_at = now;
    TPMESH_RETURN_IF_ERROR(tx.UpdateNode(*self));
    TPMESH_RETURN_IF_ERROR(tx.AppendAudit(AuditEntry{
        0, now, "node:" + id, "key.prepare", id, "",
        "next key " + Key(next_public_key) + ", attempt 1, waiting for " +
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
      TPMESH_RETURN_IF_ERROR(tx.AppendAudit(AuditEntry{
          0, now, "system", "key.prepared", id, "",
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
  std::optional<NodeRecord> node;
  if (Status st_ = store_.Transact([&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(node, tx.FindNodeById(id));
    return OkStatus();
  }); !st_.ok()) return st_.take_error();
  if (!node) return NodeNotFound(id);
  if (node->wg_public_key == key) return OkStatus();  // committed already
  if (node->next_wg_public_key == key) return CommitRotation(id, key, "recovered from the store");
  return MakeError(Code::kFailedPrecondition, "rotation_not_prepared",
                   "public_key: not the next key registered for node " + id);
}

Status AuthorityService::CommitRotation(std::string_view node_id, ByteView public_key, const std::string& how) {
  const std::string id(node_id);
  const int64_t now = Now();
  const int64_t until = now + settings_.rotation.policy.overlap.count();
  int64_t committed = 0;
  Status pub = BumpAndPublish([&](Tx& tx, int64_t generation) -> Status {
    committed = generation;
    TPMESH_ASSIGN_OR_RETURN(auto n, tx.FindNodeById(id));
    if (!n) return NodeNotFound(id);
    if (!Usable(*n)) return MakeError(Code::kFailedPrecondition, "node_not_active", "node " + id + " is not active");
    const std::string old = Key(n->wg_public_key);
    n->prev_wg_public_key = n->wg_public_key;
    n->prev_wg_key_until = until;
    n->wg_public_key.assign(public_key.begin(), public_key.end());
    n->wg_key_since = now;
    n->next_wg_public_key.clear();
    n->rotate_requested_at = 0;
    n->updated_at = now;
    TPMESH_RETURN_IF_ERROR(tx.UpdateNode(*n));
    return tx.AppendAudit(AuditEntry{0, now, "node:" + id, "key.commit", id, how,
                                     "new key " + Key(public_key) + "; old key " + old +
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

Status AuthorityService::RotationTick() {
  const int64_t now = Now();
  const TimePoint tnow = clock_.Now();
  std::lock_guard<std::mutex> lock(rot_mu_);
  // Every 15 s: the schedule (when enabled) and retiring old keys.
  const bool scan = last_schedule_scan_ == 0 || now - last_schedule_scan_ >= 15 || now < last_schedule_scan_;
  if (!switch_holder_.empty() &&
      (!rotations_.count(switch_holder_) ||
       now - switch_granted_at_ > settings_.rotation.policy.confirm_deadline.count())) {
    switch_holder_.clear();  // told to switch but never reported it: let the others go
  }
  const bool signing = keys_.signing && (keys_.signing->has_next() || keys_.signing->has_old());
  const bool ca = keys_.cas && (keys_.cas->has_next() || keys_.cas->has_old());
  if (rotations_.empty() && !scan && !signing && !ca) return OkStatus();
  std::vector<NodeRecord> nodes;
  if (Status st_ = store_.Transact([&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(nodes, tx.ListNodes());
    return OkStatus();
  }); !st_.ok()) return st_.take_error();
  if (signing) TPMESH_RETURN_IF_ERROR(SigningTick(nodes));
  if (ca) TPMESH_RETURN_IF_ERROR(CaTick(nodes));
  if (scan) last_schedule_scan_ = now;
  std::map<std::string, NodeRecord> by_id;
  for (const auto& n : nodes) by_id[n.node_id] = n;

  std::map<std::string, std::string> postponed;  // id -> who did not confirm
  std::vector<std::string> retried, ready, scheduled, retired;
  for (auto it = rotations_.begin(); it != rotations_.end();) {
    auto node = by_id.find(it->first);
    auto& r = it->second.rotation;
    const bool announced = r.phase() == Phase::kPreparing || r.phase() == Phase::kCommitting;
    if (node == by_id.end() || !Usable(node->second) ||
        (announced && node->second.next_wg_public_key != r.next_public_key())) {
      if (switch_holder_ == it->first) switch_holder_.clear();
      it = rotations_.erase(it);  // revoked, quarantined or re-enrolled meanwhile
      continue;
    }
    const Phase before = r.phase();
    const std::set<std::string> awaited = r.awaiting();
    // Revoked or quarantined peers are not waited for.
    for (const auto& peer : awaited) {
      auto p = by_id.find(peer);
      if (p == by_id.end() || !Usable(p->second)) (void)r.PeerOffline(peer, tnow);
    }
    (void)r.Tick(tnow);
    if (before == Phase::kPreparing && r.phase() == Phase::kPostponed) {
      postponed[it->first] = Hostnames(awaited, by_id);
    } else if (before == Phase::kPreparing && r.phase() == Phase::kCommitting) {
      ready.push_back(it->first);
    } else if (r.phase() == Phase::kPostponed && r.retry_at() && tnow >= *r.retry_at()) {
      if (r.Retry(LivePeers(nodes, it->first), tnow).ok()) retried.push_back(it->first);
    }
    ++it;
  }
  if (scan) {
    for (const auto& n : nodes) {
      if (!Usable(n)) continue;
      if (settings_.rotation.scheduled && !rotations_.count(n.node_id) && !rotation_requested_.count(n.node_id) &&
          tnow >= keyrotate::AnnounceAt(settings_.rotation.policy, FromUnixSeconds(n.wg_key_since), n.node_id)) {
        scheduled.push_back(n.node_id);
      }
      if (!n.prev_wg_public_key.empty() && now >= n.prev_wg_key_until) retired.push_back(n.node_id);
    }
  }
  if (!postponed.empty() || !retried.empty() || !ready.empty() || !scheduled.empty()) {
    int64_t announce = 0;
    Status pub = BumpAndPublish([&](Tx& tx, int64_t generation) -> Status {
      announce = generation;
      for (const auto& [id, who] : postponed) {
        // Re-read inside the transaction: `by_id` is from before it, and a
        // renewal may have written the row since (TPM clock, certificate).
        TPMESH_ASSIGN_OR_RETURN(auto cur, tx.FindNodeById(id));
        if (!cur) continue;
        NodeRecord n = std::move(*cur);
        const auto& r = rotations_[id].rotation;
        n.next_wg_public_key.clear();
        n.rotate_requested_at = now;  // an authority restart re-requests it
        n.updated_at = now;
        TPMESH_RETURN_IF_ERROR(tx.UpdateNode(n));
        TPMESH_RETURN_IF_ERROR(tx.AppendAudit(AuditEntry{
            0, now, "system", "key.postpone", id, "live peer(s) did not confirm: " + who,
            "attempt " + std::to_string(r.attempt()) + "; next key withdrawn, the current key stays; retry at " +
                std::to_string(r.retry_at() ? ToUnixSeconds(*r.retry_at()) : 0)}));
      }
      for (const auto& id : retried) {
        // Re-read inside the transaction: `by_id` is from before it, and a
        // renewal may have written the row since (TPM clock, certificate).
        TPMESH_ASSIGN_OR_RETURN(auto cur, tx.FindNodeById(id));
        if (!cur) continue;
        NodeRecord n = std::move(*cur);
        const auto& r = rotations_[id].rotation;
        n.next_wg_public_key = r.next_public_key();
        n.rotate_requested_at = 0;
        n.updated_at = now;
        TPMESH_RETURN_IF_ERROR(tx.UpdateNode(n));
        TPMESH_RETURN_IF_ERROR(tx.AppendAudit(AuditEntry{
            0, now, "system", "key.prepare", id, "retry",
            "next key " + Key(r.next_public_key()) + ", attempt " + std::to_string(r.attempt()) +
                ", waiting for " + std::to_string(r.awaiting().size()) + " live peer(s)"}));
      }
      for (const auto& id : ready) {
        TPMESH_RETURN_IF_ERROR(tx.AppendAudit(AuditEntry{0, now, "system", "key.prepared", id, "",
                                                         "every awaited peer confirmed or left; the node switches now"}));
      }
      for (const auto& id : scheduled) {
        // Re-read inside the transaction: `by_id` is from before it, and a
        // renewal may have written the row since (TPM clock, certificate).
        TPMESH_ASSIGN_OR_RETURN(auto cur, tx.FindNodeById(id));
        if (!cur) continue;
        NodeRecord n = std::move(*cur);
        n.rotate_requested_at = now;
        n.updated_at = now;
        TPMESH_RETURN_IF_ERROR(tx.UpdateNode(n));
        TPMESH_RETURN_IF_ERROR(tx.AppendAudit(AuditEntry{0, now, "system", "key.rotate.request", id,
                                                         "scheduled", "hostname " + n.hostname}));
      }
      return OkStatus();
    });
    if (!Committed(pub)) return pub;
    for (const auto& id : retried) rotations_[id].announce_generation = announce;
    for (const auto& id : scheduled) rotation_requested_.insert(id);
    TPMESH_RETURN_IF_ERROR(std::move(pub));
  }
  if (!retired.empty()) {
    TPMESH_RETURN_IF_ERROR(store_.Transact([&](Tx& tx) -> Status {
      for (const auto& id : retired) {
        TPMESH_ASSIGN_OR_RETURN(auto n, tx.FindNodeById(id));
        if (!n || n->prev_wg_public_key.empty() || now < n->prev_wg_key_until) continue;
        const std::string old = Key(n->prev_wg_public_key);
        n->prev_wg_public_key.clear();
        n->prev_wg_key_until = 0;
        TPMESH_RETURN_IF_ERROR(tx.UpdateNode(*n));
        TPMESH_RETURN_IF_ERROR(tx.AppendAudit(AuditEntry{0, now, "system", "key.retire", id, "",
                                                         "overlap over for key " + old}));
      }
      return OkStatus();
    }));
  }
  return OkStatus();
}

Result<std::vector<NodeKeys>> AuthorityService::Keys() {
  std::vector<NodeRecord> nodes;
  if (Status st_ = store_.Transact([&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(nodes, tx.ListNodes());
    return OkStatus();
  }); !st_.ok()) return st_.take_error();
  std::vector<NodeKeys> out;
  std::lock_guard<std::mutex> lock(rot_mu_);
  for (auto& n : nodes) {
    NodeKeys k;
    k.next_rotation = ToUnixSeconds(keyrotate::NextRotation(settings_.rotation.policy,
                                                            FromUnixSeconds(n.wg_key_since), n.node_id));
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
