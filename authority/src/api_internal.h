// Internal to the authority's HTTP API. api.cc holds the route table; each
// resource has its own file of handlers, functions of (request, caller,
// context):
//   api_enroll.cc        GET /v1/ca, POST /v1/enroll/{start,finish}   anonymous
//   api_node.cc          /v1/node/*                                   node certificate
//   api_admin_nodes.cc   /v1/admin/nodes[/<ref>[/approve|revoke|restore]]
//   api_admin_tokens.cc  /v1/admin/tokens[/<id>]
//   api_admin_ek.cc      /v1/admin/ek-allowlist[/<sha256>]
//   api_admin_policies.cc /v1/admin/policies[/<name>]
//   api_admin_audit.cc   /v1/admin/audit
//   api_admin_keys.cc    /v1/admin/keys, keys/rotate, keys/ca/rotate, keys/signing/rotate
//   api_admin_status.cc  /v1/admin/status
// The route table checks the caller's kind (and, for nodes, that its
// certificate is the one the authority holds valid) before a handler runs.
// Not public.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>

#include "tpmesh/authority/service.h"
#include "tpmesh/net/http.h"
#include "tpmesh/proto/admin_requests.h"
#include "tpmesh/proto/node.h"

namespace tpmesh::authority::internal {

// What every handler may use. Both outlive the handler (MakeApiHandler).
struct ApiContext {
  AuthorityService& service;
  ConfigPublisher* publisher;  // null: no config push
};

// A JSON response; invalid UTF-8 (e.g. from a truncated quote of input) is
// replaced, never thrown on.
inline net::HttpResponse Json(int status, const nlohmann::json& body) {
  return net::HttpResponse{status,
                           body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                           "application/json"};
}
// A response whose body a proto:: printer made.
inline net::HttpResponse JsonText(int status, std::string body) {
  return net::HttpResponse{status, std::move(body), "application/json"};
}

template <typename T>
net::HttpResponse ErrorOr(const Result<T>& r,
                          const std::function<nlohmann::json(const T&)>& encode) {
  if (!r.ok()) return net::ErrorResponse(r.error());
  return Json(200, encode(*r));
}

net::HttpResponse NoSuchEndpoint(const net::HttpRequest& req);

// One admin request: its body, read strictly by a proto/ request parser
// (admin_requests.h and the like), the acting admin as the audit log names
// it ("admin:<name>") and the path parameter. Not thread-safe; lives for one
// request.
class AdminCall {
 public:
  AdminCall(ApiContext ctx, const net::HttpRequest& req, std::string actor)
      : ctx_(ctx), req_(req), actor_(std::move(actor)) {}

  AuthorityService& service() const { return ctx_.service; }
  ConfigPublisher* publisher() const { return ctx_.publisher; }
  const net::HttpRequest& req() const { return req_; }
  const std::string& actor() const { return actor_; }

  // The body as `parse` reads it (proto::Parse<X>Request); nullopt when it
  // refuses the body, and Bad() then answers why.
  template <typename T>
  std::optional<T> Body(Result<T> (*parse)(std::string_view)) {
    Result<T> r = parse(req_.body);
    if (!r.ok()) {
      status_ = r.take_error();
      return std::nullopt;
    }
    status_ = OkStatus();
    return std::move(r).value();
  }
  // True when the body takes no fields ("" or {}, proto::ParseEmptyRequest);
  // else Bad() answers why.
  bool NoBody() { return Body(proto::ParseEmptyRequest).has_value(); }
  // The refusal of the last Body() or NoBody(); only after one refused.
  net::HttpResponse Bad() const { return net::ErrorResponse(status_.error()); }
  net::HttpResponse NotFound() const { return NoSuchEndpoint(req_); }
  // The one path segment after `prefix`, or nullopt.
  std::optional<std::string> Param(const std::string& prefix) const;

 private:
  ApiContext ctx_;
  const net::HttpRequest& req_;
  std::string actor_;
  Status status_;
};

// Anonymous routes (api_enroll.cc).
net::HttpResponse CaBundle(const net::HttpRequest& req, ApiContext& ctx);
net::HttpResponse EnrollStart(const net::HttpRequest& req, ApiContext& ctx);
net::HttpResponse EnrollFinish(const net::HttpRequest& req, ApiContext& ctx);

// Node routes (api_node.cc); the caller is an authorized node.
net::HttpResponse NodeConfig(const net::HttpRequest& req, const net::Caller& caller,
                             ApiContext& ctx);
net::HttpResponse NodeAck(const net::HttpRequest& req, const net::Caller& caller, ApiContext& ctx);
net::HttpResponse NodeRotatePrepare(const net::HttpRequest& req, const net::Caller& caller,
                                    ApiContext& ctx);
net::HttpResponse NodeRotateSwitched(const net::HttpRequest& req, const net::Caller& caller,
                                     ApiContext& ctx);
net::HttpResponse NodeRenewStart(const net::HttpRequest& req, const net::Caller& caller,
                                 ApiContext& ctx);
net::HttpResponse NodeRenewFinish(const net::HttpRequest& req, const net::Caller& caller,
                                  ApiContext& ctx);
net::HttpResponse NodeSelf(const net::HttpRequest& req, const net::Caller& caller, ApiContext& ctx);

// A node as the admin API and GET /v1/node/self show it; NodeAnswer is the
// 200 response with that view, or the error (api_admin_nodes.cc).
// `now` (unix seconds) tells an expired node from an active one.
proto::NodeView NodeViewOf(const NodeRecord& n, const MeshPrefix& mesh, int64_t now);
net::HttpResponse NodeAnswer(const Result<NodeRecord>& n, const AuthorityService& service);

// Admin resources (api_admin_*.cc).
net::HttpResponse AdminNodesList(AdminCall& call);
net::HttpResponse AdminNode(AdminCall& call);
net::HttpResponse AdminTokens(AdminCall& call);
net::HttpResponse AdminEkAllowlist(AdminCall& call);
net::HttpResponse AdminPolicies(AdminCall& call);
net::HttpResponse AdminAudit(AdminCall& call);
net::HttpResponse AdminKeysList(AdminCall& call);
net::HttpResponse AdminKeysRotate(AdminCall& call);
net::HttpResponse AdminCaRotate(AdminCall& call);
net::HttpResponse AdminSigningKeyRotate(AdminCall& call);
net::HttpResponse AdminStatus(AdminCall& call);

}  // namespace tpmesh::authority::internal
