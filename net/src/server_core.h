// What the server's connections share (net/src/server.cc owns it): the event
// loop, the TLS context, the limits, the handler pool and the connection
// table. Everything here except `loop_ref` and the pool is used on the loop
// thread only. Internal to tpmesh_net.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "conn_limits.h"
#include "server_tls.h"
#include "tpmesh/net/http.h"
#include "work_pool.h"

namespace tpmesh::net::internal {

class Conn;

// A handle on the loop that stays safe to use after the server is gone:
// Post does nothing once Detach has run. Thread-safe.
class LoopRef {
 public:
  explicit LoopRef(boost::asio::io_context* ioc) : ioc_(ioc) {}
  template <typename F>
  void Post(F&& f) {
    std::lock_guard<std::mutex> lock(mu_);
    if (ioc_ != nullptr) boost::asio::post(*ioc_, std::forward<F>(f));
  }
  void Detach() {
    std::lock_guard<std::mutex> lock(mu_);
    ioc_ = nullptr;
  }

 private:
  std::mutex mu_;
  boost::asio::io_context* ioc_;
};

struct ServerCore {
  ServerCore(const ServerOptions& o, Handler h)
      : limits(o.limits), handler(std::move(h)), admission(o.limits) {}

  boost::asio::io_context ioc{1};
  std::shared_ptr<LoopRef> loop_ref = std::make_shared<LoopRef>(&ioc);
  ServerLimits limits;
  Handler handler;
  TlsHolder tls;
  SslCtxPtr ssl_ctx;
  std::unique_ptr<WorkPool> pool;
  ConnectionLimits admission;
  std::unordered_map<Conn*, std::shared_ptr<Conn>> conns;
  bool stopping = false;
  // Decrypted bytes land here first (one buffer for the loop, not one per
  // connection).
  std::array<char, 16 * 1024> read_buf{};
};

}  // namespace tpmesh::net::internal
