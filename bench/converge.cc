// converge_*_nN and authority_rss_* (docs/benchmarks.md): N clients hold the
// config long poll over mutual TLS; one node joins; how long until each has
// received and verified the new generation, and what the waiting clients
// cost the authority in memory.
//
// The authority is the real one: AuthorityService over OpenSqliteStore (temp
// file), ConfigPublisher, MakeApiHandler, net::StartServer on [::1]:0 (TLS
// 1.3, the event-driven server: waiting polls are parked on its loop thread,
// worker_threads = the authority's default http_workers). The mesh's members are inserted straight
// into the store (Tx::InsertNode: distinct subnets, WireGuard keys, endpoints, node ids), not
// enrolled: enrollment is measured by enroll_http. Each client has its own node certificate from
// the authority CA (IssueNodeCert; one P-256 key shared by all, which changes nothing the server
// does) and its own net::Client and thread, polling GET /v1/node/config?since=G&wait=55 the way
// enroll-client does.
//
// converge: the joining node is in the store from the start, enrolled and
// pending; the join is AuthorityService::Approve, the real admin path (one
// transaction: status, /64 allocation, generation bump, audit; then the
// state built from memory, signed, the waiters woken); t0 is taken before
// it. A client's convergence time
// is (receipt - t0) + the CPU time its verification took (ParseMeshDelta +
// ApplyAndVerify against the generation-G state it holds, or
// VerifySignedState for a full body). The verifications run after every
// client has received its body, on all cores, each timed with its thread's
// CPU clock: this models each client verifying on its own machine, instead
// of N verifications queueing on the 2 cores the server also needs.
//
// rss: the authority runs in a forked child (forked while this process has
// one thread), clients in the parent; the parent reads the child's
// /proc/<pid>/status (VmRSS, Threads) with 0 and with W clients waiting.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <fstream>
#include <sstream>
#include <thread>

#include "bench/bench.h"
#include "tests/support/authority_keys.h"
#include "tpmesh/authority/api.h"
#include "tpmesh/authority/publisher.h"
#include "tpmesh/authority/service.h"
#include "tpmesh/authority/state.h"  // AuthorityConfig: the default http_workers
#include "tpmesh/authority/store.h"
#include "tpmesh/meshcfg/meshcfg.h"
#include "tpmesh/net/http.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::bench {
namespace {

constexpr int kPollWait = 55;  // seconds, the longest the API allows

std::string NodeId(uint32_t i) { return authority::NodeIdFromEk(DerivedBytes(i, 3, 32)); }

// Resident KiB of /proc/<pid>/smaps by kind: thread stacks (anonymous
// mappings of ~8 MiB, glibc's default stack minus its guard page), other
// anonymous memory (malloc heap and arenas), file-backed (code, libraries).
struct RssSplit {
  long stacks = 0, anon = 0, file = 0;
};
RssSplit Smaps(pid_t pid) {
  RssSplit out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  std::string line;
  bool anon = false;
  long size = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (std::isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') != std::string::npos &&
        line.find(':') > line.find(' ')) {
      // "start-end perms offset dev inode [path]": anonymous if no path or [heap]/[stack]
      std::istringstream ss(line);
      std::string range, perms, off, dev, inode, path;
      ss >> range >> perms >> off >> dev >> inode >> path;
      anon = path.empty() || path[0] == '[';
      continue;
    }
    if (line.rfind("Size:", 0) == 0) size = std::strtol(line.c_str() + 5, nullptr, 10);
    if (line.rfind("Rss:", 0) == 0) {
      long rss = std::strtol(line.c_str() + 4, nullptr, 10);
      if (!anon)
        out.file += rss;
      else if (size >= 8180 && size <= 8196)
        out.stacks += rss;
      else
        out.anon += rss;
    }
  }
  return out;
}

double ThreadCpu(pthread_t t) {
  clockid_t cid;
  timespec ts{};
  if (pthread_getcpuclockid(t, &cid) != 0 || clock_gettime(cid, &ts) != 0) return 0;
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// W clients, each in its own thread, polling since=`since` until they get a
// 200 (kept) or `stop` is set. Start() throttles the connection storm: at
// most `burst` clients may be connecting (not yet counted by `waiting()`)
// at once, because cpp-httplib listens with a backlog of 5.
class PollClients {
 public:
  struct Slot {
    std::string cert_pem;
    double t_recv = 0;       // steady seconds of the 200
    double cpu_recv = 0;     // thread CPU at that moment
    double cpu_at_join = 0;  // sampled by Join() from outside
    int polls = 0;
    std::string body;
    std::optional<Error> error;
  };

  PollClients(const Keys& keys, std::string url, int64_t since, uint32_t count)
      : keys_(keys), url_(std::move(url)), since_(since), slots_(count) {}
  ~PollClients() { StopAndJoin(); }

  Status IssueCerts() {
    TPMESH_ASSIGN_OR_RETURN(key_pem_, pki::GenerateKeyPem());
    TPMESH_ASSIGN_OR_RETURN(auto csr, pki::MakeCsr(key_pem_, "bench-node"));
    const TimePoint now = SystemClock::Instance().Now();
    for (uint32_t i = 0; i < slots_.size(); ++i) {
      TPMESH_ASSIGN_OR_RETURN(slots_[i].cert_pem,
                              keys_.ca->IssueNodeCert(csr, NodeId(i), now, std::chrono::hours(24)));
    }
    return OkStatus();
  }

  // Starts every client; returns once `waiting()` reports all of them (or
  // fails after `timeout_s`, naming how far it got).
  Status Start(const std::function<long()>& waiting, double timeout_s, size_t burst) {
    const double deadline = Now() + timeout_s;
    for (uint32_t i = 0; i < slots_.size(); ++i) {
      while (static_cast<long>(i) - waiting() >= static_cast<long>(burst)) {
        if (Now() > deadline) return Stuck(waiting());
        if (auto e = FirstError()) return *e;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      try {
        threads_.emplace_back([this, i] { Run(slots_[i]); });
      } catch (const std::system_error& e) {
        return BenchError("could not create client thread " + std::to_string(i + 1) + " (" +
                          std::to_string(ProcStatus(0, "Threads")) +
                          " threads in this process): " + e.what());
      }
    }
    while (waiting() < static_cast<long>(slots_.size())) {
      if (Now() > deadline) return Stuck(waiting());
      if (auto e = FirstError()) return *e;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return OkStatus();
  }

  // Samples every client thread's CPU clock (call just before the join).
  void SampleCpu() {
    for (size_t i = 0; i < threads_.size(); ++i)
      slots_[i].cpu_at_join = ThreadCpu(threads_[i].native_handle());
  }
  void Release() { stop_ = true; }
  void StopAndJoin() {
    stop_ = true;
    Join();
  }
  void Join() {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  std::vector<Slot>& slots() { return slots_; }
  std::optional<Error> FirstError() {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }

 private:
  void Run(Slot& s) {
    auto client = net::MakeClient(
        net::ClientOptions{url_, keys_.ca->cert_pem(), s.cert_pem, key_pem_, kPollWait + 15});
    if (!client.ok()) return Fail(s, client.error());
    const std::string path =
        "/v1/node/config?since=" + std::to_string(since_) + "&wait=" + std::to_string(kPollWait);
    while (!stop_) {
      auto r = (*client)->Get(path);
      ++s.polls;
      if (!r.ok()) return Fail(s, r.error());
      if (r->status == 204) continue;  // poll expired (or the authority shut down): poll again
      s.t_recv = Now();
      s.cpu_recv = ThreadCpuSeconds();
      if (r->status != 200)
        return Fail(s,
                    BenchError("config poll: HTTP " + std::to_string(r->status) + " " + r->body));
      s.body = std::move(r->body);
      return;
    }
  }
  void Fail(Slot& s, Error e) {
    s.error = e;
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_) error_ = std::move(e);
  }
  Error Stuck(long waiting) {
    return BenchError("only " + std::to_string(waiting) + " of " + std::to_string(slots_.size()) +
                      " clients were waiting in time (" + std::to_string(threads_.size()) +
                      " started)");
  }

  const Keys& keys_;
  const std::string url_;
  const int64_t since_;
  std::string key_pem_;
  std::vector<Slot> slots_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::optional<Error> error_;
};

// The state a client at generation G holds: the full body, verified.
Result<meshcfg::MeshState> HeldState(authority::ConfigPublisher& publisher, const Bytes& pk) {
  auto body = publisher.Newer(-1);
  if (!body) return BenchError("nothing published");
  auto j = nlohmann::json::parse(*body, nullptr, false);
  if (j.is_discarded() || !j.contains("full")) return BenchError("first body is not a full state");
  TPMESH_ASSIGN_OR_RETURN(auto s, meshcfg::ParseSignedState(j["full"].dump()));
  return meshcfg::VerifySignedState(s, -1, {pk});
}

// What the client does with a 200: verify it against `held` and return the
// new state. `delta` tells which kind the body was.
Result<meshcfg::MeshState> VerifyBody(const std::string& body, const meshcfg::MeshState& held,
                                      const Bytes& pk, bool& delta) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return BenchError("config body is not a JSON object");
  delta = j.contains("delta");
  if (delta) {
    TPMESH_ASSIGN_OR_RETURN(auto d, meshcfg::ParseMeshDelta(j["delta"].dump()));
    return meshcfg::ApplyAndVerify(held, d, {pk});
  }
  if (!j.contains("full")) return BenchError("config body holds neither delta nor full");
  TPMESH_ASSIGN_OR_RETURN(auto s, meshcfg::ParseSignedState(j["full"].dump()));
  return meshcfg::VerifySignedState(s, held.generation, {pk});
}

Status ConvergeOnce(uint32_t n, Reporter& out) {
  const std::string sfx = "_n" + std::to_string(n);
  const long fds = RaiseFdLimit();
  TempDir dir;
  if (!dir.ok()) return BenchError("mkdtemp failed");
  TPMESH_ASSIGN_OR_RETURN(auto keys, MakeKeys(dir.File("keys")));
  AuthorityOptions ao;
  ao.nodes = n;
  ao.workers = authority::AuthorityConfig{}.http_workers;
  TPMESH_ASSIGN_OR_RETURN(auto auth, StartAuthority(*keys, dir.File("authority.db"), ao));
  TPMESH_ASSIGN_OR_RETURN(const meshcfg::MeshState held,
                          HeldState(*auth->publisher, keys->sign_public));
  if (held.members.size() != n)
    return BenchError("held state has " + std::to_string(held.members.size()) + " members");

  PollClients clients(*keys, auth->url, held.generation, n);
  struct Release {  // on failure: answer every waiter (204) so the clients end now
    PollClients& c;
    authority::ConfigPublisher& p;
    ~Release() {
      c.Release();
      p.Shutdown();
    }
  } release{clients, *auth->publisher};
  TPMESH_RETURN_IF_ERROR(clients.IssueCerts());
  const double t_setup = Now();
  auto waiting = [&] { return static_cast<long>(auth->publisher->waiting()); };
  if (Status st = clients.Start(waiting, 50.0, 32); !st.ok()) {
    return BenchError("N=" + std::to_string(n) + " (RLIMIT_NOFILE " + std::to_string(fds) +
                      "): " + st.error().ToString());
  }
  const double setup_s = Now() - t_setup;
  const long threads = ProcStatus(0, "Threads");
  out.Note("converge" + sfx + ": " + std::to_string(n) + " clients waiting after " +
           std::to_string(setup_s) + " s; " + std::to_string(threads) +
           " threads in the process, VmRSS " + std::to_string(RssKb() / 1024) + " MiB");

  // The join.
  clients.SampleCpu();
  const double cpu0 = ProcessCpuSeconds();
  const double t0 = Now();
  // The admin approves it: one transaction (status, /64, generation bump,
  // audit), then the new state is built from memory, signed and published.
  TPMESH_ASSIGN_OR_RETURN(auto joined,
                          auth->service->Approve(SyntheticNode(n).node_id, "admin:bench", "join"));
  (void)joined;
  const double publish_ms = (Now() - t0) * 1e3;
  clients.Join();
  const double cpu_window = ProcessCpuSeconds() - cpu0;
  if (auto e = clients.FirstError()) return BenchError("a client failed: " + e->ToString());

  // Every client verifies its body, on all cores, timed per verification.
  auto& slots = clients.slots();
  std::vector<double> verify_cpu(slots.size(), 0);
  std::atomic<size_t> next{0};
  std::atomic<size_t> deltas{0};
  std::mutex mu;
  std::optional<Error> bad;
  const double t_verify = Now();
  std::vector<std::thread> verifiers;
  for (unsigned v = 0; v < std::max(1u, std::thread::hardware_concurrency()); ++v) {
    verifiers.emplace_back([&] {
      for (size_t i; (i = next++) < slots.size();) {
        const double c0 = ThreadCpuSeconds();
        bool delta = false;
        auto st = VerifyBody(slots[i].body, held, keys->sign_public, delta);
        verify_cpu[i] = ThreadCpuSeconds() - c0;
        if (delta) ++deltas;
        if (!st.ok() || st->generation != held.generation + 1 || st->members.size() != n + 1) {
          std::lock_guard<std::mutex> lock(mu);
          if (!bad)
            bad = st.ok() ? BenchError("verified state has the wrong generation or size")
                          : st.error();
        }
      }
    });
  }
  for (auto& t : verifiers) t.join();
  out.Note("converge" + sfx + ": verifying all bodies here took " +
           std::to_string(Now() - t_verify) + " s");
  if (bad) return BenchError("client " + std::string("verification failed: ") + bad->ToString());

  std::vector<double> recv_ms, conv_ms;
  double client_cpu = 0, bytes_max = 0, bytes_sum = 0;
  int repolls = 0;
  for (size_t i = 0; i < slots.size(); ++i) {
    recv_ms.push_back((slots[i].t_recv - t0) * 1e3);
    conv_ms.push_back(recv_ms.back() + verify_cpu[i] * 1e3);
    client_cpu += slots[i].cpu_recv - slots[i].cpu_at_join;
    bytes_max = std::max(bytes_max, static_cast<double>(slots[i].body.size()));
    bytes_sum += static_cast<double>(slots[i].body.size());
    repolls += slots[i].polls - 1;
  }
  out.Emit("converge_p99_ms" + sfx, Percentile(conv_ms, 0.99), "ms");
  out.Emit("converge_p50_ms" + sfx, Percentile(conv_ms, 0.5), "ms");
  out.Emit("converge_max_ms" + sfx, Percentile(conv_ms, 1.0), "ms");
  out.Emit("converge_recv_p99_ms" + sfx, Percentile(recv_ms, 0.99), "ms");
  out.Emit("converge_recv_p50_ms" + sfx, Percentile(recv_ms, 0.5), "ms");
  out.Emit("converge_first_recv_ms" + sfx, Percentile(recv_ms, 0.0), "ms");
  out.Emit("converge_publish_ms" + sfx, publish_ms, "ms");
  out.Emit("converge_verify_cpu_ms_p50" + sfx, Percentile(verify_cpu, 0.5) * 1e3, "ms");
  out.Emit("converge_verify_cpu_ms_p99" + sfx, Percentile(verify_cpu, 0.99) * 1e3, "ms");
  double verify_total = 0;
  for (double v : verify_cpu) verify_total += v;
  out.Emit("converge_verify_cpu_ms_total" + sfx, verify_total * 1e3, "ms");
  out.Emit("converge_window_server_cpu_ms" + sfx, (cpu_window - client_cpu) * 1e3, "ms");
  out.Emit("converge_window_client_cpu_ms" + sfx, client_cpu * 1e3, "ms");
  out.Emit("change_bytes_received" + sfx, bytes_max, "bytes");
  out.Emit("converge_setup_s" + sfx, setup_s, "s");
  out.Emit("converge_threads" + sfx, static_cast<double>(threads), "threads");
  out.Note("converge" + sfx + ": " + std::to_string(deltas.load()) + " of " + std::to_string(n) +
           " bodies were deltas, mean " + std::to_string(bytes_sum / n) + " bytes; " +
           std::to_string(repolls) + " re-polls after a 204");
  if (deltas.load() != n) return BenchError("expected every client to get a delta");
  if (repolls != 0)
    return BenchError("a poll expired before the join (setup slower than the poll wait)");
  return OkStatus();
}

// Shared page between the parent and the authority child.
struct Shared {
  std::atomic<int> port{0};
  std::atomic<long> generation{-1};
  std::atomic<long> waiting{0};
  std::atomic<long> rss_state_kb{0};
  std::atomic<long> rss_fork_kb{0};
  std::atomic<long> rss_idle_kb{0};
  std::atomic<long> threads_idle{0};
  std::atomic<int> stop{0};
  std::atomic<int> failed{0};
  char error[512] = {};
};

[[noreturn]] void AuthorityChild(Shared* sh, Keys& keys, const std::string& db, uint32_t nodes,
                                 int workers) {
  sh->rss_fork_kb = RssKb();
  AuthorityOptions ao;
  ao.nodes = nodes;
  ao.workers = workers;
  auto a = StartAuthority(keys, db, ao);
  if (!a.ok()) {
    std::snprintf(sh->error, sizeof sh->error, "%s", a.error().ToString().c_str());
    sh->failed = 1;
    _exit(1);
  }
  sh->rss_state_kb = (*a)->rss_state_kb;
  sh->generation = (*a)->publisher->generation();
  // cpp-httplib creates its pool after it reports running: wait for all of
  // it (main + listener + workers) before the idle sample.
  for (int i = 0; i < 6000 && ProcStatus(0, "Threads") < workers + 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  sh->threads_idle = ProcStatus(0, "Threads");
  sh->rss_idle_kb = RssKb();
  sh->port = (*a)->server->ports().at(0);
  while (sh->stop.load() == 0 && getppid() != 1) {
    sh->waiting = static_cast<long>((*a)->publisher->waiting());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  a->reset();  // publisher shutdown (waiters answered 204), server stopped
  _exit(0);
}

Status RssOnce(uint32_t nodes, uint32_t w, bool named_target, Reporter& out) {
  const std::string sfx =
      "_n" + std::to_string(nodes) + (named_target ? "" : "_w" + std::to_string(w));
  if (ProcStatus(0, "Threads") != 1)
    return BenchError("rss: the parent must be single-threaded to fork");
  RaiseFdLimit();
  TempDir dir;
  if (!dir.ok()) return BenchError("mkdtemp failed");
  TPMESH_ASSIGN_OR_RETURN(auto keys, MakeKeys(dir.File("keys")));
  malloc_trim(0);  // the child inherits (and counts) the parent's heap
  void* mem =
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return BenchError("mmap");
  auto* sh = new (mem) Shared();
  struct Unmap {
    void* m;
    ~Unmap() { munmap(m, sizeof(Shared)); }
  } unmap{mem};
  std::fflush(nullptr);
  const pid_t child = fork();
  if (child < 0) return BenchError("fork failed");
  if (child == 0)
    AuthorityChild(sh, *keys, dir.File("authority.db"), nodes,
                   authority::AuthorityConfig{}.http_workers);
  struct Reap {
    pid_t pid;
    Shared* sh;
    ~Reap() {
      sh->stop = 1;
      int status = 0;
      for (int i = 0; i < 3000 && waitpid(pid, &status, WNOHANG) == 0; ++i) usleep(10000);
      if (waitpid(pid, &status, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
      }
    }
  } reap{child, sh};

  const double deadline = Now() + 600;
  while (sh->port.load() == 0) {
    if (sh->failed.load()) return BenchError(std::string("authority child: ") + sh->error);
    if (Now() > deadline) return BenchError("authority child did not start");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const long rss_idle = sh->rss_idle_kb.load();
  const long threads_idle = sh->threads_idle.load();
  const RssSplit split_idle = Smaps(child);
  PollClients clients(*keys, "https://[::1]:" + std::to_string(sh->port.load()),
                      sh->generation.load(), w);
  struct Release {  // on failure: the child answers every waiter (204) so the clients end now
    PollClients& c;
    Shared* sh;
    ~Release() {
      c.Release();
      sh->stop = 1;
    }
  } release{clients, sh};
  TPMESH_RETURN_IF_ERROR(clients.IssueCerts());
  const double t_setup = Now();
  if (Status st = clients.Start([&] { return sh->waiting.load(); }, 50.0, 32); !st.ok()) {
    return BenchError("W=" + std::to_string(w) + ": " + st.error().ToString());
  }
  const double setup_s = Now() - t_setup;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const long rss_waiting = ProcStatus(child, "VmRSS");
  const long threads_waiting = ProcStatus(child, "Threads");
  const RssSplit split = Smaps(child);
  const long still = sh->waiting.load();
  clients.Release();
  sh->stop = 1;  // the child shuts the publisher down: every waiter gets a 204
  clients.StopAndJoin();
  if (auto e = clients.FirstError()) return BenchError("a client failed: " + e->ToString());
  if (still != static_cast<long>(w))
    return BenchError("clients stopped waiting before the measurement");

  out.Emit("authority_rss_mb" + sfx, static_cast<double>(rss_waiting) / 1024, "MB");
  out.Emit("authority_rss_idle_mb" + sfx, static_cast<double>(rss_idle) / 1024, "MB");
  out.Emit("authority_rss_state_mb" + sfx, static_cast<double>(sh->rss_state_kb.load()) / 1024,
           "MB");
  out.Emit("authority_rss_kb_per_waiter" + sfx, static_cast<double>(rss_waiting - rss_idle) / w,
           "KiB");
  out.Emit("authority_threads" + sfx, static_cast<double>(threads_waiting), "threads");
  out.Emit("authority_rss_fork_mb" + sfx, static_cast<double>(sh->rss_fork_kb.load()) / 1024, "MB");
  out.Emit("authority_rss_stacks_mb" + sfx, static_cast<double>(split.stacks) / 1024, "MB");
  out.Emit("authority_rss_heap_mb" + sfx, static_cast<double>(split.anon) / 1024, "MB");
  out.Emit("authority_rss_file_mb" + sfx, static_cast<double>(split.file) / 1024, "MB");
  out.Emit("authority_rss_stack_kb_per_waiter" + sfx,
           static_cast<double>(split.stacks - split_idle.stacks) / w, "KiB");
  out.Emit("authority_rss_heap_kb_per_waiter" + sfx,
           static_cast<double>(split.anon - split_idle.anon) / w, "KiB");
  out.Note("rss" + sfx + ": " + std::to_string(w) + " clients waiting after " +
           std::to_string(setup_s) + " s; child threads " + std::to_string(threads_idle) +
           " idle, " + std::to_string(threads_waiting) + " with waiters");
  return OkStatus();
}

}  // namespace

// A sweep over mesh sizes: every line carries its N (scripts/bench-plot
// draws each against N); 1,000 and 5,000 are the sizes with targets.
Status RunConverge(const BenchConfig& cfg, Reporter& out) {
  if (cfg.selftest) return ConvergeOnce(20, out);
  const std::vector<uint32_t> sizes =
      cfg.quick ? std::vector<uint32_t>{100, 200, 500}
                : std::vector<uint32_t>{250, 500, 1000, 2000, 5000, 10000};
  for (uint32_t n : sizes) {
    // Both ends live in this process: a client and a server descriptor per
    // waiting node, plus the store, swtpm-free fixtures and spare.
    const long need = 2 * static_cast<long>(n) + 256;
    if (const long fds = RaiseFdLimit(); fds < need) {
      out.Note("converge_n" + std::to_string(n) + " skipped: it needs " + std::to_string(need) +
               " descriptors and RLIMIT_NOFILE is " + std::to_string(fds) +
               " (raise the hard limit, or run as a user that may)");
      continue;
    }
    TPMESH_RETURN_IF_ERROR(ConvergeOnce(n, out));
  }
  return OkStatus();
}

// Full run: 10,000 nodes with 500 .. 5,000 waiting polls (lines _n10000_w<W>;
// 5,000 is the size with targets and its lines are named _n10000 only).
Status RunAuthorityRss(const BenchConfig& cfg, Reporter& out) {
  if (cfg.selftest) return RssOnce(200, 20, false, out);
  if (cfg.quick) return RssOnce(2000, 200, false, out);
  // Each point in a fresh copy of this process (forked before any thread):
  // the clients of one point leave heap behind that the next authority child
  // would inherit and count.
  for (uint32_t w : {500u, 1000u, 2000u, 5000u}) {
    std::fflush(nullptr);
    const pid_t driver = fork();
    if (driver < 0) return BenchError("fork failed");
    if (driver == 0) {
      const Status st = RssOnce(10000, w, w == 5000, out);
      if (!st.ok()) std::fprintf(stderr, "# rss w=%u: %s\n", w, st.error().ToString().c_str());
      std::fflush(nullptr);
      _exit(st.ok() ? 0 : 1);
    }
    int status = 0;
    waitpid(driver, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return BenchError("rss with " + std::to_string(w) + " waiting clients failed");
    }
  }
  return OkStatus();
}

}  // namespace tpmesh::bench
