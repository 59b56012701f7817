// Anonymous routes: the CA bundle and enrollment (docs/protocol.md,
// "Enrollment"). Anyone may call them; the attestation is the credential.
#include "api_internal.h"
#include "tpmesh/proto/enroll.h"
#include "tpmesh/proto/node.h"

namespace tpmesh::authority::internal {

using net::HttpRequest;
using net::HttpResponse;

HttpResponse CaBundle(const HttpRequest&, ApiContext& ctx) {
  return JsonText(200, proto::ToJson(proto::CaBundleResponse{ctx.service.CaBundle()}));
}

HttpResponse EnrollStart(const HttpRequest& req, ApiContext& ctx) {
  auto r = proto::ParseEnrollStartRequest(req.body);
  if (!r.ok()) return net::ErrorResponse(r.error());
  auto out = ctx.service.EnrollStart(*r);
  if (!out.ok()) return net::ErrorResponse(out.error());
  return HttpResponse{200, proto::ToJson(*out)};
}

HttpResponse EnrollFinish(const HttpRequest& req, ApiContext& ctx) {
  auto r = proto::ParseEnrollFinishRequest(req.body);
  if (!r.ok()) return net::ErrorResponse(r.error());
  auto out = ctx.service.EnrollFinish(*r);
  if (!out.ok()) return net::ErrorResponse(out.error());
  return HttpResponse{out->status == "active" ? 200 : 202, proto::ToJson(*out)};
}

}  // namespace tpmesh::authority::internal
