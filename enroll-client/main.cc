// tpmesh-client: enroll (first boot). Thin: logic in tpmesh_client.
#include <CLI/CLI.hpp>

#include <cstdio>

#include <signal.h>

#include <atomic>
#include <thread>

#include "tpmesh/client/daemon.h"
#include "tpmesh/client/enroll.h"
#include "tpmesh/client/renew.h"

namespace {

using namespace tpmesh;

int Enroll(client::EnrollOptions o, const std::string& tcti, const std::string& ek_alg) {
  if (!ek_alg.empty()) {
    auto alg = attest::ParseKeyAlg(ek_alg);
    if (!alg.ok()) {
      std::fprintf(stderr, "tpmesh-client: %s\n", alg.error().message.c_str());
      return 2;
    }
    o.ek_alg = *alg;
  }
  auto tpm = attest::OpenTpm(tcti);
  if (!tpm.ok()) {
    std::fprintf(stderr, "tpmesh-client: %s\n", tpm.error().ToString().c_str());
    return 1;
  }
  auto r = client::Enroll(o, **tpm, [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  });
  if (!r.ok()) {
    std::fprintf(stderr, "tpmesh-client: enrollment failed: %s\n", r.error().ToString().c_str());
    return r.error().reason == "pending_approval" ? 3 : 1;
  }
  return 0;
}

int Run(const client::DaemonOptions& o) {
  // Stop signals are taken by a dedicated thread (sigwait), which may do
  // what a signal handler cannot: abort the long poll in flight.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  client::StopSignal stop;
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    stop.Stop();
  });
  auto link = client::MakeUserspaceLink(o.uapi_dir);
  Status st = client::RunDaemon(o, *link, stop, [](const std::string& line) {
    std::printf("tpmesh-client: %s\n", line.c_str());
    std::fflush(stdout);
  });
  if (!stop.stopped()) pthread_kill(waiter.native_handle(), SIGTERM);  // release sigwait
  waiter.join();
  if (!st.ok()) {
    std::fprintf(stderr, "tpmesh-client: %s\n", st.error().ToString().c_str());
    return st.error().reason == "node_revoked" ? 4 : 1;
  }
  return 0;
}

int PrintStatus(const client::DaemonOptions& o) {
  auto r = client::StatusReport(o);
  if (!r.ok()) {
    std::fprintf(stderr, "tpmesh-client: %s\n", r.error().ToString().c_str());
    return 1;
  }
  std::fputs(r->c_str(), stdout);
  return 0;
}

int Renew(const std::string& state_dir, const std::string& tcti, bool force) {
  auto tpm = attest::OpenTpm(tcti);
  if (!tpm.ok()) {
    std::fprintf(stderr, "tpmesh-client: %s\n", tpm.error().ToString().c_str());
    return 1;
  }
  auto r = client::RenewFromStateDir(state_dir, **tpm, force);
  if (!r.ok()) {
    std::fprintf(stderr, "tpmesh-client: renewal failed: %s\n", r.error().ToString().c_str());
    return 1;
  }
  std::printf("%s\n", *r ? "node certificate renewed" : "node certificate not due for renewal (use --force)");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tpmesh-client: TPM-attested enrollment into a tpmesh WireGuard mesh"};
  app.require_subcommand(1);
  client::EnrollOptions o;
  std::string tcti = attest::kDefaultTcti, ek_alg;
  std::optional<std::string> token;
  auto* enroll = app.add_subcommand("enroll", "enroll this host (first boot); a no-op if already enrolled");
  enroll->add_option("--authority", o.authority_url, "authority URL, e.g. https://[fd00::1]:8443")->required();
  enroll->add_option("--ca-fingerprint", o.ca_fingerprint, "SHA-256 of the authority CA (from init)")->required();
  enroll->add_option("--hostname", o.hostname, "this node's name in the mesh")->required();
  enroll->add_option("--endpoint", o.endpoints, "underlay endpoint peers reach this host at ([v6]:port)");
  enroll->add_option("--tcti", tcti, "TPM TCTI")->capture_default_str();
  enroll->add_option("--state-dir", o.state_dir, "node state directory")->capture_default_str();
  enroll->add_option("--token", o.token, "one-time enrollment token");
  enroll->add_option("--ek-alg", ek_alg, "rsa2048 or ecc-p256 (default: first EK with a certificate)");
  enroll->add_option("--wait", o.wait_for_approval_seconds, "wait this long for admin approval");
  enroll->add_flag("--force", o.force, "enroll again even if already enrolled");
  client::DaemonOptions d;
  auto* run = app.add_subcommand("run", "keep the WireGuard interface in line with the authority (foreground)");
  auto* status = app.add_subcommand("status", "show the interface like 'wg show', plus generation and authority reachability");
  for (auto* cmd : {run, status}) {
    cmd->add_option("--state-dir", d.state_dir, "node state directory")->capture_default_str();
    cmd->add_option("--interface", d.ifname, "WireGuard interface name")->capture_default_str();
    cmd->add_option("--uapi-dir", d.uapi_dir, "userspace WireGuard socket directory")->capture_default_str();
  }
  run->add_option("--listen-port", d.listen_port, "WireGuard UDP port")->capture_default_str();
  run->add_option("--authority", d.extra_authority_urls, "more authority URLs to try");
  run->add_option("--poll-wait", d.poll_wait_seconds, "long-poll seconds")->capture_default_str();
  run->add_option("--tcti", d.tcti, "TPM TCTI for certificate renewal (default: renewal disabled)");
  std::string renew_dir = d.state_dir;
  bool renew_force = false;
  auto* renew = app.add_subcommand("renew", "renew the node certificate now if due (re-attests the TPM)");
  renew->add_option("--state-dir", renew_dir, "node state directory")->capture_default_str();
  renew->add_option("--tcti", tcti, "TPM TCTI")->capture_default_str();
  renew->add_flag("--force", renew_force, "renew even if not yet due");
  CLI11_PARSE(app, argc, argv);
  if (*renew) return Renew(renew_dir, tcti, renew_force);
  if (*run) return Run(d);
  if (*status) return PrintStatus(d);
  return Enroll(o, tcti, ek_alg);
}
