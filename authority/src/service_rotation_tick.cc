// AuthorityService::RotationTick (service.h, "WireGuard key rotation"):
// deadlines, retries, the schedule and retiring old WireGuard keys; the
// authority key steps it runs are in service_keys.cc.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "service_util.h"
#include "store_util.h"
#include "tpmesh/authority/service.h"

namespace tpmesh::authority {
namespace {

using internal::InTx;
using internal::KeyText;
using internal::Usable;
using keyrotate::Phase;

std::string Hostnames(const std::set<std::string>& ids,
                      const std::map<std::string, NodeRecord>& by_id) {
  std::string out;
  for (const auto& id : ids) {
    auto it = by_id.find(id);
    out += (out.empty() ? "" : ", ") + (it != by_id.end() ? it->second.hostname : id);
  }
  return out;
}

}  // namespace

// What one tick decided, by node id; written by AnnounceTickWork and
// RetireOldKeys. `now` and `tnow` are the tick's one reading of the clock.
struct AuthorityService::TickWork {
  int64_t now = 0;
  TimePoint tnow;
  std::map<std::string, std::string> postponed;  // id -> who did not confirm
  std::vector<std::string> retried, ready, scheduled, retired;
  bool announces() const {
    return !postponed.empty() || !retried.empty() || !ready.empty() || !scheduled.empty();
  }
};

Status AuthorityService::RotationTick() {
  TickWork w;
  w.now = Now();
  w.tnow = clock_.Now();
  const int64_t now = w.now;
  std::lock_guard<std::mutex> lock(rot_mu_);
  // Every 15 s: the schedule (when enabled) and retiring old keys.
  const bool scan =
      last_schedule_scan_ == 0 || now - last_schedule_scan_ >= 15 || now < last_schedule_scan_;
  if (!switch_holder_.empty() &&
      (!rotations_.count(switch_holder_) ||
       now - switch_granted_at_ > settings_.rotation.policy.confirm_deadline.count())) {
    switch_holder_.clear();  // told to switch but never reported it: let the others go
  }
  const bool signing = keys_.signing.has_next() || keys_.signing.has_old();
  const bool ca = keys_.cas.has_next() || keys_.cas.has_old();
  if (rotations_.empty() && !scan && !signing && !ca) return OkStatus();
  TPMESH_ASSIGN_OR_RETURN(std::vector<NodeRecord> nodes,
                          InTx(store_, [](Tx& tx) { return tx.ListNodes(); }));
  if (signing) TPMESH_RETURN_IF_ERROR(SigningTick(nodes));
  if (ca) TPMESH_RETURN_IF_ERROR(CaTick(nodes));
  if (scan) last_schedule_scan_ = now;
  AdvanceRotations(nodes, w);
  if (scan) ScanSchedule(nodes, w);
  if (w.announces()) TPMESH_RETURN_IF_ERROR(AnnounceTickWork(w));
  if (!w.retired.empty()) TPMESH_RETURN_IF_ERROR(RetireOldKeys(w));
  return OkStatus();
}

void AuthorityService::AdvanceRotations(const std::vector<NodeRecord>& nodes, TickWork& w) {
  std::map<std::string, NodeRecord> by_id;
  for (const auto& n : nodes) by_id[n.node_id] = n;
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
      if (p == by_id.end() || !Usable(p->second)) (void)r.PeerOffline(peer, w.tnow);
    }
    (void)r.Tick(w.tnow);
    if (before == Phase::kPreparing && r.phase() == Phase::kPostponed) {
      w.postponed[it->first] = Hostnames(awaited, by_id);
    } else if (before == Phase::kPreparing && r.phase() == Phase::kCommitting) {
      w.ready.push_back(it->first);
    } else if (r.phase() == Phase::kPostponed && r.retry_at() && w.tnow >= *r.retry_at()) {
      if (r.Retry(LivePeers(nodes, it->first), w.tnow).ok()) w.retried.push_back(it->first);
    }
    ++it;
  }
}

void AuthorityService::ScanSchedule(const std::vector<NodeRecord>& nodes, TickWork& w) const {
  for (const auto& n : nodes) {
    if (!Usable(n)) continue;
    if (settings_.rotation.scheduled && !rotations_.count(n.node_id) &&
        !rotation_requested_.count(n.node_id) &&
        w.tnow >= keyrotate::AnnounceAt(settings_.rotation.policy, FromUnixSeconds(n.wg_key_since),
                                        n.node_id)) {
      w.scheduled.push_back(n.node_id);
    }
    if (!n.prev_wg_public_key.empty() && w.now >= n.prev_wg_key_until)
      w.retired.push_back(n.node_id);
  }
}

Status AuthorityService::AnnounceTickWork(const TickWork& w) {
  int64_t announce = 0;
  Status pub = BumpAndPublish([&](Tx& tx, int64_t generation) -> Status {
    announce = generation;
    return WriteTickWork(tx, w);
  });
  if (!Committed(pub)) return pub;
  for (const auto& id : w.retried) rotations_[id].announce_generation = announce;
  for (const auto& id : w.scheduled) rotation_requested_.insert(id);
  return pub;
}

// Every node row is re-read inside the transaction: the tick's node list is
// from before it, and a renewal may have written the row since (TPM clock,
// certificate).
Status AuthorityService::WriteTickWork(Tx& tx, const TickWork& w) {
  const int64_t now = w.now;
  for (const auto& [id, who] : w.postponed) {
    TPMESH_ASSIGN_OR_RETURN(auto cur, tx.FindNodeById(id));
    if (!cur) continue;
    NodeRecord n = std::move(*cur);
    const auto& r = rotations_[id].rotation;
    n.next_wg_public_key.clear();
    n.rotate_requested_at = now;  // an authority restart re-requests it
    n.updated_at = now;
    TPMESH_RETURN_IF_ERROR(tx.UpdateNode(n));
    TPMESH_RETURN_IF_ERROR(tx.AppendAudit(
        AuditEntry{0, now, "system", "key.postpone", id, "live peer(s) did not confirm: " + who,
                   "attempt " + std::to_string(r.attempt()) +
                       "; next key withdrawn, the current key stays; retry at " +
                       std::to_string(r.retry_at() ? ToUnixSeconds(*r.retry_at()) : 0)}));
  }
  for (const auto& id : w.retried) {
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
        "next key " + KeyText(r.next_public_key()) + ", attempt " + std::to_string(r.attempt()) +
            ", waiting for " + std::to_string(r.awaiting().size()) + " live peer(s)"}));
  }
  for (const auto& id : w.ready) {
    TPMESH_RETURN_IF_ERROR(
        tx.AppendAudit(AuditEntry{0, now, "system", "key.prepared", id, "",
                                  "every awaited peer confirmed or left; the node switches now"}));
  }
  for (const auto& id : w.scheduled) {
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
}

Status AuthorityService::RetireOldKeys(const TickWork& w) {
  const int64_t now = w.now;
  return InTx(store_, [&](Tx& tx) -> Status {
    for (const auto& id : w.retired) {
      TPMESH_ASSIGN_OR_RETURN(auto n, tx.FindNodeById(id));
      if (!n || n->prev_wg_public_key.empty() || now < n->prev_wg_key_until) continue;
      const std::string old = KeyText(n->prev_wg_public_key);
      n->prev_wg_public_key.clear();
      n->prev_wg_key_until = 0;
      TPMESH_RETURN_IF_ERROR(tx.UpdateNode(*n));
      TPMESH_RETURN_IF_ERROR(tx.AppendAudit(
          AuditEntry{0, now, "system", "key.retire", id, "", "overlap over for key " + old}));
    }
    return OkStatus();
  });
}

}  // namespace tpmesh::authority
