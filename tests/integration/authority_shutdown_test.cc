// SIGTERM with nodes waiting on their config long poll (issue 13): the real
// tpmesh-authority answers every waiting poll (204) and exits 0 within 2 s,
// and the waits held no threads (the process's thread count does not grow
// with them). Real swtpm, real tpmesh-client enrollment.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "tests/support/authority_proc.h"
#include "tests/support/swtpm.h"
#include "tpmesh/net/http.h"

namespace tpmesh::testing {
namespace {

std::string Text(const std::string& path) {
  auto b = ReadFileBytes(path);
  return b.ok() ? std::string(b->begin(), b->end()) : "<missing " + path + ">";
}

// Threads of process `pid` (/proc/<pid>/status), or -1.
int ThreadsOf(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (f >> key) {
    if (key == "Threads:") {
      int n = -1;
      f >> n;
      return n;
    }
  }
  return -1;
}

TEST(AuthorityShutdownTest, SigtermAnswersWaitingPollsAndExitsWithinTwoSeconds) {
  ASSERT_FALSE(BinDir().empty()) << "TPMESH_BIN_DIR must point at the build's bin dir";
  auto work = ScopedTempDir::Make("tpmesh-shutdown-test.");
  ASSERT_TRUE(work.ok()) << work.error().ToString();
  const std::string dir = (*work)->path() + "/host";
  auto tpm = Swtpm::Start(Swtpm::Options{.ca_dir = (*work)->path() + "/tpm-ca"});
  ASSERT_TRUE(tpm.ok()) << tpm.error().ToString();
  auto auth = AuthorityProcess::Start(
      AuthorityOptions{{(*tpm)->ca_root_pem(), (*tpm)->ca_intermediate_pem()}});
  ASSERT_TRUE(auth.ok()) << auth.error().ToString();
  auto token = (*auth)->CreateToken();
  ASSERT_TRUE(token.ok()) << token.error().ToString();
  CommandResult enrolled =
      RunCommand({BinDir() + "/tpmesh-client", "enroll", "--authority", (*auth)->url(),
                  "--ca-fingerprint", (*auth)->fingerprint(), "--hostname", "host-0", "--tcti",
                  (*tpm)->tcti(), "--state-dir", dir},
                 {{"TPMESH_TOKEN", *token}});
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.output;
  auto nodes = (*auth)->Nodes();
  ASSERT_TRUE(nodes.ok()) << nodes.error().ToString();
  const int64_t generation = (*nodes).value("generation", int64_t{-1});
  const int threads_before = ThreadsOf((*auth)->pid());
  ASSERT_GT(threads_before, 0);

  constexpr int kPolls = 24;
  std::atomic<int> answered_204{0}, other{0};
  std::vector<std::thread> polls;
  for (int i = 0; i < kPolls; ++i) {
    polls.emplace_back([&] {
      auto c =
          net::MakeClient(net::ClientOptions{(*auth)->url(), Text(dir + "/ca.crt"),
                                             Text(dir + "/node.crt"), Text(dir + "/node.key"), 30});
      if (!c.ok()) return (void)++other;
      auto r = (*c)->Get("/v1/node/config?since=" + std::to_string(generation) + "&wait=50");
      ++((r.ok() && r->status == 204) ? answered_204 : other);
    });
  }
  // Every poll is parked once the admin status counts them.
  int waiting = 0;
  for (int i = 0; i < 500 && waiting < kPolls; ++i) {
    auto s = (*auth)->AdminGet("/v1/admin/status");
    if (s.ok()) waiting = s->body.value("waiting", 0);
    if (waiting < kPolls) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(waiting, kPolls);
  EXPECT_EQ(ThreadsOf((*auth)->pid()), threads_before);  // no thread per waiting node

  const auto start = std::chrono::steady_clock::now();
  Status stopped = (*auth)->Stop();
  const auto took = std::chrono::steady_clock::now() - start;
  for (auto& t : polls) t.join();
  ASSERT_TRUE(stopped.ok()) << stopped.error().ToString();
  EXPECT_EQ(answered_204.load(), kPolls);
  EXPECT_EQ(other.load(), 0);
  EXPECT_LT(took, std::chrono::milliseconds(2000))
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
}

}  // namespace
}  // namespace tpmesh::testing
