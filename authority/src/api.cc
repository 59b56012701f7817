#include "tpmesh/authority/api.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <regex>

#include "tpmesh/net/worker_memory.h"

namespace tpmesh::authority {
namespace {

using nlohmann::json;
using net::Caller;
using net::HttpRequest;
using net::HttpResponse;

// Invalid UTF-8 (e.g. from a truncated quote of input) is replaced, never thrown on.
HttpResponse Json(int status, const json& body) {
  return HttpResponse{status, body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json"};
}

template <typename T>
HttpResponse ErrorOr(const Result<T>& r, const std::function<json(const T&)>& encode) {
  if (!r.ok()) return net::ErrorResponse(r.error());
  return Json(200, encode(*r));
}

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

Error BadBody(const std::string& what) {
  return MakeError(Code::kInvalidArgument, "invalid_request", what);
}

// Parses an optional JSON object body; empty body = {}.
Result<json> Body(const HttpRequest& req) {
  if (req.body.empty()) return json::object();
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return BadBody("body must be a JSON object");
  return j;
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// Parses a non-negative integer query parameter; `fallback` when absent.
Result<int64_t> QueryInt(const HttpRequest& req, const char* key, int64_t fallback, int64_t max) {
  auto it = req.query.find(key);
  if (it == req.query.end()) return fallback;
  int64_t v = -1;
  const std::string& s = it->second;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < -1 || v > max) {
    return BadBody(std::string(key) + ": must be an integer in [-1, " + std::to_string(max) + "]");
  }
  return v;
}

class Api {
 public:
  Api(AuthorityService& s, ConfigPublisher* p) : s_(s), publisher_(p) {}

  HttpResponse Handle(const HttpRequest& req, const Caller& caller) {
    const std::string& p = req.path;
    const std::string& m = req.method;
    if (m == "GET" && p == "/v1/ca") {
      return Json(200, json{{"ca_bundle", CaBundle()}});
    }
    if (m == "POST" && p == "/v1/enroll/start") {
      auto r = proto::ParseEnrollStartRequest(req.body);
      if (!r.ok()) return net::ErrorResponse(r.error());
      auto out = s_.EnrollStart(*r);
      if (!out.ok()) return net::ErrorResponse(out.error());
      return HttpResponse{200, proto::ToJson(*out)};
    }
    if (m == "POST" && p == "/v1/enroll/finish") {
      auto r = proto::ParseEnrollFinishRequest(req.body);
      if (!r.ok()) return net::ErrorResponse(r.error());
      auto out = s_.EnrollFinish(*r);
      if (!out.ok()) return net::ErrorResponse(out.error());
      return HttpResponse{out->status == "active" ? 200 : 202, proto::ToJson(*out)};
    }
    if (p.rfind("/v1/node/", 0) == 0 || p == "/v1/node") {
      if (caller.kind != Caller::Kind::kNode) {
        return net::ErrorResponse(MakeError(Code::kUnauthenticated, "node_cert_required",
                                            "this endpoint needs a node certificate"));
      }
      if (auto st = s_.AuthorizeNode(caller.id); !st.ok()) return net::ErrorResponse(st.error());
      if (m == "GET" && p == "/v1/node/config") return Config(req, caller);
      if (m == "POST" && p == "/v1/node/ack") return Ack(req, caller);
      if (m == "POST" && p == "/v1/node/rotate/prepare") return RotatePrepare(req, caller);
      if (m == "POST" && p == "/v1/node/rotate/switched") return RotateSwitched(req, caller);
      if (m == "POST" && p == "/v1/node/renew/start") {
        auto body = Body(req);  // {}: the caller's certificate names the node
        if (!body.ok()) return net::ErrorResponse(body.error());
        auto out = s_.RenewStart(caller.id);
        if (!out.ok()) return net::ErrorResponse(out.error());
        return HttpResponse{200, proto::ToJson(*out), "application/json"};
      }
      if (m == "POST" && p == "/v1/node/renew/finish") {
        auto r = proto::ParseRenewFinishRequest(req.body);
        if (!r.ok()) return net::ErrorResponse(r.error());
        auto out = s_.RenewFinish(caller.id, *r);
        if (!out.ok()) return net::ErrorResponse(out.error());
        return HttpResponse{200, proto::ToJson(*out), "application/json"};
      }
      if (m == "GET" && p == "/v1/node/self") {
        return ErrorOr<NodeRecord>(s_.GetNode(caller.id), [&](const NodeRecord& n) {
          return NodeJson(n, s_.settings().mesh_prefix);
        });
      }
      return NotFound(req);
    }
    if (p.rfind("/v1/admin/", 0) == 0) {
      if (caller.kind != Caller::Kind::kAdmin) {
        return net::ErrorResponse(MakeError(Code::kUnauthenticated, "admin_cert_required",
                                            "admin endpoints need the admin certificate "
                                            "(tpmeshctl --cert/--key)"));
      }
      return Admin(req, "admin:" + caller.id);
    }
    return NotFound(req);
  }

 private:
  std::string CaBundle() const { return s_.CaBundle(); }

  // Long poll: answers at once when a generation newer than `since` exists,
  // else waits up to `wait` seconds and answers 204.
  HttpResponse Config(const HttpRequest& req, const Caller& caller) {
    if (publisher_ == nullptr) {
      return net::ErrorResponse(MakeError(Code::kUnavailable, "config_unavailable", "config push is not enabled"));
    }
    auto since = QueryInt(req, "since", -1, INT64_MAX - 1);
    if (!since.ok()) return net::ErrorResponse(since.error());
    auto wait = QueryInt(req, "wait", 25, 55);
    if (!wait.ok()) return net::ErrorResponse(wait.error());
    // Nothing newer yet: this worker will park, let it park small.
    if (*wait > 0 && publisher_->generation() <= *since) net::ReleaseIdleThreadMemory();
    auto body = publisher_->WaitNewer(*since, std::chrono::seconds(std::max<int64_t>(*wait, 0)));
    // Revocation may have happened while we waited: check again.
    if (auto st = s_.AuthorizeNode(caller.id); !st.ok()) return net::ErrorResponse(st.error());
    if (!body) return HttpResponse{204, "", "application/json"};
    return HttpResponse{200, *body, "application/json"};
  }

  HttpResponse Ack(const HttpRequest& req, const Caller& caller) {
    auto body = Body(req);
    if (!body.ok()) return net::ErrorResponse(body.error());
    NodeReport report;
    const json& j = *body;
    if (!j.contains("generation") || !j["generation"].is_number_integer()) {
      return net::ErrorResponse(BadBody("generation: required integer"));
    }
    report.applied_generation = j["generation"].get<int64_t>();
    if (auto it = j.find("ca_bundle_sha256"); it != j.end()) {
      if (!it->is_string() || it->get_ref<const std::string&>().size() != 64) {
        return net::ErrorResponse(BadBody("ca_bundle_sha256: must be 64 hex digits"));
      }
      report.ca_bundle_sha256 = it->get<std::string>();
    }
    if (j.contains("peers") && j["peers"].is_array() && j["peers"].size() <= 65536) {
      for (const auto& pj : j["peers"]) {
        if (!pj.is_object()) return net::ErrorResponse(BadBody("peers: items must be objects"));
        PeerReport pr;
        auto key = Base64Decode(Str(pj, "public_key"), "peers[].public_key");
        if (!key.ok() || key->size() != 32) return net::ErrorResponse(BadBody("peers[].public_key: must be base64 of 32 bytes"));
        pr.public_key = std::move(*key);
        auto num = [&](const char* k) -> uint64_t {
          auto it = pj.find(k);
          return it != pj.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
        };
        pr.last_handshake = static_cast<int64_t>(std::min<uint64_t>(num("last_handshake"), INT64_MAX));
        pr.rx_bytes = num("rx_bytes");
        pr.tx_bytes = num("tx_bytes");
        report.peers.push_back(std::move(pr));
      }
    }
    auto directive = s_.RecordReport(caller.id, std::move(report));
    if (!directive.ok()) return net::ErrorResponse(directive.error());
    json out{{"ok", true}};
    if (directive->action == RotationDirective::Action::kPrepare) {
      out["rotation"] = json{{"action", "prepare"}};
    } else if (directive->action == RotationDirective::Action::kSwitch) {
      out["rotation"] = json{{"action", "switch"}, {"next_public_key", Base64Encode(directive->next_public_key)}};
    }
    if (!directive->ca_bundle.empty()) out["ca_bundle"] = directive->ca_bundle;
    return Json(200, out);
  }

  // {"<field>": "<base64 of 32 bytes>"} -> the key.
  static Result<Bytes> KeyField(const HttpRequest& req, const char* field) {
    TPMESH_ASSIGN_OR_RETURN(json j, Body(req));
    auto it = j.find(field);
    if (it == j.end() || !it->is_string()) return BadBody(std::string(field) + ": required base64 string");
    auto key = Base64Decode(it->get<std::string>(), field);
    if (!key.ok() || key->size() != 32) return BadBody(std::string(field) + ": must be base64 of 32 bytes");
    return std::move(key).value();
  }

  HttpResponse RotatePrepare(const HttpRequest& req, const Caller& caller) {
    auto key = KeyField(req, "next_public_key");
    if (!key.ok()) return net::ErrorResponse(key.error());
    auto gen = s_.RotatePrepare(caller.id, *key);
    if (!gen.ok()) return net::ErrorResponse(gen.error());
    return Json(200, json{{"announce_generation", *gen}});
  }

  HttpResponse RotateSwitched(const HttpRequest& req, const Caller& caller) {
    auto key = KeyField(req, "public_key");
    if (!key.ok()) return net::ErrorResponse(key.error());
    if (auto st = s_.RotateSwitched(caller.id, *key); !st.ok()) return net::ErrorResponse(st.error());
    return Json(200, json{{"ok", true}});
  }

  HttpResponse KeysList() {
    auto keys = s_.Keys();
    if (!keys.ok()) return net::ErrorResponse(keys.error());
    auto gen = s_.Generation();
    if (!gen.ok()) return net::ErrorResponse(gen.error());
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

  HttpResponse KeysRotate(const json& body, const std::string& actor) {
    std::vector<std::string> ids;
    bool all = false;
    if (auto it = body.find("nodes"); it != body.end()) {
      if (!it->is_array() || it->size() > 65536) return net::ErrorResponse(BadBody("nodes: must be an array of node ids or hostnames"));
      for (const auto& v : *it) {
        if (!v.is_string()) return net::ErrorResponse(BadBody("nodes: items must be strings"));
        ids.push_back(v.get<std::string>());
      }
    }
    if (auto it = body.find("all"); it != body.end()) {
      if (!it->is_boolean()) return net::ErrorResponse(BadBody("all: must be true or false"));
      all = it->get<bool>();
    }
    auto nodes = s_.RequestRotation(ids, all, actor, Str(body, "reason"));
    if (!nodes.ok()) return net::ErrorResponse(nodes.error());
    json arr = json::array();
    for (const auto& n : *nodes) arr.push_back(json{{"node_id", n.node_id}, {"hostname", n.hostname}});
    auto gen = s_.Generation();
    return Json(200, json{{"requested", arr}, {"generation", gen.ok() ? *gen : 0}});
  }

  HttpResponse Status() {
    auto nodes = s_.ListNodes();
    if (!nodes.ok()) return net::ErrorResponse(nodes.error());
    auto gen = s_.Generation();
    if (!gen.ok()) return net::ErrorResponse(gen.error());
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

  HttpResponse NotFound(const HttpRequest& req) {
    return net::ErrorResponse(MakeError(Code::kNotFound, "no_such_endpoint",
                                        "no endpoint " + req.method + " " + req.path.substr(0, 128)));
  }

  HttpResponse Admin(const HttpRequest& req, const std::string& actor) {
    static const std::regex kNode("^/v1/admin/nodes/([^/]+)(?:/(approve|revoke|restore))?$");
    static const std::regex kToken("^/v1/admin/tokens/([0-9a-f]+)$");
    static const std::regex kEk("^/v1/admin/ek-allowlist/([0-9a-fA-F]+)$");
    static const std::regex kPolicy("^/v1/admin/policies/([^/]+)$");
    const std::string& p = req.path;
    const std::string& m = req.method;
    const MeshPrefix& mesh = s_.settings().mesh_prefix;
    std::smatch g;
    auto body = Body(req);
    if (!body.ok()) return net::ErrorResponse(body.error());
    const std::string reason = Str(*body, "reason");

    if (m == "GET" && p == "/v1/admin/status") return Status();
    if (m == "GET" && p == "/v1/admin/keys") return KeysList();
    if (m == "POST" && p == "/v1/admin/keys/rotate") return KeysRotate(*body, actor);
    if (m == "POST" && p == "/v1/admin/keys/ca/rotate") {
      if (auto st = s_.RotateCa(actor, reason); !st.ok()) return net::ErrorResponse(st.error());
      return KeysList();
    }
    if (m == "POST" && p == "/v1/admin/keys/signing/rotate") {
      if (auto st = s_.RotateSigningKey(actor, reason); !st.ok()) return net::ErrorResponse(st.error());
      return KeysList();
    }
    if (m == "GET" && p == "/v1/admin/nodes") {
      auto nodes = s_.ListNodes();
      if (!nodes.ok()) return net::ErrorResponse(nodes.error());
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
    if (std::regex_match(p, g, kNode)) {
      const std::string id = g[1];
      const std::string verb = g[2];
      auto enc = [&](const NodeRecord& n) { return NodeJson(n, mesh); };
      if (m == "GET" && verb.empty()) return ErrorOr<NodeRecord>(s_.GetNode(id), enc);
      if (m == "POST" && verb == "approve") return ErrorOr<NodeRecord>(s_.Approve(id, actor, reason.empty() ? "approved by admin" : reason), enc);
      if (m == "POST" && verb == "revoke") return ErrorOr<NodeRecord>(s_.Revoke(id, actor, reason), enc);
      if (m == "POST" && verb == "restore") return ErrorOr<NodeRecord>(s_.Restore(id, actor, reason), enc);
    }
    if (p == "/v1/admin/tokens" && m == "POST") {
      int64_t ttl = 3600;
      if (auto it = body->find("ttl_seconds"); it != body->end()) {
        if (!it->is_number_integer()) return net::ErrorResponse(BadBody("ttl_seconds: must be an integer (seconds)"));
        ttl = it->get<int64_t>();
      }
      auto t = s_.CreateToken(std::chrono::seconds(ttl), Str(*body, "comment"), actor);
      if (!t.ok()) return net::ErrorResponse(t.error());
      json j = TokenJson(t->record);
      j["token"] = t->token;
      return Json(201, j);
    }
    if (p == "/v1/admin/tokens" && m == "GET") {
      return ErrorOr<std::vector<TokenRecord>>(s_.ListTokens(), [](const auto& v) {
        json arr = json::array();
        for (const auto& t : v) arr.push_back(TokenJson(t));
        return json{{"tokens", arr}};
      });
    }
    if (std::regex_match(p, g, kToken) && m == "DELETE") {
      return ErrorOr<TokenRecord>(s_.RevokeToken(std::string(g[1]), actor), [](const auto& t) { return TokenJson(t); });
    }
    if (p == "/v1/admin/ek-allowlist" && m == "POST") {
      auto hash = HexDecode(Str(*body, "ek_sha256"));
      if (!hash.ok()) return net::ErrorResponse(BadBody("ek_sha256: must be 64 hex digits"));
      auto st = s_.AllowEk(*hash, Str(*body, "comment"), actor);
      if (!st.ok()) return net::ErrorResponse(st.error());
      return Json(201, json{{"ek_sha256", HexEncode(*hash)}});
    }
    if (p == "/v1/admin/ek-allowlist" && m == "GET") {
      return ErrorOr<std::vector<AllowlistEntry>>(s_.ListAllowedEks(), [](const auto& v) {
        json arr = json::array();
        for (const auto& e : v) arr.push_back(json{{"ek_sha256", HexEncode(e.ek_sha256)}, {"comment", e.comment}, {"created_at", e.created_at}});
        return json{{"ek_allowlist", arr}};
      });
    }
    if (std::regex_match(p, g, kEk) && m == "DELETE") {
      auto hash = HexDecode(std::string(g[1]));
      if (!hash.ok()) return net::ErrorResponse(BadBody("EK fingerprint must be hex"));
      auto st = s_.RemoveEk(*hash, actor);
      if (!st.ok()) return net::ErrorResponse(st.error());
      return Json(200, json{{"removed", HexEncode(*hash)}});
    }
    if (p == "/v1/admin/policies" && m == "GET") {
      return ErrorOr<std::vector<PolicyRecord>>(s_.ListPolicies(), [](const auto& v) {
        json arr = json::array();
        for (const auto& x : v) arr.push_back(PolicyJson(x));
        return json{{"policies", arr}};
      });
    }
    if (p == "/v1/admin/policies" && m == "POST") {
      std::string name = Str(*body, "name");
      std::string from = Str(*body, "from_node");
      if (!from.empty()) {
        return ErrorOr<PolicyRecord>(s_.AdoptPolicy(name, from, actor), [](const auto& x) { return PolicyJson(x); });
      }
      attest::PcrPolicy pol{name, attest::HashAlg::kSha256, {}};
      auto pcrs = body->find("pcrs");
      if (pcrs == body->end() || !pcrs->is_object()) return net::ErrorResponse(BadBody("pcrs: required object {\"7\": \"hex\" or [\"hex\", ...]}"));
      for (const auto& [k, v] : pcrs->items()) {
        uint32_t idx = 99;
        auto [end, ec] = std::from_chars(k.data(), k.data() + k.size(), idx);
        if (ec != std::errc() || end != k.data() + k.size()) idx = 99;
        if (idx >= 24) return net::ErrorResponse(BadBody("pcrs: '" + k.substr(0, 8) + "' is not a PCR index 0-23"));
        std::vector<std::string> values;
        if (v.is_string()) values.push_back(v.get<std::string>());
        else if (v.is_array()) for (const auto& x : v) if (x.is_string()) values.push_back(x.get<std::string>());
        // Anything dropped here would silently leave that PCR unconstrained.
        if (values.empty() || (v.is_array() && values.size() != v.size())) {
          return net::ErrorResponse(BadBody("pcrs." + k.substr(0, 8) + ": must be a hex string or a non-empty array of hex strings"));
        }
        for (const auto& hex : values) {
          auto b = HexDecode(hex);
          if (!b.ok() || b->size() != 32) return net::ErrorResponse(BadBody("pcrs." + k + ": values must be 64 hex digits (SHA-256)"));
          pol.golden[idx].push_back(*b);
        }
      }
      return ErrorOr<PolicyRecord>(s_.PutPolicy(std::move(pol), actor), [](const auto& x) { return PolicyJson(x); });
    }
    if (std::regex_match(p, g, kPolicy) && m == "DELETE") {
      auto st = s_.DeletePolicy(std::string(g[1]), actor);
      if (!st.ok()) return net::ErrorResponse(st.error());
      return Json(200, json{{"removed", std::string(g[1])}});
    }
    if (p == "/v1/admin/audit" && m == "GET") {
      size_t limit = 100;
      if (auto it = req.query.find("limit"); it != req.query.end()) {
        const std::string& v = it->second;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), limit);
        if (ec != std::errc() || end != v.data() + v.size()) {
          return net::ErrorResponse(BadBody("limit: must be a number"));
        }
      }
      return ErrorOr<std::vector<AuditEntry>>(s_.ListAudit(limit), [](const auto& v) {
        json arr = json::array();
        for (const auto& a : v) arr.push_back(AuditJson(a));
        return json{{"audit", arr}};
      });
    }
    return NotFound(req);
  }

  AuthorityService& s_;
  ConfigPublisher* publisher_;
};

}  // namespace

net::Handler MakeApiHandler(AuthorityService& service, ConfigPublisher* publisher) {
  auto api = std::make_shared<Api>(service, publisher);
  return [api](const HttpRequest& req, const Caller& caller) { return api->Handle(req, caller); };
}

}  // namespace tpmesh::authority
