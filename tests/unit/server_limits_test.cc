// The HTTPS server against raw TLS clients: every limit is enforced while
// reading (413 before a chunked body ends, 431, 414), deadlines are totals,
// idle and handshake deadlines close, connection caps refuse anonymous
// connections first, and admin requests overtake queued anonymous ones.
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "tests/unit/server_test_util.h"

namespace tpmesh::net::testing {
namespace {

using std::chrono::milliseconds;

class ServerLimitsTest : public ServerFixture {
 protected:
  static ServerLimits Small() {
    ServerLimits l;
    l.max_body_bytes = 1024;
    return l;
  }
};

TEST_F(ServerLimitsTest, ChunkedBodyOverTheLimitIs413BeforeItEnds) {
  Start(Small(), EchoKind());
  auto c = RawTls::Connect(port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Send("POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk = "200\r\n" + std::string(512, 'x') + "\r\n";
  ASSERT_TRUE(c->Send(chunk + chunk + chunk));  // 1,536 bytes, and the body goes on
  auto r = c->Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->reason, "body_too_large");
  EXPECT_NE(r->head.find("Connection: close"), std::string::npos) << r->head;
  EXPECT_TRUE(c->ClosedWithin(milliseconds(3000)));

  // One chunk that announces more than the limit: refused at its size line.
  auto d = RawTls::Connect(port());
  ASSERT_TRUE(d);
  ASSERT_TRUE(
      d->Send("POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
              "20000000\r\nxx"));
  auto big = d->Read();
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
}

TEST_F(ServerLimitsTest, ContentLengthOverTheLimitIs413WithoutReadingTheBody) {
  Start(Small(), EchoKind());
  auto r =
      RawTls::Exchange(port(), "POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  // At the limit exactly: served.
  auto served = RawTls::Exchange(port(), Request("POST", "/p", std::string(1024, 'y')));
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200);
  EXPECT_EQ(served->body, "anonymous|/p|1024");
}

TEST_F(ServerLimitsTest, TooManyOrTooLargeHeadersAre431) {
  Start(Small(), EchoKind());
  std::vector<std::string> many;
  for (int i = 0; i < 65; ++i) many.push_back("X-" + std::to_string(i) + ": v");
  auto r = RawTls::Exchange(port(), Request("GET", "/v1/ca", "", many));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(r->reason, "headers_too_large");

  // 64 fields are fine.
  many.pop_back();
  many.pop_back();  // Host is one of them
  auto served = RawTls::Exchange(port(), Request("GET", "/v1/ca", "", many));
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200);

  // Headers that never end: 431 as soon as they pass 16 KiB.
  auto big = RawTls::Exchange(port(), "GET / HTTP/1.1\r\nX-Long: " + std::string(20000, 'a'));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 431);
}

TEST_F(ServerLimitsTest, LongRequestTargetIs414) {
  Start(Small(), EchoKind());
  auto r = RawTls::Exchange(port(), Request("GET", "/" + std::string(5000, 'p')));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 414);
  EXPECT_EQ(r->reason, "uri_too_long");
  // A request line that never ends: 414 without waiting for 16 KiB.
  auto early = RawTls::Exchange(port(), "GET /" + std::string(4200, 'q'));
  ASSERT_TRUE(early);
  EXPECT_EQ(early->status, 414);
}

TEST_F(ServerLimitsTest, MalformedRequestsAreNamed) {
  Start(Small(), EchoKind());
  struct Case {
    std::string bytes;
    int status;
    std::string reason;
  };
  for (const Case& k : {Case{"GARBAGE\r\n\r\n", 400, "bad_request"},
                        Case{Request("GET", "/a%zz"), 400, "bad_request"},
                        Case{Request("GET", "/a%2fb"), 400, "bad_request"},
                        Case{Request("PUT", "/p"), 405, "method_not_allowed"},
                        Case{"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400, "bad_request"}}) {
    auto r = RawTls::Exchange(port(), k.bytes);
    ASSERT_TRUE(r) << k.bytes;
    EXPECT_EQ(r->status, k.status) << k.bytes;
    EXPECT_EQ(r->reason, k.reason) << k.bytes << " " << r->body;
  }
}

TEST_F(ServerLimitsTest, SlowHeadersMeetATotalDeadline) {
  ServerLimits l = Small();
  l.header_timeout = milliseconds(400);
  Start(l, EchoKind());
  auto c = RawTls::Connect(port());
  ASSERT_TRUE(c);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nX"));
  // A byte every 100 ms would keep a per-read timeout alive forever.
  std::atomic<bool> stop{false};
  std::thread drip([&] {
    while (!stop) {
      std::this_thread::sleep_for(milliseconds(100));
      if (!stop) (void)c->Send("a");
    }
  });
  auto r = c->Read(milliseconds(5000));
  stop = true;
  drip.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_EQ(r->reason, "request_timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(3000));
}

TEST_F(ServerLimitsTest, IdleAndHandshakeDeadlinesClose) {
  ServerLimits l = Small();
  l.anonymous_idle_timeout = milliseconds(200);
  l.idle_timeout = milliseconds(5000);
  l.handshake_timeout = milliseconds(300);
  Start(l, EchoKind());
  auto anon = RawTls::Connect(port());
  auto node = RawTls::Connect(port(), &SharedPki().node);
  ASSERT_TRUE(anon && node);
  EXPECT_TRUE(anon->ClosedWithin(milliseconds(3000)));
  EXPECT_FALSE(node->ClosedWithin(milliseconds(600)));  // its idle deadline is 5 s
  ASSERT_TRUE(node->Send(Request("GET", "/still")));
  auto r = node->Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "node|/still|0");

  // TCP only, no ClientHello: closed at the handshake deadline.
  const int fd = RawTls::ConnectTcp(port());
  ASSERT_GE(fd, 0);
  char b;
  timeval tv{3, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  EXPECT_EQ(read(fd, &b, 1), 0);  // EOF, not the 3 s timeout
  close(fd);
}

TEST_F(ServerLimitsTest, KeepAliveAndPipelinedRequestsAnswerInOrder) {
  Start(Small(), EchoKind());
  auto c = RawTls::Connect(port(), &SharedPki().admin);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Send(Request("GET", "/one") + Request("POST", "/two", "abc")));
  auto one = c->Read();
  auto two = c->Read();
  ASSERT_TRUE(one && two);
  EXPECT_EQ(one->body, "admin|/one|0");
  EXPECT_EQ(two->body, "admin|/two|3");
  EXPECT_NE(two->head.find("Connection: keep-alive"), std::string::npos);
  ASSERT_TRUE(c->Send(Request("GET", "/three", "", {"Connection: close"})));
  auto three = c->Read();
  ASSERT_TRUE(three);
  EXPECT_NE(three->head.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(c->ClosedWithin(milliseconds(3000)));
}

TEST_F(ServerLimitsTest, AnonymousCapsRefuseAnonymousConnectionsFirst) {
  ServerLimits l = Small();
  l.max_anonymous_per_source = 2;
  l.max_anonymous = 3;
  Start(l, EchoKind());
  auto a1 = RawTls::Connect(port(), nullptr, "127.0.0.2");
  auto a2 = RawTls::Connect(port(), nullptr, "127.0.0.2");
  ASSERT_TRUE(a1 && a2);
  // The third anonymous one from that source: served 503, then closed.
  auto a3 = RawTls::Connect(port(), nullptr, "127.0.0.2");
  ASSERT_TRUE(a3);
  ASSERT_TRUE(a3->Send(Request("GET", "/x")));
  auto refused = a3->Read();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->reason, "too_many_connections");
  a3.reset();
  // A node certificate from the same source is served.
  auto node = RawTls::Connect(port(), &SharedPki().node, "127.0.0.2");
  ASSERT_TRUE(node);
  ASSERT_TRUE(node->Send(Request("GET", "/n")));
  auto served = node->Read();
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200);
  // Another source has room until the total anonymous cap (3).
  auto b1 = RawTls::Connect(port(), nullptr, "127.0.0.3");
  ASSERT_TRUE(b1);
  ASSERT_TRUE(b1->Send(Request("GET", "/b")));
  auto b1r = b1->Read();
  ASSERT_TRUE(b1r);
  EXPECT_EQ(b1r->status, 200);
  auto b2 = RawTls::Connect(port(), nullptr, "127.0.0.4");
  ASSERT_TRUE(b2);
  ASSERT_TRUE(b2->Send(Request("GET", "/b")));
  auto b2r = b2->Read();
  ASSERT_TRUE(b2r);
  EXPECT_EQ(b2r->status, 503);
  // A closed connection frees its slot.
  b2.reset();  // (the server lingers on a refused one until the client closes)
  a1.reset();
  std::this_thread::sleep_for(milliseconds(200));
  auto again = RawTls::Connect(port(), nullptr, "127.0.0.5");
  ASSERT_TRUE(again);
  ASSERT_TRUE(again->Send(Request("GET", "/again")));
  auto ar = again->Read();
  ASSERT_TRUE(ar);
  EXPECT_EQ(ar->status, 200);
}

TEST_F(ServerLimitsTest, OverMaxConnectionsIsClosedAtAccept) {
  ServerLimits l = Small();
  l.max_connections = 2;
  Start(l, EchoKind());
  auto a = RawTls::Connect(port(), &SharedPki().admin);
  auto b = RawTls::Connect(port(), &SharedPki().admin);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(RawTls::Connect(port(), &SharedPki().admin));
  a.reset();
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_TRUE(RawTls::Connect(port(), &SharedPki().admin));
}

TEST_F(ServerLimitsTest, AdminRequestsOvertakeQueuedAnonymousOnes) {
  std::atomic<int> order{0};
  std::atomic<int> admin_at{-1};
  Handler slow = [&](const HttpRequest&, const Caller& c) {
    const int at = order++;
    if (c.kind == Caller::Kind::kAdmin) {
      admin_at = at;
    } else {
      std::this_thread::sleep_for(milliseconds(150));
    }
    return HttpResponse{200, std::to_string(at), "text/plain"};
  };
  Start(Small(), slow, /*workers=*/1);
  std::vector<std::unique_ptr<RawTls>> anon;
  for (int i = 0; i < 5; ++i) {
    anon.push_back(RawTls::Connect(port()));
    ASSERT_TRUE(anon.back());
    ASSERT_TRUE(anon.back()->Send(Request("GET", "/slow")));
  }
  std::this_thread::sleep_for(milliseconds(50));  // the first one runs, four wait
  auto admin = RawTls::Connect(port(), &SharedPki().admin);
  ASSERT_TRUE(admin);
  ASSERT_TRUE(admin->Send(Request("GET", "/v1/admin/status")));
  auto r = admin->Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  for (auto& a : anon) EXPECT_TRUE(a->Read());
  // Queued behind at most the anonymous requests already running.
  EXPECT_GE(admin_at.load(), 1);
  EXPECT_LE(admin_at.load(), 2);
}

}  // namespace
}  // namespace tpmesh::net::testing
