// One accepted connection of the server: TLS on the socket (OpenSSL,
// non-blocking, record buffers released between records), requests read by
// Beast's parser under ServerLimits, handlers run on the pool, long polls
// parked on the loop. Internal to tpmesh_net.
//
// Lives on the loop thread: every method except the destructor runs there.
// Owned by ServerCore::conns while open, and by the callbacks in flight.
// States: handshake -> idle -> reading -> handling -> (parked) -> writing ->
// idle again, or lingering (close_notify sent, the peer's unread bytes
// drained for a moment so that it gets the response, not a reset) -> closed.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "server_core.h"

namespace tpmesh::net::internal {

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  // `probation`: over an anonymous cap (ConnectionLimits::Admit).
  Conn(ServerCore& core, boost::asio::ip::tcp::socket socket, std::string source,
       std::string remote_ip, bool probation);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Starts the TLS handshake. False when no SSL object could be made (the
  // connection is closed).
  bool Start();
  // The server is stopping: a parked poll gets its timeout response, a
  // request in flight finishes (then the connection closes), anything else
  // closes now.
  void Shutdown();
  // Closes now; idempotent.
  void Close();

 private:
  using Parser = boost::beast::http::request_parser<boost::beast::http::string_body>;
  enum class State {
    kHandshake,
    kIdle,
    kReading,
    kHandling,
    kParked,
    kWriting,
    kLingering,
    kClosed
  };
  using Step = void (Conn::*)();

  void WaitFor(bool readable, Step next);
  void SetDeadline(std::chrono::milliseconds d, Step on_expiry);
  void CancelDeadline();

  void DoHandshake();
  void OnEstablished();
  void ReadSome();
  bool Feed();  // true: wants more bytes
  bool CheckHeader();
  void RefuseParse(const boost::beast::error_code& ec);
  void OnReadTimeout();
  void Dispatch();
  void OnHandled(HttpResponse r);
  void Park(HttpResponse r);
  void OnAnswer(uint64_t seq, HttpResponse r);
  void OnPollTimeout();
  void Respond(HttpResponse r, bool close);
  void Refuse(const Error& e) { Respond(ErrorResponse(e), true); }
  void DoWrite();
  void AfterWrite();
  void Linger();
  void DrainLinger();

  ServerCore& core_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  SSL* ssl_ = nullptr;
  std::string source_;
  std::string remote_ip_;
  bool probation_;         // counted on probation in core_.admission
  bool anonymous_ = true;  // as counted in core_.admission
  State state_ = State::kHandshake;
  uint64_t io_gen_ = 0;     // the socket wait that counts
  uint64_t timer_gen_ = 0;  // the deadline that counts
  Result<Caller> caller_ = Caller{};
  std::optional<Error> refuse_;  // on probation and anonymous
  std::string inbuf_;            // received, not yet parsed
  std::unique_ptr<Parser> parser_;
  bool header_checked_ = false;
  size_t parsed_ = 0;  // bytes of this request the parser took (0: request line not yet read)
  bool keep_alive_ = true;
  std::string out_head_;
  std::shared_ptr<const std::string> out_body_;
  size_t out_pos_ = 0;  // into head, then body
  bool close_after_ = false;
  std::shared_ptr<LongPoll> poll_;
  HttpResponse poll_fallback_;
  uint64_t park_seq_ = 0;
  size_t linger_bytes_ = 0;
};

}  // namespace tpmesh::net::internal
