// tpmesh-authority: init | serve. Thin: the logic lives in tpmesh_authority.
#include <signal.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <stop_token>
#include <system_error>
#include <thread>

#include "tpmesh/attest/verifier.h"
#include "tpmesh/authority/api.h"
#include "tpmesh/authority/config_check.h"
#include "tpmesh/authority/state.h"
#include "tpmesh/log/log.h"

namespace {

using namespace tpmesh;
using namespace tpmesh::authority;

int Die(const Error& e) {
  std::fprintf(stderr, "tpmesh-authority: %s\n", e.ToString().c_str());
  return 1;
}

int Init(const InitOptions& o) {
  auto r = InitState(o, SystemClock::Instance(), SystemRandom::Instance());
  if (!r.ok()) return Die(r.error());
  std::printf("initialized %s\n", o.state_dir.c_str());
  std::printf("mesh prefix:     %s\n", r->mesh_prefix.c_str());
  std::printf("admin cert:      %s (key %s)\n", r->admin_cert_path.c_str(),
              r->admin_key_path.c_str());
  std::printf("CA fingerprint:  %s\n", r->ca_fingerprint.c_str());
  std::printf("clients pin it:  tpmesh-client enroll --ca-fingerprint %s ...\n",
              r->ca_fingerprint.c_str());
  return 0;
}

// Raises the open-file limit to the hard limit, and caps the server's
// connections to what it allows (the store, the listeners and a margin
// besides), with a warning when that is below max_connections.
void FitConnectionsToFileLimit(net::ServerLimits& limits, log::Logger& logger) {
  if (rlimit lim{}; getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &lim);
  }
  constexpr rlim_t kSpare = 64;
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return;
  const rlim_t room = lim.rlim_cur > 2 * kSpare ? lim.rlim_cur - kSpare : kSpare;
  if (room >= limits.max_connections) return;
  logger.Warn("too few file descriptors for max_connections; raise the limit (LimitNOFILE=)",
              {{"nofile", std::to_string(lim.rlim_cur)},
               {"max_connections", std::to_string(limits.max_connections)},
               {"serving_at_most", std::to_string(room)}});
  limits.max_connections = room;
  limits.max_anonymous = std::min(limits.max_anonymous, room);
}

// Key rotation deadlines, retries and the schedule, once a second.
Result<std::jthread> StartTicker(AuthorityService& service, std::shared_ptr<log::Logger> logger) {
  try {
    return std::jthread([&service, logger](std::stop_token token) {
      std::mutex mu;
      std::condition_variable_any cv;
      std::unique_lock<std::mutex> lock(mu);
      while (!token.stop_requested()) {
        cv.wait_for(lock, token, std::chrono::seconds(1), [] { return false; });
        if (token.stop_requested()) break;
        if (auto st = service.RotationTick(); !st.ok()) {
          logger->Error("key rotation tick failed", {{"error", st.error().ToString()}});
        }
      }
    });
  } catch (const std::system_error& e) {
    return MakeError(Code::kResourceExhausted, "thread_start_failed",
                     std::string("cannot start the key rotation thread: ") + e.what());
  }
}

int Serve(AuthorityConfig cfg, log::Level log_level) {
  auto logger = log::StderrLogger("tpmesh-authority", log_level);
  // Block the stop signals before any thread starts; sigwait below.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  // Before anything is opened: the worker threads must fit what the host allows.
  if (auto st = CheckWorkerThreads(ReadHostLimits(), cfg.http_workers); !st.ok()) {
    return Die(st.error());
  }
  auto state = LoadState(cfg.state_dir);
  if (!state.ok()) return Die(state.error());
  auto trust = attest::TrustStore::LoadDirectory(cfg.ek_trust_dir);
  if (!trust.ok()) return Die(trust.error());

  AuthoritySettings settings;
  settings.mesh_prefix = state->mesh_prefix;
  settings.mtu = cfg.mtu;
  settings.persistent_keepalive = cfg.persistent_keepalive;
  settings.dev_mode = cfg.dev_mode;
  settings.ek_chain_time = cfg.ek_chain_time;
  settings.admission = cfg.admission;
  settings.default_policy = cfg.default_policy;
  settings.node_cert_lifetime = cfg.node_cert_lifetime;
  settings.rotation = cfg.rotation;
  settings.log = log::AsLogFn(logger);
  AuthorityKeys keys{*state->signing, *state->cas};
  AuthorityService service(*state->store, *trust, keys, settings, SystemClock::Instance(),
                           SystemRandom::Instance());
  ConfigPublisher publisher(SecretBytes{});  // keys from Configure, before anything is published
  state->signing->Configure(publisher);
  service.SetPublisher(&publisher);
  if (auto st = service.PublishCurrent(); !st.ok()) return Die(st.error());

  net::ServerOptions so;
  so.listen = cfg.listen;
  so.worker_threads = cfg.http_workers;
  so.limits = cfg.http_limits;
  FitConnectionsToFileLimit(so.limits, *logger);
  const TlsFiles tls = state->cas->Tls();  // the bundle: a CA rotation may be under way
  so.cert_pem = tls.cert_pem;
  so.key_pem = tls.key_pem;
  so.client_ca_pem = tls.client_ca_pem;
  auto server = net::StartServer(so, MakeApiHandler(service, &publisher));
  if (!server.ok()) return Die(server.error());
  net::Server* live = server->get();
  service.SetTlsReloader([live](const TlsFiles& t) {
    return live->UpdateTls(t.cert_pem, t.key_pem, t.client_ca_pem);
  });
  std::string ports;
  for (int p : (*server)->ports()) ports += " " + std::to_string(p);
  // The line tests and scripts wait for: "serving mesh <prefix> on <port>...".
  logger->Info(
      "serving mesh " + settings.mesh_prefix.ToString() + " on" + ports +
          (cfg.dev_mode ? " (DEV MODE: software TPMs accepted)" : ""),
      {{"ek_roots", std::to_string(trust->root_count())}, {"ek_trust_dir", cfg.ek_trust_dir}});
  auto ticker = StartTicker(service, logger);
  if (!ticker.ok()) {
    publisher.Shutdown();
    (*server)->Stop();
    return Die(ticker.error());
  }
  int sig = 0;
  sigwait(&stop, &sig);
  logger->Info("shutting down", {{"signal", std::to_string(sig)}});
  ticker->request_stop();
  ticker->join();
  publisher.Shutdown();  // answers the waiting long polls (204)
  (*server)->Stop();     // lets those answers out, at most 1 s
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that drops its connection must cost an EPIPE on one request, not
  // the whole authority (SIGPIPE's default action) in a TLS write.
  signal(SIGPIPE, SIG_IGN);
  // Clients' TPM structures must not reach our log through libtss2's own.
  tpmesh::attest::SilenceTss2Logging();
  CLI::App app{"tpmesh-authority: TPM-attested enrollment and key authority for a WireGuard mesh"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tpmesh-authority " TPMESH_VERSION);

  InitOptions init;
  auto* init_cmd =
      app.add_subcommand("init", "create the state directory, CA, keys and mesh prefix");
  init_cmd->add_option("--state-dir", init.state_dir, "state directory (created 0700)")->required();
  init_cmd->add_option("--mesh-prefix", init.mesh_prefix, "mesh /48 (default: random ULA)");
  init_cmd->add_option("--server-name", init.server_names, "DNS name for the server certificate");
  init_cmd->add_option("--server-ip", init.server_ips, "IP address for the server certificate");

  std::string config_path;
  AuthorityConfig cfg;
  std::string state_dir, trust_dir;
  std::vector<std::string> listen;
  bool dev = false, queue = false;
  std::string log_level = "info";
  auto* serve_cmd = app.add_subcommand("serve", "serve the API (stops cleanly on SIGTERM)");
  auto* config_cmd = app.add_subcommand("config", "the configuration file");
  config_cmd->require_subcommand(1);
  auto* check_cmd = config_cmd->add_subcommand(
      "check", "validate the configuration, state and trust directories without serving");
  for (auto* cmd : {serve_cmd, check_cmd}) {
    cmd->add_option("--config", config_path, "authority.toml");
    cmd->add_option("--state-dir", state_dir, "overrides state_dir");
    cmd->add_option("--listen", listen, "overrides listen, e.g. [::]:8443");
    cmd->add_option("--ek-trust-dir", trust_dir, "overrides ek_trust_dir");
    cmd->add_flag("--dev", dev, "accept software TPMs (swtpm): never in production");
    cmd->add_flag("--approval-queue", queue, "queue unknown nodes for admin approval");
  }
  serve_cmd->add_option("--log-level", log_level, "debug, info, warn or error (stderr)")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));

  CLI11_PARSE(app, argc, argv);
  if (*init_cmd) return Init(init);
  if (!config_path.empty()) {
    auto c = LoadConfig(config_path);
    if (!c.ok()) return Die(c.error());
    cfg = *c;
  }
  if (!state_dir.empty()) cfg.state_dir = state_dir;
  if (!trust_dir.empty()) cfg.ek_trust_dir = trust_dir;
  if (!listen.empty()) cfg.listen = listen;
  if (dev) cfg.dev_mode = true;
  if (queue) cfg.admission.approval_queue = true;
  if (*check_cmd) {
    bool failed = false;
    const std::string text =
        RenderFindings(CheckConfig(cfg, ToUnixSeconds(SystemClock::Instance().Now())), failed);
    std::fputs(text.c_str(), stdout);
    return failed ? 1 : 0;
  }
  log::Level level = log::Level::kInfo;
  (void)log::ParseLevel(log_level, level);  // checked by CLI11
  return Serve(cfg, level);
}
