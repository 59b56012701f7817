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

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tpmesh/attest/ekcert.h"
#include "tpmesh/authority/ipv6.h"
#include "tpmesh/authority/service.h"
#include "tpmesh/authority/store.h"
#include "tpmesh/net/http.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::authority {

struct InitOptions {
  std::string state_dir;
  std::optional<std::string> mesh_prefix;  // default: random ULA /48
  std::vector<std::string> server_names;   // DNS SANs of the server cert (default: localhost)
  std::vector<std::string> server_ips;     // IP SANs (default: ::1, 127.0.0.1)
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
  std::unique_ptr<CaKeys> cas;           // CA(s), server and admin certificates
  std::unique_ptr<SigningKeys> signing;  // config-signing key(s)
  MeshPrefix mesh_prefix;
};

// Opens an initialized state directory and locks it: the authority keeps
// membership in memory from its own commits, so a second process writing the
// same database would diverge from it. Error "state_dir_in_use" while another
// LoadedState (in any process) holds it. Refuses, kFailedPrecondition, and
// before creating anything (not even the lock file):
//   - a directory group or others can access ("private_dir_permissions");
//   - a secret (any *.key, authority.db and its -wal/-shm) that group or
//     others can access ("key_file_permissions", with the chmod 600) or that
//     another user owns ("key_file_owner"); any other file group or others
//     can write ("state_file_permissions");
//   - a missing or empty authority.db ("store_missing", "store_empty"; only
//     InitState creates one), and, once locked, one without the tpmesh schema.
[[nodiscard]] Result<LoadedState> LoadState(const std::string& state_dir);

// authority.toml. Unknown keys are errors (typos must not silently change
// security settings).
struct AuthorityConfig {
  std::string state_dir = "/var/lib/tpmesh-authority";
  std::vector<std::string> listen = {"[::]:8443"};
  std::string ek_trust_dir = "/usr/share/tpmesh/certs";
  bool dev_mode = false;
  // When EK certificate chains must have been valid (ekcert.h EkChainTime).
  attest::EkChainTime ek_chain_time = attest::EkChainTime::kIssuance;
  AdmissionSettings admission;
  std::string default_policy;
  int mtu = 1420;
  int persistent_keepalive = 25;
  int node_cert_hours = 24;
  std::chrono::seconds node_cert_lifetime{24 * 3600};  // node_cert_hours or node_cert_lifetime
  RotationSettings rotation;                           // [rotation]
  // Threads that run request handlers (the server's fixed pool; connections
  // and waiting long polls live on its one event-loop thread, not here).
  int http_workers = 4;
  // Connection caps and read limits of the HTTPS server (net::ServerLimits):
  // max_connections, max_anonymous_connections, max_anonymous_per_source.
  net::ServerLimits http_limits;
};

[[nodiscard]] Result<AuthorityConfig> LoadConfig(const std::string& path);

// What the host lets this process start, for the HTTP worker threads (each
// thread takes a task id, a stack and two memory maps). Unset: no limit.
struct HostLimits {
  uint64_t threads_self = 0;      // threads of this process now
  std::optional<uint64_t> nproc;  // RLIMIT_NPROC, when enforced (not for root / CAP_SYS_RESOURCE)
  std::optional<uint64_t> threads_max;    // kernel.threads-max
  std::optional<uint64_t> pid_max;        // kernel.pid_max: every thread takes an id
  uint64_t threads_host = 0;              // threads on the host now (/proc/loadavg)
  std::optional<uint64_t> pids_max;       // the tightest pids.max of this process's cgroups,
  uint64_t pids_current = 0;              //   that cgroup's pids.current
  std::string pids_file;                  //   and the pids.max file
  std::optional<uint64_t> max_map_count;  // vm.max_map_count
  uint64_t maps_self = 0;                 // this process's memory maps now
  std::optional<uint64_t> address_space;  // RLIMIT_AS, bytes
  uint64_t address_space_self = 0;        // this process's virtual size now, bytes
  std::optional<uint64_t> commit_free;  // vm.overcommit_memory=2: CommitLimit - Committed_AS, bytes
  uint64_t stack_bytes = 8u << 20;      // one new thread's stack and guard page
};

// Reads the limits of the running process from getrlimit, /proc and the
// cgroup filesystem; what cannot be read is left unset (not checked).
[[nodiscard]] HostLimits ReadHostLimits();

// The threads `http_workers` workers need (plus the event loop and the
// authority's own threads), checked against every
// limit in `host`. kFailedPrecondition "host_limit" naming the first limit
// that would be exceeded, its value, what is in use, and the setting to
// change (or to lower http_workers). Pure: tests pass made-up limits.
[[nodiscard]] Status CheckWorkerThreads(const HostLimits& host, int http_workers);

}  // namespace tpmesh::authority
