// Internal to the authority's HTTP API (api.cc: routing, enrollment and node
// routes; api_admin.cc: /v1/admin/*). Not public.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>

#include "tpmesh/authority/service.h"
#include "tpmesh/net/http.h"

namespace tpmesh::authority::internal {

// A JSON response; invalid UTF-8 (e.g. from a truncated quote of input) is
// replaced, never thrown on.
inline net::HttpResponse Json(int status, const nlohmann::json& body) {
  return net::HttpResponse{status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                           "application/json"};
}

template <typename T>
net::HttpResponse ErrorOr(const Result<T>& r, const std::function<nlohmann::json(const T&)>& encode) {
  if (!r.ok()) return net::ErrorResponse(r.error());
  return Json(200, encode(*r));
}

// A node as the admin API and GET /v1/node/self show it.
nlohmann::json NodeJson(const NodeRecord& n, const MeshPrefix& mesh);

// Every /v1/admin/* route for an authenticated admin; `actor` is what the
// audit log records ("admin:<name>"). Bodies and path parameters are parsed
// strictly (admin_input.h). `publisher` may be null.
net::HttpResponse HandleAdmin(AuthorityService& service, ConfigPublisher* publisher,
                              const net::HttpRequest& req, const std::string& actor);

}  // namespace tpmesh::authority::internal
