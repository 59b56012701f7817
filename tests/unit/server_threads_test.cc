// The HTTPS server when the host refuses it threads: StartServer returns an
// error naming the failure; the process does not abort (std::system_error
// from std::thread used to escape on httplib's listener thread).
#include <sys/resource.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "tpmesh/net/http.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::net {
namespace {

// This process's virtual size, from /proc/self/status (kB).
uint64_t VmSizeBytes() {
  std::ifstream f("/proc/self/status");
  std::string key;
  uint64_t kb = 0;
  while (f >> key) {
    if (key == "VmSize:") {
      f >> kb;
      break;
    }
  }
  return kb * 1024;
}

// In a child (death-test) process: the address space is capped so that only
// a few 8 MiB thread stacks fit, then a server with 1,000 workers is started.
void StartWithTooFewThreads() {
  const auto now = SystemClock::Instance().Now();
  auto ca = pki::AuthorityCa::Create("test CA", now, std::chrono::hours(1));
  if (!ca.ok()) std::_Exit(2);
  auto cert = ca->IssueServerCert({"localhost"}, {"127.0.0.1"}, now, std::chrono::hours(1));
  if (!cert.ok()) std::_Exit(2);
  ServerOptions o;
  o.listen = {"127.0.0.1:0"};
  o.cert_pem = cert->cert_pem;
  o.key_pem = cert->key_pem;
  o.client_ca_pem = ca->cert_pem();
  o.worker_threads = 1000;
  rlimit lim{};
  lim.rlim_cur = lim.rlim_max = VmSizeBytes() + (96u << 20);
  if (setrlimit(RLIMIT_AS, &lim) != 0) std::_Exit(2);
  auto srv = StartServer(o, [](const HttpRequest&, const Caller&) { return HttpResponse{}; });
  if (srv.ok()) std::_Exit(3);
  std::fprintf(stderr, "%s\n", srv.error().ToString().c_str());
  std::_Exit(srv.error().reason == "thread_start_failed" ? 0 : 4);
}

TEST(ServerThreadsDeathTest, ThreadCreationFailureIsAnErrorNotAnAbort) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ASan reserves terabytes of address space: RLIMIT_AS cannot be capped";
#endif
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(StartWithTooFewThreads(), ::testing::ExitedWithCode(0),
              "thread_start_failed.*worker thread.*of 1000");
}

}  // namespace
}  // namespace tpmesh::net
