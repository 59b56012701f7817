// HTTP plumbing shared by the authority, the client and tpmeshctl.
//
// Handlers are plain functions of (request, authenticated caller) ->
// response; the cpp-httplib server only adapts (net/src/server.cc). The TLS
// layer authenticates: TLS 1.3 only; a client certificate is optional at the
// handshake, and when present must chain to the authority CA; the handler
// receives the identity read from it (or kAnonymous). Authorization
// (revocation, admin-only routes) is the handler's job, on every request.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tpmesh/common/result.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::net {

struct HttpRequest {
  std::string method;  // "GET", "POST", "DELETE"
  std::string path;    // without the query string
  std::map<std::string, std::string> query;
  std::string body;
  std::string remote_addr;
};

struct Caller {
  enum class Kind { kAnonymous, kNode, kAdmin };
  Kind kind = Kind::kAnonymous;
  std::string id;      // node id or admin name
  std::string serial;  // the client certificate's serial, lower-case hex ("" anonymous)
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

using Handler = std::function<HttpResponse(const HttpRequest&, const Caller&)>;

// The one table from error codes to HTTP status (docs/protocol.md).
int HttpStatusFor(Code code);
// An error response: status from the table, body {"error": {...}}.
HttpResponse ErrorResponse(const Error& e);
// The error body {"error": {"code", "reason", "message"}} and back (the wire
// format of every error, docs/protocol.md "Errors"); nullopt when `json` is
// not such a body. Bytes that are not UTF-8 are printed as U+FFFD.
std::string ErrorToJson(const Error& e);
std::optional<Error> ParseErrorJson(std::string_view json);

struct ServerOptions {
  std::vector<std::string> listen;  // "[::]:8443", "0.0.0.0:8443", "127.0.0.1:0"
  std::string cert_pem;             // server certificate chain
  std::string key_pem;              // secret
  std::string client_ca_pem;        // CA that client certificates must chain to
  size_t max_body_bytes = 64 * 1024;
  int worker_threads = 16;
};

// A running HTTPS server. Start returns once every listener is bound (ports
// chosen by the OS are reported by ports()). Stop (or the destructor) closes
// the listeners and joins the threads. Thread-safe.
class Server {
 public:
  virtual ~Server() = default;
  virtual std::vector<int> ports() const = 0;
  virtual void Stop() = 0;
  // Replaces the server certificate chain, its key and the client CAs for
  // every handshake from now on (connections already open keep theirs).
  // Thread-safe. Errors as for StartServer's TLS options; on error nothing
  // changes.
  [[nodiscard]] virtual Status UpdateTls(const std::string& cert_pem, const std::string& key_pem,
                                         const std::string& client_ca_pem) = 0;
};
[[nodiscard]] Result<std::unique_ptr<Server>> StartServer(const ServerOptions& options,
                                                          Handler handler);

struct ClientOptions {
  std::string base_url;         // "https://[::1]:8443" or "https://host:8443"
  std::string ca_pem;           // verify the server against this CA
  std::string client_cert_pem;  // optional: mutual TLS
  std::string client_key_pem;   // optional, secret
  int timeout_seconds = 30;
  // Reuse one TLS connection for consecutive requests (HTTP/1.1 keep-alive;
  // the server closes it after 5 s idle or 5 requests). Off: a fresh
  // connection and full handshake per request. Either way the server
  // authorizes every request, so revocation is not delayed by reuse.
  bool keep_alive = false;
};

struct ClientResponse {
  int status = 0;
  std::string body;
};

// A small HTTPS JSON client. Transport failures are kUnavailable
// ("authority_unreachable") with a message naming the URL and the cause.
// Not thread-safe; one per thread.
class Client {
 public:
  virtual ~Client() = default;
  [[nodiscard]] virtual Result<ClientResponse> Get(const std::string& path) = 0;
  [[nodiscard]] virtual Result<ClientResponse> Post(const std::string& path,
                                                    const std::string& body) = 0;
  [[nodiscard]] virtual Result<ClientResponse> Delete(const std::string& path) = 0;
  // Aborts a request in flight on another thread (it returns kUnavailable).
  // The only method that may be called concurrently with the others.
  virtual void Cancel() = 0;
};
[[nodiscard]] Result<std::unique_ptr<Client>> MakeClient(const ClientOptions& options);

// Trust bootstrap: fetches GET /v1/ca without verifying the server, and
// returns the CA bundle only if one certificate in it has SHA-256 fingerprint
// `pinned_fingerprint` (hex, case-insensitive, ':' allowed) and the server's
// certificate chains to it. kPermissionDenied ("ca_fingerprint_mismatch")
// otherwise.
[[nodiscard]] Result<std::string> FetchPinnedCa(const std::string& base_url,
                                                const std::string& pinned_fingerprint,
                                                int timeout_seconds = 10);

// Maps a non-2xx response to the Error in its body (or a generic one).
Error ErrorFromResponse(const ClientResponse& r);

}  // namespace tpmesh::net
