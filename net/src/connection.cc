#include "connection.h"

#include <openssl/err.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <iterator>

#include "request_target.h"

namespace tpmesh::net::internal {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;

constexpr size_t kInlineBody = 16 * 1024;   // smaller bodies go in one record with the head
constexpr size_t kMaxWriteChunk = 1 << 20;  // per SSL_write
constexpr size_t kLingerBytes = 256 * 1024;
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr std::chrono::milliseconds kProbationHandshake{2000};

Error Refusal(const std::string& reason, const std::string& message) {
  return MakeError(Code::kInvalidArgument, reason, message);
}

std::string Ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

}  // namespace

Conn::Conn(ServerCore& core, asio::ip::tcp::socket socket, std::string source,
           std::string remote_ip, bool probation)
    : core_(core),
      socket_(std::move(socket)),
      timer_(core.ioc),
      source_(std::move(source)),
      remote_ip_(std::move(remote_ip)),
      probation_(probation) {}

Conn::~Conn() { SSL_free(ssl_); }

bool Conn::Start() {
  ssl_ = SSL_new(core_.ssl_ctx.get());
  if (ssl_ == nullptr || SSL_set_fd(ssl_, socket_.native_handle()) != 1) {
    ERR_clear_error();
    Close();
    return false;
  }
  SSL_set_accept_state(ssl_);
  // On probation the handshake must be quick: the slot is one of few.
  SetDeadline(probation_ ? std::min(core_.limits.handshake_timeout, kProbationHandshake)
                         : core_.limits.handshake_timeout,
              &Conn::Close);
  DoHandshake();
  return true;
}

void Conn::WaitFor(bool readable, Step next) {
  const uint64_t gen = ++io_gen_;
  socket_.async_wait(
      readable ? asio::ip::tcp::socket::wait_read : asio::ip::tcp::socket::wait_write,
      [self = shared_from_this(), gen, next](const boost::system::error_code& ec) {
        if (ec || gen != self->io_gen_ || self->state_ == State::kClosed) return;
        ((*self).*next)();
      });
}

void Conn::SetDeadline(std::chrono::milliseconds d, Step on_expiry) {
  const uint64_t gen = ++timer_gen_;
  timer_.expires_after(d);
  timer_.async_wait(
      [self = shared_from_this(), gen, on_expiry](const boost::system::error_code& ec) {
        if (ec || gen != self->timer_gen_ || self->state_ == State::kClosed) return;
        ((*self).*on_expiry)();
      });
}

void Conn::CancelDeadline() {
  ++timer_gen_;
  timer_.cancel();
}

void Conn::DoHandshake() {
  if (state_ != State::kHandshake) return;
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) return OnEstablished();
  const int err = SSL_get_error(ssl_, r);
  if (err == SSL_ERROR_WANT_READ) return WaitFor(true, &Conn::DoHandshake);
  if (err == SSL_ERROR_WANT_WRITE) return WaitFor(false, &Conn::DoHandshake);
  ERR_clear_error();  // a failed handshake (wrong CA, TLS 1.2, garbage): nothing to answer
  Close();
}

void Conn::OnEstablished() {
  caller_ = CallerOf(ssl_);
  const bool authenticated = caller_.ok() && caller_->kind != Caller::Kind::kAnonymous;
  if (authenticated) {
    core_.admission.Authenticated(source_, probation_);
    anonymous_ = false;
    probation_ = false;
  } else if (probation_) {
    // Answered at once, before its request (which the lingering close then
    // drains): the probation slot is held for a moment, not for deadlines.
    refuse_ = MakeError(Code::kUnavailable, "too_many_connections",
                        "too many connections without a client certificate (from " + source_ +
                            " or in total); try again later");
    state_ = State::kHandling;
    return Refuse(*refuse_);
  }
  state_ = State::kIdle;
  SetDeadline(authenticated ? core_.limits.idle_timeout : core_.limits.anonymous_idle_timeout,
              &Conn::Close);
  ReadSome();
}

void Conn::ReadSome() {
  if (state_ != State::kIdle && state_ != State::kReading) return;
  for (;;) {
    const int n = SSL_read(ssl_, core_.read_buf.data(), static_cast<int>(core_.read_buf.size()));
    if (n > 0) {
      inbuf_.append(core_.read_buf.data(), static_cast<size_t>(n));
      if (!Feed()) return;
      continue;
    }
    const int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ) return WaitFor(true, &Conn::ReadSome);
    if (err == SSL_ERROR_WANT_WRITE) return WaitFor(false, &Conn::ReadSome);
    ERR_clear_error();  // closed by the peer, or a TLS error
    return Close();
  }
}

bool Conn::Feed() {
  if (state_ == State::kIdle) {
    state_ = State::kReading;
    parser_ = std::make_unique<Parser>();
    parser_->header_limit(static_cast<std::uint32_t>(core_.limits.max_header_bytes));
    parser_->body_limit(core_.limits.max_body_bytes);
    parser_->eager(true);
    SetDeadline(core_.limits.header_timeout, &Conn::OnReadTimeout);
  }
  for (;;) {
    boost::beast::error_code ec;
    const size_t used = parser_->put(asio::buffer(inbuf_.data(), inbuf_.size()), ec);
    inbuf_.erase(0, used);
    parsed_ += used;
    if (ec == http::error::need_more) {
      // A request line alone longer than the URI limit: 414 without waiting
      // for the header limit.
      if (parsed_ == 0 && inbuf_.size() > core_.limits.max_uri_bytes + 32 &&
          inbuf_.find("\r\n") == std::string::npos) {
        Refuse(Refusal("uri_too_long", "request target longer than " +
                                           std::to_string(core_.limits.max_uri_bytes) + " bytes"));
        return false;
      }
      return true;
    }
    if (ec) {
      RefuseParse(ec);
      return false;
    }
    if (!header_checked_ && parser_->is_header_done() && !CheckHeader()) return false;
    if (parser_->is_done()) {
      Dispatch();
      return false;
    }
    if (used == 0 || inbuf_.empty()) return true;
  }
}

bool Conn::CheckHeader() {
  header_checked_ = true;
  const auto& msg = parser_->get();
  if (msg.target().size() > core_.limits.max_uri_bytes) {
    Refuse(Refusal("uri_too_long", "request target longer than " +
                                       std::to_string(core_.limits.max_uri_bytes) + " bytes"));
    return false;
  }
  if (static_cast<size_t>(std::distance(msg.begin(), msg.end())) > core_.limits.max_header_count) {
    Refuse(
        Refusal("headers_too_large",
                "more than " + std::to_string(core_.limits.max_header_count) + " header fields"));
    return false;
  }
  const http::verb v = msg.method();
  if (v != http::verb::get && v != http::verb::post && v != http::verb::delete_) {
    Refuse(Refusal("method_not_allowed", "method " +
                                             std::string(msg.method_string().substr(0, 32)) +
                                             " not allowed (GET, POST, DELETE)"));
    return false;
  }
  if (!parser_->is_done()) SetDeadline(core_.limits.body_timeout, &Conn::OnReadTimeout);
  return true;
}

void Conn::RefuseParse(const boost::beast::error_code& ec) {
  if (ec == http::error::header_limit) {
    const size_t eol = inbuf_.find("\r\n");
    if (parsed_ == 0 && (eol == std::string::npos || eol > core_.limits.max_uri_bytes + 32)) {
      return Refuse(Refusal(
          "uri_too_long",
          "request target longer than " + std::to_string(core_.limits.max_uri_bytes) + " bytes"));
    }
    return Refuse(Refusal(
        "headers_too_large",
        "request headers exceed " + std::to_string(core_.limits.max_header_bytes) + " bytes"));
  }
  if (ec == http::error::body_limit) {
    return Refuse(
        Refusal("body_too_large",
                "request body exceeds " + std::to_string(core_.limits.max_body_bytes) + " bytes"));
  }
  Refuse(Refusal("bad_request", "malformed HTTP request: " + ec.message()));
}

void Conn::OnReadTimeout() {
  const bool headers = parser_ == nullptr || !parser_->is_header_done();
  Refuse(MakeError(Code::kInvalidArgument, "request_timeout",
                   std::string(headers ? "request headers" : "request body") +
                       " not received within " +
                       Ms(headers ? core_.limits.header_timeout : core_.limits.body_timeout)));
}

void Conn::Dispatch() {
  CancelDeadline();
  auto& msg = parser_->get();
  keep_alive_ = msg.keep_alive();
  auto target = ParseRequestTarget(std::string_view(msg.target().data(), msg.target().size()));
  if (!target.ok()) return Refuse(target.error());
  HttpRequest req;
  req.method = std::string(msg.method_string());
  req.path = std::move(target->path);
  req.query = std::move(target->query);
  req.body = std::move(msg.body());
  req.remote_addr = remote_ip_;
  parser_.reset();
  header_checked_ = false;
  parsed_ = 0;
  if (inbuf_.empty()) std::string().swap(inbuf_);
  state_ = State::kHandling;
  ++io_gen_;
  if (refuse_) return Refuse(*refuse_);
  if (!caller_.ok()) return Refuse(caller_.error());
  const Caller caller = *caller_;
  const auto prio = caller.kind == Caller::Kind::kAdmin  ? WorkPool::Priority::kAdmin
                    : caller.kind == Caller::Kind::kNode ? WorkPool::Priority::kNode
                                                         : WorkPool::Priority::kAnonymous;
  auto job = [self = shared_from_this(), req = std::move(req), caller]() mutable {
    HttpResponse r;
    try {
      r = self->core_.handler(req, caller);
    } catch (...) {
      r = ErrorResponse(
          MakeError(Code::kInternal, "internal_error", "the request handler failed unexpectedly"));
    }
    auto ref = self->core_.loop_ref;
    ref->Post(
        [self = std::move(self), r = std::move(r)]() mutable { self->OnHandled(std::move(r)); });
  };
  if (!core_.pool->Post(prio, std::move(job))) {
    Refuse(MakeError(Code::kUnavailable, "server_busy",
                     "too many requests without a client certificate are queued; try again later"));
  }
}

void Conn::OnHandled(HttpResponse r) {
  if (state_ != State::kHandling) return;
  if (r.poll) return Park(std::move(r));
  Respond(std::move(r), !keep_alive_);
}

void Conn::Park(HttpResponse r) {
  state_ = State::kParked;
  poll_ = std::move(r.poll);
  const std::chrono::milliseconds timeout = r.poll_timeout;
  poll_fallback_ = std::move(r);
  const uint64_t seq = ++park_seq_;
  if (core_.stopping) return OnPollTimeout();
  SetDeadline(timeout, &Conn::OnPollTimeout);
  std::weak_ptr<Conn> weak = shared_from_this();
  std::shared_ptr<LoopRef> ref = core_.loop_ref;
  poll_->Arm([weak, ref, seq](HttpResponse answer) {
    ref->Post([weak, seq, answer = std::move(answer)]() mutable {
      if (auto c = weak.lock()) c->OnAnswer(seq, std::move(answer));
    });
  });
}

void Conn::OnAnswer(uint64_t seq, HttpResponse r) {
  if (state_ != State::kParked || seq != park_seq_) return;
  CancelDeadline();
  poll_.reset();
  r.poll.reset();
  Respond(std::move(r), !keep_alive_);
}

void Conn::OnPollTimeout() {
  if (state_ != State::kParked) return;
  ++park_seq_;  // an answer still on its way is ignored
  if (poll_) poll_->Disarm();
  poll_.reset();
  HttpResponse r = std::move(poll_fallback_);
  poll_fallback_ = HttpResponse{};
  r.poll.reset();
  Respond(std::move(r), !keep_alive_);
}

void Conn::Respond(HttpResponse r, bool close) {
  close_after_ = close || core_.stopping || refuse_.has_value();
  const bool no_body = r.status == 204 || r.status == 304;
  std::shared_ptr<const std::string> body = std::move(r.shared_body);
  if (!body && !no_body && !r.body.empty()) {
    body = std::make_shared<const std::string>(std::move(r.body));
  }
  const size_t length = no_body || !body ? 0 : body->size();
  const auto reason = http::obsolete_reason(http::int_to_status(static_cast<unsigned>(r.status)));
  std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " +
                     std::string(reason.data(), reason.size()) + "\r\n";
  if (!no_body) {
    head += "Content-Type: " + r.content_type + "\r\nContent-Length: " + std::to_string(length) +
            "\r\n";
  }
  head += close_after_ ? "Connection: close\r\n" : "Connection: keep-alive\r\n";
  head += "Cache-Control: no-store\r\n\r\n";
  if (length > 0 && length <= kInlineBody) {
    head += *body;
    body.reset();
  }
  out_head_ = std::move(head);
  out_body_ = length > kInlineBody ? std::move(body) : nullptr;
  out_pos_ = 0;
  state_ = State::kWriting;
  ++io_gen_;  // a read wait still registered must not run in this state
  SetDeadline(core_.limits.write_timeout, &Conn::Close);
  DoWrite();
}

void Conn::DoWrite() {
  if (state_ != State::kWriting) return;
  for (;;) {
    std::string_view rest;
    if (out_pos_ < out_head_.size()) {
      rest = std::string_view(out_head_).substr(out_pos_);
    } else if (out_body_ && out_pos_ - out_head_.size() < out_body_->size()) {
      rest = std::string_view(*out_body_).substr(out_pos_ - out_head_.size());
    } else {
      return AfterWrite();
    }
    const int n =
        SSL_write(ssl_, rest.data(), static_cast<int>(std::min(rest.size(), kMaxWriteChunk)));
    if (n > 0) {
      out_pos_ += static_cast<size_t>(n);
      continue;
    }
    const int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_WRITE) return WaitFor(false, &Conn::DoWrite);
    if (err == SSL_ERROR_WANT_READ) return WaitFor(true, &Conn::DoWrite);
    ERR_clear_error();
    return Close();
  }
}

void Conn::AfterWrite() {
  CancelDeadline();
  std::string().swap(out_head_);
  out_body_.reset();
  if (close_after_) return Linger();
  state_ = State::kIdle;
  SetDeadline(anonymous_ ? core_.limits.anonymous_idle_timeout : core_.limits.idle_timeout,
              &Conn::Close);
  // Bytes of the next request may already be here (pipelined, or decrypted
  // with the last one).
  if (!inbuf_.empty() && !Feed()) return;
  ReadSome();
}

void Conn::Linger() {
  state_ = State::kLingering;
  ++io_gen_;
  (void)SSL_shutdown(ssl_);  // close_notify, best effort
  ERR_clear_error();
  boost::system::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  SetDeadline(kLingerTime, &Conn::Close);
  linger_bytes_ = 0;
  DrainLinger();
}

void Conn::DrainLinger() {
  socket_.async_read_some(
      asio::buffer(core_.read_buf),
      [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
        if (self->state_ != State::kLingering) return;
        self->linger_bytes_ += n;
        if (ec || self->linger_bytes_ > kLingerBytes) return self->Close();
        self->DrainLinger();
      });
}

void Conn::Shutdown() {
  switch (state_) {
    case State::kParked: return OnPollTimeout();
    case State::kHandling:
    case State::kWriting:
    case State::kClosed: return;  // closes after its response (core_.stopping)
    default: return Close();
  }
}

void Conn::Close() {
  if (state_ == State::kClosed) return;
  const bool was_parked = state_ == State::kParked;
  state_ = State::kClosed;
  ++io_gen_;
  CancelDeadline();
  if (was_parked && poll_) poll_->Disarm();
  poll_.reset();
  boost::system::error_code ec;
  socket_.close(ec);
  core_.admission.Close(source_, anonymous_, probation_);
  parser_.reset();
  std::string().swap(inbuf_);
  out_body_.reset();
  auto keep = shared_from_this();  // the table may hold the last owner
  core_.conns.erase(this);
}

}  // namespace tpmesh::net::internal
