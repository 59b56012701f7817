// Test support for the HTTPS server's own tests (server_limits_test,
// server_poll_test): a throwaway PKI, a raw blocking TLS client that can send
// anything (slow, malformed, oversized), and a server fixture.
#pragma once

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tpmesh/net/http.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::net::testing {

struct TestPki {
  pki::AuthorityCa ca;
  pki::CertAndKey server;  // 127.0.0.1, ::1
  pki::CertAndKey admin;   // "alice"
  pki::CertAndKey node;    // kTestNodeId
};
inline constexpr char kTestNodeId[] = "00112233445566778899";
const TestPki& SharedPki();  // made once per process

struct RawResponse {
  int status = 0;
  std::string head;  // status line and fields
  std::string body;
  std::string reason;  // the error body's "reason", if any
};

// One TLS 1.3 connection from the test to the server, blocking, with a
// receive timeout. Not thread-safe.
class RawTls {
 public:
  // nullptr when TCP or TLS fails. `source`: local IPv4 address to bind
  // (127.0.0.x), or "" for any.
  static std::unique_ptr<RawTls> Connect(int port, const pki::CertAndKey* cert = nullptr,
                                         const std::string& source = "");
  // Connect, send `bytes`, read one response: nullopt if any step fails.
  static std::optional<RawResponse> Exchange(int port, std::string_view bytes,
                                             const pki::CertAndKey* cert = nullptr);
  // Only TCP, no TLS: for handshake deadlines.
  static int ConnectTcp(int port);
  ~RawTls();

  bool Send(std::string_view bytes);
  // One response (head, then Content-Length bytes), within `timeout`.
  std::optional<RawResponse> Read(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // True when the server closes the connection (EOF or reset) within
  // `timeout`; bytes that arrive before are discarded.
  bool ClosedWithin(std::chrono::milliseconds timeout);

 private:
  RawTls() = default;
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string pending_;
};

// "GET <path> HTTP/1.1" with Host and the given extra lines (each without
// CRLF), and a body with Content-Length when not empty.
std::string Request(const std::string& method, const std::string& path,
                    const std::string& body = "", const std::vector<std::string>& extra = {});

// A server on 127.0.0.1:0 with `limits`, answering with `handler`.
class ServerFixture : public ::testing::Test {
 protected:
  void Start(ServerLimits limits, Handler handler, int workers = 2);
  void TearDown() override { server_.reset(); }
  int port() const { return server_->ports().at(0); }
  std::unique_ptr<Server> server_;
};

// 200 "<kind>|<path>|<body size>", text/plain.
Handler EchoKind();

}  // namespace tpmesh::net::testing
