// The HTTPS server (docs/adr/0006): one event-loop thread (Boost.Asio) holds
// every connection, its TLS (OpenSSL on the socket, connection.h) and every
// parked long poll; handlers run on a small fixed pool (work_pool.h).
//
// Note on "[::]:port": IPV6_V6ONLY is cleared on IPv6 listeners, so
// "[::]:port" also accepts IPv4 (as ::ffff:a.b.c.d, reported as a.b.c.d);
// listing "0.0.0.0:port" with the same port as well fails with "address in
// use".
#include <pthread.h>
#include <signal.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "connection.h"
#include "server_core.h"
#include "tpmesh/common/parse.h"
#include "tpmesh/net/http.h"

namespace tpmesh::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using internal::Conn;
using internal::ServerCore;

constexpr size_t kMaxAnonymousQueued = 1024;
constexpr std::chrono::milliseconds kStopDrain{1000};

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

// The peer's address as handlers see it: IPv4-mapped IPv6 as IPv4.
std::string PeerIp(const tcp::endpoint& ep) {
  asio::ip::address a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  }
  return a.to_string();
}

class HttpsServer final : public Server {
 public:
  HttpsServer(const ServerOptions& o, Handler h)
      : core_(std::make_unique<ServerCore>(o, std::move(h))) {}
  ~HttpsServer() override { Stop(); }

  Status Init(const ServerOptions& o) {
    TPMESH_ASSIGN_OR_RETURN(auto m,
                            internal::MakeTlsMaterial(o.cert_pem, o.key_pem, o.client_ca_pem));
    core_->tls.Set(std::move(m));
    TPMESH_ASSIGN_OR_RETURN(core_->ssl_ctx, internal::MakeServerContext(&core_->tls));
    for (const std::string& s : o.listen) {
      TPMESH_ASSIGN_OR_RETURN(ListenAddr a, ParseListen(s));
      TPMESH_RETURN_IF_ERROR(Listen(a));
    }
    TPMESH_ASSIGN_OR_RETURN(
        core_->pool,
        internal::WorkPool::Start(static_cast<size_t>(o.worker_threads), kMaxAnonymousQueued));
    for (size_t i = 0; i < acceptors_.size(); ++i) Accept(i);
    try {
      loop_ = std::thread([this] { RunLoop(); });
    } catch (const std::system_error& e) {
      return MakeError(Code::kResourceExhausted, "thread_start_failed",
                       std::string("cannot start the server's event loop thread: ") + e.what());
    }
    return OkStatus();
  }

  Status UpdateTls(const std::string& cert_pem, const std::string& key_pem,
                   const std::string& client_ca_pem) override {
    TPMESH_ASSIGN_OR_RETURN(auto m, internal::MakeTlsMaterial(cert_pem, key_pem, client_ca_pem));
    core_->tls.Set(std::move(m));
    return OkStatus();
  }

  std::vector<int> ports() const override { return ports_; }

  void Stop() override {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    if (loop_.joinable()) {
      asio::post(core_->ioc, [this] { BeginStop(); });
      loop_.join();
    }
    core_->loop_ref->Detach();
    if (core_->pool) core_->pool->Stop();
    core_->conns.clear();
    acceptors_.clear();
  }

 private:
  Status Listen(const ListenAddr& a) {
    boost::system::error_code ec;
    const asio::ip::address addr = asio::ip::make_address(a.host, ec);
    auto acc = std::make_unique<tcp::acceptor>(core_->ioc);
    const tcp::endpoint ep(addr, static_cast<unsigned short>(a.port));
    if (!ec) acc->open(ep.protocol(), ec);
    if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && addr.is_v6()) acc->set_option(asio::ip::v6_only(false), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) acc->non_blocking(true, ec);
    if (ec) {
      return MakeError(Code::kUnavailable, "listen_failed",
                       "cannot listen on " + a.text + ": " + ec.message() +
                           " (another process on the port, or the address is not on this host)");
    }
    ports_.push_back(acc->local_endpoint(ec).port());
    acceptors_.push_back(std::move(acc));
    return OkStatus();
  }

  void RunLoop() {
    // A peer that closes while we write costs that connection an EPIPE, not
    // the process a SIGPIPE (all socket writes happen on this thread; the
    // process's own disposition stays the embedding program's choice).
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    for (;;) {
      try {
        core_->ioc.run();
        return;
      } catch (const std::exception&) {
        // A handler threw (std::bad_alloc): that connection is lost, the
        // loop keeps serving the others.
      }
    }
  }

  void Accept(size_t i) {
    acceptors_[i]->async_accept([this, i](const boost::system::error_code& ec, tcp::socket s) {
      if (core_->stopping || ec == asio::error::operation_aborted) return;
      if (ec) return RetryAccept(i, ec);
      OnAccepted(std::move(s));
      Accept(i);
    });
  }

  // Out of descriptors or memory: wait a moment instead of spinning.
  void RetryAccept(size_t i, const boost::system::error_code& ec) {
    const bool pressure = ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
                          ec == asio::error::no_memory || ec.value() == ENFILE;
    if (!pressure) return Accept(i);
    auto t = std::make_shared<asio::steady_timer>(core_->ioc, std::chrono::milliseconds(50));
    t->async_wait([this, i, t](const boost::system::error_code& e) {
      if (!e && !core_->stopping) Accept(i);
    });
  }

  void OnAccepted(tcp::socket s) {
    boost::system::error_code ec;
    const tcp::endpoint peer = s.remote_endpoint(ec);
    if (ec) return;
    const std::string ip = PeerIp(peer);
    std::string source = internal::SourceKey(ip);
    const auto admit = core_->admission.Open(source);
    if (admit == internal::ConnectionLimits::Admit::kRefuse) return;  // `s` closes
    s.set_option(tcp::no_delay(true), ec);
    s.non_blocking(true, ec);
    auto c = std::make_shared<Conn>(*core_, std::move(s), std::move(source), ip,
                                    admit == internal::ConnectionLimits::Admit::kProbation);
    core_->conns.emplace(c.get(), c);
    c->Start();
  }

  // On the loop: no new connections; parked polls answered; the rest close
  // as soon as their response is out, at most kStopDrain from now.
  void BeginStop() {
    core_->stopping = true;
    for (auto& a : acceptors_) {
      boost::system::error_code ec;
      a->close(ec);
    }
    std::vector<std::shared_ptr<Conn>> all;
    for (auto& [raw, c] : core_->conns) all.push_back(c);
    for (auto& c : all) c->Shutdown();
    drain_deadline_ = std::chrono::steady_clock::now() + kStopDrain;
    Drain();
  }

  void Drain() {
    if (core_->conns.empty() || std::chrono::steady_clock::now() >= drain_deadline_) {
      std::vector<std::shared_ptr<Conn>> all;
      for (auto& [raw, c] : core_->conns) all.push_back(c);
      for (auto& c : all) c->Close();
      core_->ioc.stop();
      return;
    }
    auto t = std::make_shared<asio::steady_timer>(core_->ioc, std::chrono::milliseconds(10));
    t->async_wait([this, t](const boost::system::error_code&) { Drain(); });
  }

  std::unique_ptr<ServerCore> core_;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  std::vector<int> ports_;
  std::thread loop_;
  std::mutex stop_mu_;
  bool stopped_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
};

}  // namespace

Result<std::unique_ptr<Server>> StartServer(const ServerOptions& options, Handler handler) {
  if (options.listen.empty()) {
    return MakeError(Code::kInvalidArgument, "invalid_listen_address", "no listen address given");
  }
  const ServerLimits& l = options.limits;
  if (options.worker_threads < 1 || options.worker_threads > 1024 || l.max_body_bytes == 0 ||
      l.max_header_bytes < 256 || l.max_header_count == 0 || l.max_uri_bytes == 0 ||
      l.max_connections == 0) {
    return MakeError(Code::kInvalidArgument, "invalid_server_options",
                     "worker_threads must be in [1, 1024]; max_body_bytes, max_header_count, "
                     "max_uri_bytes and max_connections positive; max_header_bytes at least 256");
  }
  if (!handler) return MakeError(Code::kInvalidArgument, "invalid_server_options", "no handler");
  auto server = std::make_unique<HttpsServer>(options, std::move(handler));
  // On failure the destructor stops what was started.
  TPMESH_RETURN_IF_ERROR(server->Init(options));
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace tpmesh::net
