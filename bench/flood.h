// The attacker's side of the flood benchmark (bench/flood.cc; the code is in
// bench/flood_clients.cc): raw TLS 1.3 connections (OpenSSL, no server
// verification: the attacker does not care who answers) to a server on
// 127.0.0.1, each made from a chosen IPv4 loopback source address.
//
// Nothing here is thread-safe unless it says so. SIGPIPE must be ignored
// while these run (a write to a connection the server closed).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tpmesh/common/result.h"

namespace tpmesh::bench {

struct FloodPlan {
  int port = 0;                      // the server, on 127.0.0.1
  std::vector<std::string> sources;  // IPv4 loopback addresses; connection i uses i % size
  size_t slow = 0;                   // slow-header connections
  size_t idle = 0;                   // idle TLS connections
  size_t burst = 64;                 // most connections connecting or handshaking at once
  double slow_interval_s = 2;        // a slow connection sends one header byte this often
  double reopen_delay_s = 0.1;       // a closed connection is re-opened no sooner than this
  double handshake_timeout_s = 10;   // TCP connect + TLS handshake; then closed and re-opened
};

struct FloodStats {
  size_t open = 0;                 // established (handshake done) now
  size_t open_max = 0;             // the most established at once
  size_t handshakes = 0;           // completed, re-opens included
  size_t slow_closed = 0;          // established slow-header connections the server closed
  size_t idle_closed = 0;          // established idle connections the server closed
  size_t failed = 0;               // connects and handshakes that failed or timed out
  std::map<int, size_t> statuses;  // HTTP status of the answers seen on flood connections
};

// The slow-header and idle connections, driven by one thread (epoll). A slow
// connection sends "GET /v1/ca HTTP/1.1", a Host line and the start of a
// header field once established, then one byte of that field's value every
// slow_interval_s; an idle one sends nothing after its handshake. Either is
// re-opened (same source) when the server closes it or it fails.
class Flood {
 public:
  // Starts the thread, which begins connecting at once (plan.burst at a
  // time). Errors: the TLS context, epoll, a source address that is not IPv4,
  // the thread.
  [[nodiscard]] static Result<std::unique_ptr<Flood>> Start(const FloodPlan& plan);
  ~Flood();  // Stop()
  Flood(const Flood&) = delete;
  Flood& operator=(const Flood&) = delete;

  // A snapshot. Thread-safe.
  FloodStats Stats() const;
  // Closes every connection and joins the thread. Idempotent.
  void Stop();

  struct Loop;  // flood_clients.cc

 private:
  explicit Flood(std::unique_ptr<Loop> loop);
  std::unique_ptr<Loop> loop_;
};

// One large request: `head` (request line and fields) first, then the
// pieces `next` produces until it returns false (it returns the last piece
// with true, then false).
struct BigRequest {
  std::string head;
  std::function<bool(std::string& piece)> next;
};

// POST /v1/enroll/start with a chunked body of `bytes` (in 64 KiB chunks).
BigRequest ChunkedBody(uint64_t bytes);
// GET /v1/ca with `fields` header fields "X-<i>: 1" (4,096 per piece).
BigRequest ManyFields(size_t fields);

struct BigResult {
  int status = 0;          // the server's answer (0: none)
  bool closed = false;     // the server closed or reset the connection
  bool timed_out = false;  // the deadline passed (or `stop` was set) first
  uint64_t sent = 0;       // request bytes the TLS layer took
  std::string error;       // the connection or handshake could not be made
};

// Sends `request` over a fresh TLS connection from `source` to
// 127.0.0.1:`port`, checking for an answer between writes. Stops sending
// as soon as the server answers or closes; after the last piece waits for
// the answer. Returns by `deadline` (steady seconds, bench::Now()) or soon
// after `stop` is set. Thread-safe (its own TLS context).
BigResult SendBig(int port, const std::string& source, const BigRequest& request, double deadline,
                  const std::atomic<bool>& stop);

}  // namespace tpmesh::bench
