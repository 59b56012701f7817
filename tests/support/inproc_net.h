// In-process HTTP for unit tests: net::Clients that call a net::Handler
// directly (the real authority handler, say), no TLS and no sockets.
//
// The caller a request carries is what the TLS server would build from the
// client certificate in ClientOptions (pki::IdentityFromCertPem: a node or
// an admin, id and serial; anonymous without one). What TLS would also check
// (the chain to ca_pem, the key matching the certificate, expiry) is not
// checked. Long polls never block: a GET whose query has wait=N is passed on
// with wait=0 (the log keeps the path as sent), so a handler with nothing
// newer answers 204 at once, as the real one does after N seconds.
//
// Base URLs can be made unreachable: their clients are still made (as
// net::MakeClient, which does not connect), but every request fails with
// kUnavailable "authority_unreachable" and reaches no handler.
//
// Thread-safety: all methods, and the clients, may be used from any thread;
// the handler is called without a lock held. The clients refer to this
// object, which must outlive them.
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "tpmesh/common/result.h"
#include "tpmesh/net/http.h"

namespace tpmesh::testing {

class InProcessNet {
 public:
  explicit InProcessNet(net::Handler handler) : handler_(std::move(handler)) {}

  // One request as a client sent it, and what came back.
  struct Request {
    std::string base_url;
    std::string method;
    std::string target;  // path and query, as sent
    std::string body;
    std::string caller_id;  // "" anonymous
    bool reached = false;   // false: the URL was unreachable
    int status = 0;         // when reached
    std::string response;   // when reached
  };
  // A client made: what it was made with (the private key left out).
  struct Made {
    std::string base_url;
    std::string ca_pem;
    std::string client_cert_pem;
    int timeout_seconds = 0;
  };

  // Like net::MakeClient; never fails.
  Result<std::unique_ptr<net::Client>> MakeClient(const net::ClientOptions& options);
  void SetReachable(const std::string& base_url, bool reachable);

  std::vector<Request> requests() const;
  std::vector<Made> clients() const;
  void ClearLog();

 private:
  class InProcessClient;
  Result<net::ClientResponse> Call(const std::string& base_url, const net::Caller& caller,
                                   const std::string& method, const std::string& target,
                                   const std::string& body);

  net::Handler handler_;
  mutable std::mutex mu_;
  std::set<std::string> unreachable_;
  std::vector<Request> requests_;
  std::vector<Made> clients_;
};

}  // namespace tpmesh::testing
