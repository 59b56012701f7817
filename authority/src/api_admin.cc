// The admin API (docs/protocol.md, "Admin API"): /v1/admin/* for a caller
// with the admin certificate. Every body and path parameter goes through
// admin_input.h before the service sees it.
#include <charconv>
#include <map>
#include <regex>

#include "admin_input.h"
#include "api_internal.h"

namespace tpmesh::authority::internal {

using nlohmann::json;
using net::HttpRequest;
using net::HttpResponse;

json NodeJson(const NodeRecord& n, const MeshPrefix& mesh) {
  json pcrs = json::object();
  for (const auto& [pcr, v] : n.pcr_values) pcrs[std::to_string(pcr)] = HexEncode(v);
  json j{{"node_id", n.node_id},
         {"hostname", n.hostname},
         {"status", NodeStatusName(n.status)},
         {"status_reason", n.status_reason},
         {"ek_sha256", HexEncode(n.ek_sha256)},
         {"wg_public_key", Base64Encode(n.wg_public_key)},
         {"endpoints", n.endpoints},
         {"pcr_policy", n.pcr_policy},
         {"pcrs", pcrs},
         {"enrolled_at", n.enrolled_at},
         {"updated_at", n.updated_at},
         {"last_seen", n.last_seen},
         {"enroll_count", n.enroll_count}};
  if (n.subnet) {
    j["overlay_prefix"] = SubnetPrefix(mesh, *n.subnet);
    j["overlay_address"] = NodeAddress(mesh, *n.subnet);
  }
  return j;
}

namespace {

json TokenJson(const TokenRecord& t) {
  json j{{"id", t.id}, {"comment", t.comment}, {"created_at", t.created_at},
         {"expires_at", t.expires_at}, {"revoked", t.revoked}, {"used_by", t.used_by}};
  if (t.used_at) j["used_at"] = *t.used_at;
  return j;
}

json PolicyJson(const PolicyRecord& p) {
  json golden = json::object();
  for (const auto& [pcr, values] : p.policy.golden) {
    json arr = json::array();
    for (const auto& v : values) arr.push_back(HexEncode(v));
    golden[std::to_string(pcr)] = arr;
  }
  return json{{"name", p.policy.name}, {"bank", attest::HashAlgName(p.policy.bank)},
              {"pcrs", golden}, {"created_at", p.created_at}};
}

json AuditJson(const AuditEntry& a) {
  return json{{"id", a.id},         {"at", a.at},         {"actor", a.actor}, {"action", a.action},
              {"target", a.target}, {"reason", a.reason}, {"detail", a.detail}};
}

HttpResponse Refused(const Error& e) { return net::ErrorResponse(e); }

class AdminApi {
 public:
  AdminApi(AuthorityService& s, ConfigPublisher* p, const HttpRequest& req, const std::string& actor)
      : s_(s), publisher_(p), req_(req), actor_(actor), body_(req.body) {}

  HttpResponse Handle() {
    const std::string& p = req_.path;
    const std::string& m = req_.method;
    if (m == "GET" && p == "/v1/admin/status") return Done() ? MeshStatus() : Bad();
    if (m == "GET" && p == "/v1/admin/keys") return Done() ? KeysList() : Bad();
    if (m == "POST" && p == "/v1/admin/keys/rotate") return KeysRotate();
    if (m == "POST" && p == "/v1/admin/keys/ca/rotate") {
      return AuthorityKeyRotation(&AuthorityService::RotateCa);
    }
    if (m == "POST" && p == "/v1/admin/keys/signing/rotate") {
      return AuthorityKeyRotation(&AuthorityService::RotateSigningKey);
    }
    if (m == "GET" && p == "/v1/admin/nodes") return Done() ? NodesList() : Bad();
    if (p.rfind("/v1/admin/nodes/", 0) == 0) return Node();
    if (p == "/v1/admin/tokens" || p.rfind("/v1/admin/tokens/", 0) == 0) return Tokens();
    if (p == "/v1/admin/ek-allowlist" || p.rfind("/v1/admin/ek-allowlist/", 0) == 0) return EkAllowlist();
    if (p == "/v1/admin/policies" || p.rfind("/v1/admin/policies/", 0) == 0) return Policies();
    if (m == "GET" && p == "/v1/admin/audit") return Done() ? Audit() : Bad();
    return NotFound();
  }

 private:
  // True when the body held nothing but the fields read so far.
  bool Done() {
    status_ = body_.Finish();
    return status_.ok();
  }
  HttpResponse Bad() const { return Refused(status_.error()); }

  HttpResponse NotFound() const {
    return Refused(MakeError(Code::kNotFound, "no_such_endpoint",
                             "no endpoint " + req_.method + " " + req_.path.substr(0, 128)));
  }

  // The path parameter after `prefix` (one segment), or nullopt.
  std::optional<std::string> Param(const std::string& prefix) const {
    const std::string& p = req_.path;
    if (p.size() <= prefix.size() || p.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
    std::string rest = p.substr(prefix.size());
    if (rest.find('/') != std::string::npos) return std::nullopt;
    return rest;
  }

  HttpResponse NodesList() {
    const MeshPrefix& mesh = s_.settings().mesh_prefix;
    auto nodes = s_.ListNodes();
    if (!nodes.ok()) return Refused(nodes.error());
    auto gen = s_.Generation();
    // last_seen: the store has enrollments and renewals; an ack since then
    // (kept in memory) is more recent.
    const auto reports = s_.Reports();
    json arr = json::array();
    for (const auto& n : *nodes) {
      json j = NodeJson(n, mesh);
      if (auto it = reports.find(n.node_id); it != reports.end() && it->second.at > n.last_seen) {
        j["last_seen"] = it->second.at;
      }
      arr.push_back(std::move(j));
    }
    return Json(200, json{{"generation", gen.ok() ? *gen : 0}, {"mesh_prefix", mesh.ToString()},
                          {"nodes", arr}});
  }

  HttpResponse Node() {
    static const std::regex kNode("^/v1/admin/nodes/([^/]+)(?:/(approve|revoke|restore))?$");
    std::smatch g;
    if (!std::regex_match(req_.path, g, kNode)) return NotFound();
    const std::string verb = g[2];
    if ((req_.method == "GET") != verb.empty() || (req_.method != "GET" && req_.method != "POST")) {
      return NotFound();
    }
    auto id = CanonicalNodeRef(std::string(g[1]), "node");
    if (!id.ok()) return Refused(id.error());
    const std::string reason = verb.empty() ? "" : body_.Text("reason").value_or("");
    if (!Done()) return Bad();
    auto enc = [&](const NodeRecord& n) { return NodeJson(n, s_.settings().mesh_prefix); };
    if (verb.empty()) return ErrorOr<NodeRecord>(s_.GetNode(*id), enc);
    if (verb == "approve") {
      return ErrorOr<NodeRecord>(s_.Approve(*id, actor_, reason.empty() ? "approved by admin" : reason), enc);
    }
    if (verb == "revoke") return ErrorOr<NodeRecord>(s_.Revoke(*id, actor_, reason), enc);
    return ErrorOr<NodeRecord>(s_.Restore(*id, actor_, reason), enc);
  }

  HttpResponse Tokens() {
    const std::string& m = req_.method;
    if (req_.path == "/v1/admin/tokens" && m == "POST") {
      const int64_t ttl = body_.Int("ttl_seconds").value_or(3600);
      const std::string comment = body_.Text("comment").value_or("");
      if (!Done()) return Bad();
      auto t = s_.CreateToken(std::chrono::seconds(ttl), comment, actor_);
      if (!t.ok()) return Refused(t.error());
      json j = TokenJson(t->record);
      j["token"] = t->token;
      return Json(201, j);
    }
    if (req_.path == "/v1/admin/tokens" && m == "GET") {
      if (!Done()) return Bad();
      return ErrorOr<std::vector<TokenRecord>>(s_.ListTokens(), [](const auto& v) {
        json arr = json::array();
        for (const auto& t : v) arr.push_back(TokenJson(t));
        return json{{"tokens", arr}};
      });
    }
    auto param = Param("/v1/admin/tokens/");
    if (!param || m != "DELETE") return NotFound();
    auto id = CanonicalTokenId(*param, "token id");
    if (!id.ok()) return Refused(id.error());
    if (!Done()) return Bad();
    return ErrorOr<TokenRecord>(s_.RevokeToken(*id, actor_), [](const auto& t) { return TokenJson(t); });
  }

  HttpResponse EkAllowlist() {
    const std::string& m = req_.method;
    if (req_.path == "/v1/admin/ek-allowlist" && m == "POST") {
      auto hash = body_.Sha256Hex("ek_sha256");
      const std::string comment = body_.Text("comment").value_or("");
      body_.Require("ek_sha256", hash);
      if (!Done()) return Bad();
      if (auto st = s_.AllowEk(*hash, comment, actor_); !st.ok()) return Refused(st.error());
      return Json(201, json{{"ek_sha256", HexEncode(*hash)}});
    }
    if (req_.path == "/v1/admin/ek-allowlist" && m == "GET") {
      if (!Done()) return Bad();
      return ErrorOr<std::vector<AllowlistEntry>>(s_.ListAllowedEks(), [](const auto& v) {
        json arr = json::array();
        for (const auto& e : v) {
          arr.push_back(json{{"ek_sha256", HexEncode(e.ek_sha256)}, {"comment", e.comment},
                             {"created_at", e.created_at}});
        }
        return json{{"ek_allowlist", arr}};
      });
    }
    auto param = Param("/v1/admin/ek-allowlist/");
    if (!param || m != "DELETE") return NotFound();
    auto hash = ParseSha256Hex(*param, "ek_sha256");
    if (!hash.ok()) return Refused(hash.error());
    if (!Done()) return Bad();
    if (auto st = s_.RemoveEk(*hash, actor_); !st.ok()) return Refused(st.error());
    return Json(200, json{{"removed", HexEncode(*hash)}});
  }

  HttpResponse Policies() {
    const std::string& m = req_.method;
    auto enc = [](const PolicyRecord& x) { return PolicyJson(x); };
    if (req_.path == "/v1/admin/policies" && m == "GET") {
      if (!Done()) return Bad();
      return ErrorOr<std::vector<PolicyRecord>>(s_.ListPolicies(), [](const auto& v) {
        json arr = json::array();
        for (const auto& x : v) arr.push_back(PolicyJson(x));
        return json{{"policies", arr}};
      });
    }
    if (req_.path == "/v1/admin/policies" && m == "POST") {
      auto name = body_.PolicyName("name");
      auto from = body_.NodeRef("from_node");
      auto pcrs = body_.Pcrs("pcrs");
      body_.Require("name", name);
      if (from && pcrs) body_.Fail("pcrs", "give either from_node (adopt) or pcrs (define), not both");
      if (!from && !pcrs) body_.Fail("pcrs", "required field missing (or from_node, to adopt a node's values)");
      if (!Done()) return Bad();
      if (from) return ErrorOr<PolicyRecord>(s_.AdoptPolicy(*name, *from, actor_), enc);
      attest::PcrPolicy pol{*name, attest::HashAlg::kSha256, std::move(*pcrs)};
      return ErrorOr<PolicyRecord>(s_.PutPolicy(std::move(pol), actor_), enc);
    }
    auto param = Param("/v1/admin/policies/");
    if (!param || m != "DELETE") return NotFound();
    if (auto st = ValidatePolicyName(*param, "policy name"); !st.ok()) return Refused(st.error());
    if (!Done()) return Bad();
    if (auto st = s_.DeletePolicy(*param, actor_); !st.ok()) return Refused(st.error());
    return Json(200, json{{"removed", *param}});
  }

  HttpResponse Audit() {
    size_t limit = 100;
    if (auto it = req_.query.find("limit"); it != req_.query.end()) {
      const std::string& v = it->second;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), limit);
      if (ec != std::errc() || end != v.data() + v.size()) {
        return Refused(MakeError(Code::kInvalidArgument, "invalid_request", "limit: must be a number"));
      }
    }
    return ErrorOr<std::vector<AuditEntry>>(s_.ListAudit(limit), [](const auto& v) {
      json arr = json::array();
      for (const auto& a : v) arr.push_back(AuditJson(a));
      return json{{"audit", arr}};
    });
  }

  using Rotation = tpmesh::Status (AuthorityService::*)(const std::string& actor, const std::string& reason);
  HttpResponse AuthorityKeyRotation(Rotation rotate) {
    const std::string reason = body_.Text("reason").value_or("");
    if (!Done()) return Bad();
    if (auto st = (s_.*rotate)(actor_, reason); !st.ok()) return Refused(st.error());
    return KeysList();
  }

  HttpResponse KeysRotate() {
    auto ids = body_.NodeRefs("nodes", 65536);
    const bool all = body_.Bool("all").value_or(false);
    const std::string reason = body_.Text("reason").value_or("");
    if (!Done()) return Bad();
    auto nodes = s_.RequestRotation(ids.value_or(std::vector<std::string>{}), all, actor_, reason);
    if (!nodes.ok()) return Refused(nodes.error());
    json arr = json::array();
    for (const auto& n : *nodes) arr.push_back(json{{"node_id", n.node_id}, {"hostname", n.hostname}});
    auto gen = s_.Generation();
    return Json(200, json{{"requested", arr}, {"generation", gen.ok() ? *gen : 0}});
  }

  HttpResponse KeysList();
  HttpResponse MeshStatus();

  AuthorityService& s_;
  ConfigPublisher* publisher_;
  const HttpRequest& req_;
  const std::string& actor_;
  AdminBody body_;
  tpmesh::Status status_;
};

HttpResponse AdminApi::KeysList() {
  auto keys = s_.Keys();
  if (!keys.ok()) return Refused(keys.error());
  auto gen = s_.Generation();
  if (!gen.ok()) return Refused(gen.error());
  const auto& pol = s_.settings().rotation.policy;
  std::map<std::string, std::string> host_of;
  for (const auto& k : *keys) host_of[k.node.node_id] = k.node.hostname;
  const int64_t now = ToUnixSeconds(s_.clock().Now());
  json nodes = json::array();
  for (const auto& k : *keys) {
    const NodeRecord& n = k.node;
    json e{{"node_id", n.node_id}, {"hostname", n.hostname}, {"status", NodeStatusName(n.status)},
           {"wg_public_key", Base64Encode(n.wg_public_key)}, {"key_since", n.wg_key_since},
           {"age_seconds", std::max<int64_t>(0, now - n.wg_key_since)},
           {"next_rotation", k.next_rotation},
           {"previous_public_key", n.prev_wg_public_key.empty() ? "" : Base64Encode(n.prev_wg_public_key)},
           {"previous_valid_until", n.prev_wg_key_until}};
    if (k.phase.empty()) {
      e["rotation"] = nullptr;
    } else {
      json awaiting = json::array();
      for (const auto& a : k.awaiting) awaiting.push_back(host_of.count(a) ? host_of[a] : a);
      e["rotation"] = json{{"phase", k.phase},
                           {"next_public_key", n.next_wg_public_key.empty() ? "" : Base64Encode(n.next_wg_public_key)},
                           {"attempt", k.attempt}, {"awaiting", awaiting},
                           {"confirm_deadline", k.confirm_deadline}, {"retry_at", k.retry_at}};
    }
    nodes.push_back(std::move(e));
  }
  json policy{{"period_seconds", pol.period.count()}, {"lead_time_seconds", pol.lead_time.count()},
              {"overlap_seconds", pol.overlap.count()}, {"jitter_seconds", pol.jitter.count()},
              {"confirm_deadline_seconds", pol.confirm_deadline.count()},
              {"retry_after_seconds", pol.retry_after.count()},
              {"scheduled", s_.settings().rotation.scheduled}};
  json signing = json::array();
  for (const auto& k : s_.SigningKeysInfo()) {
    signing.push_back(json{{"public_key", Base64Encode(k.public_key)}, {"state", k.state},
                           {"not_before", k.since}, {"not_after", k.until}});
  }
  json cas = json::array();
  for (const auto& c : s_.CasInfo()) {
    cas.push_back(json{{"fingerprint", c.fingerprint}, {"state", c.state}, {"not_before", c.since},
                       {"not_after", c.until}});
  }
  return Json(200, json{{"generation", *gen}, {"now", now}, {"policy", policy},
                        {"config_signing", signing}, {"authority_ca", cas}, {"nodes", nodes}});
}

HttpResponse AdminApi::MeshStatus() {
  auto nodes = s_.ListNodes();
  if (!nodes.ok()) return Refused(nodes.error());
  auto gen = s_.Generation();
  if (!gen.ok()) return Refused(gen.error());
  auto reports = s_.Reports();
  std::map<std::string, std::string> host_of_key;
  for (const auto& n : *nodes) host_of_key[Base64Encode(n.wg_public_key)] = n.hostname;
  json arr = json::array();
  size_t active = 0, converged = 0;
  for (const auto& n : *nodes) {
    if (n.status != NodeStatus::kActive) continue;
    ++active;
    json e{{"node_id", n.node_id}, {"hostname", n.hostname}};
    auto it = reports.find(n.node_id);
    if (it != reports.end()) {
      e["applied_generation"] = it->second.applied_generation;
      e["reported_at"] = it->second.at;
      if (it->second.applied_generation == *gen) ++converged;
      json peers = json::array();
      for (const auto& p : it->second.peers) {
        std::string key = Base64Encode(p.public_key);
        peers.push_back(json{{"public_key", key},
                             {"hostname", host_of_key.count(key) ? host_of_key[key] : ""},
                             {"last_handshake", p.last_handshake},
                             {"rx_bytes", p.rx_bytes},
                             {"tx_bytes", p.tx_bytes}});
      }
      e["peers"] = peers;
    }
    arr.push_back(e);
  }
  return Json(200, json{{"generation", *gen}, {"active", active}, {"converged", converged},
                        {"waiting", publisher_ ? publisher_->waiting() : 0}, {"nodes", arr}});
}

}  // namespace

HttpResponse HandleAdmin(AuthorityService& service, ConfigPublisher* publisher, const HttpRequest& req,
                         const std::string& actor) {
  return AdminApi(service, publisher, req, actor).Handle();
}

}  // namespace tpmesh::authority::internal
