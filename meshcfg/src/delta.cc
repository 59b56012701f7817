// Deltas between generations, applying them, and the safe rollout order.
#include <algorithm>
#include <map>
#include <set>

#include "internal.h"
#include "tpmesh/meshcfg/meshcfg.h"

namespace tpmesh::meshcfg {

namespace {

Error Inconsistent(const std::string& message) {
  return MakeError(Code::kInvalidArgument, "delta_inconsistent", message);
}

}  // namespace

MeshDelta Diff(const MeshState& from, const MeshState& to) {
  std::map<std::string_view, const MeshMember*> old_members;
  for (const auto& m : from.members) old_members.emplace(m.node_id, &m);

  MeshDelta d;
  d.from_generation = from.generation;
  d.to_generation = to.generation;
  d.mesh_prefix = to.mesh_prefix;
  d.mtu = to.mtu;
  std::set<std::string_view> kept;
  for (const auto& m : to.members) {
    kept.insert(m.node_id);
    auto it = old_members.find(m.node_id);
    if (it == old_members.end() || !(*it->second == m)) d.upserts.push_back(m);
  }
  for (const auto& [id, m] : old_members) {
    if (!kept.contains(id)) d.removals.emplace_back(id);
  }
  std::stable_sort(d.upserts.begin(), d.upserts.end(),
                   [](const MeshMember& a, const MeshMember& b) { return a.node_id < b.node_id; });
  // removals come out of the map already sorted.
  if (from.signing_keys != to.signing_keys) d.signing_keys = to.signing_keys;
  d.to_hash = StateHash(to);
  return d;
}

Result<MeshState> ApplyDelta(const MeshState& base, const MeshDelta& d) {
  if (d.to_generation <= base.generation) {
    return MakeError(Code::kFailedPrecondition, "stale_generation",
                     "delta to generation " + std::to_string(d.to_generation) +
                         " is not newer than the held generation " +
                         std::to_string(base.generation));
  }
  if (d.from_generation != base.generation) {
    return MakeError(Code::kFailedPrecondition, "generation_gap",
                     "delta starts at generation " + std::to_string(d.from_generation) +
                         " but generation " + std::to_string(base.generation) +
                         " is held; fetch the full config");
  }

  std::set<std::string_view> named;
  for (const auto& id : d.removals) {
    if (!named.insert(id).second)
      return Inconsistent("removals: node id '" + id + "' listed twice");
  }
  for (const auto& m : d.upserts) {
    if (!named.insert(m.node_id).second) {
      return Inconsistent("upserts: node id '" + m.node_id + "' listed twice or also removed");
    }
  }

  std::map<std::string, MeshMember> members;
  for (const auto& m : base.members) {
    if (!members.emplace(m.node_id, m).second) {
      return Invalid("base members: node id '" + m.node_id + "' appears more than once");
    }
  }
  for (const auto& id : d.removals) {
    if (members.erase(id) == 0)
      return Inconsistent("removals: node id '" + id + "' is not a member");
  }
  for (const auto& m : d.upserts) members.insert_or_assign(m.node_id, m);

  MeshState out;
  out.generation = d.to_generation;
  out.mesh_prefix = d.mesh_prefix;
  out.mtu = d.mtu;
  out.signing_keys = d.signing_keys ? *d.signing_keys : base.signing_keys;
  out.members.reserve(members.size());
  for (auto& [id, m] : members) out.members.push_back(std::move(m));
  TPMESH_RETURN_IF_ERROR(ValidateState(out));
  return out;
}

Result<MeshState> ApplyAndVerify(const MeshState& base, const MeshDelta& d,
                                 const std::vector<Bytes>& trusted_public_keys) {
  TPMESH_ASSIGN_OR_RETURN(MeshState next, ApplyDelta(base, d));
  if (!ConstantTimeEqual(StateHash(next), d.to_hash)) {
    return MakeError(Code::kPermissionDenied, "config_hash_mismatch",
                     "applying the delta to generation " + std::to_string(d.to_generation) +
                         " does not give the signed state; fetch the full config");
  }
  TPMESH_RETURN_IF_ERROR(VerifySignedAny(d.to_hash, d.to_generation, d.signature, d.co_signatures,
                                         trusted_public_keys));
  return next;
}

}  // namespace tpmesh::meshcfg
