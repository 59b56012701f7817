// ReadHostLimits and CheckWorkerThreads (state.h): http_workers against what
// the host allows, checked before serving so that a worker count the host
// cannot start is refused by name instead of aborting the process later.
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "tpmesh/authority/state.h"

namespace tpmesh::authority {
namespace {

constexpr uint64_t kOtherThreads = 8;    // main, key-rotation ticker, and spare
constexpr uint64_t kMapsPerThread = 2;   // its stack and its guard page
constexpr uint64_t kMapHeadroom = 4096;  // malloc arenas, large allocations, libraries
constexpr int kCapSysAdmin = 21, kCapSysResource = 24;

std::optional<uint64_t> ReadU64(const std::string& path) {
  std::ifstream f(path);
  uint64_t v = 0;
  if (!(f >> v)) return std::nullopt;  // also "max" (no limit)
  return v;
}

std::optional<uint64_t> Rlimit(int resource) {
  rlimit lim{};
  if (getrlimit(resource, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return std::nullopt;
  return static_cast<uint64_t>(lim.rlim_cur);
}

// The value after `key` in /proc/self/status ("Threads:", "VmSize:", ...).
std::string StatusField(const std::string& key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key, 0) == 0) {
      std::istringstream in(line.substr(key.size()));
      std::string v;
      in >> v;
      return v;
    }
  }
  return "";
}

uint64_t ToU64(const std::string& s, int base = 10) {
  try {
    return s.empty() ? 0 : std::stoull(s, nullptr, base);
  } catch (const std::exception&) {
    return 0;
  }
}

// RLIMIT_NPROC binds neither root nor a process with CAP_SYS_ADMIN or
// CAP_SYS_RESOURCE (kernel/fork.c).
bool NprocEnforced() {
  if (getuid() == 0) return false;
  const uint64_t caps = ToU64(StatusField("CapEff:"), 16);
  return (caps & ((1ull << kCapSysAdmin) | (1ull << kCapSysResource))) == 0;
}

uint64_t LineCount(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  uint64_t n = 0;
  while (std::getline(f, line)) ++n;
  return n;
}

// The pids controller's limit with the least room left, over this process's
// cgroup and its ancestors (cgroup v1 "pids" hierarchy, else v2).
void ReadCgroupPids(HostLimits& h) {
  std::ifstream f("/proc/self/cgroup");
  std::string line, base, rel;
  while (std::getline(f, line)) {
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = "," + line.substr(a + 1, b - a - 1) + ",";
    if (controllers.find(",pids,") != std::string::npos) {
      base = "/sys/fs/cgroup/pids", rel = line.substr(b + 1);
      break;
    }
    if (controllers == ",," && base.empty()) base = "/sys/fs/cgroup", rel = line.substr(b + 1);
  }
  if (base.empty()) return;
  for (std::string dir = rel;;) {
    const std::string at = base + (dir == "/" ? "" : dir);
    if (const auto max = ReadU64(at + "/pids.max")) {  // the root cgroup has none
      const uint64_t current = std::min(*max, ReadU64(at + "/pids.current").value_or(0));
      if (!h.pids_max || *max - current < *h.pids_max - h.pids_current) {
        h.pids_max = max;
        h.pids_current = current;
        h.pids_file = at + "/pids.max";
      }
    }
    const size_t slash = dir.rfind('/');
    if (dir == "/" || slash == std::string::npos) break;
    dir = slash == 0 ? "/" : dir.substr(0, slash);
  }
}

// Bytes that can still be committed when the kernel refuses overcommit.
std::optional<uint64_t> CommitFree() {
  if (ReadU64("/proc/sys/vm/overcommit_memory").value_or(0) != 2) return std::nullopt;
  std::ifstream f("/proc/meminfo");
  std::string key;
  uint64_t kb = 0, limit = 0, committed = 0;
  while (f >> key >> kb) {
    if (key == "CommitLimit:") limit = kb;
    if (key == "Committed_AS:") committed = kb;
    f.ignore(64, '\n');
  }
  return (limit > committed ? limit - committed : 0) * 1024;
}

std::string Mib(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

HostLimits ReadHostLimits() {
  HostLimits h;
  h.threads_self = ToU64(StatusField("Threads:"));
  if (NprocEnforced()) h.nproc = Rlimit(RLIMIT_NPROC);
  h.threads_max = ReadU64("/proc/sys/kernel/threads-max");
  h.pid_max = ReadU64("/proc/sys/kernel/pid_max");
  {
    std::ifstream f("/proc/loadavg");  // "0.00 0.01 0.05 1/234 5678": 234 threads
    std::string a, b, c, running;
    if (f >> a >> b >> c >> running && running.find('/') != std::string::npos) {
      h.threads_host = ToU64(running.substr(running.find('/') + 1));
    }
  }
  ReadCgroupPids(h);
  h.max_map_count = ReadU64("/proc/sys/vm/max_map_count");
  h.maps_self = LineCount("/proc/self/maps");
  h.address_space = Rlimit(RLIMIT_AS);
  h.address_space_self = ToU64(StatusField("VmSize:")) * 1024;
  h.commit_free = CommitFree();
  pthread_attr_t attr;
  size_t stack = 0;
  if (pthread_getattr_default_np(&attr) == 0) {
    if (pthread_attr_getstacksize(&attr, &stack) == 0 && stack > 0) {
      h.stack_bytes = stack + static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    }
    pthread_attr_destroy(&attr);
  }
  return h;
}

Status CheckWorkerThreads(const HostLimits& h, int http_workers) {
  const uint64_t workers = http_workers > 0 ? static_cast<uint64_t>(http_workers) : 0;
  const uint64_t threads = workers + 1 + kOtherThreads;  // the pool, the event loop, the rest
  const std::string what = "http_workers = " + std::to_string(http_workers) + " needs " +
                           std::to_string(threads) + " threads";
  const std::string lower = ", or lower http_workers in authority.toml";
  auto refuse = [&](const std::string& why) {
    return MakeError(Code::kFailedPrecondition, "host_limit", what + ", but " + why + lower);
  };
  auto sysctl = [](const char* name, uint64_t at_least) {
    return "raise it (sysctl -w " + std::string(name) + "=" +
           std::to_string(at_least + at_least / 4) + ", kept in /etc/sysctl.d/)";
  };
  if (h.nproc && h.threads_self + threads > *h.nproc) {
    return refuse("RLIMIT_NPROC (ulimit -u) is " + std::to_string(*h.nproc) +
                  " for this user, and every thread of its processes counts (this one has " +
                  std::to_string(h.threads_self) + "): raise it (LimitNPROC= in the systemd unit)");
  }
  if (h.threads_max && h.threads_host + threads > *h.threads_max) {
    return refuse("kernel.threads-max is " + std::to_string(*h.threads_max) + " with " +
                  std::to_string(h.threads_host) +
                  " in use: " + sysctl("kernel.threads-max", h.threads_host + threads));
  }
  if (h.pid_max && h.threads_host + threads > *h.pid_max) {
    return refuse("kernel.pid_max is " + std::to_string(*h.pid_max) +
                  " (every thread takes an id) with " + std::to_string(h.threads_host) +
                  " in use: " + sysctl("kernel.pid_max", h.threads_host + threads));
  }
  if (h.pids_max && h.pids_current + threads > *h.pids_max) {
    return refuse("the cgroup's pids.max (" + h.pids_file + ") is " + std::to_string(*h.pids_max) +
                  " with " + std::to_string(h.pids_current) +
                  " in use: raise it (TasksMax= in the systemd unit, "
                  "or the container's pids limit)");
  }
  const uint64_t maps = h.maps_self + kMapsPerThread * threads + kMapHeadroom;
  if (h.max_map_count && maps > *h.max_map_count) {
    return refuse("it needs about " + std::to_string(maps) +
                  " memory maps (2 per thread) and vm.max_map_count is " +
                  std::to_string(*h.max_map_count) + " (" + std::to_string(h.maps_self) +
                  " in use): " + sysctl("vm.max_map_count", maps));
  }
  const uint64_t stacks = threads * h.stack_bytes;
  if (h.address_space && h.address_space_self + stacks > *h.address_space) {
    return refuse("their stacks need " + Mib(stacks) + " of address space (" +
                  std::to_string(h.stack_bytes >> 10) + " KiB each) and RLIMIT_AS (ulimit -v) is " +
                  Mib(*h.address_space) + " with " + Mib(h.address_space_self) +
                  " in use: raise it (LimitAS= in the systemd unit)");
  }
  if (h.commit_free && stacks > *h.commit_free) {
    return refuse(
        "vm.overcommit_memory is 2 (strict) and only " + Mib(*h.commit_free) +
        " can still be committed (CommitLimit - Committed_AS in /proc/meminfo) while their stacks "
        "need " +
        Mib(stacks) + ": raise vm.overcommit_ratio or add swap");
  }
  return OkStatus();
}

}  // namespace tpmesh::authority
