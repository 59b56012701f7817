// Long polls on the HTTPS server: a parked request holds no thread, is
// answered from any thread (first answer wins), times out with its fallback
// response, and Stop answers every parked poll and returns quickly.
#include <dirent.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "tests/unit/server_test_util.h"

namespace tpmesh::net::testing {
namespace {

using std::chrono::milliseconds;

// Every poll the handler parked, with its answer callback.
struct Polls {
  struct Poll final : LongPoll {
    explicit Poll(Polls* o) : owner(o) {}
    void Arm(std::function<void(HttpResponse)> answer) override {
      std::lock_guard<std::mutex> lock(owner->mu);
      owner->answers.push_back(std::move(answer));
    }
    void Disarm() override { ++owner->disarmed; }
    Polls* owner;
  };
  std::mutex mu;
  std::vector<std::function<void(HttpResponse)>> answers;
  std::atomic<int> disarmed{0};

  size_t armed() {
    std::lock_guard<std::mutex> lock(mu);
    return answers.size();
  }
  bool WaitArmed(size_t n) {
    for (int i = 0; i < 500 && armed() < n; ++i) std::this_thread::sleep_for(milliseconds(10));
    return armed() >= n;
  }
  // Parks every request for `timeout`; the fallback is 204.
  net::Handler Parking(milliseconds timeout) {
    return [this, timeout](const HttpRequest&, const Caller&) {
      HttpResponse r{204, ""};
      r.poll = std::make_shared<Poll>(this);
      r.poll_timeout = timeout;
      return r;
    };
  }
};

int ThreadsOfThisProcess() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

class ServerPollTest : public ServerFixture {};

TEST_F(ServerPollTest, AnsweredFromAnotherThreadWithASharedBodyFirstAnswerWins) {
  Polls polls;
  Start(ServerLimits{}, polls.Parking(milliseconds(30000)));
  auto c = RawTls::Connect(port(), &SharedPki().node);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Send(Request("GET", "/v1/node/config")));
  ASSERT_TRUE(polls.WaitArmed(1));
  auto body = std::make_shared<const std::string>(3 << 20, 'z');  // written in pieces
  std::thread([&] {
    HttpResponse r{200, ""};
    r.shared_body = body;
    polls.answers[0](r);
    polls.answers[0](HttpResponse{500, "late"});  // ignored
  }).join();
  auto r = c->Read(milliseconds(10000));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.size(), body->size());
  EXPECT_EQ(r->body, *body);
  // The connection stays usable, and the late answer did not arrive.
  ASSERT_TRUE(c->Send(Request("GET", "/again")));
  ASSERT_TRUE(polls.WaitArmed(2));
  polls.answers[1](HttpResponse{200, "second"});
  auto again = c->Read();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body, "second");
  EXPECT_EQ(polls.disarmed, 0);
}

TEST_F(ServerPollTest, TimeoutSendsTheFallbackAndDisarms) {
  Polls polls;
  Start(ServerLimits{}, polls.Parking(milliseconds(200)));
  auto c = RawTls::Connect(port(), &SharedPki().node);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Send(Request("GET", "/v1/node/config")));
  auto r = c->Read(milliseconds(5000));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->head.find("Content-Length"), std::string::npos) << r->head;
  EXPECT_EQ(polls.disarmed, 1);
  polls.answers[0](HttpResponse{200, "after the timeout"});  // harmless
  ASSERT_TRUE(c->Send(Request("GET", "/v1/node/config")));
  auto next = c->Read(milliseconds(5000));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 204);  // not the stale answer
}

TEST_F(ServerPollTest, ParkedPollsHoldNoThreadsAndStopAnswersThemAll) {
  Polls polls;
  Start(ServerLimits{}, polls.Parking(milliseconds(60000)));
  const int threads_before = ThreadsOfThisProcess();
  constexpr size_t kPolls = 200;
  std::vector<std::unique_ptr<RawTls>> clients;
  for (size_t i = 0; i < kPolls; ++i) {
    clients.push_back(RawTls::Connect(port(), &SharedPki().node));
    ASSERT_TRUE(clients.back());
    ASSERT_TRUE(clients.back()->Send(Request("GET", "/v1/node/config")));
  }
  ASSERT_TRUE(polls.WaitArmed(kPolls));
  EXPECT_EQ(ThreadsOfThisProcess(), threads_before);
  const auto start = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
  EXPECT_EQ(polls.disarmed, static_cast<int>(kPolls));
  for (auto& c : clients) {
    auto r = c->Read(milliseconds(2000));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 204);
    EXPECT_NE(r->head.find("Connection: close"), std::string::npos);
  }
  // Answers after the server is gone do nothing.
  server_.reset();
  for (auto& a : polls.answers) a(HttpResponse{200, "too late"});
}

TEST_F(ServerPollTest, StopLetsARunningHandlerFinish) {
  std::atomic<bool> entered{false};
  Start(ServerLimits{}, [&](const HttpRequest&, const Caller&) {
    entered = true;
    std::this_thread::sleep_for(milliseconds(300));
    return HttpResponse{200, "finished", "text/plain"};
  });
  auto c = RawTls::Connect(port(), &SharedPki().admin);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Send(Request("POST", "/slow", "x")));
  for (int i = 0; i < 200 && !entered; ++i) std::this_thread::sleep_for(milliseconds(5));
  server_->Stop();
  auto r = c->Read(milliseconds(2000));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "finished");
  EXPECT_NE(r->head.find("Connection: close"), std::string::npos);
}

}  // namespace
}  // namespace tpmesh::net::testing
