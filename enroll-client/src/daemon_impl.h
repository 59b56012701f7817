// Internal to tpmesh_client: the node daemon behind NodeDaemon (daemon.h).
// One class, its methods split by concern:
//   daemon.cc          the loop: a round, backoff across authority URLs
//   daemon_state.cc    state files: trusted signing keys, the saved config,
//                      the CA bundle
//   config_sync.cc     long poll, verify, apply, acknowledge
//   rotation_agent.cc  the node's half of a WireGuard key rotation
//   node_identity.cc   certificate renewal and reload after re-enrollment
// Not thread-safe (one thread steps it); StopSignal is the only way in from
// another thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tpmesh/client/daemon.h"
#include "tpmesh/client/node_state.h"

namespace tpmesh::client::internal {

class Daemon {
 public:
  // `files` is the state directory as LoadNodeFiles read it.
  Daemon(const DaemonOptions& o, const DaemonEnv& env, LinkConfigurator& link, StopSignal& stop,
         LogFn log, std::unique_ptr<NodeFiles> files);

  Status Start();                // NodeDaemon::Start
  std::optional<Status> Step();  // NodeDaemon::Step

 private:
  // daemon.cc
  void Log(const std::string& s);
  std::optional<Status> OnPollFailure(const Status& st);
  void SleepJittered(int seconds);

  // daemon_state.cc
  void LoadTrust();
  void UpdateTrust(const meshcfg::MeshState& state);
  void LoadSaved();
  void UpdateCaBundle(const std::string& bundle);

  // config_sync.cc
  Status SetUpLink();
  Status Apply(const meshcfg::SignedState& s);
  Result<std::unique_ptr<net::Client>> ClientFor(const std::string& url);
  Status PollOnce(const std::string& url);
  int PollWait() const;
  Status AckAndRotate(net::Client& client);
  Result<meshcfg::SignedState> Verify(const std::string& body);
  Result<std::string> Ack(net::Client& client);
  std::optional<std::vector<std::string>> CurrentEndpoints();

  // rotation_agent.cc
  Status RegisterNextKey(net::Client& client);
  Status SwitchKey(net::Client& client, const Bytes& want);
  Status ReportSwitched(net::Client& client);

  // node_identity.cc
  static bool IsCertRefusal(const Error& e);
  bool ReloadIdentity(const Error& why);
  Status Adopt(std::unique_ptr<NodeFiles> n);
  Status OpenTpm();  // tpm_, opened once
  void MaybeRenew(const std::string& url);
  // After PollOnce's "node_cert_expired": nullopt to go on (re-enrolled, or
  // retrying later), else the daemon's final status.
  std::optional<Status> OnExpired(const Status& expired);
  Status Reenroll(const std::string& url);

  const DaemonOptions o_;
  const DaemonEnv env_;
  LinkConfigurator& link_;
  StopSignal& stop_;
  const LogFn log_;
  std::unique_ptr<NodeFiles> f_;
  std::vector<Bytes> trusted_;
  std::unique_ptr<wg::WgDevice> device_;
  std::shared_ptr<net::Client> client_;  // shared with StopSignal's abort
  std::string client_url_;
  wg::DesiredDevice last_applied_;
  std::vector<std::string> reported_endpoints_;  // last ack's, for the log
  meshcfg::SignedState held_;
  bool have_state_ = false;
  bool need_ack_ = true;              // report held state on the next (re)connection
  Bytes wg_public_;                   // of f_->wg_private
  bool switch_unreported_ = false;    // switched keys; the authority has not confirmed yet
  std::unique_ptr<attest::Tpm> tpm_;  // opened at the first renewal
  MonotonicClock::Instant next_renew_try_{};
  int backoff_ = 1;  // seconds, doubled per failure up to max_backoff_seconds
  size_t url_index_ = 0;
};

}  // namespace tpmesh::client::internal
