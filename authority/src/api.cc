#include "tpmesh/authority/api.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <regex>

namespace tpmesh::authority {
namespace {

using nlohmann::json;
using net::Caller;
using net::HttpRequest;
using net::HttpResponse;

HttpResponse Json(int status, const json& body) { return HttpResponse{status, body.dump(), "application/json"}; }

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

class Api {
 public:
  explicit Api(AuthorityService& s) : s_(s) {}

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
  const std::string& CaBundle() const { return s_.keys().ca_bundle_pem; }

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

    if (m == "GET" && p == "/v1/admin/nodes") {
      auto nodes = s_.ListNodes();
      if (!nodes.ok()) return net::ErrorResponse(nodes.error());
      auto gen = s_.Generation();
      json arr = json::array();
      for (const auto& n : *nodes) arr.push_back(NodeJson(n, mesh));
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
      auto ttl = body->value("ttl_seconds", int64_t{3600});
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
};

}  // namespace

net::Handler MakeApiHandler(AuthorityService& service) {
  auto api = std::make_shared<Api>(service);
  return [api](const HttpRequest& req, const Caller& caller) { return api->Handle(req, caller); };
}

}  // namespace tpmesh::authority
