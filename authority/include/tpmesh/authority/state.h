// The authority's state directory and configuration.
//
// Layout of the state directory (0700; every file 0600 unless noted):
//   authority.db           SQLite store (WAL files beside it)
//   ca.crt / ca.key        the authority CA (issues node, admin, server certs)
//   server.crt / server.key  TLS server certificate
//   admin.crt / admin.key  the first admin credential, for tpmeshctl
//   config-signing.key     Ed25519 secret key (libsodium, 64 bytes raw)
//   config-signing.pub     Ed25519 public key (32 bytes raw, 0644)
// InitState creates all of it and refuses to touch a directory that already
// holds any of it. On failure it removes what it created, so a failed init can
// be retried.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tpmesh/authority/ipv6.h"
#include "tpmesh/authority/service.h"
#include "tpmesh/authority/store.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::authority {

struct InitOptions {
  std::string state_dir;
  std::optional<std::string> mesh_prefix;   // default: random ULA /48
  std::vector<std::string> server_names;    // DNS SANs of the server cert (default: localhost)
  std::vector<std::string> server_ips;      // IP SANs (default: ::1, 127.0.0.1)
  std::string admin_name = "admin";
};

struct InitResult {
  std::string ca_fingerprint;
  std::string mesh_prefix;
  std::string admin_cert_path;
  std::string admin_key_path;
};

[[nodiscard]] Result<InitResult> InitState(const InitOptions& options, const Clock& clock,
                                           Random& rng);

// An exclusive lock on a state directory (flock on <dir>/authority.lock),
// held while the object lives.
class StateDirLock {
 public:
  explicit StateDirLock(int fd) : fd_(fd) {}
  ~StateDirLock();
  StateDirLock(const StateDirLock&) = delete;
  StateDirLock& operator=(const StateDirLock&) = delete;

 private:
  int fd_;
};

struct LoadedState {
  std::unique_ptr<StateDirLock> lock;  // one authority process per state directory
  std::unique_ptr<Store> store;
  std::unique_ptr<CaKeys> cas;          // CA(s), server and admin certificates
  std::unique_ptr<SigningKeys> signing;  // config-signing key(s)
  MeshPrefix mesh_prefix;
};

// Opens an initialized state directory (checks its permissions) and locks
// it: the authority keeps membership in memory from its own commits, so a
// second process writing the same database would diverge from it. Error
// "state_dir_in_use" while another LoadedState (in any process) holds it.
[[nodiscard]] Result<LoadedState> LoadState(const std::string& state_dir);

// authority.toml. Unknown keys are errors (typos must not silently change
// security settings).
struct AuthorityConfig {
  std::string state_dir = "/var/lib/tpmesh-authority";
  std::vector<std::string> listen = {"[::]:8443"};
  std::string ek_trust_dir = "/usr/share/tpmesh/certs";
  bool dev_mode = false;
  AdmissionSettings admission;
  std::string default_policy;
  int mtu = 1420;
  int persistent_keepalive = 25;
  int node_cert_hours = 24;
  std::chrono::seconds node_cert_lifetime{24 * 3600};  // node_cert_hours or node_cert_lifetime
  RotationSettings rotation;                           // [rotation]
  // HTTP worker threads: every waiting long poll holds one (cpp-httplib), so
  // at least the number of nodes plus some for admins and enrollments.
  int http_workers = 1024;
};

[[nodiscard]] Result<AuthorityConfig> LoadConfig(const std::string& path);

}  // namespace tpmesh::authority
