// The one table from error codes to HTTP status (docs/protocol.md, "Errors").
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <utility>

#include "tpmesh/json/reader.h"
#include "tpmesh/net/http.h"

namespace tpmesh::net {

using nlohmann::json;

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

int HttpStatusFor(const Error& e) {
  // The transport's own refusals (net/src/connection.cc), by reason.
  static constexpr std::pair<std::string_view, int> kByReason[] = {
      {"body_too_large", 413},  {"headers_too_large", 431},  {"uri_too_long", 414},
      {"request_timeout", 408}, {"method_not_allowed", 405},
  };
  for (const auto& [reason, status] : kByReason) {
    if (e.reason == reason) return status;
  }
  return HttpStatusFor(e.code);
}

std::string ErrorToJson(const Error& e) {
  // Messages quote (truncated) untrusted input, which may not be valid UTF-8:
  // replace bad bytes with U+FFFD instead of throwing.
  return json{{"error", {{"code", CodeName(e.code)}, {"reason", e.reason}, {"message", e.message}}}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<Error> ParseErrorJson(std::string_view text) {
  JsonReader r(text);
  JsonReader e = r.Object("error");
  std::string code = e.String("code", 64);
  Error out;
  out.reason = e.String("reason", 128);
  out.message = e.String("message", 4096);
  if (!r.ok() || !e.ok()) return std::nullopt;
  out.code = Code::kInternal;
  for (Code c : {Code::kInvalidArgument, Code::kNotFound, Code::kAlreadyExists,
                 Code::kPermissionDenied, Code::kUnauthenticated, Code::kFailedPrecondition,
                 Code::kResourceExhausted, Code::kAborted, Code::kUnavailable, Code::kInternal}) {
    if (code == CodeName(c)) out.code = c;
  }
  return out;
}

HttpResponse ErrorResponse(const Error& e) {
  HttpResponse r;
  r.status = HttpStatusFor(e);
  r.body = ErrorToJson(e);
  r.content_type = "application/json";
  return r;
}

Error ErrorFromResponse(const ClientResponse& r) {
  if (std::optional<Error> e = ParseErrorJson(r.body)) return *std::move(e);
  std::string excerpt;
  for (char c : r.body.substr(0, 200)) excerpt += (c >= 0x20 && c < 0x7f) ? c : '?';
  return MakeError(Code::kInternal, "http_" + std::to_string(r.status),
                   "HTTP " + std::to_string(r.status) + " without a tpmesh error body" +
                       (excerpt.empty() ? std::string() : ": " + excerpt));
}

}  // namespace tpmesh::net
