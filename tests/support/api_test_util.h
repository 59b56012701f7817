// Helpers for in-process HTTP handler tests: callers and error decoding.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "tpmesh/net/http.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::testing {

inline const net::Caller kAnon{};

// A request as the HTTPS server hands it to the handler, from 192.0.2.1.
inline net::HttpRequest MakeRequest(const std::string& method, const std::string& path,
                                    const std::string& body) {
  net::HttpRequest req;
  req.method = method;
  req.path = path;
  req.body = body;
  req.remote_addr = "192.0.2.1";
  return req;
}
inline const net::Caller kAdmin{net::Caller::Kind::kAdmin, "root", ""};

// A node caller as the TLS server builds it from the node's certificate:
// its id and the certificate's serial ("" when `cert_pem` does not parse).
inline net::Caller NodeCaller(const std::string& node_id, const std::string& cert_pem) {
  auto id = pki::IdentityFromCertPem(cert_pem);
  return {net::Caller::Kind::kNode, node_id, id.ok() ? id->serial : ""};
}

// The response body as JSON ({} when it is not JSON).
inline nlohmann::json ParseBody(const net::HttpResponse& r) {
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_discarded() ? nlohmann::json::object() : j;
}

// The error reason of a response, or a marker when it has none.
inline std::string Reason(const net::HttpResponse& r) {
  nlohmann::json j = ParseBody(r);
  if (!j.contains("error") || !j["error"].is_object()) {
    return "<no error: " + r.body.substr(0, 200) + ">";
  }
  auto it = j["error"].find("reason");
  return it != j["error"].end() && it->is_string() ? it->get<std::string>() : "<no reason>";
}

// "<status> <reason>", so one EXPECT_EQ shows both on failure.
inline std::string StatusReason(const net::HttpResponse& r) {
  return std::to_string(r.status) + " " + Reason(r);
}

}  // namespace tpmesh::testing
