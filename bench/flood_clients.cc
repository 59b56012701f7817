// The flood benchmark's attacker (bench/flood.h): non-blocking sockets and
// OpenSSL, one epoll thread for the flood, a poll loop per large request.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "bench/bench.h"
#include "bench/flood.h"

namespace tpmesh::bench {
namespace {

// The attacker's TLS: 1.3 only, no verification, no session reuse, buffers
// released between records (thousands of connections).
SSL_CTX* NewClientCtx() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return nullptr;
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return ctx;
}

// A non-blocking TCP socket from `source` to 127.0.0.1:`port`, its connect
// started; -1 if that failed (errno set).
int ConnectFrom(const in_addr& source, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  // The local port is chosen at connect, per destination: thousands of
  // connections from one source address do not share one port range.
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  src.sin_addr = source;
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(port));
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      (connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0 && errno != EINPROGRESS)) {
    const int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

// The status of an HTTP/1.x answer that starts `reply`, 0 if it is not one.
int StatusOf(const std::string& reply) {
  if (reply.size() < 12 || reply.compare(0, 7, "HTTP/1.") != 0) return 0;
  return std::atoi(reply.c_str() + 9);
}

Result<std::vector<in_addr>> ParseSources(const std::vector<std::string>& sources) {
  std::vector<in_addr> out;
  for (const std::string& s : sources) {
    in_addr a{};
    if (inet_pton(AF_INET, s.c_str(), &a) != 1) return BenchError("not an IPv4 address: " + s);
    out.push_back(a);
  }
  if (out.empty()) return BenchError("no source address");
  return out;
}

constexpr const char* kSlowHead = "GET /v1/ca HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

}  // namespace

struct Flood::Loop {
  struct Conn {
    enum class State { kClosed, kConnecting, kHandshake, kOpen };
    int fd = -1;
    SSL* ssl = nullptr;
    State state = State::kClosed;
    bool slow = false;
    bool head_sent = false;
    size_t source = 0;
    double since = 0;  // connect started
    double next = 0;   // kClosed: re-open at; kOpen and slow: next byte at
    std::string reply;
  };

  FloodPlan plan;
  std::vector<in_addr> sources;
  SSL_CTX* ctx = nullptr;
  int ep = -1;
  std::vector<Conn> conns;
  size_t in_flight = 0;  // kConnecting + kHandshake
  std::thread thread;
  std::atomic<bool> stop{false};
  mutable std::mutex mu;
  FloodStats stats;  // guarded by mu

  ~Loop() {
    if (ctx != nullptr) SSL_CTX_free(ctx);
    if (ep >= 0) close(ep);
  }

  template <typename F>
  void Count(F f) {
    std::lock_guard<std::mutex> lock(mu);
    f(stats);
  }

  void Run() {
    std::vector<epoll_event> events(512);
    double next_tick = 0;
    while (!stop.load()) {
      const double now = Now();
      if (now >= next_tick) {
        Tick(now);
        next_tick = now + 0.01;
      }
      const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 10);
      for (int i = 0; i < n; ++i) OnEvent(conns[events[i].data.u32], events[i].events);
    }
    for (Conn& c : conns) Close(c, 0);
  }

  // Opens what may be opened, times out stuck handshakes, sends slow bytes.
  void Tick(double now) {
    for (Conn& c : conns) {
      switch (c.state) {
        case Conn::State::kClosed:
          if (in_flight < plan.burst && now >= c.next) Open(c, now);
          break;
        case Conn::State::kConnecting:
        case Conn::State::kHandshake:
          if (now - c.since > plan.handshake_timeout_s) Fail(c, now);
          break;
        case Conn::State::kOpen:
          if (c.slow && now >= c.next) SendSlow(c, now);
          break;
      }
    }
  }

  void Open(Conn& c, double now) {
    c.fd = ConnectFrom(sources[c.source], plan.port);
    if (c.fd < 0) return Fail(c, now);
    c.ssl = SSL_new(ctx);
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u32 = static_cast<uint32_t>(&c - conns.data());
    if (c.ssl == nullptr || SSL_set_fd(c.ssl, c.fd) != 1 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev) != 0) {
      return Fail(c, now);
    }
    SSL_set_connect_state(c.ssl);
    c.state = Conn::State::kConnecting;
    c.since = now;
    ++in_flight;
  }

  void Watch(Conn& c, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u32 = static_cast<uint32_t>(&c - conns.data());
    epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void OnEvent(Conn& c, uint32_t events) {
    const double now = Now();
    if (c.state == Conn::State::kConnecting) {
      int err = 0;
      socklen_t len = sizeof err;
      if ((events & EPOLLERR) != 0 || getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
          err != 0) {
        return Fail(c, now);
      }
      c.state = Conn::State::kHandshake;
    }
    if (c.state == Conn::State::kHandshake) return Handshake(c, now);
    if (c.state == Conn::State::kOpen) Read(c, now);
  }

  void Handshake(Conn& c, double now) {
    const int r = SSL_do_handshake(c.ssl);
    if (r == 1) {
      c.state = Conn::State::kOpen;
      --in_flight;
      Watch(c, EPOLLIN | EPOLLRDHUP);
      Count([](FloodStats& s) {
        ++s.handshakes;
        s.open_max = std::max(s.open_max, ++s.open);
      });
      if (c.slow) SendSlow(c, now);
      return;
    }
    const int err = SSL_get_error(c.ssl, r);
    if (err == SSL_ERROR_WANT_READ) return Watch(c, EPOLLIN);
    if (err == SSL_ERROR_WANT_WRITE) return Watch(c, EPOLLOUT);
    Fail(c, now);
  }

  // Reads what the server sent: an answer (kept for its status) or the end.
  void Read(Conn& c, double now) {
    char buf[4096];
    for (;;) {
      const int n = SSL_read(c.ssl, buf, sizeof buf);
      if (n > 0) {
        if (c.reply.size() < 16) c.reply.append(buf, std::min<size_t>(static_cast<size_t>(n), 16));
        continue;
      }
      if (SSL_get_error(c.ssl, n) == SSL_ERROR_WANT_READ) return;
      return ServerClosed(c, now);
    }
  }

  void SendSlow(Conn& c, double now) {
    const std::string data = c.head_sent ? std::string("a") : std::string(kSlowHead);
    const int r = SSL_write(c.ssl, data.data(), static_cast<int>(data.size()));
    if (r == static_cast<int>(data.size())) {
      c.head_sent = true;
      c.next = now + plan.slow_interval_s;
      return;
    }
    const int err = r > 0 ? SSL_ERROR_WANT_WRITE : SSL_get_error(c.ssl, r);
    if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
      c.next = now + 0.05;  // the rest of a short write goes the same way: retry soon
      return;
    }
    ServerClosed(c, now);
  }

  void ServerClosed(Conn& c, double now) {
    const int status = StatusOf(c.reply);
    const bool slow = c.slow;
    Count([&](FloodStats& s) {
      ++(slow ? s.slow_closed : s.idle_closed);
      if (status != 0) ++s.statuses[status];
    });
    Close(c, now);
  }

  void Fail(Conn& c, double now) {
    Count([](FloodStats& s) { ++s.failed; });
    Close(c, now);
  }

  void Close(Conn& c, double now) {
    if (c.state == Conn::State::kConnecting || c.state == Conn::State::kHandshake) --in_flight;
    if (c.state == Conn::State::kOpen) Count([](FloodStats& s) { --s.open; });
    if (c.ssl != nullptr) SSL_free(c.ssl);
    if (c.fd >= 0) close(c.fd);  // leaves the epoll set with it
    ERR_clear_error();
    c.ssl = nullptr;
    c.fd = -1;
    c.state = Conn::State::kClosed;
    c.head_sent = false;
    c.reply.clear();
    c.next = now + plan.reopen_delay_s;
  }
};

Flood::Flood(std::unique_ptr<Loop> loop) : loop_(std::move(loop)) {}

Flood::~Flood() { Stop(); }

Result<std::unique_ptr<Flood>> Flood::Start(const FloodPlan& plan) {
  auto loop = std::make_unique<Loop>();
  loop->plan = plan;
  TPMESH_ASSIGN_OR_RETURN(loop->sources, ParseSources(plan.sources));
  loop->ctx = NewClientCtx();
  if (loop->ctx == nullptr) return BenchError("SSL_CTX_new failed");
  loop->ep = epoll_create1(EPOLL_CLOEXEC);
  if (loop->ep < 0) return BenchError("epoll_create1 failed");
  loop->conns.resize(plan.slow + plan.idle);
  for (size_t i = 0; i < loop->conns.size(); ++i) {
    loop->conns[i].slow = i < plan.slow;
    loop->conns[i].source = i % loop->sources.size();
  }
  Loop* raw = loop.get();
  try {
    loop->thread = std::thread([raw] { raw->Run(); });
  } catch (const std::system_error& e) {
    return BenchError(std::string("flood thread: ") + e.what());
  }
  return std::unique_ptr<Flood>(new Flood(std::move(loop)));
}

FloodStats Flood::Stats() const {
  std::lock_guard<std::mutex> lock(loop_->mu);
  return loop_->stats;
}

void Flood::Stop() {
  if (!loop_ || !loop_->thread.joinable()) return;
  loop_->stop = true;
  loop_->thread.join();
}

namespace {

// One large request's connection: non-blocking, polled.
class BigSender {
 public:
  BigSender(const BigRequest& req, double deadline, const std::atomic<bool>& stop)
      : req_(req), deadline_(deadline), stop_(stop) {}
  ~BigSender() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) close(fd_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    ERR_clear_error();
  }

  BigResult Run(int port, const std::string& source) {
    auto src = ParseSources({source});
    if (!src.ok()) return Failed(src.error().message);
    ctx_ = NewClientCtx();
    if (ctx_ == nullptr) return Failed("SSL_CTX_new failed");
    fd_ = ConnectFrom(src->front(), port);
    if (fd_ < 0) return Failed(std::string("connect: ") + std::strerror(errno));
    ssl_ = SSL_new(ctx_);
    if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) return Failed("SSL_new failed");
    for (int r; (r = SSL_connect(ssl_)) != 1;) {
      const int err = SSL_get_error(ssl_, r);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) return Failed("TLS handshake");
      if (!Wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT))
        return Failed("TLS handshake: time");
    }
    std::string piece = req_.head;
    bool more = true;
    while (!Done()) {
      if (!piece.empty()) {
        Write(piece);
      } else if (more) {
        more = req_.next(piece);
        if (!more) piece.clear();
      } else {
        Wait(POLLIN);  // everything sent: wait for the answer
        ReadAnswer();
      }
    }
    return result_;
  }

 private:
  bool Done() {
    if (result_.status != 0 || result_.closed) return true;
    result_.timed_out = stop_.load() || Now() > deadline_;
    return result_.timed_out;
  }
  BigResult Failed(const std::string& why) {
    result_.error = why;
    return result_;
  }
  // Waits (at most 50 ms) for `events`; false if the deadline passed.
  bool Wait(short events) {
    pollfd p{fd_, events, 0};
    poll(&p, 1, 50);
    return Now() <= deadline_ && !stop_.load();
  }
  // Writes some of `piece` (erasing what went), then looks for an answer.
  void Write(std::string& piece) {
    const int r =
        SSL_write(ssl_, piece.data(), static_cast<int>(std::min<size_t>(piece.size(), 1 << 20)));
    if (r > 0) {
      result_.sent += static_cast<uint64_t>(r);
      piece.erase(0, static_cast<size_t>(r));
    } else if (const int err = SSL_get_error(ssl_, r); err == SSL_ERROR_WANT_WRITE) {
      Wait(POLLIN | POLLOUT);
    } else if (err != SSL_ERROR_WANT_READ) {
      ReadAnswer();  // an answer may have come before the close
      result_.closed = true;
      return;
    }
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 0) == 1) ReadAnswer();
  }
  void ReadAnswer() {
    char buf[4096];
    for (;;) {
      const int n = SSL_read(ssl_, buf, sizeof buf);
      if (n > 0) {
        if (reply_.size() < 16) reply_.append(buf, std::min<size_t>(static_cast<size_t>(n), 16));
        result_.status = StatusOf(reply_);
        continue;
      }
      const int err = SSL_get_error(ssl_, n);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) result_.closed = true;
      return;
    }
  }

  const BigRequest& req_;
  const double deadline_;
  const std::atomic<bool>& stop_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  std::string reply_;
  BigResult result_;
};

}  // namespace

BigRequest ChunkedBody(uint64_t bytes) {
  BigRequest r;
  r.head =
      "POST /v1/enroll/start HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  r.next = [chunk = "10000\r\n" + std::string(65536, 'x') + "\r\n", left = bytes / 65536,
            ended = false](std::string& piece) mutable {
    if (left > 0) {
      --left;
      piece = chunk;
      return true;
    }
    if (ended) return false;
    ended = true;
    piece = "0\r\n\r\n";
    return true;
  };
  return r;
}

BigRequest ManyFields(size_t fields) {
  BigRequest r;
  r.head = "GET /v1/ca HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  r.next = [i = size_t{0}, fields, ended = false](std::string& piece) mutable {
    if (ended) return false;
    piece.clear();
    for (size_t k = 0; k < 4096 && i < fields; ++k, ++i)
      piece += "X-" + std::to_string(i) + ": 1\r\n";
    if (piece.empty()) {
      ended = true;
      piece = "\r\n";
    }
    return true;
  };
  return r;
}

BigResult SendBig(int port, const std::string& source, const BigRequest& request, double deadline,
                  const std::atomic<bool>& stop) {
  return BigSender(request, deadline, stop).Run(port, source);
}

}  // namespace tpmesh::bench
