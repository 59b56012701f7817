// /v1/admin/keys: key ages and rotations in flight; rotate node WireGuard
// keys, the authority CA and the config-signing key.
#include <map>

#include "api_internal.h"

namespace tpmesh::authority::internal {

using net::HttpResponse;
using nlohmann::json;

namespace {

HttpResponse KeysAnswer(AdminCall& call) {
  auto keys = call.service().Keys();
  if (!keys.ok()) return net::ErrorResponse(keys.error());
  auto gen = call.service().Generation();
  if (!gen.ok()) return net::ErrorResponse(gen.error());
  const auto& pol = call.service().settings().rotation.policy;
  std::map<std::string, std::string> host_of;
  for (const auto& k : *keys) host_of[k.node.node_id] = k.node.hostname;
  const int64_t now = ToUnixSeconds(call.service().clock().Now());
  json nodes = json::array();
  for (const auto& k : *keys) {
    const NodeRecord& n = k.node;
    json e{{"node_id", n.node_id},
           {"hostname", n.hostname},
           {"status", NodeStatusName(n.status)},
           {"wg_public_key", Base64Encode(n.wg_public_key)},
           {"key_since", n.wg_key_since},
           {"age_seconds", std::max<int64_t>(0, now - n.wg_key_since)},
           {"next_rotation", k.next_rotation},
           {"previous_public_key",
            n.prev_wg_public_key.empty() ? "" : Base64Encode(n.prev_wg_public_key)},
           {"previous_valid_until", n.prev_wg_key_until}};
    if (k.phase.empty()) {
      e["rotation"] = nullptr;
    } else {
      json awaiting = json::array();
      for (const auto& a : k.awaiting) awaiting.push_back(host_of.count(a) ? host_of[a] : a);
      e["rotation"] = json{{"phase", k.phase},
                           {"next_public_key",
                            n.next_wg_public_key.empty() ? "" : Base64Encode(n.next_wg_public_key)},
                           {"attempt", k.attempt},
                           {"awaiting", awaiting},
                           {"confirm_deadline", k.confirm_deadline},
                           {"retry_at", k.retry_at}};
    }
    nodes.push_back(std::move(e));
  }
  json policy{{"period_seconds", pol.period.count()},
              {"lead_time_seconds", pol.lead_time.count()},
              {"overlap_seconds", pol.overlap.count()},
              {"jitter_seconds", pol.jitter.count()},
              {"confirm_deadline_seconds", pol.confirm_deadline.count()},
              {"retry_after_seconds", pol.retry_after.count()},
              {"scheduled", call.service().settings().rotation.scheduled}};
  json signing = json::array();
  for (const auto& k : call.service().SigningKeysInfo()) {
    signing.push_back(json{{"public_key", Base64Encode(k.public_key)},
                           {"state", k.state},
                           {"not_before", k.since},
                           {"not_after", k.until}});
  }
  json cas = json::array();
  for (const auto& c : call.service().CasInfo()) {
    cas.push_back(json{{"fingerprint", c.fingerprint},
                       {"state", c.state},
                       {"not_before", c.since},
                       {"not_after", c.until}});
  }
  return Json(200, json{{"generation", *gen},
                        {"now", now},
                        {"policy", policy},
                        {"config_signing", signing},
                        {"authority_ca", cas},
                        {"nodes", nodes}});
}

using Rotation = tpmesh::Status (AuthorityService::*)(const std::string& actor,
                                                      const std::string& reason);

HttpResponse AuthorityKeyRotation(AdminCall& call, Rotation rotate) {
  const std::string reason = call.body().Text("reason").value_or("");
  if (!call.Done()) return call.Bad();
  if (auto st = (call.service().*rotate)(call.actor(), reason); !st.ok())
    return net::ErrorResponse(st.error());
  return KeysAnswer(call);
}

}  // namespace

HttpResponse AdminKeysList(AdminCall& call) {
  if (!call.Done()) return call.Bad();
  return KeysAnswer(call);
}

HttpResponse AdminCaRotate(AdminCall& call) {
  return AuthorityKeyRotation(call, &AuthorityService::RotateCa);
}

HttpResponse AdminSigningKeyRotate(AdminCall& call) {
  return AuthorityKeyRotation(call, &AuthorityService::RotateSigningKey);
}

HttpResponse AdminKeysRotate(AdminCall& call) {
  auto ids = call.body().NodeRefs("nodes", 65536);
  const bool all = call.body().Bool("all").value_or(false);
  const std::string reason = call.body().Text("reason").value_or("");
  if (!call.Done()) return call.Bad();
  auto nodes = call.service().RequestRotation(ids.value_or(std::vector<std::string>{}), all,
                                              call.actor(), reason);
  if (!nodes.ok()) return net::ErrorResponse(nodes.error());
  json arr = json::array();
  for (const auto& n : *nodes)
    arr.push_back(json{{"node_id", n.node_id}, {"hostname", n.hostname}});
  auto gen = call.service().Generation();
  return Json(200, json{{"requested", arr}, {"generation", gen.ok() ? *gen : 0}});
}

}  // namespace tpmesh::authority::internal
