// /v1/admin/audit: the newest audit entries.
#include <charconv>

#include "api_internal.h"
#include "tpmesh/proto/admin.h"
#include "tpmesh/proto/admin_requests.h"

namespace tpmesh::authority::internal {

using net::HttpResponse;

HttpResponse AdminAudit(AdminCall& call) {
  if (!call.NoBody()) return call.Bad();
  size_t limit = 100;
  if (auto it = call.req().query.find("limit"); it != call.req().query.end()) {
    const std::string& v = it->second;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), limit);
    if (ec != std::errc() || end != v.data() + v.size()) {
      return net::ErrorResponse(
          MakeError(Code::kInvalidArgument, "invalid_request", "limit: must be a number"));
    }
  }
  auto entries = call.service().ListAudit(limit);
  if (!entries.ok()) return net::ErrorResponse(entries.error());
  proto::AuditListResponse out;
  for (const auto& a : *entries) {
    out.audit.push_back({a.id, a.at, a.actor, a.action, a.target, a.reason, a.detail});
  }
  return JsonText(200, proto::ToJson(out));
}

}  // namespace tpmesh::authority::internal
