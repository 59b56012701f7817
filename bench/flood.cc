// flood_* and authority_threads_idle (docs/benchmarks.md): the authority
// under a connection flood. Loopback only, bounded in count and time.
//
// The authority runs in a forked child (forked while this process has one
// thread, as rss does): StartAuthority with 10 synthetic members on
// 127.0.0.1:0, worker_threads = the authority's default http_workers, the
// SoftTpm test root trusted and the enrolling machines' EKs allowlisted.
// The parent attacks (bench/flood.h) and measures, reading the child's
// /proc/<pid>/status (VmRSS, Threads) every 10 ms:
//   authority_threads_idle  the child's threads while it serves, no client
//   flood: 2,000 slow-header and 2,000 idle TLS connections, spread evenly
//     over the sources 127.0.0.2 .. 127.0.0.17, opened 64 at a time (the
//     ramp ends when all are established, or after 15 s), re-opened when
//     the server closes them. Then, for the window (8 s --quick, 20 s full),
//     an admin client loops GET /v1/admin/status (net::Client with the admin
//     certificate, a fresh TLS connection per request, as tpmeshctl) while
//     20 enrollments (one thread and net::Client each, started over the
//     window's first half) run.
//   flood_admin_p99_ms      p99 of the admin latencies; a failed request
//                           counts with the time it took (timeout 5 s)
//   flood_enroll_ok         enrollments that completed, of 20
//   flood_threads_max       the child's most threads from the ramp on
//   flood_rss_growth_mb     with the flood closed and 1 s later: four
//     parallel POST /v1/enroll/start with chunked bodies of up to 512 MB
//     and one GET /v1/ca with 1,000,000 header fields, each sent until the
//     server answers or closes; the child's highest VmRSS (sampled while
//     sending, and 1 s after) minus its VmRSS before. Sending stops early
//     if the growth passes min(4 GiB, half of MemAvailable).
// Besides: flood_admin_p50_ms, flood_admin_failed, flood_open_max (the most
// flood connections established at once). --selftest: 40 + 40 connections,
// a 1 s window, 2 enrollments, 8 MB bodies, 20,000 fields.
#include "bench/flood.h"

#include <malloc.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>

#include "bench/bench.h"
#include "tpmesh/authority/state.h"  // AuthorityConfig: the default http_workers
#include "tpmesh/pki/pki.h"

namespace tpmesh::bench {
namespace {

struct Sizes {
  size_t slow = 2000, idle = 2000, burst = 64;
  double ramp_s = 15, window_s = 20;
  size_t enrolls = 20;
  int timeout_s = 5;  // of each admin and enrollment request
  uint64_t body_bytes = uint64_t{512} << 20;
  size_t fields = 1'000'000;
  double big_s = 60;  // the RSS phase's deadline
  double settle_s = 1;
};

Sizes SizesFor(const BenchConfig& cfg) {
  Sizes s;
  if (cfg.selftest) {
    s.slow = s.idle = 40;
    s.burst = 16;
    s.ramp_s = 3;
    s.window_s = 1;
    s.enrolls = 2;
    s.body_bytes = 8 << 20;
    s.fields = 20'000;
    s.big_s = 10;
    s.settle_s = 0.3;
  } else if (cfg.quick) {
    s.window_s = 8;
    s.big_s = 30;
  }
  return s;
}

std::vector<std::string> Sources() {
  std::vector<std::string> out;
  for (int i = 2; i <= 17; ++i) out.push_back("127.0.0." + std::to_string(i));
  return out;
}

void SleepS(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Shared page between the parent and the authority child.
struct Shared {
  std::atomic<int> port{0};
  std::atomic<int> failed{0};
  char error[512] = {};
};

[[noreturn]] void AuthorityChild(Shared* sh, pid_t parent, Keys& keys, const std::string& db,
                                 const AuthorityOptions& options) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the benchmark
  if (getppid() != parent) _exit(1);
  signal(SIGPIPE, SIG_IGN);  // as the authority's main()
  auto a = StartAuthority(keys, db, options);
  if (!a.ok()) {
    std::snprintf(sh->error, sizeof sh->error, "%s", a.error().ToString().c_str());
    sh->failed = 1;
    _exit(1);
  }
  sh->port = (*a)->server->ports().at(0);
  for (;;) pause();  // serves until the parent kills it
}

// The authority child: killed (SIGKILL) and reaped on destruction.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  ~Child() {
    if (reaped_) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  pid_t pid() const { return pid_; }
  bool Alive() {
    int status = 0;
    if (!reaped_ && waitpid(pid_, &status, WNOHANG) == pid_) reaped_ = true;
    return !reaped_;
  }

 private:
  pid_t pid_;
  bool reaped_ = false;
};

// The child's Threads and VmRSS, sampled every 10 ms on a thread of its own.
class Sampler {
 public:
  explicit Sampler(pid_t pid) : pid_(pid), thread_([this] { Run(); }) {}
  ~Sampler() {
    stop_ = true;
    thread_.join();
  }
  long threads_max() const { return threads_max_.load(); }
  long rss_max_kb() const { return rss_max_.load(); }
  void ResetRss() { rss_max_ = ProcStatus(pid_, "VmRSS"); }

 private:
  static void Raise(std::atomic<long>& max, long v) {
    for (long m = max.load(); v > m && !max.compare_exchange_weak(m, v);) {
    }
  }
  void Run() {
    while (!stop_.load()) {
      Raise(threads_max_, ProcStatus(pid_, "Threads"));
      Raise(rss_max_, ProcStatus(pid_, "VmRSS"));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  const pid_t pid_;
  std::atomic<bool> stop_{false};
  std::atomic<long> threads_max_{0};
  std::atomic<long> rss_max_{0};
  std::thread thread_;  // last: starts once the rest is built
};

// What the phases share.
struct FloodRun {
  Sizes s;
  bool selftest = false;
  Child* child = nullptr;
  Sampler* sampler = nullptr;
  int port = 0;
  std::string url;
  net::ClientOptions admin;
  net::ClientOptions enroll;
  std::vector<EnrollNode> nodes;
  std::string csr_pem;
};

struct AdminResult {
  std::vector<double> ms;
  size_t failed = 0;
  std::string first_error;
};

AdminResult AdminLoop(const net::ClientOptions& o, double until) {
  AdminResult r;
  auto client = net::MakeClient(o);
  if (!client.ok()) {
    r.failed = 1;
    r.first_error = client.error().ToString();
    return r;
  }
  while (Now() < until) {
    const double t = Now();
    auto resp = (*client)->Get("/v1/admin/status");
    r.ms.push_back((Now() - t) * 1e3);
    if (resp.ok() && resp->status == 200) continue;
    if (r.failed++ == 0)
      r.first_error = resp.ok() ? "HTTP " + std::to_string(resp->status) : resp.error().ToString();
  }
  return r;
}

// Every node enrolls on its own thread, node i starting at t0 + i * spread_s
// / n. Returns how many succeeded; `first_error` names a failure.
size_t EnrollAll(FloodRun& run, double t0, double spread_s, std::string& first_error) {
  std::atomic<size_t> ok{0};
  std::mutex mu;
  std::vector<std::thread> threads;
  const size_t n = run.nodes.size();
  for (size_t i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      SleepS(
          std::max(0.0, t0 + spread_s * static_cast<double>(i) / static_cast<double>(n) - Now()));
      auto client = net::MakeClient(run.enroll);
      Status st =
          client.ok() ? EnrollOnce(**client, run.nodes[i], run.csr_pem) : Status(client.error());
      if (st.ok()) {
        ++ok;
        return;
      }
      std::lock_guard<std::mutex> lock(mu);
      if (first_error.empty()) first_error = st.error().ToString();
    });
  }
  for (auto& t : threads) t.join();
  return ok.load();
}

std::string StatusesText(const FloodStats& st) {
  std::string out;
  for (const auto& [status, count] : st.statuses)
    out += " " + std::to_string(count) + " x " + std::to_string(status);
  return out.empty() ? " none" : out;
}

Status RampUp(Flood& flood, FloodRun& run, Reporter& out) {
  const double t0 = Now();
  const size_t want = run.s.slow + run.s.idle;
  while (flood.Stats().open < want && Now() < t0 + run.s.ramp_s) {
    if (!run.child->Alive()) return BenchError("the authority died during the ramp");
    SleepS(0.05);
  }
  const FloodStats st = flood.Stats();
  out.Note("flood: " + std::to_string(st.open) + " of " + std::to_string(want) +
           " connections established after " + std::to_string(Now() - t0) + " s (" +
           std::to_string(st.failed) + " connects/handshakes failed, " +
           std::to_string(st.slow_closed + st.idle_closed) + " closed by the server)");
  return OkStatus();
}

Status FloodPhase(FloodRun& run, Reporter& out) {
  const Sizes& s = run.s;
  FloodPlan plan;
  plan.port = run.port;
  plan.sources = Sources();
  plan.slow = s.slow;
  plan.idle = s.idle;
  plan.burst = s.burst;
  TPMESH_ASSIGN_OR_RETURN(auto flood, Flood::Start(plan));
  TPMESH_RETURN_IF_ERROR(RampUp(*flood, run, out));
  const FloodStats before = flood->Stats();
  const double t0 = Now();
  AdminResult admin;
  std::thread admin_thread([&] { admin = AdminLoop(run.admin, t0 + s.window_s); });
  std::string enroll_error;
  const size_t enrolled = EnrollAll(run, t0, s.window_s / 2, enroll_error);
  admin_thread.join();
  const double window = Now() - t0;
  const FloodStats st = flood->Stats();
  const long rss_flood_kb = run.sampler->rss_max_kb();
  flood->Stop();
  if (!run.child->Alive()) return BenchError("the authority died during the flood");

  out.Emit("flood_admin_p99_ms", Percentile(admin.ms, 0.99), "ms");
  out.Emit("flood_admin_p50_ms", Percentile(admin.ms, 0.5), "ms");
  out.Emit("flood_admin_failed", static_cast<double>(admin.failed), "requests");
  out.Emit("flood_enroll_ok", static_cast<double>(enrolled), "enrollments");
  out.Emit("flood_open_max", static_cast<double>(st.open_max), "connections");
  out.Note("flood: " + std::to_string(admin.ms.size()) + " admin requests in " +
           std::to_string(window) + " s, " + std::to_string(admin.failed) + " failed" +
           (admin.failed != 0 ? " (first: " + admin.first_error + ")" : ""));
  out.Note("flood: " + std::to_string(enrolled) + " of " + std::to_string(run.nodes.size()) +
           " enrollments" + (enroll_error.empty() ? "" : " (first failure: " + enroll_error + ")"));
  out.Note("flood: during the window " + std::to_string(st.open) + " open at the end, " +
           std::to_string(st.handshakes - before.handshakes) + " handshakes, server closed " +
           std::to_string(st.slow_closed - before.slow_closed) + " slow-header and " +
           std::to_string(st.idle_closed - before.idle_closed) + " idle connections, " +
           std::to_string(st.failed - before.failed) +
           " connects/handshakes failed; answers since the start" + StatusesText(st) +
           "; the authority's VmRSS peaked at " + std::to_string(rss_flood_kb / 1024) + " MiB");
  if (run.selftest && (enrolled != run.nodes.size() || admin.failed == admin.ms.size()))
    return BenchError("selftest flood: enrollments or admin requests failed");
  return OkStatus();
}

// min(4 GiB, MemAvailable / 2) in KiB.
long RssCapKb() {
  std::ifstream in("/proc/meminfo");
  long cap = 4L << 20;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("MemAvailable:", 0) == 0)
      cap = std::min(cap, std::strtol(line.c_str() + 13, nullptr, 10) / 2);
  }
  return cap;
}

std::string ResultText(const BigResult& r) {
  return (r.status != 0 ? "HTTP " + std::to_string(r.status) : std::string("no answer")) +
         (r.closed ? ", closed" : "") + (r.timed_out ? ", stopped" : "") + " after " +
         std::to_string(static_cast<double>(r.sent) / (1 << 20)) + " MiB sent";
}

Status BigPhase(FloodRun& run, Reporter& out) {
  SleepS(run.s.settle_s);
  const long before = ProcStatus(run.child->pid(), "VmRSS");
  run.sampler->ResetRss();
  std::vector<BigRequest> reqs(4, ChunkedBody(run.s.body_bytes));
  reqs.push_back(ManyFields(run.s.fields));
  std::vector<BigResult> results(reqs.size());
  std::atomic<bool> stop{false};
  std::atomic<size_t> done{0};
  const double deadline = Now() + run.s.big_s;
  const std::vector<std::string> sources = Sources();
  std::vector<std::thread> threads;
  for (size_t i = 0; i < reqs.size(); ++i) {
    threads.emplace_back([&, i] {
      results[i] = SendBig(run.port, sources[i], reqs[i], deadline, stop);
      ++done;
    });
  }
  const long cap = RssCapKb();
  bool capped = false;
  while (done.load() < reqs.size()) {
    if (run.sampler->rss_max_kb() - before > cap) capped = true;
    if (capped || !run.child->Alive()) stop = true;
    SleepS(0.02);
  }
  for (auto& t : threads) t.join();
  SleepS(run.s.settle_s);
  const long after = ProcStatus(run.child->pid(), "VmRSS");
  if (!run.child->Alive()) return BenchError("the authority died during the large requests");
  const long growth = std::max(run.sampler->rss_max_kb(), after) - before;
  out.Emit("flood_rss_growth_mb", static_cast<double>(growth) / 1024, "MB");
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].error.empty())
      return BenchError("large request " + std::to_string(i) + ": " + results[i].error);
    out.Note(std::string(i < 4 ? "flood: chunked body: " : "flood: many header fields: ") +
             ResultText(results[i]));
  }
  out.Note("flood: VmRSS " + std::to_string(before / 1024) + " MiB before, highest " +
           std::to_string(run.sampler->rss_max_kb() / 1024) + " MiB, " +
           std::to_string(after / 1024) + " MiB after" +
           (capped ? "; stopped at the cap of " + std::to_string(cap / 1024) + " MiB growth" : ""));
  return OkStatus();
}

// Forks the authority child and waits for its port.
Result<int> StartChild(Shared* sh, Keys& keys, const std::string& db, const AuthorityOptions& ao,
                       std::unique_ptr<Child>& child) {
  if (ProcStatus(0, "Threads") != 1)
    return BenchError("flood: the parent must be single-threaded to fork");
  malloc_trim(0);  // the child inherits (and counts) the parent's heap
  std::fflush(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return BenchError("fork failed");
  if (pid == 0) AuthorityChild(sh, parent, keys, db, ao);
  child = std::make_unique<Child>(pid);
  const double deadline = Now() + 120;
  while (sh->port.load() == 0) {
    if (sh->failed.load()) return BenchError(std::string("authority child: ") + sh->error);
    if (!child->Alive()) return BenchError("the authority child exited");
    if (Now() > deadline) return BenchError("the authority child did not start");
    SleepS(0.01);
  }
  return sh->port.load();
}

// The machines that enroll during the flood, allowlisted in `ao`.
Status PrepareEnrollments(FloodRun& run, AuthorityOptions& ao) {
  for (size_t i = 0; i < run.s.enrolls; ++i) {
    TPMESH_ASSIGN_OR_RETURN(auto n, MakeEnrollNode("flood-" + std::to_string(i)));
    ao.allowlist.push_back(authority::AllowlistEntry{n.ek_sha256, n.hostname, 0});
    run.nodes.push_back(std::move(n));
  }
  TPMESH_ASSIGN_OR_RETURN(auto key, pki::GenerateKeyPem());
  TPMESH_ASSIGN_OR_RETURN(run.csr_pem, pki::MakeCsr(key, "bench-node"));
  return OkStatus();
}

}  // namespace

Status RunFlood(const BenchConfig& cfg, Reporter& out) {
  FloodRun run;
  run.s = SizesFor(cfg);
  run.selftest = cfg.selftest;
  const long fds = RaiseFdLimit();
  if (fds < static_cast<long>(run.s.slow + run.s.idle) + 512)
    return BenchError("RLIMIT_NOFILE " + std::to_string(fds) + " is too low for the flood");
  TempDir dir;
  if (!dir.ok()) return BenchError("mkdtemp failed");
  TPMESH_ASSIGN_OR_RETURN(auto keys, MakeKeys(dir.File("keys")));
  AuthorityOptions ao;
  ao.nodes = 10;
  ao.workers = authority::AuthorityConfig{}.http_workers;
  ao.listen = "127.0.0.1:0";
  ao.ek_root_pem = testing::SoftTpm::TrustedRoot().Pem();
  TPMESH_RETURN_IF_ERROR(PrepareEnrollments(run, ao));
  void* mem =
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return BenchError("mmap");
  struct Unmap {
    void* m;
    ~Unmap() { munmap(m, sizeof(Shared)); }
  } unmap{mem};
  std::unique_ptr<Child> child;  // declared after dir: killed before the files go
  TPMESH_ASSIGN_OR_RETURN(
      run.port, StartChild(new (mem) Shared(), *keys, dir.File("authority.db"), ao, child));
  run.child = child.get();
  run.url = "https://127.0.0.1:" + std::to_string(run.port);
  const std::string ca = keys->files.cas->Bundle();
  run.admin = net::ClientOptions{run.url,
                                 ca,
                                 ReadFile(keys->files.dir + "/admin.crt"),
                                 ReadFile(keys->files.dir + "/admin.key"),
                                 run.s.timeout_s,
                                 false};
  run.enroll = net::ClientOptions{run.url, ca, "", "", run.s.timeout_s, true};
  struct IgnorePipe {  // writes to connections the server closed
    struct sigaction old {};
    IgnorePipe() {
      struct sigaction ign {};
      ign.sa_handler = SIG_IGN;
      sigaction(SIGPIPE, &ign, &old);
    }
    ~IgnorePipe() { sigaction(SIGPIPE, &old, nullptr); }
  } ignore_pipe;
  SleepS(0.3);
  out.Emit("authority_threads_idle", static_cast<double>(ProcStatus(child->pid(), "Threads")),
           "threads");
  Sampler sampler(child->pid());
  run.sampler = &sampler;
  TPMESH_RETURN_IF_ERROR(FloodPhase(run, out));
  out.Emit("flood_threads_max", static_cast<double>(sampler.threads_max()), "threads");
  return BigPhase(run, out);
}

}  // namespace tpmesh::bench
