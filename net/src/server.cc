// The HTTPS server: cpp-httplib adapted to Handler, TLS set up by us.
//
// Each listen address gets its own httplib::SSLServer, socket, accept thread
// and worker pool (`worker_threads` per listener, all started before
// StartServer returns; a thread the host refuses is an error, not an abort). Every connection does
// a full TLS 1.3 handshake (no session tickets or cache), so the client certificate is verified
// against the CA on every connection.
//
// Note on "[::]:port": cpp-httplib 0.11.4 clears IPV6_V6ONLY on IPv6
// sockets, so "[::]:port" also accepts IPv4 (as ::ffff:a.b.c.d) and listing
// "0.0.0.0:port" with the same port as well fails with "address in use".
#include <sys/socket.h>

#include <httplib.h>
#include <openssl/ssl.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "tpmesh/common/parse.h"
#include "tpmesh/net/http.h"
#include "tpmesh/ossl/pem.h"

namespace tpmesh::net {
namespace {

constexpr time_t kIoTimeoutSeconds = 30;

struct ListenAddr {
  std::string text;  // as given
  std::string host;  // without brackets
  int port = 0;
};

Result<ListenAddr> ParseListen(const std::string& s) {
  auto hp = ParseHostPort(s, {.port_zero = true}, "invalid_listen_address");
  if (!hp.ok()) {
    Error e = hp.take_error();
    e.message = "listen address '" + s.substr(0, 300) + "': " + e.message +
                " (an IPv4 address or a bracketed IPv6 address such as [::], and a port; 0 = "
                "chosen by the system)";
    return e;
  }
  return ListenAddr{s, hp->host, hp->port};
}

// Certificate chain, key and client CAs, swapped as a whole (UpdateTls).
// Each handshake takes the current one in its certificate callback.
struct TlsMaterial {
  std::vector<ossl::X509Ptr> chain;
  ossl::Pkey key;
  X509_STORE* verify = nullptr;  // owned
  std::vector<ossl::X509Ptr> client_cas;
  TlsMaterial() = default;
  TlsMaterial(const TlsMaterial&) = delete;
  TlsMaterial& operator=(const TlsMaterial&) = delete;
  ~TlsMaterial() { X509_STORE_free(verify); }
};

Result<std::shared_ptr<const TlsMaterial>> MakeTlsMaterial(const std::string& cert_pem,
                                                           const std::string& key_pem,
                                                           const std::string& client_ca_pem) {
  auto m = std::make_shared<TlsMaterial>();
  TPMESH_ASSIGN_OR_RETURN(
      m->chain, ossl::ReadCertsPem(cert_pem, "server certificate", "invalid_certificate"));
  TPMESH_ASSIGN_OR_RETURN(m->key, ossl::ReadKeyPem(key_pem, "server key", "invalid_key"));
  if (X509_check_private_key(m->chain[0].get(), m->key.get()) != 1) {
    ERR_clear_error();
    return MakeError(Code::kInvalidArgument, "key_mismatch",
                     "server key does not match the server certificate");
  }
  TPMESH_ASSIGN_OR_RETURN(m->client_cas,
                          ossl::ReadCertsPem(client_ca_pem, "client CA", "invalid_certificate"));
  m->verify = X509_STORE_new();
  if (m->verify == nullptr) return ossl::CryptoError("client CA store");
  for (const auto& ca : m->client_cas) {
    if (X509_STORE_add_cert(m->verify, ca.get()) != 1) return ossl::CryptoError("client CA");
  }
  return std::shared_ptr<const TlsMaterial>(std::move(m));
}

// Holder shared by the listeners' certificate callbacks.
struct TlsHolder {
  std::mutex mu;
  std::shared_ptr<const TlsMaterial> current;  // null: the context's own material

  std::shared_ptr<const TlsMaterial> Get() {
    std::lock_guard<std::mutex> lock(mu);
    return current;
  }
};

// SSL_CTX_set_cert_cb: per handshake, before the server certificate is
// chosen and before the client's certificate is verified.
int ApplyTlsMaterial(SSL* ssl, void* arg) {
  auto m = static_cast<TlsHolder*>(arg)->Get();
  if (!m) return 1;
  if (SSL_use_certificate(ssl, m->chain[0].get()) != 1 ||
      SSL_use_PrivateKey(ssl, m->key.get()) != 1)
    return 0;
  SSL_clear_chain_certs(ssl);
  for (size_t i = 1; i < m->chain.size(); ++i) {
    if (SSL_add1_chain_cert(ssl, m->chain[i].get()) != 1) return 0;
  }
  if (SSL_set1_verify_cert_store(ssl, m->verify) != 1) return 0;
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  if (names == nullptr) return 0;
  for (const auto& ca : m->client_cas) {
    X509_NAME* n = X509_NAME_dup(X509_get_subject_name(ca.get()));
    if (n == nullptr || sk_X509_NAME_push(names, n) <= 0) {
      X509_NAME_free(n);
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      return 0;
    }
  }
  SSL_set_client_CA_list(ssl, names);  // takes ownership
  return 1;
}

// The server's TLS context: TLS 1.3 only, certificate chain and key from
// memory, client certificate optional but verified against the client CA.
Status ConfigureTls(SSL_CTX* ctx, const ServerOptions& o, TlsHolder* holder) {
  SSL_CTX_set_cert_cb(ctx, ApplyTlsMaterial, holder);
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1)
    return ossl::CryptoError("TLS 1.3 only");
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
  // A long poll idles on its connection for minutes: free the ~34 KiB of
  // record read/write buffers between records instead of keeping them.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);

  TPMESH_ASSIGN_OR_RETURN(
      auto chain, ossl::ReadCertsPem(o.cert_pem, "server certificate", "invalid_certificate"));
  if (SSL_CTX_use_certificate(ctx, chain[0].get()) != 1)
    return ossl::CryptoError("server certificate");
  for (size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, chain[i].get()) != 1)
      return ossl::CryptoError("server certificate chain");
  }
  TPMESH_ASSIGN_OR_RETURN(ossl::Pkey key, ossl::ReadKeyPem(o.key_pem, "server key", "invalid_key"));
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return MakeError(Code::kInvalidArgument, "key_mismatch",
                     "server key does not match the server certificate");
  }

  TPMESH_ASSIGN_OR_RETURN(auto cas,
                          ossl::ReadCertsPem(o.client_ca_pem, "client CA", "invalid_certificate"));
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (const auto& ca : cas) {
    if (X509_STORE_add_cert(store, ca.get()) != 1 || SSL_CTX_add_client_CA(ctx, ca.get()) != 1) {
      return ossl::CryptoError("client CA");
    }
  }
  // No SSL_VERIFY_FAIL_IF_NO_PEER_CERT: anonymous clients are allowed; a
  // certificate that is sent must verify or the handshake fails.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  return OkStatus();
}

// The authenticated caller of a request: from the verified client
// certificate, or anonymous without one.
Result<Caller> CallerOf(const SSL* ssl) {
  if (ssl == nullptr)
    return MakeError(Code::kInternal, "no_tls_session", "request without a TLS session");
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr) return Caller{};
  if (SSL_get_verify_result(ssl) != X509_V_OK) {
    return MakeError(Code::kUnauthenticated, "client_cert_invalid",
                     "client certificate did not verify");
  }
  TPMESH_ASSIGN_OR_RETURN(Bytes der, ossl::CertToDer(peer));
  TPMESH_ASSIGN_OR_RETURN(pki::PeerIdentity id, pki::IdentityFromCertDer(der.data(), der.size()));
  return Caller{id.kind == pki::PeerKind::kAdmin ? Caller::Kind::kAdmin : Caller::Kind::kNode,
                id.id, id.serial};
}

HttpResponse TooLarge(size_t max) {
  HttpResponse r =
      ErrorResponse(MakeError(Code::kInvalidArgument, "body_too_large",
                              "request body exceeds " + std::to_string(max) + " bytes"));
  r.status = 413;
  return r;
}

HttpResponse Dispatch(const Handler& handler, size_t max_body, const httplib::Request& req) {
  // httplib enforces the limit for Content-Length bodies; this also covers
  // chunked ones.
  if (req.body.size() > max_body) return TooLarge(max_body);
  auto caller = CallerOf(req.ssl);
  if (!caller.ok()) return ErrorResponse(caller.error());
  HttpRequest r;
  r.method = req.method;
  r.path = req.path;
  for (const auto& [k, v] : req.params) r.query.emplace(k, v);  // first value wins
  r.body = req.body;
  r.remote_addr = req.remote_addr;
  return handler(r, *caller);
}

// Bodies for the errors httplib produces itself (413, 400, 404 ...), which
// come without one.
httplib::Server::HandlerResponse FillTransportError(size_t max_body, httplib::Response& res) {
  if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
  Error e;
  switch (res.status) {
    case 413:
      e = MakeError(Code::kInvalidArgument, "body_too_large",
                    "request body exceeds " + std::to_string(max_body) + " bytes");
      break;
    case 400: e = MakeError(Code::kInvalidArgument, "bad_request", "malformed HTTP request"); break;
    case 404: e = MakeError(Code::kNotFound, "no_such_endpoint", "no such endpoint"); break;
    case 414: e = MakeError(Code::kInvalidArgument, "uri_too_long", "request URI too long"); break;
    default:
      e = MakeError(Code::kInternal, "http_" + std::to_string(res.status),
                    "HTTP " + std::to_string(res.status));
  }
  res.set_content(ErrorToJson(e), "application/json");
  return httplib::Server::HandlerResponse::Handled;
}

// The worker threads of one listener. httplib's ThreadPool starts its threads
// inside listen(), on the listener thread, after the server reports running:
// a std::thread that the host refuses (EAGAIN: a thread, map or memory limit)
// throws std::system_error there, and the process terminates. This pool is
// started before listening, and a thread that cannot start is an error
// (the threads already started are stopped and joined). httplib takes
// ownership through new_task_queue and calls shutdown() when it stops.
class WorkerPool final : public httplib::TaskQueue {
 public:
  static Result<std::unique_ptr<WorkerPool>> Start(size_t n) {
    std::unique_ptr<WorkerPool> pool(new WorkerPool());
    WorkerPool* raw = pool.get();
    try {
      pool->threads_.reserve(n);
      while (pool->threads_.size() < n) pool->threads_.emplace_back([raw] { raw->Run(); });
    } catch (const std::exception& e) {  // std::system_error, or bad_alloc from reserve
      const size_t started = pool->threads_.size();
      pool->shutdown();
      return MakeError(Code::kResourceExhausted, "thread_start_failed",
                       "cannot start HTTP worker thread " + std::to_string(started + 1) + " of " +
                           std::to_string(n) + ": " + e.what() +
                           " (a host limit on threads, memory maps or memory; lower the number of "
                           "workers or raise the limit)");
    }
    return pool;
  }
  ~WorkerPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(fn));
    }
    cv_.notify_one();
  }

  // Runs the jobs already queued, then joins every thread. Idempotent.
  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  WorkerPool() = default;
  void Run() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stopping, nothing left
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      fn();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

struct Listener {
  ListenAddr addr;
  std::unique_ptr<httplib::SSLServer> svr;
  std::unique_ptr<WorkerPool> pool;  // handed to httplib when it starts listening
  std::thread thread;
  std::atomic<bool> exited{false};
  int port = 0;
};

class HttpsServer final : public Server {
 public:
  ~HttpsServer() override { Stop(); }

  Status UpdateTls(const std::string& cert_pem, const std::string& key_pem,
                   const std::string& client_ca_pem) override {
    TPMESH_ASSIGN_OR_RETURN(auto m, MakeTlsMaterial(cert_pem, key_pem, client_ca_pem));
    std::lock_guard<std::mutex> lock(tls_.mu);
    tls_.current = std::move(m);
    return OkStatus();
  }

  std::vector<int> ports() const override {
    std::vector<int> out;
    for (const auto& l : listeners_) out.push_back(l->port);
    return out;
  }

  void Stop() override {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& l : listeners_) l->svr->stop();
    for (auto& l : listeners_) {
      if (l->thread.joinable()) l->thread.join();
    }
  }

  // Every GET, POST and DELETE goes to `handler` through Dispatch; transport
  // errors (too large, malformed) get the same JSON error body.
  static void InstallRoutes(httplib::SSLServer& s, std::shared_ptr<const Handler> handler,
                            size_t max_body) {
    auto route = [handler, max_body](const httplib::Request& req, httplib::Response& res) {
      HttpResponse out;
      try {
        out = Dispatch(*handler, max_body, req);
      } catch (...) {
        out = ErrorResponse(MakeError(Code::kInternal, "internal_error",
                                      "the request handler failed unexpectedly"));
      }
      res.status = out.status;
      res.set_content(out.body, out.content_type);
    };
    s.Get(".*", route);
    s.Post(".*", route);
    s.Delete(".*", route);
    s.set_error_handler(httplib::Server::HandlerWithResponse(
        [max_body](const httplib::Request&, httplib::Response& res) {
          return FillTransportError(max_body, res);
        }));
  }

  Status Add(const ServerOptions& o, ListenAddr addr, std::shared_ptr<const Handler> handler) {
    auto l = std::make_unique<Listener>();
    l->addr = std::move(addr);
    Status tls;
    l->svr = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
      tls = ConfigureTls(&ctx, o, &tls_);
      return tls.ok();
    });
    if (!tls.ok()) return tls.take_error();
    if (!l->svr->is_valid()) return ossl::CryptoError("TLS server context");

    httplib::SSLServer& s = *l->svr;
    TPMESH_ASSIGN_OR_RETURN(l->pool, WorkerPool::Start(static_cast<size_t>(o.worker_threads)));
    // Called once, by listen_after_bind on the listener thread (which then
    // owns and deletes it). Until then the Listener owns the pool.
    Listener* owner = l.get();
    s.new_task_queue = [owner]() -> httplib::TaskQueue* { return owner->pool.release(); };
    s.set_payload_max_length(o.max_body_bytes);
    s.set_read_timeout(kIoTimeoutSeconds, 0);
    s.set_write_timeout(kIoTimeoutSeconds, 0);
    // httplib's default sets SO_REUSEPORT, which would let a second process
    // share our port silently; SO_REUSEADDR only.
    s.set_socket_options([](int sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    InstallRoutes(s, std::move(handler), o.max_body_bytes);

    errno = 0;
    if (l->addr.port == 0) {
      l->port = s.bind_to_any_port(l->addr.host);
    } else {
      l->port = s.bind_to_port(l->addr.host, l->addr.port) ? l->addr.port : -1;
    }
    if (l->port <= 0) {
      int err = errno;
      return MakeError(Code::kUnavailable, "listen_failed",
                       "cannot listen on " + l->addr.text + ": " +
                           (err != 0 ? std::strerror(err) : "bind failed") +
                           " (another process on the port, or the address is not on this host)");
    }
    Listener* raw = l.get();
    try {
      l->thread = std::thread([raw] {
        raw->svr->listen_after_bind();
        raw->exited = true;
      });
    } catch (const std::system_error& e) {
      return MakeError(Code::kResourceExhausted, "thread_start_failed",
                       "cannot start the listener thread for " + raw->addr.text + ": " + e.what());
    }
    listeners_.push_back(std::move(l));
    // Stop() is a no-op until httplib marks the server running: wait for it.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!raw->svr->is_running()) {
      if (raw->exited || std::chrono::steady_clock::now() > deadline) {
        return MakeError(Code::kInternal, "listen_failed",
                         "listener on " + raw->addr.text + " did not start");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return OkStatus();
  }

 private:
  TlsHolder tls_;  // outlives the listeners (declared first, destroyed last)
  std::mutex mu_;
  std::vector<std::unique_ptr<Listener>> listeners_;
};

}  // namespace

Result<std::unique_ptr<Server>> StartServer(const ServerOptions& options, Handler handler) {
  if (options.listen.empty()) {
    return MakeError(Code::kInvalidArgument, "invalid_listen_address", "no listen address given");
  }
  if (options.worker_threads < 1 || options.max_body_bytes == 0) {
    return MakeError(Code::kInvalidArgument, "invalid_server_options",
                     "worker_threads and max_body_bytes must be positive");
  }
  if (!handler) return MakeError(Code::kInvalidArgument, "invalid_server_options", "no handler");
  std::vector<ListenAddr> addrs;
  for (const std::string& s : options.listen) {
    TPMESH_ASSIGN_OR_RETURN(ListenAddr a, ParseListen(s));
    addrs.push_back(std::move(a));
  }
  auto shared = std::make_shared<const Handler>(std::move(handler));
  auto server = std::make_unique<HttpsServer>();
  for (ListenAddr& a : addrs) {
    // On failure the destructor stops the listeners already started.
    TPMESH_RETURN_IF_ERROR(server->Add(options, std::move(a), shared));
  }
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace tpmesh::net
