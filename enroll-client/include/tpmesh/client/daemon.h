// tpmesh-client run: keeps the node's WireGuard interface equal to the
// authority's signed mesh config.
//
// Start-up is fail-static: the last verified config (state_dir/mesh.json,
// written only after it was verified and applied) is applied before the
// authority is contacted, so a restart while the authority is down keeps the
// mesh working. Then a loop: long poll GET /v1/node/config?since=<held
// generation> over mutual TLS (node certificate), verify (Ed25519 signature
// by the config-signing key pinned at enrollment, state hash after a delta,
// never an older generation), apply as a diff to the WireGuard device, save,
// acknowledge with the interface status. Unreachable authority: retry with
// exponential backoff and jitter, rotating through every configured URL. A
// node that learns it was revoked tears its interface down and stops.
//
// Re-enrollment while the daemon runs: when the authority answers a node
// request with "node_cert_superseded" (its certificate is no longer the one
// the authority holds valid), or node.crt has expired, the daemon reads the
// state directory again (node.json, node.crt, node.key, ca.crt, wg.key: an
// `enroll --force` replaced them). New files: it sets a new WireGuard
// private key on the interface, reconfigures the link if the address moved,
// trusts the newly pinned config-signing key, reconnects and goes on. The
// same files (or an inconsistent set, while enroll is still writing): it
// says so and retries with the usual backoff.
//
// The WireGuard device and the host's link setup are seams: wg::WgDevice
// (UAPI socket now, kernel netlink later) and LinkConfigurator (ip(8) now).
// Everything else the daemon reaches outside itself comes through
// DaemonEnv (clocks, sleeping, randomness, HTTP clients, the device, the
// TPM), so it runs on simulated time against an in-process authority.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tpmesh/attest/tpm.h"
#include "tpmesh/client/endpoints.h"
#include "tpmesh/common/env.h"
#include "tpmesh/common/result.h"
#include "tpmesh/meshcfg/meshcfg.h"
#include "tpmesh/net/http.h"
#include "tpmesh/wg/device.h"
#include "tpmesh/wg/diff.h"
#include "tpmesh/wg/kernel_device.h"

namespace tpmesh::client {

// Address, route, MTU and link state of the overlay interface.
class LinkConfigurator {
 public:
  virtual ~LinkConfigurator() = default;
  // Creates the interface if needed (userspace: starts wireguard-go).
  [[nodiscard]] virtual Status Ensure(const std::string& ifname) = 0;
  // Idempotent: overlay address in its /64, a route for the mesh prefix, MTU, up.
  [[nodiscard]] virtual Status Configure(const std::string& ifname, const std::string& address,
                                         const std::string& mesh_prefix, int mtu) = 0;
  [[nodiscard]] virtual Status TearDown(const std::string& ifname) = 0;
};

struct DaemonOptions {
  std::string state_dir = "/var/lib/tpmesh";
  std::string ifname = "tpmesh0";
  uint16_t listen_port = 51820;
  std::string uapi_dir = "/var/run/wireguard";
  std::vector<std::string> extra_authority_urls;  // tried after the enrolled one
  int poll_wait_seconds = 25;
  int max_backoff_seconds = 30;
  // TPM for certificate renewal with re-attestation (renew.h), checked once
  // per loop iteration, and for enrolling again once the certificate has
  // expired (the node was off or cut off longer than its life); empty = both
  // off, and an expired certificate ends the daemon ("node_cert_expired").
  std::string tcti = attest::kDefaultTcti;
  // Kernel WireGuard or wireguard-go (MakeLink; wg::ChooseBackend).
  wg::Backend wg_backend = wg::Backend::kAuto;
  // This host's underlay endpoints, reported in every ack; empty: derived
  // from its addresses at each ack (endpoints.h).
  std::vector<std::string> endpoints;
};

using LogFn = std::function<void(const std::string&)>;

// The link with the WireGuard backend options.wg_backend resolves to, chosen
// at its first Ensure by wg::ChooseBackend (an existing interface decides;
// otherwise kernel WireGuard when the kernel has it, which creates the
// link, else wireguard-go) and logged with the reason. Both backends use
// ip(8) for address, MTU and route; the interface outlives the daemon.
std::unique_ptr<LinkConfigurator> MakeLink(const DaemonOptions& options, const LogFn& log);

// Asks a running daemon to stop, from any thread: also aborts the long poll
// in flight, so SIGTERM takes effect at once rather than after --poll-wait.
class StopSignal {
 public:
  bool stopped() const { return stopped_; }
  void Stop();
  // The daemon registers how to abort its current blocking call.
  void OnStop(std::function<void()> abort);
  // Notified by Stop: wakes the daemon's backoff sleep at once.
  Wakeup& wakeup() { return wakeup_; }
  // Like Stop, but the daemon goes on: it reconnects and reports at once
  // (the host's addresses changed, endpoints.h). Any thread.
  void Nudge();
  // True once per Nudge (the daemon's thread).
  bool TakeNudge() { return nudged_.exchange(false); }
  bool nudged() const { return nudged_; }

 private:
  std::atomic<bool> stopped_{false};
  std::atomic<bool> nudged_{false};
  Wakeup wakeup_;
  std::mutex mu_;
  std::function<void()> abort_;
};

// The desired WireGuard device for `self` in `state`.
wg::DesiredDevice DesiredFor(const meshcfg::MeshState& state, std::string_view self,
                             ByteView private_key, uint16_t listen_port);

// What the daemon uses of the world. The referenced clocks and randomness
// must outlive every daemon given this env, and be thread-safe (env.h).
struct DaemonEnv {
  Clock& clock;          // wall time: certificate validity and renewal
  MonotonicClock& time;  // backoff sleeps (woken by StopSignal), renewal retries
  Random& random;        // backoff jitter, next WireGuard keys
  // One HTTPS client per (authority URL, certificate); also used to check
  // that re-enrolled node.crt and node.key fit together.
  std::function<Result<std::unique_ptr<net::Client>>(const net::ClientOptions&)> make_client;
  // The WireGuard interface `ifname` (UAPI sockets in `uapi_dir`), opened once at start.
  std::function<Result<std::unique_ptr<wg::WgDevice>>(const std::string& ifname,
                                                      const std::string& uapi_dir)>
      make_device;
  // The TPM for renewal (DaemonOptions::tcti), opened at the first renewal.
  std::function<Result<std::unique_ptr<attest::Tpm>>(const std::string& tcti)> make_tpm;
  // The host's addresses, for derived endpoints; empty function: none are
  // derived (only configured endpoints are reported).
  std::function<std::vector<HostAddress>()> host_addresses;
  // Watches them (RunDaemon, when endpoints are derived); empty function:
  // a change is seen at the next report only.
  std::function<Result<std::unique_ptr<AddressWatch>>(std::function<void()>)> watch_addresses;
};
// The real world: system clocks, libsodium, net::MakeClient, getifaddrs,
// wg::OpenAnyDevice (the UAPI socket if there is one, else kernel
// WireGuard), attest::OpenTpm.
DaemonEnv SystemDaemonEnv();

namespace internal {
class Daemon;
}

// The daemon one round at a time: RunDaemon is Start, then Step until it
// returns a status. Not thread-safe, except that `stop` may be stopped from
// any thread (it aborts the request in flight and wakes the backoff sleep).
class NodeDaemon {
 public:
  // Reads the state directory. Errors: "sodium_init", LoadNodeFiles's
  // (node_state.h). `env`'s clocks and randomness, `link` and `stop` must
  // outlive the daemon; `options`, `env` and `log` are copied.
  [[nodiscard]] static Result<std::unique_ptr<NodeDaemon>> Create(const DaemonOptions& options,
                                                                  const DaemonEnv& env,
                                                                  LinkConfigurator& link,
                                                                  StopSignal& stop,
                                                                  const LogFn& log);
  ~NodeDaemon();
  NodeDaemon(const NodeDaemon&) = delete;
  NodeDaemon& operator=(const NodeDaemon&) = delete;

  // Once, first: sets up the link, opens the device and applies the saved
  // config (fail-static), all before any request. Errors: the link's and
  // make_device's; the daemon must not be stepped after one.
  [[nodiscard]] Status Start();
  // One round: renewal if due, then one poll (with its acknowledgement).
  // On a failure that is not final it sleeps the backoff (env.time) and
  // moves on to the next authority URL. Returns nullopt to go on, OK once
  // `stop` is stopped, or Error "node_revoked" after tearing the interface
  // down; do not step again after a status.
  [[nodiscard]] std::optional<Status> Step();

 private:
  explicit NodeDaemon(std::unique_ptr<internal::Daemon> d);
  std::unique_ptr<internal::Daemon> d_;
};

// Runs until `stop` is stopped (returns OK) or the node is revoked (returns
// Error reason "node_revoked" after tearing the interface down).
[[nodiscard]] Status RunDaemon(const DaemonOptions& options, const DaemonEnv& env,
                               LinkConfigurator& link, StopSignal& stop, const LogFn& log);
// The same with SystemDaemonEnv().
[[nodiscard]] Status RunDaemon(const DaemonOptions& options, LinkConfigurator& link,
                               StopSignal& stop, const LogFn& log);

// `tpmesh-client status`: like `wg show` plus the applied generation and
// whether the authority answers. An expired node certificate is reported
// without contacting the authority.
struct NodeStatus {
  std::string report;                    // for stdout
  std::optional<Error> authority_error;  // unset iff GET /v1/node/self answered 200
};
// Errors: LoadNodeFiles's (node_state.h).
[[nodiscard]] Result<NodeStatus> StatusReport(const DaemonOptions& options);

}  // namespace tpmesh::client
