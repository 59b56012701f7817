// tpmesh-bench: shared pieces of the benchmark program (bench/main.cc).
//
// Every result is printed as one line `BENCH <name> <value> <unit>` on
// stdout (and remembered, so --selftest can check that each benchmark
// produced its lines). Commentary goes to stderr prefixed with "# ".
// docs/benchmarks.md says what each number includes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/authority_keys.h"
#include "tests/support/soft_tpm.h"
#include "tpmesh/attest/ekcert.h"
#include "tpmesh/authority/publisher.h"
#include "tpmesh/authority/records.h"
#include "tpmesh/authority/service.h"
#include "tpmesh/authority/store.h"
#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"
#include "tpmesh/net/http.h"

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
// The number after "<key>:" in /proc/<pid>/status (pid 0: this process):
// "VmRSS" in KiB, "Threads"; -1 if absent (the process is gone).
long ProcStatus(pid_t pid, const std::string& key);
// Raises RLIMIT_NOFILE to 65,536 where the process may raise its hard limit,
// else the soft limit to the hard one; returns the new soft limit.
long RaiseFdLimit();
// The p-quantile (0..1) of `v` (nearest rank below); 0 for an empty `v`.
double Percentile(std::vector<double> v, double p);

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

// What the authority and its clients share: the authority's keys in a state
// directory as `tpmesh-authority init` makes one (with admin.crt/admin.key),
// the CA, the config-signing public key.
struct Keys {
  testing::AuthorityKeyFiles files;
  std::shared_ptr<const pki::AuthorityCa> ca;
  Bytes sign_public;
};
Result<std::unique_ptr<Keys>> MakeKeys(const std::string& dir);

struct AuthorityOptions {
  uint32_t nodes = 0;                                 // synthetic active members, rows 0 .. nodes-1
  int workers = net::ServerOptions{}.worker_threads;  // the server's default pool
  std::string listen = "[::1]:0";
  std::string ek_root_pem;                           // trusted EK root ("" none)
  std::vector<authority::AllowlistEntry> allowlist;  // admitted EKs
};

// A running authority: AuthorityService over OpenSqliteStore, ConfigPublisher,
// MakeApiHandler, net::StartServer (TLS 1.3) on `listen`. Its store holds the
// `nodes` members and one more node (row `nodes`), enrolled and pending (the
// join of converge). Destruction shuts the publisher down and stops the server.
struct Authority {
  std::unique_ptr<authority::Store> store;
  attest::TrustStore trust;
  authority::AuthoritySettings settings;
  std::unique_ptr<authority::AuthorityService> service;
  std::unique_ptr<authority::ConfigPublisher> publisher;
  std::unique_ptr<net::Server> server;
  std::string url;        // "https://<listen host>:<port>"
  long rss_state_kb = 0;  // after the first publish, before the server started

  ~Authority() {
    if (publisher) publisher->Shutdown();  // answers every parked long poll
    if (server) server->Stop();
  }
};
Result<std::unique_ptr<Authority>> StartAuthority(Keys& keys, const std::string& db,
                                                  const AuthorityOptions& options);

// A machine that enrolls: a SoftTpm (ECC P-256 EK with a certificate under
// SoftTpm::TrustedRoot(), ECC P-256 AK) and its EnrollStart body.
struct EnrollNode {
  std::unique_ptr<testing::SoftTpm> tpm;
  attest::AkBlob ak;
  std::string hostname;
  std::string start_json;
  Bytes ek_sha256;
};
Result<EnrollNode> MakeEnrollNode(const std::string& name);
// One enrollment of `n` through `client` (enroll/start, ActivateCredential and
// Quote, enroll/finish; active with a certificate); an error names the step.
Status EnrollOnce(net::Client& client, EnrollNode& n, const std::string& csr_pem);

// The benchmarks. Each emits its BENCH lines through `out` and fails (with
// the reason) if any verification along the way did not succeed.
Status RunEnrollVerify(const BenchConfig& cfg, Reporter& out);  // enroll_verify_*, crypto_floor_*
Status RunConfigBuild(const BenchConfig& cfg, Reporter& out);   // config_build_*, change_bytes_*
Status RunEnrollHttp(const BenchConfig& cfg, Reporter& out);    // enroll_http_*
Status RunConverge(const BenchConfig& cfg,
                   Reporter& out);  // converge_*_nN, change_bytes_received_nN
Status RunAuthorityRss(const BenchConfig& cfg,
                       Reporter& out);  // authority_rss_* (forks; run it single-threaded)
// flood_*, authority_threads_idle (forks; run it single-threaded)
Status RunFlood(const BenchConfig& cfg, Reporter& out);
Status RunWgNetlink(const BenchConfig& cfg, Reporter& out);  // wg_netlink_*: kernel messages

}  // namespace tpmesh::bench
