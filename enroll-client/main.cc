// tpmesh-client: enroll | run | status | renew. Thin: logic in tpmesh_client.
// Exit codes: tpmesh/client/exit_codes.h (printed by --help).
#include <signal.h>

#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "tpmesh/client/daemon.h"
#include "tpmesh/client/enroll.h"
#include "tpmesh/client/exit_codes.h"
#include "tpmesh/client/renew.h"
#include "tpmesh/client/token.h"
#include "tpmesh/log/log.h"

namespace {

using namespace tpmesh;
using client::ExitCode;
using client::ToInt;

int Fail(const Error& e, const std::string& what = "") {
  std::fprintf(stderr, "tpmesh-client: %s%s\n", what.c_str(), e.ToString().c_str());
  return ToInt(client::ExitCodeFor(e));
}

int Enroll(client::EnrollOptions o, const std::string& tcti, const std::string& ek_alg) {
  if (!ek_alg.empty()) {
    auto alg = attest::ParseKeyAlg(ek_alg);
    if (!alg.ok()) {
      std::fprintf(stderr, "tpmesh-client: usage: %s\n", alg.error().message.c_str());
      return ToInt(ExitCode::kUsage);
    }
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
  auto link = client::MakeUserspaceLink(o.uapi_dir);
  // The daemon's lines: leveled, timestamped, on stderr (log.h).
  Status st = client::RunDaemon(o, *link, stop, log::AsLogFn(log::StderrLogger("tpmesh-client")));
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
  auto r = client::RenewFromStateDir(state_dir, **tpm, force);
  if (!r.ok()) return Fail(r.error(), "renewal failed: ");
  std::printf("%s\n", *r ? "node certificate renewed"
                         : "node certificate not due for renewal (use --force)");
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

}  // namespace

int main(int argc, char** argv) {
  // A dropped connection must be an error we report (EPIPE), not a silent
  // death by SIGPIPE (exit 141) inside a TLS write.
  signal(SIGPIPE, SIG_IGN);
  CLI::App app{"tpmesh-client: TPM-attested enrollment into a tpmesh WireGuard mesh"};
  app.require_subcommand(1);
  app.footer(client::ExitCodeHelp());
  client::EnrollOptions o;
  std::string tcti = attest::kDefaultTcti, ek_alg;
  client::TokenSources token;
  auto* enroll =
      app.add_subcommand("enroll", "enroll this host (first boot); a no-op if already enrolled");
  enroll->add_option("--authority", o.authority_url, "authority URL, e.g. https://[fd00::1]:8443")
      ->required();
  enroll
      ->add_option("--ca-fingerprint", o.ca_fingerprint, "SHA-256 of the authority CA (from init)")
      ->required();
  enroll->add_option("--hostname", o.hostname, "this node's name in the mesh")->required();
  enroll->add_option("--endpoint", o.endpoints,
                     "underlay endpoint peers reach this host at ([v6]:port)");
  enroll->add_option("--tcti", tcti, "TPM TCTI")->capture_default_str();
  enroll->add_option("--state-dir", o.state_dir, "node state directory")->capture_default_str();
  enroll->add_option("--token-file", token.file,
                     "file holding the one-time enrollment token (mode 0600 or stricter)");
  enroll->add_option("--token", token.flag,
                     "one-time enrollment token; visible to local users in /proc/<pid>/cmdline: "
                     "prefer --token-file or the TPMESH_TOKEN environment variable");
  enroll->add_option("--ek-alg", ek_alg,
                     "rsa2048 or ecc-p256 (default: first EK with a certificate)");
  enroll->add_option("--wait", o.wait_for_approval_seconds, "wait this long for admin approval");
  enroll->add_flag("--force", o.force,
                   "enroll again even if already enrolled (new WireGuard and node keys)");
  client::DaemonOptions d;
  auto* run = app.add_subcommand(
      "run", "keep the WireGuard interface in line with the authority (foreground)");
  auto* status = app.add_subcommand(
      "status", "show the interface like 'wg show', plus generation and authority reachability");
  for (auto* cmd : {run, status}) {
    cmd->add_option("--state-dir", d.state_dir, "node state directory")->capture_default_str();
    cmd->add_option("--interface", d.ifname, "WireGuard interface name")->capture_default_str();
    cmd->add_option("--uapi-dir", d.uapi_dir, "userspace WireGuard socket directory")
        ->capture_default_str();
  }
  run->add_option("--listen-port", d.listen_port, "WireGuard UDP port")->capture_default_str();
  run->add_option("--authority", d.extra_authority_urls, "more authority URLs to try");
  run->add_option("--poll-wait", d.poll_wait_seconds, "long-poll seconds")->capture_default_str();
  run->add_option("--tcti", d.tcti, "TPM TCTI for certificate renewal (default: renewal disabled)");
  std::string renew_dir = d.state_dir;
  bool renew_force = false;
  auto* renew =
      app.add_subcommand("renew", "renew the node certificate now if due (re-attests the TPM)");
  renew->add_option("--state-dir", renew_dir, "node state directory")->capture_default_str();
  renew->add_option("--tcti", tcti, "TPM TCTI")->capture_default_str();
  renew->add_flag("--force", renew_force, "renew even if not yet due");
  bool done = false;
  if (int rc = ParseOrExit(app, argc, argv, done); done) return rc;
  if (*renew) return Renew(renew_dir, tcti, renew_force);
  if (*run) return Run(d);
  if (*status) return PrintStatus(d);
  if (const char* env = std::getenv("TPMESH_TOKEN")) token.env = env;
  auto t = client::ResolveToken(token);
  if (!t.ok()) return Fail(t.error());
  o.token = std::move(*t);
  return Enroll(o, tcti, ek_alg);
}
