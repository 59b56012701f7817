#include "tpmesh/authority/api.h"

#include <nlohmann/json.hpp>

#include <charconv>

#include "tpmesh/net/worker_memory.h"

#include "api_internal.h"

namespace tpmesh::authority {
namespace {

using nlohmann::json;
using net::Caller;
using net::HttpRequest;
using net::HttpResponse;

using internal::ErrorOr;
using internal::Json;
using internal::NodeJson;

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
      if (auto st = s_.AuthorizeNode(caller.id, caller.serial); !st.ok()) return net::ErrorResponse(st.error());
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
        auto out = s_.RenewFinish(caller.id, caller.serial, *r);
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
      return internal::HandleAdmin(s_, publisher_, req, "admin:" + caller.id);
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
    if (auto st = s_.AuthorizeNode(caller.id, caller.serial); !st.ok()) return net::ErrorResponse(st.error());
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

  HttpResponse NotFound(const HttpRequest& req) {
    return net::ErrorResponse(MakeError(Code::kNotFound, "no_such_endpoint",
                                        "no endpoint " + req.method + " " + req.path.substr(0, 128)));
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
