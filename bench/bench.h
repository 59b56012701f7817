// tpmesh-bench: shared pieces of the benchmark program (bench/main.cc).
//
// Every result is printed as one line `BENCH <name> <value> <unit>` on
// stdout (and remembered, so --selftest can check that each benchmark
// produced its lines). Commentary goes to stderr prefixed with "# ".
// docs/benchmarks.md says what each number includes.
#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "tpmesh/authority/records.h"
#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

namespace tpmesh::bench {

struct BenchConfig {
  bool quick = false;     // smaller N, shorter windows (scripts/bench --quick)
  bool selftest = false;  // a few iterations of each, no meaningful timing
  bool swtpm = true;      // enroll_verify evidence from a real swtpm (else SoftTpm)
  // Length of a timed window for throughput benchmarks.
  std::chrono::milliseconds window() const {
    return std::chrono::milliseconds(selftest ? 200 : quick ? 2000 : 5000);
  }
};

class Reporter {
 public:
  void Emit(const std::string& name, double value, const std::string& unit);
  void Note(const std::string& text);  // "# text" on stderr
  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  // Whether a line named `prefix`... was emitted (names that carry their N).
  bool HasPrefix(const std::string& prefix) const {
    auto it = values_.lower_bound(prefix);
    return it != values_.end() && it->first.rfind(prefix, 0) == 0;
  }
  double Get(const std::string& name) const { return values_.at(name); }

 private:
  std::map<std::string, double> values_;
};

using Seconds = std::chrono::duration<double>;
inline double Now() { return Seconds(std::chrono::steady_clock::now().time_since_epoch()).count(); }
// The mesh prefix of every benchmark's state.
inline constexpr const char* kMeshPrefix = "fd12:3456:789a::/48";
// `n` deterministic bytes for item `i` (BLAKE2b of tag || i, big-endian):
// stable node ids, keys and seeds across runs.
Bytes DerivedBytes(uint32_t i, uint8_t tag, size_t n);
// Enrolled node number `i` of a synthetic mesh, as a store row: active,
// subnet i + 1, hostname "node-NNNNNN", distinct EK, AK, WireGuard key and
// endpoints, eight PCR values. For benchmarks that need N members without
// N enrollments.
authority::NodeRecord SyntheticNode(uint32_t i);

// CPU seconds used by the calling thread / by the whole process.
double ThreadCpuSeconds();
double ProcessCpuSeconds();
// VmRSS of this process in KiB (0 if /proc is unreadable).
long RssKb();

// A private temp dir under $TMPDIR, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  bool ok() const { return !path_.empty(); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Error{kInternal, "bench_failed", what}.
Error BenchError(const std::string& what);

// The benchmarks. Each emits its BENCH lines through `out` and fails (with
// the reason) if any verification along the way did not succeed.
Status RunEnrollVerify(const BenchConfig& cfg, Reporter& out);  // enroll_verify_*, crypto_floor_*
Status RunConfigBuild(const BenchConfig& cfg, Reporter& out);   // config_build_*, change_bytes_*
Status RunEnrollHttp(const BenchConfig& cfg, Reporter& out);    // enroll_http_*
Status RunThreadCost(const BenchConfig& cfg, Reporter& out);    // idle_thread_rss_kb
Status RunConverge(const BenchConfig& cfg,
                   Reporter& out);  // converge_*_nN, change_bytes_received_nN
Status RunAuthorityRss(const BenchConfig& cfg,
                       Reporter& out);  // authority_rss_* (forks; run it single-threaded)

}  // namespace tpmesh::bench
