// The one table from error codes to HTTP status (docs/protocol.md, "Errors").
#include <string>

#include "tpmesh/net/http.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::net {

int HttpStatusFor(Code code) {
  switch (code) {
    case Code::kInvalidArgument: return 400;
    case Code::kUnauthenticated: return 401;
    case Code::kPermissionDenied: return 403;
    case Code::kNotFound: return 404;
    case Code::kAlreadyExists:
    case Code::kAborted:
    case Code::kFailedPrecondition: return 409;
    case Code::kResourceExhausted: return 507;
    case Code::kInternal: return 500;
    case Code::kUnavailable: return 503;
  }
  return 500;
}

HttpResponse ErrorResponse(const Error& e) {
  HttpResponse r;
  r.status = HttpStatusFor(e.code);
  r.body = proto::ErrorToJson(e);
  r.content_type = "application/json";
  return r;
}

Error ErrorFromResponse(const ClientResponse& r) {
  if (std::optional<Error> e = proto::ParseErrorJson(r.body)) return *std::move(e);
  std::string excerpt;
  for (char c : r.body.substr(0, 200)) excerpt += (c >= 0x20 && c < 0x7f) ? c : '?';
  return MakeError(Code::kInternal, "http_" + std::to_string(r.status),
                   "HTTP " + std::to_string(r.status) + " without a tpmesh error body" +
                       (excerpt.empty() ? std::string() : ": " + excerpt));
}

}  // namespace tpmesh::net
