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
#include "tpmesh/authority/api.h"
#include "tpmesh/authority/service.h"  // NodeIdFromEk
#include "tpmesh/pki/pki.h"
#include "tpmesh/proto/enroll.h"

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

long ProcStatus(pid_t pid, const std::string& key) {
  std::ifstream in(pid == 0 ? "/proc/self/status" : "/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0)
      return std::strtol(line.c_str() + key.size() + 1, nullptr, 10);
  }
  return -1;
}

long RaiseFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  // Clients and server share this process: 10,000 of each need more than
  // some hosts' hard limit (20,000 here). Root may raise it (up to
  // fs.nr_open); otherwise the soft limit goes to the hard one.
  rlimit want{65536, 65536};
  if (rl.rlim_max < want.rlim_max && setrlimit(RLIMIT_NOFILE, &want) == 0) return 65536;
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  return static_cast<long>(rl.rlim_cur);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
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

Result<std::unique_ptr<Keys>> MakeKeys(const std::string& dir) {
  auto k = std::make_unique<Keys>();
  TPMESH_ASSIGN_OR_RETURN(k->files, testing::InitAuthorityKeys(dir, SystemClock::Instance()));
  k->ca = k->files.cas->Current();
  k->sign_public = k->files.signing->current_public();
  return k;
}

Result<std::unique_ptr<Authority>> StartAuthority(Keys& keys, const std::string& db,
                                                  const AuthorityOptions& o) {
  auto a = std::make_unique<Authority>();
  TPMESH_ASSIGN_OR_RETURN(a->store, authority::OpenSqliteStore(db));
  TPMESH_RETURN_IF_ERROR(a->store->Transact([&](authority::Tx& tx) -> Status {
    for (uint32_t i = 0; i < o.nodes; ++i) TPMESH_RETURN_IF_ERROR(tx.InsertNode(SyntheticNode(i)));
    // The node that joins: enrolled, waiting for an admin's approval.
    authority::NodeRecord joiner = SyntheticNode(o.nodes);
    joiner.status = authority::NodeStatus::kPending;
    joiner.subnet.reset();
    TPMESH_RETURN_IF_ERROR(tx.InsertNode(joiner));
    for (const auto& e : o.allowlist) TPMESH_RETURN_IF_ERROR(tx.PutAllowlist(e));
    return tx.BumpGeneration().ok() ? OkStatus() : BenchError("BumpGeneration");
  }));
  if (!o.ek_root_pem.empty()) TPMESH_RETURN_IF_ERROR(a->trust.AddPem(o.ek_root_pem));
  TPMESH_ASSIGN_OR_RETURN(a->settings.mesh_prefix, authority::ParseMeshPrefix(kMeshPrefix));
  a->settings.rotation.scheduled = false;  // nothing but the benchmark changes the mesh
  a->service = std::make_unique<authority::AuthorityService>(*a->store, a->trust, keys.files.keys(),
                                                             a->settings, SystemClock::Instance(),
                                                             SystemRandom::Instance());
  a->publisher = std::make_unique<authority::ConfigPublisher>(SecretBytes{});
  keys.files.signing->Configure(*a->publisher);  // as `serve` does
  a->service->SetPublisher(a->publisher.get());
  TPMESH_RETURN_IF_ERROR(a->service->PublishCurrent());
  a->rss_state_kb = RssKb();
  const authority::TlsFiles tls = keys.files.cas->Tls();
  net::ServerOptions so;
  so.listen = {o.listen};
  so.cert_pem = tls.cert_pem;
  so.key_pem = tls.key_pem;
  so.client_ca_pem = tls.client_ca_pem;
  so.worker_threads = o.workers;
  TPMESH_ASSIGN_OR_RETURN(
      a->server, net::StartServer(so, authority::MakeApiHandler(*a->service, a->publisher.get())));
  a->url = "https://" + o.listen.substr(0, o.listen.rfind(':')) + ":" +
           std::to_string(a->server->ports().at(0));
  return a;
}

Result<EnrollNode> MakeEnrollNode(const std::string& name) {
  EnrollNode n;
  n.tpm = std::make_unique<testing::SoftTpm>("bench-http-" + name);
  n.hostname = name;
  TPMESH_ASSIGN_OR_RETURN(auto ek, n.tpm->ReadEk(attest::KeyAlg::kEccP256));
  TPMESH_ASSIGN_OR_RETURN(n.ak, n.tpm->CreateAk(attest::KeyAlg::kEccP256));
  TPMESH_ASSIGN_OR_RETURN(n.ek_sha256, n.tpm->EkSha256(attest::KeyAlg::kEccP256));
  proto::EnrollStartRequest req;
  req.hostname = n.hostname;
  req.ek_alg = attest::KeyAlg::kEccP256;
  req.ek_public = ek.ek_public;
  req.ek_cert = ek.ek_cert_der;
  req.ek_intermediates = ek.intermediates;
  req.ak_public = n.ak.public_area;
  n.start_json = proto::ToJson(req);
  return n;
}

Status EnrollOnce(net::Client& client, EnrollNode& n, const std::string& csr_pem) {
  TPMESH_ASSIGN_OR_RETURN(auto r1, client.Post("/v1/enroll/start", n.start_json));
  if (r1.status != 200)
    return BenchError("enroll/start: " + std::to_string(r1.status) + " " + r1.body);
  TPMESH_ASSIGN_OR_RETURN(auto ch, proto::ParseEnrollStartResponse(r1.body));
  proto::EnrollFinishRequest fin;
  fin.challenge_id = ch.challenge_id;
  TPMESH_ASSIGN_OR_RETURN(fin.secret,
                          n.tpm->ActivateCredential(n.ak, attest::KeyAlg::kEccP256, ch.credential));
  TPMESH_ASSIGN_OR_RETURN(fin.quote, n.tpm->Quote(n.ak, ch.pcr_selection, ch.nonce));
  fin.wg_public_key = Bytes(n.ek_sha256.begin(), n.ek_sha256.end());  // any 32 bytes
  fin.hostname = n.hostname;
  fin.endpoints = {"192.0.2.10:51820"};
  fin.csr_pem = csr_pem;
  TPMESH_ASSIGN_OR_RETURN(auto r2, client.Post("/v1/enroll/finish", proto::ToJson(fin)));
  if (r2.status != 200)
    return BenchError("enroll/finish: " + std::to_string(r2.status) + " " + r2.body);
  TPMESH_ASSIGN_OR_RETURN(auto done, proto::ParseEnrollFinishResponse(r2.body));
  if (done.status != "active" || done.node_cert_pem.empty()) {
    return BenchError("enroll/finish: status " + done.status +
                      ", expected active with a certificate");
  }
  return OkStatus();
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

// Parses the command line into `cfg` and `only`; false (usage printed) if
// it is not one.
bool ParseArgs(int argc, char** argv, BenchConfig& cfg, std::vector<std::string>& only) {
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
                   "enroll_verify,config,enroll_http,converge,rss,flood,wg_netlink]\n");
      return false;
    }
  }
  return true;
}

}  // namespace tpmesh::bench

int main(int argc, char** argv) {
  using namespace tpmesh::bench;
  BenchConfig cfg;
  std::vector<std::string> only;
  if (!ParseArgs(argc, argv, cfg, only)) return 2;
  struct Entry {
    const char* name;
    std::function<tpmesh::Status(const BenchConfig&, Reporter&)> run;
    std::vector<const char*> must_emit;  // checked by --selftest
  };
  const std::vector<Entry> all = {
      // rss and flood fork the authority, which must not inherit the heap of
      // the other benchmarks (VmRSS counts it) nor any of their threads:
      // each runs alone (kAlone below).
      {"rss", RunAuthorityRss, {"authority_rss_mb_n", "authority_rss_kb_per_waiter_n"}},
      {"enroll_verify",
       RunEnrollVerify,
       {"enroll_verify_per_s", "crypto_floor_per_s", "enroll_verify_fraction"}},
      {"config",
       RunConfigBuild,
       {"config_build_ms_n10000", "change_bytes_per_node_n1000", "config_publish_ms_n10000"}},
      {"enroll_http", RunEnrollHttp, {"enroll_http_per_s"}},
      // Names carry the N they ran with (converge_p99_ms_n1000, ...): prefixes.
      {"converge", RunConverge, {"converge_p99_ms_n", "change_bytes_received_n"}},
      {"flood",
       RunFlood,
       {"flood_admin_p99_ms", "flood_enroll_ok", "flood_rss_growth_mb", "authority_threads_idle",
        "flood_threads_max"}},
      {"wg_netlink", RunWgNetlink, {"wg_netlink_encode_ms_n", "wg_netlink_decode_ms_n"}},
  };
  Reporter out;
  int failures = 0;
  auto selected = [&](const char* name) {
    return only.empty() || std::find(only.begin(), only.end(), name) != only.end();
  };
  // rss and flood measure the authority in a child forked while the
  // process has one thread, and VmRSS counts the heap the child inherits:
  // each runs alone, in a re-executed copy of this program.
  const std::vector<std::string> kAlone = {"rss", "flood"};
  auto is_alone = [&](const std::string& name) {
    return std::find(kAlone.begin(), kAlone.end(), name) != kAlone.end();
  };
  const bool run_alone = only.size() == 1 && is_alone(only[0]);
  for (const std::string& name : kAlone) {
    if (!selected(name.c_str()) || run_alone) continue;
    std::vector<std::string> args = {argv[0], "--only", name};
    if (cfg.quick) args.push_back("--quick");
    if (cfg.selftest) args.push_back("--selftest");
    if (!cfg.swtpm) args.push_back("--no-swtpm");
    failures += RunSelf(args) == 0 ? 0 : 1;
  }
  for (const auto& e : all) {
    if (!selected(e.name) || (is_alone(e.name) && !run_alone)) continue;
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
