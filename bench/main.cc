// tpmesh-bench [--quick] [--selftest] [--no-swtpm] [--only a,b,...]
//
// Runs the benchmarks of docs/benchmarks.md and prints `BENCH <name> <value>
// <unit>` lines. --selftest runs a few iterations of each and checks that
// every benchmark produced its lines and that every verification inside it
// succeeded (exit 1 otherwise); it asserts nothing about speed.
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <vector>

#include "bench/bench.h"
#include "tpmesh/authority/service.h"  // NodeIdFromEk
#include "tpmesh/net/worker_memory.h"

namespace tpmesh::bench {

void Reporter::Emit(const std::string& name, double value, const std::string& unit) {
  values_[name] = value;
  std::printf("BENCH %s %.6g %s\n", name.c_str(), value, unit.c_str());
  std::fflush(stdout);
}

void Reporter::Note(const std::string& text) { std::fprintf(stderr, "# %s\n", text.c_str()); }

Bytes DerivedBytes(uint32_t i, uint8_t tag, size_t n) {
  Bytes out(n);
  const uint8_t in[5] = {tag, static_cast<uint8_t>(i >> 24), static_cast<uint8_t>(i >> 16),
                         static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
  crypto_generichash(out.data(), out.size(), in, sizeof in, nullptr, 0);
  return out;
}

authority::NodeRecord SyntheticNode(uint32_t i) {
  authority::NodeRecord r;
  r.ek_sha256 = DerivedBytes(i, 3, 32);
  r.node_id = authority::NodeIdFromEk(r.ek_sha256);
  r.hostname = "node-" + std::to_string(1000000 + i).substr(1);
  r.status = authority::NodeStatus::kActive;
  r.status_reason = "bench";
  r.ek_public = DerivedBytes(i, 4, 90);
  r.ek_name = DerivedBytes(i, 5, 34);
  r.ak_public = DerivedBytes(i, 6, 90);
  r.ak_name = DerivedBytes(i, 7, 34);
  r.subnet = i + 1;
  r.wg_public_key = DerivedBytes(i, 2, 32);
  char v6[48];
  std::snprintf(v6, sizeof v6, "[2001:db8::%x:%x]:51820", (i + 1) >> 16, (i + 1) & 0xffff);
  r.endpoints = {"10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) +
                     "." + std::to_string(i & 255) + ":51820",
                 v6};
  for (uint32_t p = 0; p < 8; ++p) r.pcr_values[p] = DerivedBytes(p, 8, 32);
  r.enrolled_at = r.updated_at = r.last_seen = r.wg_key_since = 1'800'000'000;
  r.enroll_count = 1;
  // Bench nodes get their certificates outside enrollment (converge's
  // IssueCerts): accept any certificate issued for them.
  r.cert_serial = authority::kAnyLegacyCert;
  return r;
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

long RssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "tpmesh-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Error BenchError(const std::string& what) {
  return MakeError(Code::kInternal, "bench_failed", what);
}

// Runs this program with `args` (argv[0] first) in a child process sharing
// stdout and stderr; returns its exit status (-1 if it could not run).
int RunSelf(std::vector<std::string> args) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace tpmesh::bench

int main(int argc, char** argv) {
  using namespace tpmesh::bench;
  BenchConfig cfg;
  std::vector<std::string> only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      cfg.quick = true;
    } else if (a == "--selftest") {
      cfg.selftest = true;
    } else if (a == "--no-swtpm") {
      cfg.swtpm = false;
    } else if (a == "--only" && i + 1 < argc) {
      std::stringstream ss(argv[++i]);
      for (std::string item; std::getline(ss, item, ',');) only.push_back(item);
    } else {
      std::fprintf(stderr,
                   "usage: tpmesh-bench [--quick] [--selftest] [--no-swtpm] [--only "
                   "enroll_verify,config,enroll_http,threads,converge,rss]\n");
      return 2;
    }
  }
  struct Entry {
    const char* name;
    std::function<tpmesh::Status(const BenchConfig&, Reporter&)> run;
    std::vector<const char*> must_emit;  // checked by --selftest
  };
  const std::vector<Entry> all = {
      // First: it forks the authority, which must not inherit the heap of
      // the other benchmarks (VmRSS counts it) nor any of their threads.
      {"rss", RunAuthorityRss, {"authority_rss_mb_n", "authority_rss_kb_per_waiter_n"}},
      {"enroll_verify",
       RunEnrollVerify,
       {"enroll_verify_per_s", "crypto_floor_per_s", "enroll_verify_fraction"}},
      {"config",
       RunConfigBuild,
       {"config_build_ms_n10000", "change_bytes_per_node_n1000", "config_publish_ms_n10000"}},
      {"enroll_http", RunEnrollHttp, {"enroll_http_per_s"}},
      {"threads", RunThreadCost, {"idle_thread_rss_kb"}},
      // Names carry the N they ran with (converge_p99_ms_n1000, ...): prefixes.
      {"converge", RunConverge, {"converge_p99_ms_n", "change_bytes_received_n"}},
  };
  Reporter out;
  int failures = 0;
  auto selected = [&](const char* name) {
    return only.empty() || std::find(only.begin(), only.end(), name) != only.end();
  };
  // rss measures the authority, which runs with glibc's per-thread malloc
  // cache off (net::TuneMallocForManyThreads). The other benchmarks measure
  // library code and simulated clients with glibc's defaults, so rss runs
  // alone in a re-executed copy of this program that does what the
  // authority's main() does.
  const bool rss_alone = only.size() == 1 && only[0] == "rss";
  if (rss_alone) tpmesh::net::TuneMallocForManyThreads(argv);
  if (selected("rss") && !rss_alone) {
    std::vector<std::string> args = {argv[0], "--only", "rss"};
    if (cfg.quick) args.push_back("--quick");
    if (cfg.selftest) args.push_back("--selftest");
    if (!cfg.swtpm) args.push_back("--no-swtpm");
    failures += RunSelf(args) == 0 ? 0 : 1;
  }
  for (const auto& e : all) {
    if (!selected(e.name) || (std::string(e.name) == "rss" && !rss_alone)) continue;
    out.Note(std::string("running ") + e.name +
             (cfg.selftest ? " (selftest)"
              : cfg.quick  ? " (quick)"
                           : ""));
    double t0 = Now();
    tpmesh::Status st = e.run(cfg, out);
    if (!st.ok()) {
      std::fprintf(stderr, "tpmesh-bench: %s failed: %s\n", e.name, st.error().ToString().c_str());
      ++failures;
      continue;
    }
    for (const char* name : e.must_emit) {
      if (!out.Has(name) && !(std::string(name).back() == 'n' && out.HasPrefix(name))) {
        std::fprintf(stderr, "tpmesh-bench: %s did not report %s\n", e.name, name);
        ++failures;
      }
    }
    out.Note(std::string(e.name) + " took " + std::to_string(Now() - t0) + " s");
  }
  return failures == 0 ? 0 : 1;
}
