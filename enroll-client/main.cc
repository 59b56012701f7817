// tpmesh-client: enroll | run | status | renew. Thin: logic in tpmesh_client.
// Exit codes: tpmesh/client/exit_codes.h (printed by --help).
#include <signal.h>

#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <thread>

#include "tpmesh/client/client_config.h"
#include "tpmesh/client/daemon.h"
#include "tpmesh/client/ek_show.h"
#include "tpmesh/client/enroll.h"
#include "tpmesh/client/exit_codes.h"
#include "tpmesh/client/renew.h"
#include "tpmesh/client/tcti.h"
#include "tpmesh/client/token.h"
#include "tpmesh/log/log.h"
#include "tpmesh/proto/enroll.h"

namespace {

using namespace tpmesh;
using client::ExitCode;
using client::ToInt;

int Fail(const Error& e, const std::string& what = "") {
  std::fprintf(stderr, "tpmesh-client: %s%s\n", what.c_str(), e.ToString().c_str());
  return ToInt(client::ExitCodeFor(e));
}

int Usage(const Error& e) {
  std::fprintf(stderr, "tpmesh-client: usage: %s\n", e.message.c_str());
  return ToInt(ExitCode::kUsage);
}

int Enroll(client::EnrollOptions o, const std::string& tcti, const std::string& ek_alg) {
  if (!ek_alg.empty()) {
    auto alg = attest::ParseKeyAlg(ek_alg);
    if (!alg.ok()) return Usage(alg.error());
    o.ek_alg = *alg;
  }
  auto tpm = attest::OpenTpm(tcti);
  if (!tpm.ok()) return Fail(tpm.error());
  auto r = client::Enroll(o, **tpm, [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  });
  if (!r.ok()) return Fail(r.error(), "enrollment failed: ");
  return ToInt(ExitCode::kOk);
}

int Run(const client::DaemonOptions& o) {
  // Stop signals are taken by a dedicated thread (sigwait), which may do
  // what a signal handler cannot: abort the long poll in flight.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  client::StopSignal stop;
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    stop.Stop();
  });
  // The daemon's lines: leveled, timestamped, on stderr (log.h).
  const client::LogFn log = log::AsLogFn(log::StderrLogger("tpmesh-client"));
  auto link = client::MakeLink(o, log);
  Status st = client::RunDaemon(o, *link, stop, log);
  if (!stop.stopped()) pthread_kill(waiter.native_handle(), SIGTERM);  // release sigwait
  waiter.join();
  if (!st.ok()) return Fail(st.error());
  return ToInt(ExitCode::kOk);
}

int PrintStatus(const client::DaemonOptions& o) {
  auto r = client::StatusReport(o);
  if (!r.ok()) return Fail(r.error());
  std::fputs(r->report.c_str(), stdout);
  std::fflush(stdout);
  if (r->authority_error) return Fail(*r->authority_error, "authority: ");
  return ToInt(ExitCode::kOk);
}

int Renew(const std::string& state_dir, const std::string& tcti, bool force) {
  auto tpm = attest::OpenTpm(tcti);
  if (!tpm.ok()) return Fail(tpm.error());
  auto r = client::RenewFromStateDir(state_dir, **tpm, force, [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  });
  if (!r.ok()) return Fail(r.error(), "renewal failed: ");
  std::printf("%s\n", *r ? "node certificate renewed"
                         : "node certificate not due for renewal (use --force)");
  return ToInt(ExitCode::kOk);
}

int EkShow(const std::string& tcti, const std::optional<std::string>& trust_dir) {
  auto tpm = attest::OpenTpm(tcti);
  if (!tpm.ok()) return Fail(tpm.error());
  auto r = client::EkReport(**tpm, trust_dir, SystemClock::Instance().Now());
  if (!r.ok()) return Fail(r.error());
  std::fputs(r->c_str(), stdout);
  return ToInt(ExitCode::kOk);
}

// CLI11's own exit codes (106, 109, ...) are not ours: every parse error is
// a usage error; --help prints and succeeds.
int ParseOrExit(CLI::App& app, int argc, char** argv, bool& done) {
  done = true;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      app.exit(e);
      return ToInt(ExitCode::kOk);
    }
    std::fprintf(stderr,
                 "tpmesh-client: usage: %s\nRun 'tpmesh-client --help' for more information.\n",
                 e.what());
    return ToInt(ExitCode::kUsage);
  }
  done = false;
  return ToInt(ExitCode::kOk);
}

// The command line, over client.toml's values.
struct Cli {
  client::ClientConfig cfg;
  std::optional<std::string> tcti_flag;
  std::string ek_alg;
  client::TokenSources token;
  bool renew_force = false;
  std::string wg_backend;  // --wg-backend, over client.toml's wg_backend
  CLI::App *enroll = nullptr, *run = nullptr, *status = nullptr, *renew = nullptr, *check = nullptr;
  CLI::App* ek_show = nullptr;
  std::optional<std::string> trust_dir;  // ek show --trust-dir
};

// --config, before the rest: the file's values are the defaults the flags
// override. Given but missing is an error; the default path may be absent.
Result<client::ClientConfig> LoadConfigFirst(int argc, char** argv, std::string& path) {
  CLI::App pre;
  pre.allow_extras();
  pre.set_help_flag();
  pre.add_option("--config", path);
  try {
    pre.parse(argc, argv);
  } catch (const CLI::ParseError&) {
    // the real parse reports it
  }
  return client::LoadClientConfig(path, pre.count("--config") > 0);
}

void AddEnroll(CLI::App& app, Cli& c, const std::string& tcti_help) {
  client::EnrollOptions& o = c.cfg.enroll;
  c.enroll =
      app.add_subcommand("enroll", "enroll this host (first boot); a no-op if already enrolled");
  c.enroll->add_option("--authority", o.authority_url,
                       "authority URL, e.g. https://[fd00::1]:8443 ([enroll] authority)");
  c.enroll->add_option("--ca-fingerprint", o.ca_fingerprint,
                       "SHA-256 of the authority CA, from init ([enroll] ca_fingerprint)");
  c.enroll->add_option("--hostname", o.hostname, "this node's name in the mesh");
  c.enroll->add_option("--endpoint", o.endpoints,
                       "underlay endpoint peers reach this host at ([v6]:port)");
  c.enroll->add_option("--tcti", c.tcti_flag, tcti_help);
  c.enroll->add_option("--state-dir", o.state_dir, "node state directory")->capture_default_str();
  c.enroll->add_option("--token-file", c.token.file,
                       "file holding the one-time enrollment token (mode 0600 or stricter)");
  c.enroll->add_option("--token", c.token.flag,
                       "one-time enrollment token; visible to local users in /proc/<pid>/cmdline: "
                       "prefer --token-file or the TPMESH_TOKEN environment variable");
  c.enroll->add_option("--ek-alg", c.ek_alg,
                       "rsa2048 or ecc-p256 (default: first EK with a certificate)");
  c.enroll->add_option("--wait", o.wait_for_approval_seconds, "wait this long for admin approval");
  c.enroll->add_flag("--force", o.force,
                     "enroll again even if already enrolled (new WireGuard and node keys)");
}

void AddNodeCommands(CLI::App& app, Cli& c, const std::string& tcti_help) {
  client::DaemonOptions& d = c.cfg.daemon;
  c.run = app.add_subcommand(
      "run", "keep the WireGuard interface in line with the authority (foreground)");
  c.status = app.add_subcommand(
      "status", "show the interface like 'wg show', plus generation and authority reachability");
  for (auto* cmd : {c.run, c.status}) {
    cmd->add_option("--state-dir", d.state_dir, "node state directory")->capture_default_str();
    cmd->add_option("--interface", d.ifname, "WireGuard interface name")->capture_default_str();
    cmd->add_option("--uapi-dir", d.uapi_dir, "userspace WireGuard socket directory")
        ->capture_default_str();
  }
  c.run->add_option("--listen-port", d.listen_port, "WireGuard UDP port")->capture_default_str();
  c.run
      ->add_option("--wg-backend", c.wg_backend,
                   "auto (kernel WireGuard if the kernel has it, else wireguard-go), kernel or "
                   "userspace")
      ->check(CLI::IsMember({"auto", "kernel", "userspace"}))
      ->capture_default_str();
  c.run->add_option("--authority", d.extra_authority_urls, "more authority URLs to try");
  c.run->add_option("--endpoint", d.endpoints,
                    "this host's underlay endpoint reported to the authority ([v6]:port or "
                    "v4:port, repeatable; default: derived from the host's addresses at every "
                    "report)");
  c.run->add_option("--poll-wait", d.poll_wait_seconds, "long-poll seconds")->capture_default_str();
  c.run->add_option("--tcti", c.tcti_flag,
                    tcti_help +
                        " for certificate renewal and, once the certificate has expired, "
                        "enrolling again; 'none' turns both off");
  c.renew =
      app.add_subcommand("renew", "renew the node certificate now if due (re-attests the TPM)");
  c.renew->add_option("--state-dir", d.state_dir, "node state directory")->capture_default_str();
  c.renew->add_option("--tcti", c.tcti_flag, tcti_help);
  c.renew->add_flag("--force", c.renew_force, "renew even if not yet due");
  auto* config = app.add_subcommand("config", "the configuration file (client.toml)");
  config->require_subcommand(1);
  c.check = config->add_subcommand(
      "check", "validate client.toml, the state directory and the TPM without changing anything");
  c.check->add_option("--tcti", c.tcti_flag, tcti_help);
  auto* ek = app.add_subcommand("ek", "this machine's TPM endorsement keys");
  ek->require_subcommand(1);
  c.ek_show = ek->add_subcommand(
      "show",
      "EK fingerprints (for tpmeshctl ek allow) and certificates, offline; with --trust-dir, "
      "whether they chain to it");
  c.ek_show->add_option("--tcti", c.tcti_flag, tcti_help);
  c.ek_show->add_option("--trust-dir", c.trust_dir,
                        "EK trust directory to check the certificates against, e.g. "
                        "/usr/share/tpmesh/certs");
}

// The enrollment, once the flags and client.toml are merged.
int EnrollFromCli(Cli& c, const std::string& tcti) {
  client::EnrollOptions& o = c.cfg.enroll;
  for (const auto& [value, flag] :
       {std::pair{&o.authority_url, "--authority (or [enroll] authority in client.toml)"},
        std::pair{&o.ca_fingerprint, "--ca-fingerprint (or [enroll] ca_fingerprint)"},
        std::pair{&o.hostname, "--hostname (or [enroll] hostname)"}}) {
    if (value->empty())
      return Usage(MakeError(Code::kInvalidArgument, "usage", std::string("enroll needs ") + flag));
  }
  if (const char* env = std::getenv("TPMESH_TOKEN"); env != nullptr && *env != '\0') {
    c.token.env = env;
  }
  if (!c.token.file && !c.token.flag && !c.token.env && !c.cfg.token_file.empty()) {
    c.token.file = c.cfg.token_file;
  }
  auto t = client::ResolveToken(c.token);
  if (!t.ok()) return Fail(t.error());
  o.token = std::move(*t);
  return Enroll(o, tcti, c.ek_alg);
}

}  // namespace

int main(int argc, char** argv) {
  // A dropped connection must be an error we report (EPIPE), not a silent
  // death by SIGPIPE (exit 141) inside a TLS write.
  signal(SIGPIPE, SIG_IGN);
  std::string config_path = client::kDefaultClientConfig;
  auto cfg = LoadConfigFirst(argc, argv, config_path);
  if (!cfg.ok()) return Usage(cfg.error());
  Cli c;
  c.cfg = std::move(*cfg);
  c.wg_backend = std::string(wg::BackendName(c.cfg.daemon.wg_backend));
  CLI::App app{"tpmesh-client: TPM-attested enrollment into a tpmesh WireGuard mesh"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tpmesh-client " TPMESH_VERSION);
  app.footer(client::ExitCodeHelp());
  app.add_option("--config", config_path,
                 "client.toml: defaults below the flags (a missing default file is fine)")
      ->capture_default_str();
  const std::string tcti_help =
      std::string("TPM TCTI (default: $TPMESH_TCTI, else client.toml's ") + "tcti, else " +
      attest::kDefaultTcti + ")";
  AddEnroll(app, c, tcti_help);
  AddNodeCommands(app, c, tcti_help);
  bool done = false;
  if (int rc = ParseOrExit(app, argc, argv, done); done) return rc;
  if (*c.status) return PrintStatus(c.cfg.daemon);
  std::optional<std::string> chosen = c.tcti_flag;
  std::string source = "--tcti";
  if (const char* env = std::getenv("TPMESH_TCTI"); !chosen && env != nullptr && *env != '\0') {
    chosen = env;
    source = "TPMESH_TCTI";
  }
  if (!chosen && c.cfg.tcti) {
    chosen = c.cfg.tcti;
    source = config_path + ": tcti =";
  }
  auto tcti = client::ResolveTcti(chosen, nullptr,
                                  /*allow_none=*/c.run->parsed() || c.check->parsed(), source);
  if (!tcti.ok()) return Usage(tcti.error());
  if (*c.check) {
    bool failed = false;
    std::fputs(tomlcfg::RenderFindings(client::CheckClientConfig(c.cfg, *tcti), failed).c_str(),
               stdout);
    return ToInt(failed ? ExitCode::kError : ExitCode::kOk);
  }
  if (*c.renew) return Renew(c.cfg.daemon.state_dir, *tcti, c.renew_force);
  if (*c.ek_show) return EkShow(*tcti, c.trust_dir);
  if (*c.run) {
    c.cfg.daemon.tcti = *tcti;
    auto backend = wg::ParseBackend(c.wg_backend);
    if (!backend.ok()) return Usage(backend.error());
    if (c.cfg.daemon.endpoints.size() > 8) {
      return Usage(MakeError(Code::kInvalidArgument, "invalid_endpoint",
                             "at most 8 endpoints (--endpoint)"));
    }
    for (const auto& e : c.cfg.daemon.endpoints) {
      if (Status st = proto::ValidateEndpoint(e); !st.ok()) return Usage(st.error());
    }
    c.cfg.daemon.wg_backend = *backend;
    return Run(c.cfg.daemon);
  }
  return EnrollFromCli(c, *tcti);
}
