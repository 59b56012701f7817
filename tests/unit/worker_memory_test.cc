// TuneMallocForManyThreads: the program re-executes itself once with glibc's
// per-thread malloc cache off, keeps its name, and leaves an operator's own
// tcache setting alone. The child processes here run this test binary again.
#include "tpmesh/net/worker_memory.h"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace tpmesh::net {
namespace {

std::string g_self;  // this binary, from main's argv (see below)

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs in the (re-executed) child: records what it sees.
TEST(WorkerMemoryChild, Report) {
  const char* out = std::getenv("TPMESH_WM_REPORT");
  if (out == nullptr) GTEST_SKIP() << "only run as a child of the tests below";
  const char* t = std::getenv("GLIBC_TUNABLES");
  std::ofstream(out) << (t ? t : "") << "\n" << Slurp("/proc/self/comm");
}

// Forks; the child sets `tunables` (null: unset), calls
// TuneMallocForManyThreads with argv running only WorkerMemoryChild.Report,
// and (if it was not re-executed) runs the report itself. Returns the report.
std::string RunChild(const char* tunables) {
  char tmpl[] = "/tmp/tpmesh-wm-XXXXXX";
  int fd = mkstemp(tmpl);
  EXPECT_GE(fd, 0);
  close(fd);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("TPMESH_WM_REPORT", tmpl, 1);
    if (tunables)
      setenv("GLIBC_TUNABLES", tunables, 1);
    else
      unsetenv("GLIBC_TUNABLES");
    std::string filter = "--gtest_filter=WorkerMemoryChild.Report";
    char* argv[] = {g_self.data(), filter.data(), nullptr};
    TuneMallocForManyThreads(argv);
    // Not re-executed: report from here.
    const char* t = std::getenv("GLIBC_TUNABLES");
    std::ofstream(tmpl) << (t ? t : "") << "\n" << Slurp("/proc/self/comm");
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  std::string report = Slurp(tmpl);
  unlink(tmpl);
  return report;
}

TEST(WorkerMemoryTest, ReexecutesOnceWithTheCacheOffUnderItsOwnName) {
  std::string r = RunChild(nullptr);
  EXPECT_EQ(r.rfind("glibc.malloc.tcache_count=0\n", 0), 0u) << r;
  EXPECT_NE(r.find("worker_memory"), std::string::npos) << r;  // comm, not "exe"
  // Other tunables are kept and the setting appended.
  r = RunChild("glibc.malloc.check=0");
  EXPECT_EQ(r.rfind("glibc.malloc.check=0:glibc.malloc.tcache_count=0\n", 0), 0u) << r;
}

TEST(WorkerMemoryTest, AnOperatorsOwnTcacheSettingIsKept) {
  std::string r = RunChild("glibc.malloc.tcache_count=7");
  EXPECT_EQ(r.rfind("glibc.malloc.tcache_count=7\n", 0), 0u) << r;
}

TEST(WorkerMemoryTest, ReleaseIdleThreadMemoryFreesOpenSslThreadStateWhichComesBack) {
  ERR_raise(ERR_LIB_USER, 42);
  ASSERT_NE(ERR_peek_error(), 0u);
  ReleaseIdleThreadMemory();
  EXPECT_EQ(ERR_peek_error(), 0u);  // the thread's error queue went with its state
  unsigned char buf[32];
  EXPECT_EQ(RAND_bytes(buf, sizeof buf), 1);  // recreated on use
}

}  // namespace
}  // namespace tpmesh::net

int main(int argc, char** argv) {
  tpmesh::net::g_self = argv[0];
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
