// enroll_http_per_s (docs/benchmarks.md): whole enrollments through HTTPS and
// SQLite at concurrency 32.
//
// In this process: a real authority (AuthorityService over OpenSqliteStore in
// a temp dir, ConfigPublisher, MakeApiHandler, net::StartServer on
// [::1]:0 with TLS 1.3), and 32 client threads, each with its own
// net::Client. Every enrollment is a distinct SoftTpm (ECC P-256 EK with a
// certificate under SoftTpm's test root, which the authority trusts; ECC
// P-256 AK) admitted by the EK allowlist:
//   POST /v1/enroll/start  (EK cert chain, AK checks, MakeCredential, SQLite tx)
//   SoftTpm ActivateCredential + Quote          (client side, in the window)
//   POST /v1/enroll/finish (checks 6-11, node certificate, SQLite txs,
//                           generation bump, signed config published)
// Outside the timed window: the SoftTpms (EK, EK certificate, AK), the
// EnrollStart JSON bodies, one CSR per client thread (reused), and the
// allowlist entries (one transaction). Client and server share the machine's
// cores; the client threads' CPU time is measured and reported separately.
//
// The headline run starts from an empty mesh (it grows during the window).
// Sweep (--quick: N = 1,000 and 10,000, 4 s each; full: 1,000, 2,000, 5,000,
// 10,000, 8 s each): the same from a mesh that already holds N members
// (synthetic rows), enroll_http_per_s_nN and enroll_http_server_cpu_ms_per_enroll_nN.
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "bench/bench.h"
#include "tests/support/authority_keys.h"
#include "tests/support/soft_tpm.h"
#include "tpmesh/authority/api.h"
#include "tpmesh/authority/publisher.h"
#include "tpmesh/authority/service.h"
#include "tpmesh/authority/store.h"
#include "tpmesh/net/http.h"
#include "tpmesh/pki/pki.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::bench {
namespace {

// One measurement: a fresh authority whose mesh starts with `preload`
// members, `window_s` seconds of enrollments from `nodes` (one vector per
// client thread; each run has its own store, so the same machines enroll
// anew). Lines are named <base><suffix>.
Status RunWindow(std::vector<std::vector<EnrollNode>>& nodes, uint32_t preload, double window_s,
                 const std::string& sfx, bool detail, Reporter& out) {
  const int kThreads = static_cast<int>(nodes.size());
  TempDir dir;
  if (!dir.ok()) return BenchError("mkdtemp failed");
  TPMESH_ASSIGN_OR_RETURN(auto store, authority::OpenSqliteStore(dir.File("authority.db")));
  // Untimed: the mesh the run starts with, and the allowlist.
  TPMESH_RETURN_IF_ERROR(store->Transact([&](authority::Tx& tx) -> Status {
    for (uint32_t i = 0; i < preload; ++i) TPMESH_RETURN_IF_ERROR(tx.InsertNode(SyntheticNode(i)));
    for (const auto& v : nodes) {
      for (const auto& n : v)
        TPMESH_RETURN_IF_ERROR(
            tx.PutAllowlist(authority::AllowlistEntry{n.ek_sha256, n.hostname, 0}));
    }
    if (preload > 0) {
      TPMESH_ASSIGN_OR_RETURN(int64_t g, tx.BumpGeneration());
      (void)g;
    }
    return OkStatus();
  }));
  // The authority's keys as `tpmesh-authority init` makes them.
  TPMESH_ASSIGN_OR_RETURN(auto keys,
                          testing::InitAuthorityKeys(dir.File("keys"), SystemClock::Instance()));
  const std::string ca_pem = keys.cas->Current()->cert_pem();
  attest::TrustStore trust;
  TPMESH_RETURN_IF_ERROR(trust.AddPem(testing::SoftTpm::TrustedRoot().Pem()));

  authority::AuthoritySettings settings;
  TPMESH_ASSIGN_OR_RETURN(settings.mesh_prefix, authority::ParseMeshPrefix("fd12:3456:789a::/48"));
  authority::AuthorityService service(*store, trust, keys.keys(), settings, SystemClock::Instance(),
                                      SystemRandom::Instance());
  authority::ConfigPublisher publisher{SecretBytes{}};
  keys.signing->Configure(publisher);  // as `serve` does
  service.SetPublisher(&publisher);
  TPMESH_RETURN_IF_ERROR(service.PublishCurrent());

  const authority::TlsFiles tls = keys.cas->Tls();
  net::ServerOptions so;
  so.listen = {"[::1]:0"};
  so.cert_pem = tls.cert_pem;
  so.key_pem = tls.key_pem;
  so.client_ca_pem = tls.client_ca_pem;
  so.worker_threads = 64;
  TPMESH_ASSIGN_OR_RETURN(auto server,
                          net::StartServer(so, authority::MakeApiHandler(service, &publisher)));
  const std::string url = "https://[::1]:" + std::to_string(server->ports().at(0));

  std::mutex mu;
  std::vector<double> done_at, latency;
  std::optional<Error> failure;
  double exhausted_at = 1e300;
  double client_cpu = 0;
  std::atomic<bool> go{false};
  const double cpu0 = ProcessCpuSeconds();
  double t0 = 0, deadline = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      pthread_setname_np(pthread_self(),
                         "bench-client");  // perf report --comm tells the sides apart
      // As enroll-client: a new client (one TLS connection, kept alive from
      // start to finish) per enrollment.
      const net::ClientOptions opts{url, ca_pem, "", "", 30, true};
      auto client = net::MakeClient(opts);  // checks the options once before timing
      auto key = pki::GenerateKeyPem();
      auto csr = key.ok() ? pki::MakeCsr(*key, "bench-node") : Result<std::string>(key.error());
      while (!go.load()) std::this_thread::yield();
      if (!client.ok() || !csr.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        failure = client.ok() ? csr.error() : client.error();
        return;
      }
      const double cpu_start = ThreadCpuSeconds();
      size_t i = 0;
      while (Now() < deadline) {
        if (i == nodes[t].size()) {
          std::lock_guard<std::mutex> lock(mu);
          exhausted_at = std::min(exhausted_at, Now());
          break;
        }
        double s = Now();
        auto one = net::MakeClient(opts);
        Status st = one.ok() ? EnrollOnce(**one, nodes[t][i++], *csr) : Status(one.error());
        double e = Now();
        std::lock_guard<std::mutex> lock(mu);
        if (!st.ok()) {
          if (!failure) failure = st.error();
          break;
        }
        done_at.push_back(e);
        latency.push_back(e - s);
      }
      std::lock_guard<std::mutex> lock(mu);
      client_cpu += ThreadCpuSeconds() - cpu_start;
    });
  }
  t0 = Now();
  deadline = t0 + window_s;
  go = true;
  for (auto& th : threads) th.join();
  const double cpu_total = ProcessCpuSeconds() - cpu0;
  server->Stop();
  if (failure) return BenchError("an enrollment failed: " + failure->ToString());

  const double end = std::min(deadline, exhausted_at);
  const auto completed = static_cast<size_t>(
      std::count_if(done_at.begin(), done_at.end(), [&](double x) { return x <= end; }));
  if (completed == 0) return BenchError("no enrollment completed");
  if (exhausted_at < deadline)
    out.Note("enroll_http: a client ran out of nodes early; window shortened");
  const double rate = static_cast<double>(completed) / (end - t0);
  // The rate in the first and the last quarter of the window: the mesh grows
  // while we measure, and every generation signs the whole state.
  const double q = (end - t0) / 4;
  auto in = [&](double a, double b) {
    return static_cast<double>(std::count_if(done_at.begin(), done_at.end(),
                                             [&](double x) { return x > a && x <= b; })) /
           q;
  };
  TPMESH_ASSIGN_OR_RETURN(int64_t generation, service.Generation());
  out.Emit("enroll_http_per_s" + sfx, rate, "per_s");
  if (detail) {
    out.Emit("enroll_http_first_quarter_per_s" + sfx, in(t0, t0 + q), "per_s");
    out.Emit("enroll_http_last_quarter_per_s" + sfx, in(end - q, end), "per_s");
    out.Emit("enroll_http_nodes_at_end" + sfx, static_cast<double>(preload + done_at.size()),
             "nodes");
    out.Emit("enroll_http_latency_p50_ms" + sfx, Percentile(latency, 0.5) * 1e3, "ms");
    out.Emit("enroll_http_latency_p99_ms" + sfx, Percentile(latency, 0.99) * 1e3, "ms");
    out.Emit("enroll_http_client_cpu_ms_per_enroll" + sfx,
             client_cpu * 1e3 / static_cast<double>(done_at.size()), "ms");
  }
  out.Emit("enroll_http_server_cpu_ms_per_enroll" + sfx,
           (cpu_total - client_cpu) * 1e3 / static_cast<double>(done_at.size()), "ms");
  if (generation < static_cast<int64_t>(done_at.size()) + (preload > 0 ? 1 : 0)) {
    return BenchError("generation " + std::to_string(generation) + " < enrollments " +
                      std::to_string(done_at.size()));
  }
  return OkStatus();
}

}  // namespace

Status RunEnrollHttp(const BenchConfig& cfg, Reporter& out) {
  const int kThreads = cfg.selftest ? 4 : 32;
  const double window_s = cfg.selftest ? 1.0 : cfg.quick ? 10.0 : 30.0;
  const int pool = cfg.selftest ? 4 : cfg.quick ? 200 : 500;  // nodes per thread

  // Untimed: the machines, once; every run enrolls them into its own store.
  double t_prep = Now();
  std::vector<std::vector<EnrollNode>> nodes(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < pool; ++i) {
      TPMESH_ASSIGN_OR_RETURN(auto n,
                              MakeEnrollNode("h" + std::to_string(t) + "-" + std::to_string(i)));
      nodes[t].push_back(std::move(n));
    }
  }
  out.Note("enroll_http: prepared " + std::to_string(kThreads * pool) + " SoftTpm nodes in " +
           std::to_string(Now() - t_prep) + " s");
  // The headline: from an empty mesh, the mesh growing during the window.
  TPMESH_RETURN_IF_ERROR(RunWindow(nodes, 0, window_s, "", true, out));
  if (cfg.selftest) return OkStatus();
  // Sweep: the rate against the size of the mesh enrollments join.
  const std::vector<uint32_t> sizes = cfg.quick ? std::vector<uint32_t>{1000, 10000}
                                                : std::vector<uint32_t>{1000, 2000, 5000, 10000};
  for (uint32_t n : sizes) {
    TPMESH_RETURN_IF_ERROR(
        RunWindow(nodes, n, cfg.quick ? 4.0 : 8.0, "_n" + std::to_string(n), false, out));
  }
  return OkStatus();
}

}  // namespace tpmesh::bench
