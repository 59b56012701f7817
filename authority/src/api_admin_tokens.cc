// /v1/admin/tokens: create, list and revoke enrollment tokens.
#include "api_internal.h"
#include "tpmesh/proto/admin.h"
#include "tpmesh/proto/admin_requests.h"

namespace tpmesh::authority::internal {

using net::HttpResponse;

namespace {

proto::TokenView ViewOf(const TokenRecord& t) {
  proto::TokenView v;
  v.id = t.id;
  v.comment = t.comment;
  v.created_at = t.created_at;
  v.expires_at = t.expires_at;
  v.revoked = t.revoked;
  v.used_by = t.used_by;
  v.used_at = t.used_at;
  return v;
}

HttpResponse Create(AdminCall& call) {
  auto body = call.Body(proto::ParseTokenCreateRequest);
  if (!body) return call.Bad();
  auto t = call.service().CreateToken(std::chrono::seconds(body->ttl_seconds), body->comment,
                                      call.actor());
  if (!t.ok()) return net::ErrorResponse(t.error());
  proto::TokenView v = ViewOf(t->record);
  v.token = t->token;
  return JsonText(201, proto::ToJson(v));
}

}  // namespace

HttpResponse AdminTokens(AdminCall& call) {
  const std::string& m = call.req().method;
  if (call.req().path == "/v1/admin/tokens" && m == "POST") return Create(call);
  if (call.req().path == "/v1/admin/tokens" && m == "GET") {
    if (!call.NoBody()) return call.Bad();
    auto list = call.service().ListTokens();
    if (!list.ok()) return net::ErrorResponse(list.error());
    proto::TokenListResponse out;
    for (const auto& t : *list) out.tokens.push_back(ViewOf(t));
    return JsonText(200, proto::ToJson(out));
  }
  auto param = call.Param("/v1/admin/tokens/");
  if (!param || m != "DELETE") return call.NotFound();
  auto id = proto::CanonicalTokenId(*param, "token id");
  if (!id.ok()) return net::ErrorResponse(id.error());
  if (!call.NoBody()) return call.Bad();
  auto t = call.service().RevokeToken(*id, call.actor());
  if (!t.ok()) return net::ErrorResponse(t.error());
  return JsonText(200, proto::ToJson(ViewOf(*t)));
}

}  // namespace tpmesh::authority::internal
