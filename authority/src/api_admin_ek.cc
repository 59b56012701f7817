// /v1/admin/ek-allowlist: EKs admitted without a token.
#include "api_internal.h"
#include "tpmesh/proto/admin.h"

namespace tpmesh::authority::internal {

using net::HttpResponse;

HttpResponse AdminEkAllowlist(AdminCall& call) {
  const std::string& m = call.req().method;
  AuthorityService& s = call.service();
  if (call.req().path == "/v1/admin/ek-allowlist" && m == "POST") {
    auto hash = call.body().Sha256Hex("ek_sha256");
    const std::string comment = call.body().Text("comment").value_or("");
    call.body().Require("ek_sha256", hash);
    if (!call.Done()) return call.Bad();
    if (auto st = s.AllowEk(*hash, comment, call.actor()); !st.ok())
      return net::ErrorResponse(st.error());
    return JsonText(201, proto::ToJson(proto::EkAllowResponse{HexEncode(*hash)}));
  }
  if (call.req().path == "/v1/admin/ek-allowlist" && m == "GET") {
    if (!call.Done()) return call.Bad();
    auto entries = s.ListAllowedEks();
    if (!entries.ok()) return net::ErrorResponse(entries.error());
    proto::EkAllowlistResponse out;
    for (const auto& e : *entries)
      out.ek_allowlist.push_back({HexEncode(e.ek_sha256), e.comment, e.created_at});
    return JsonText(200, proto::ToJson(out));
  }
  auto param = call.Param("/v1/admin/ek-allowlist/");
  if (!param || m != "DELETE") return call.NotFound();
  auto hash = ParseSha256Hex(*param, "ek_sha256");
  if (!hash.ok()) return net::ErrorResponse(hash.error());
  if (!call.Done()) return call.Bad();
  if (auto st = s.RemoveEk(*hash, call.actor()); !st.ok()) return net::ErrorResponse(st.error());
  return JsonText(200, proto::ToJson(proto::RemovedResponse{HexEncode(*hash)}));
}

}  // namespace tpmesh::authority::internal
