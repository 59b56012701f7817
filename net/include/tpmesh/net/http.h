// HTTP plumbing shared by the authority, the client and tpmeshctl.
//
// Handlers are plain functions of (request, authenticated caller) ->
// response; the server only adapts (net/src/server.cc: an event loop on
// Boost.Asio, Beast's request parser, OpenSSL; docs/adr/0006). The TLS layer
// authenticates: TLS 1.3 only; a client certificate is optional at the
// handshake, and when present must chain to the authority CA; the handler
// receives the identity read from it (or kAnonymous). Authorization
// (revocation, admin-only routes) is the handler's job, on every request.
#pragma once

#include <atomic>
#include <chrono>
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

class LongPoll;

struct HttpResponse {
  HttpResponse() = default;
  HttpResponse(int status_code, std::string body_text, std::string type = "application/json")
      : status(status_code), body(std::move(body_text)), content_type(std::move(type)) {}

  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  // When set, sent instead of `body`, without a copy (one config body shared
  // by thousands of long polls).
  std::shared_ptr<const std::string> shared_body;
  // When set, the request is parked: the server holds the connection on its
  // event loop (no thread) until `poll` answers, or sends this response
  // (status, body) after `poll_timeout`. See LongPoll.
  std::shared_ptr<LongPoll> poll;
  std::chrono::milliseconds poll_timeout{0};
};

// A request that cannot be answered yet (the config long poll). The handler
// returns it in HttpResponse::poll; the server then calls, on its loop:
//   Arm(answer) once: `answer` may be called from any thread and is cheap
//     (it queues the response for the loop); the first call is the
//     response, later calls and calls after the poll ended do nothing. Arm
//     must not block; it may call `answer` itself (something arrived between
//     the handler's check and Arm).
//   Disarm() once, if the poll ends without an answer (timeout, server
//     stopping): the application should drop `answer` (calling it stays
//     harmless, also after the server is gone).
// Neither is called concurrently with the other for one poll.
class LongPoll {
 public:
  virtual ~LongPoll() = default;
  virtual void Arm(std::function<void(HttpResponse)> answer) = 0;
  virtual void Disarm() = 0;
};

using Handler = std::function<HttpResponse(const HttpRequest&, const Caller&)>;

// The one table from errors to HTTP status (docs/protocol.md): by code, and
// for the transport's own refusals by reason (body_too_large 413,
// headers_too_large 431, uri_too_long 414, request_timeout 408,
// method_not_allowed 405).
int HttpStatusFor(Code code);
int HttpStatusFor(const Error& e);
// An error response: status from the table, body {"error": {...}}.
HttpResponse ErrorResponse(const Error& e);
// The error body {"error": {"code", "reason", "message"}} and back (the wire
// format of every error, docs/protocol.md "Errors"); nullopt when `json` is
// not such a body. Bytes that are not UTF-8 are printed as U+FFFD.
std::string ErrorToJson(const Error& e);
std::optional<Error> ParseErrorJson(std::string_view json);

// What the server accepts from a peer before the handler sees anything.
// Every limit is enforced while reading: a request is refused as soon as it
// passes one, with the JSON error body and the status HttpStatusFor gives.
struct ServerLimits {
  size_t max_body_bytes = 64 * 1024;    // Content-Length or chunked: 413
  size_t max_header_bytes = 16 * 1024;  // request line and fields: 431
  size_t max_header_count = 64;         // fields: 431
  size_t max_uri_bytes = 4096;          // request target: 414
  // Deadlines: total, not per read (a byte every few seconds does not
  // extend them).
  std::chrono::milliseconds handshake_timeout{10'000};  // TCP accept to TLS established
  std::chrono::milliseconds header_timeout{10'000};     // first byte to end of headers: 408
  std::chrono::milliseconds body_timeout{30'000};       // end of headers to end of body: 408
  std::chrono::milliseconds write_timeout{30'000};      // one response
  // Keep-alive: how long a connection may sit between requests.
  std::chrono::milliseconds idle_timeout{60'000};           // client certificate
  std::chrono::milliseconds anonymous_idle_timeout{5'000};  // no client certificate
  // Connections. "Anonymous" counts connections without a client
  // certificate, and those still in their handshake. A connection over an
  // anonymous cap is still accepted, on probation (at most a quarter of
  // max_anonymous of them, handshake within 2 s), and served if it presents
  // a client certificate; an anonymous one is answered 503
  // too_many_connections at once and closed. Beyond that, and beyond
  // max_connections, connections are closed at accept. Sources are IPv4
  // addresses and IPv6 /64s (IPv4-mapped IPv6 counts as IPv4).
  size_t max_connections = 16384;
  size_t max_anonymous = 4096;
  size_t max_anonymous_per_source = 256;
};

struct ServerOptions {
  std::vector<std::string> listen;  // "[::]:8443", "0.0.0.0:8443", "127.0.0.1:0"
  std::string cert_pem;             // server certificate chain
  std::string key_pem;              // secret
  std::string client_ca_pem;        // CA that client certificates must chain to
  ServerLimits limits;
  // Threads that run handlers (a fixed pool; admin requests first, then
  // node requests, then anonymous ones). One more thread runs the event
  // loop: every connection, TLS and waiting long poll lives there.
  int worker_threads = 4;
};
// A running HTTPS server. Start returns once every listener is bound (ports
// chosen by the OS are reported by ports()). Stop (or the destructor) closes
// the listeners, answers every parked long poll with its timeout response,
// lets responses in flight finish (at most 1 s), closes every connection and
// joins the threads. Thread-safe.
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
