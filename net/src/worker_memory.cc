#include "tpmesh/net/worker_memory.h"

#include <unistd.h>

#include <openssl/crypto.h>

#include <cstdlib>
#include <string>

namespace tpmesh::net {

void TuneMallocForManyThreads(char** argv) {
  constexpr const char* kNoTcache = "glibc.malloc.tcache_count=0";
  const char* current = std::getenv("GLIBC_TUNABLES");
  const std::string tunables = current != nullptr ? current : "";
  if (tunables.find("glibc.malloc.tcache_count=") == std::string::npos) {
    const std::string with = tunables.empty() ? kNoTcache : tunables + ":" + kNoTcache;
    // The executable's own path (not /proc/self/exe, which would rename the
    // process "exe" in ps and the logs).
    char path[4096];
    const ssize_t len = readlink("/proc/self/exe", path, sizeof path - 1);
    if (len > 0 && setenv("GLIBC_TUNABLES", with.c_str(), 1) == 0) {
      path[len] = '\0';
      execv(path, argv);
      // Still here: carry on with the defaults, and do not hand the setting
      // to child processes either.
      if (current != nullptr) {
        setenv("GLIBC_TUNABLES", current, 1);
      } else {
        unsetenv("GLIBC_TUNABLES");
      }
    }
  }
}

void ReleaseIdleThreadMemory() {
  // OpenSSL recreates its per-thread state (error queue, per-thread random
  // generators) on this thread's next use.
  OPENSSL_thread_stop();
}

}  // namespace tpmesh::net
