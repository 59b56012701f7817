// /v1/admin/keys: key ages and rotations in flight; rotate node WireGuard
// keys, the authority CA and the config-signing key. Bodies are
// proto/keys.h's types.
#include <map>

#include "api_internal.h"
#include "tpmesh/proto/keys.h"

namespace tpmesh::authority::internal {

using net::HttpResponse;

namespace {

proto::KeyPolicyView PolicyView(const RotationSettings& rotation) {
  const auto& pol = rotation.policy;
  return proto::KeyPolicyView{
      pol.period.count(), pol.lead_time.count(),        pol.overlap.count(),
      pol.jitter.count(), pol.confirm_deadline.count(), pol.retry_after.count(),
      rotation.scheduled};
}

// `host_of`: hostnames by node id, for the peers a rotation awaits.
proto::NodeKeysView NodeKeysViewOf(const NodeKeys& k, int64_t now,
                                   const std::map<std::string, std::string>& host_of) {
  const NodeRecord& n = k.node;
  proto::NodeKeysView v;
  v.node_id = n.node_id;
  v.hostname = n.hostname;
  v.status = NodeStatusName(n.status);
  v.wg_public_key = Base64Encode(n.wg_public_key);
  v.key_since = n.wg_key_since;
  v.age_seconds = std::max<int64_t>(0, now - n.wg_key_since);
  v.next_rotation = k.next_rotation;
  v.previous_public_key = n.prev_wg_public_key.empty() ? "" : Base64Encode(n.prev_wg_public_key);
  v.previous_valid_until = n.prev_wg_key_until;
  if (!k.phase.empty()) {
    proto::NodeRotationView r;
    r.phase = k.phase;
    r.next_public_key = n.next_wg_public_key.empty() ? "" : Base64Encode(n.next_wg_public_key);
    r.attempt = k.attempt;
    for (const auto& a : k.awaiting) {
      auto it = host_of.find(a);
      r.awaiting.push_back(it != host_of.end() ? it->second : a);
    }
    r.confirm_deadline = k.confirm_deadline;
    r.retry_at = k.retry_at;
    v.rotation = std::move(r);
  }
  return v;
}

HttpResponse KeysAnswer(AdminCall& call) {
  AuthorityService& s = call.service();
  auto keys = s.Keys();
  if (!keys.ok()) return net::ErrorResponse(keys.error());
  auto gen = s.Generation();
  if (!gen.ok()) return net::ErrorResponse(gen.error());
  proto::KeysResponse out;
  out.generation = *gen;
  out.now = ToUnixSeconds(s.clock().Now());
  out.policy = PolicyView(s.settings().rotation);
  for (const auto& k : s.SigningKeysInfo()) {
    out.config_signing.push_back(
        proto::SigningKeyView{Base64Encode(k.public_key), k.state, k.since, k.until});
  }
  for (const auto& c : s.CasInfo())
    out.authority_ca.push_back(proto::CaView{c.fingerprint, c.state, c.since, c.until});
  std::map<std::string, std::string> host_of;
  for (const auto& k : *keys) host_of[k.node.node_id] = k.node.hostname;
  for (const auto& k : *keys) out.nodes.push_back(NodeKeysViewOf(k, out.now, host_of));
  return JsonText(200, proto::ToJson(out));
}

using Rotation = tpmesh::Status (AuthorityService::*)(const std::string& actor,
                                                      const std::string& reason);

HttpResponse AuthorityKeyRotation(AdminCall& call, Rotation rotate) {
  auto body = call.Body(proto::ParseAuthorityKeyRotateRequest);
  if (!body) return call.Bad();
  if (auto st = (call.service().*rotate)(call.actor(), body->reason); !st.ok())
    return net::ErrorResponse(st.error());
  return KeysAnswer(call);
}

}  // namespace

HttpResponse AdminKeysList(AdminCall& call) {
  if (!call.NoBody()) return call.Bad();
  return KeysAnswer(call);
}

HttpResponse AdminCaRotate(AdminCall& call) {
  return AuthorityKeyRotation(call, &AuthorityService::RotateCa);
}

HttpResponse AdminSigningKeyRotate(AdminCall& call) {
  return AuthorityKeyRotation(call, &AuthorityService::RotateSigningKey);
}

HttpResponse AdminKeysRotate(AdminCall& call) {
  auto body = call.Body(proto::ParseKeysRotateRequest);
  if (!body) return call.Bad();
  auto nodes = call.service().RequestRotation(body->nodes, body->all, call.actor(), body->reason);
  if (!nodes.ok()) return net::ErrorResponse(nodes.error());
  proto::KeysRotateResponse out;
  for (const auto& n : *nodes) out.requested.push_back({n.node_id, n.hostname});
  auto gen = call.service().Generation();
  out.generation = gen.ok() ? *gen : 0;
  return JsonText(200, proto::ToJson(out));
}

}  // namespace tpmesh::authority::internal
