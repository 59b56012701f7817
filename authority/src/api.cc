// The authority's HTTP API as one route table (docs/protocol.md): who may
// call each route, and which handler answers. The handlers live in one file
// per resource (api_internal.h).
#include "tpmesh/authority/api.h"

#include <array>
#include <string_view>

#include "api_internal.h"

namespace tpmesh::authority {
namespace {

using net::Caller;
using net::HttpRequest;
using net::HttpResponse;
using namespace internal;  // NOLINT(google-build-using-namespace): the handlers

using AnonFn = HttpResponse (*)(const HttpRequest&, ApiContext&);
using NodeFn = HttpResponse (*)(const HttpRequest&, const Caller&, ApiContext&);
using AdminFn = HttpResponse (*)(AdminCall&);

struct AnonRoute {
  std::string_view method, path;
  AnonFn fn;
};
struct NodeRoute {
  std::string_view method, path;
  NodeFn fn;
};
// `path` ending in '/' matches that prefix (the handler reads the rest).
struct AdminRoute {
  std::string_view method, path;
  AdminFn fn;
};

constexpr std::array<AnonRoute, 3> kAnonRoutes{{
    {"GET", "/v1/ca", CaBundle},
    {"POST", "/v1/enroll/start", EnrollStart},
    {"POST", "/v1/enroll/finish", EnrollFinish},
}};

constexpr std::array<NodeRoute, 7> kNodeRoutes{{
    {"GET", "/v1/node/config", NodeConfig},
    {"POST", "/v1/node/ack", NodeAck},
    {"POST", "/v1/node/rotate/prepare", NodeRotatePrepare},
    {"POST", "/v1/node/rotate/switched", NodeRotateSwitched},
    {"POST", "/v1/node/renew/start", NodeRenewStart},
    {"POST", "/v1/node/renew/finish", NodeRenewFinish},
    {"GET", "/v1/node/self", NodeSelf},
}};

// "*" = any method (the resource's handler tells them apart).
constexpr std::array<AdminRoute, 14> kAdminRoutes{{
    {"GET", "/v1/admin/status", AdminStatus},
    {"GET", "/v1/admin/keys", AdminKeysList},
    {"POST", "/v1/admin/keys/rotate", AdminKeysRotate},
    {"POST", "/v1/admin/keys/ca/rotate", AdminCaRotate},
    {"POST", "/v1/admin/keys/signing/rotate", AdminSigningKeyRotate},
    {"GET", "/v1/admin/nodes", AdminNodesList},
    {"*", "/v1/admin/nodes/", AdminNode},
    {"*", "/v1/admin/tokens", AdminTokens},
    {"*", "/v1/admin/tokens/", AdminTokens},
    {"*", "/v1/admin/ek-allowlist", AdminEkAllowlist},
    {"*", "/v1/admin/ek-allowlist/", AdminEkAllowlist},
    {"*", "/v1/admin/policies", AdminPolicies},
    {"*", "/v1/admin/policies/", AdminPolicies},
    {"GET", "/v1/admin/audit", AdminAudit},
}};

bool PathMatches(std::string_view pattern, std::string_view path) {
  if (pattern.ends_with('/')) return path.size() > pattern.size() && path.starts_with(pattern);
  return path == pattern;
}

HttpResponse NodeRequest(const HttpRequest& req, const Caller& caller, ApiContext& ctx) {
  if (caller.kind != Caller::Kind::kNode) {
    return net::ErrorResponse(MakeError(Code::kUnauthenticated, "node_cert_required",
                                        "this endpoint needs a node certificate"));
  }
  if (auto st = ctx.service.AuthorizeNode(caller.id, caller.serial); !st.ok()) {
    return net::ErrorResponse(st.error());
  }
  for (const NodeRoute& r : kNodeRoutes) {
    if (r.method == req.method && r.path == req.path) return r.fn(req, caller, ctx);
  }
  return NoSuchEndpoint(req);
}

HttpResponse AdminRequest(const HttpRequest& req, const Caller& caller, ApiContext& ctx) {
  if (caller.kind != Caller::Kind::kAdmin) {
    return net::ErrorResponse(MakeError(Code::kUnauthenticated, "admin_cert_required",
                                        "admin endpoints need the admin certificate "
                                        "(tpmeshctl --cert/--key)"));
  }
  AdminCall call(ctx, req, "admin:" + caller.id);
  for (const AdminRoute& r : kAdminRoutes) {
    if ((r.method == "*" || r.method == req.method) && PathMatches(r.path, req.path)) {
      return r.fn(call);
    }
  }
  return NoSuchEndpoint(req);
}

HttpResponse Route(const HttpRequest& req, const Caller& caller, ApiContext& ctx) {
  for (const AnonRoute& r : kAnonRoutes) {
    if (r.method == req.method && r.path == req.path) return r.fn(req, ctx);
  }
  const std::string_view p = req.path;
  if (p == "/v1/node" || p.starts_with("/v1/node/")) return NodeRequest(req, caller, ctx);
  if (p.starts_with("/v1/admin/")) return AdminRequest(req, caller, ctx);
  return NoSuchEndpoint(req);
}

}  // namespace

namespace internal {

HttpResponse NoSuchEndpoint(const HttpRequest& req) {
  return net::ErrorResponse(MakeError(Code::kNotFound, "no_such_endpoint",
                                      "no endpoint " + req.method + " " + req.path.substr(0, 128)));
}

std::optional<std::string> AdminCall::Param(const std::string& prefix) const {
  const std::string& p = req_.path;
  if (p.size() <= prefix.size() || p.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  std::string rest = p.substr(prefix.size());
  if (rest.find('/') != std::string::npos) return std::nullopt;
  return rest;
}

}  // namespace internal

net::Handler MakeApiHandler(AuthorityService& service, ConfigPublisher* publisher) {
  auto ctx = std::make_shared<ApiContext>(ApiContext{service, publisher});
  return [ctx](const HttpRequest& req, const Caller& caller) { return Route(req, caller, *ctx); };
}

}  // namespace tpmesh::authority
