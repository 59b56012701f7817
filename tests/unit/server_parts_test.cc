// The server's pure parts: request targets read strictly, source keys and
// connection caps, and the handler pool's priority order.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "net/src/conn_limits.h"
#include "net/src/request_target.h"
#include "net/src/work_pool.h"

namespace tpmesh::net::internal {
namespace {

TEST(RequestTargetTest, PathAndQueryAreDecoded) {
  auto t = ParseRequestTarget("/v1/node/config?since=3&wait=25&x=a%20b+c&since=9&flag");
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  EXPECT_EQ(t->path, "/v1/node/config");
  EXPECT_EQ(t->query.at("since"), "3");  // the first wins
  EXPECT_EQ(t->query.at("wait"), "25");
  EXPECT_EQ(t->query.at("x"), "a b c");
  EXPECT_EQ(t->query.at("flag"), "");
  auto p = ParseRequestTarget("/v1/admin/nodes/web%2D1");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->path, "/v1/admin/nodes/web-1");
  EXPECT_TRUE(ParseRequestTarget("/").ok());
}

TEST(RequestTargetTest, MalformedTargetsAreNamed) {
  struct Case {
    const char* target;
    const char* says;
  };
  for (const Case& c :
       {Case{"", "origin form"}, Case{"http://h/p", "origin form"}, Case{"*", "origin form"},
        Case{"/a%2", "incomplete percent escape"}, Case{"/a%g1", "invalid percent escape"},
        Case{"/a%00", "encoded NUL"}, Case{"/?q=%00", "encoded NUL"}, Case{"/a%2Fb", "encoded '/'"},
        Case{"/a#f", "fragment"}, Case{"/a\x7f", "printable ASCII"},
        Case{"/a b", "printable ASCII"}}) {
    auto t = ParseRequestTarget(c.target);
    ASSERT_FALSE(t.ok()) << c.target;
    EXPECT_EQ(t.error().reason, "bad_request") << c.target;
    EXPECT_NE(t.error().message.find(c.says), std::string::npos)
        << c.target << ": " << t.error().message;
  }
}

TEST(ConnectionLimitsTest, SourcesAreIpv4AddressesAndIpv6Slash64s) {
  EXPECT_EQ(SourceKey("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(SourceKey("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(SourceKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(SourceKey("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
  EXPECT_EQ(SourceKey("2001:db8:1:3::1"), "2001:db8:1:3::/64");
  EXPECT_EQ(SourceKey("not an address"), "not an address");
}

TEST(ConnectionLimitsTest, CapsCountAnonymousUntilAuthenticated) {
  ServerLimits l;
  l.max_connections = 5;
  l.max_anonymous = 3;
  l.max_anonymous_per_source = 2;
  ConnectionLimits c(l);
  using A = ConnectionLimits::Admit;
  EXPECT_EQ(c.Open("a"), A::kAccept);
  EXPECT_EQ(c.Open("a"), A::kAccept);
  EXPECT_EQ(c.Open("a"), A::kProbation);  // per source
  EXPECT_EQ(c.anonymous_from("a"), 3u);
  EXPECT_EQ(c.probation(), 1u);
  c.Authenticated("a", /*probation=*/true);  // it had a certificate
  EXPECT_EQ(c.anonymous_from("a"), 2u);
  EXPECT_EQ(c.probation(), 0u);
  EXPECT_EQ(c.Open("b"), A::kAccept);  // 3 anonymous in total now
  EXPECT_EQ(c.Open("c"), A::kProbation);
  EXPECT_EQ(c.open(), 5u);
  EXPECT_EQ(c.Open("d"), A::kRefuse);  // max_connections
  EXPECT_EQ(c.open(), 5u);
  c.Close("a", /*anonymous=*/false, /*probation=*/false);
  c.Close("c", true, true);
  EXPECT_EQ(c.probation(), 0u);
  c.Close("b", true, false);
  c.Close("a", true, false);
  c.Close("a", true, false);
  EXPECT_EQ(c.open(), 0u);
  EXPECT_EQ(c.anonymous(), 0u);
  EXPECT_EQ(c.anonymous_from("a"), 0u);
}

// Connections over an anonymous cap go on probation, and probation is
// bounded too (a quarter of max_anonymous, at least 16): an anonymous flood
// cannot fill max_connections.
TEST(ConnectionLimitsTest, ProbationIsBounded) {
  ServerLimits l;
  l.max_connections = 10000;
  l.max_anonymous = 100;
  l.max_anonymous_per_source = 1000;
  ConnectionLimits c(l);
  using A = ConnectionLimits::Admit;
  for (int i = 0; i < 100; ++i) ASSERT_EQ(c.Open("x" + std::to_string(i)), A::kAccept);
  for (int i = 0; i < 25; ++i) ASSERT_EQ(c.Open("y"), A::kProbation);
  EXPECT_EQ(c.Open("z"), A::kRefuse);
  EXPECT_EQ(c.open(), 125u);
  c.Close("y", true, true);
  EXPECT_EQ(c.Open("z"), A::kProbation);
}

TEST(WorkPoolTest, AdminFirstThenNodesThenAnonymous) {
  auto pool = WorkPool::Start(1, 2);
  ASSERT_TRUE(pool.ok());
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<bool> started{false};
  std::vector<std::string> ran;
  ASSERT_TRUE((*pool)->Post(WorkPool::Priority::kAnonymous, [&] {
    started = true;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
  }));
  while (!started) std::this_thread::yield();
  // The one worker is busy: these queue.
  auto job = [&](const char* name) {
    return [&, name] {
      std::lock_guard<std::mutex> lock(mu);
      ran.push_back(name);
    };
  };
  ASSERT_TRUE((*pool)->Post(WorkPool::Priority::kAnonymous, job("anon1")));
  ASSERT_TRUE((*pool)->Post(WorkPool::Priority::kAnonymous, job("anon2")));
  EXPECT_FALSE((*pool)->Post(WorkPool::Priority::kAnonymous, job("anon3")));  // queue full
  ASSERT_TRUE((*pool)->Post(WorkPool::Priority::kNode, job("node")));
  ASSERT_TRUE((*pool)->Post(WorkPool::Priority::kAdmin, job("admin")));
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (ran.size() == 4) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  (*pool)->Stop();
  EXPECT_EQ(ran, (std::vector<std::string>{"admin", "node", "anon1", "anon2"}));
  EXPECT_FALSE((*pool)->Post(WorkPool::Priority::kAdmin, job("late")));
}

}  // namespace
}  // namespace tpmesh::net::internal
