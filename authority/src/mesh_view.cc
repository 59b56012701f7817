#include "mesh_view.h"

#include "service_util.h"

namespace tpmesh::authority::internal {

bool MeshView::loaded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return loaded_;
}

void MeshView::Load(const std::vector<NodeRecord>& nodes, int64_t generation) {
  std::lock_guard<std::mutex> lock(mu_);
  status_.clear();
  members_.clear();
  for (const auto& n : nodes) ApplyNode(n);
  generation_ = generation;
  loaded_ = true;
}

void MeshView::Apply(const CommitInfo& commit) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!loaded_) return;
  for (const auto& n : commit.nodes) ApplyNode(n);
  if (commit.generation > generation_) generation_ = commit.generation;
}

void MeshView::ApplyNode(const NodeRecord& n) {
  status_[n.node_id] = NodeStatusView{n.status,      n.hostname,         n.status_reason,
                                      n.cert_serial, n.prev_cert_serial, n.prev_cert_until};
  if (n.status != NodeStatus::kActive || !n.subnet) {
    members_.erase(n.node_id);
    return;
  }
  meshcfg::MeshMember m{
      n.node_id,
      n.hostname,
      n.wg_public_key,
      n.endpoints,
      {SubnetPrefix(params_.mesh_prefix, *n.subnet)},
      params_.persistent_keepalive,
      n.next_wg_public_key.empty() ? std::nullopt : std::optional<Bytes>(n.next_wg_public_key)};
  // One bad record must not block the others: it stays out of the mesh.
  if (Status st = meshcfg::ValidateMember(m); !st.ok()) {
    members_.erase(n.node_id);
    if (params_.log) {
      params_.log("node " + n.node_id + " (" + n.hostname.substr(0, 64) +
                  ") is left out of the mesh config: its record does not encode as a member (" +
                  st.error().message + ")");
    }
    return;
  }
  members_[n.node_id] = std::move(m);
}

std::optional<std::vector<std::string>> MeshView::EndpointsOf(std::string_view node_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = members_.find(node_id);
  if (it == members_.end()) return std::nullopt;
  return it->second.endpoints;
}

meshcfg::MeshState MeshView::Snapshot() const {
  meshcfg::MeshState state;
  state.mesh_prefix = params_.mesh_prefix.ToString();
  state.mtu = params_.mtu;
  std::lock_guard<std::mutex> lock(mu_);
  state.generation = generation_;
  state.members.reserve(members_.size());
  for (const auto& [id, m] : members_) state.members.push_back(m);
  meshcfg::SortMembers(state);
  return state;
}

int64_t MeshView::generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return generation_;
}

size_t MeshView::member_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return members_.size();
}

Status MeshView::Authorize(std::string_view node_id, std::string_view serial, int64_t now) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = status_.find(node_id);
  if (it == status_.end()) {
    return MakeError(Code::kUnauthenticated, "node_unknown",
                     "node certificate names an unknown node");
  }
  const NodeStatusView& n = it->second;
  if (n.status != NodeStatus::kActive)
    return NotActiveError(node_id, n.hostname, n.status, n.reason);
  if (!CertHeldValid(n.cert_serial, n.prev_cert_serial, n.prev_cert_until, serial, now)) {
    return CertSupersededError(node_id, serial);
  }
  return OkStatus();
}

}  // namespace tpmesh::authority::internal
