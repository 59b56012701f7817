// /v1/admin/ek-allowlist: EKs admitted without a token.
#include "api_internal.h"
#include "tpmesh/proto/admin.h"
#include "tpmesh/proto/admin_requests.h"

namespace tpmesh::authority::internal {

using net::HttpResponse;

HttpResponse AdminEkAllowlist(AdminCall& call) {
  const std::string& m = call.req().method;
  AuthorityService& s = call.service();
  if (call.req().path == "/v1/admin/ek-allowlist" && m == "POST") {
    auto body = call.Body(proto::ParseEkAllowRequest);
    if (!body) return call.Bad();
    if (auto st = s.AllowEk(body->ek_sha256, body->comment, call.actor()); !st.ok())
      return net::ErrorResponse(st.error());
    return JsonText(201, proto::ToJson(proto::EkAllowResponse{HexEncode(body->ek_sha256)}));
  }
  if (call.req().path == "/v1/admin/ek-allowlist" && m == "GET") {
    if (!call.NoBody()) return call.Bad();
    auto entries = s.ListAllowedEks();
    if (!entries.ok()) return net::ErrorResponse(entries.error());
    proto::EkAllowlistResponse out;
    for (const auto& e : *entries)
      out.ek_allowlist.push_back({HexEncode(e.ek_sha256), e.comment, e.created_at});
    return JsonText(200, proto::ToJson(out));
  }
  auto param = call.Param("/v1/admin/ek-allowlist/");
  if (!param || m != "DELETE") return call.NotFound();
  auto hash = proto::ParseSha256Hex(*param, "ek_sha256");
  if (!hash.ok()) return net::ErrorResponse(hash.error());
  if (!call.NoBody()) return call.Bad();
  if (auto st = s.RemoveEk(*hash, call.actor()); !st.ok()) return net::ErrorResponse(st.error());
  return JsonText(200, proto::ToJson(proto::RemovedResponse{HexEncode(*hash)}));
}

}  // namespace tpmesh::authority::internal
