// The authority's logic: enrollment (attestation + admission + allocation)
// and the admin operations. Transport-free: api.h adapts it to HTTP.
//
// Every membership or key change runs in one store transaction that also
// bumps the mesh generation and appends an audit entry, so the control
// plane's view changes atomically. Attestation work (signature checks,
// MakeCredential) runs outside transactions; no lock is held across a node's
// TPM round trip (the challenge lives in the store between the two calls).
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tpmesh/attest/ekcert.h"
#include "tpmesh/attest/verifier.h"
#include "tpmesh/authority/ipv6.h"
#include "tpmesh/authority/publisher.h"
#include "tpmesh/authority/records.h"
#include "tpmesh/authority/store.h"
#include "tpmesh/common/env.h"
#include "tpmesh/pki/pki.h"
#include "tpmesh/proto/enroll.h"
#include "tpmesh/proto/renew.h"

namespace tpmesh::authority {

struct AdmissionSettings {
  bool allowlist = true;        // an allowlisted EK fingerprint admits
  bool tokens = true;           // a valid one-time token admits
  bool approval_queue = false;  // otherwise: queue for an admin instead of refusing
};

struct AuthoritySettings {
  MeshPrefix mesh_prefix;
  int mtu = 1420;
  int persistent_keepalive = 25;
  bool dev_mode = false;             // accept software TPM EK certificates (check 15)
  AdmissionSettings admission;
  std::string default_policy;        // PCR policy new nodes are held to ("" = none)
  attest::PcrSelection pcr_selection{attest::HashAlg::kSha256, {0, 1, 2, 3, 4, 5, 6, 7}};
  std::chrono::seconds challenge_ttl{60};
  std::chrono::seconds node_cert_lifetime{24 * 3600};
};

// The authority's signing material, loaded at start.
struct AuthorityKeys {
  const pki::AuthorityCa* ca = nullptr;  // not owned
  std::string ca_bundle_pem;
  Bytes config_signing_public;           // Ed25519, 32 bytes
};

// What a node last reported after applying a generation (in memory only:
// it is rebuilt within one long-poll round after a restart).
struct PeerReport {
  Bytes public_key;
  int64_t last_handshake = 0;  // unix seconds, 0 = never
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
};
struct NodeReport {
  int64_t applied_generation = 0;
  int64_t at = 0;  // unix seconds of the report
  std::vector<PeerReport> peers;
};

struct CreatedToken {
  TokenRecord record;
  std::string token;  // shown once; only its hash is stored
};

class AuthorityService {
 public:
  // All references must outlive the service.
  AuthorityService(Store& store, const attest::TrustStore& trust, AuthorityKeys keys,
                   AuthoritySettings settings, const Clock& clock, Random& rng);

  // Enrollment round 1 / round 2 (docs/protocol.md).
  [[nodiscard]] Result<proto::EnrollStartResponse> EnrollStart(const proto::EnrollStartRequest& req);
  [[nodiscard]] Result<proto::EnrollFinishResponse> EnrollFinish(const proto::EnrollFinishRequest& req);

  // Node-authenticated requests: OK only for an active node (revocation is
  // checked on every request, not at certificate expiry).
  [[nodiscard]] Status AuthorizeNode(std::string_view node_id);

  // Certificate renewal with re-attestation (docs/protocol.md), for an
  // active node (the caller runs AuthorizeNode first). Start issues a fresh
  // nonce bound to the node; Finish takes it (single use), verifies the
  // quote with the node's ENROLLED AK (checks 7-10, 13), then 12 against the
  // stored TPM clock and 11 against the node's policy, and issues a new node
  // certificate for the CSR. A failed check 11 or 12 quarantines the node in
  // one transaction (removed from the mesh, reason recorded, audited) and
  // returns that check's error. A quote not by the enrolled AK fails check
  // 13 WITHOUT quarantine: it proves nothing about the enrolled TPM, only
  // that the request did not come from it.
  [[nodiscard]] Result<proto::RenewStartResponse> RenewStart(std::string_view node_id);
  [[nodiscard]] Result<proto::RenewFinishResponse> RenewFinish(std::string_view node_id,
                                                               const proto::RenewFinishRequest& req);

  // Admin operations. `actor` is recorded in the audit log ("admin:<name>").
  [[nodiscard]] Result<std::vector<NodeRecord>> ListNodes();
  [[nodiscard]] Result<NodeRecord> GetNode(std::string_view id_or_hostname);
  [[nodiscard]] Result<NodeRecord> Approve(std::string_view id, const std::string& actor, const std::string& reason);
  [[nodiscard]] Result<NodeRecord> Revoke(std::string_view id, const std::string& actor, const std::string& reason);
  [[nodiscard]] Result<NodeRecord> Restore(std::string_view id, const std::string& actor, const std::string& reason);

  [[nodiscard]] Result<CreatedToken> CreateToken(std::chrono::seconds ttl, const std::string& comment, const std::string& actor);
  [[nodiscard]] Result<std::vector<TokenRecord>> ListTokens();
  [[nodiscard]] Result<TokenRecord> RevokeToken(std::string_view id, const std::string& actor);

  [[nodiscard]] Status AllowEk(ByteView ek_sha256, const std::string& comment, const std::string& actor);
  [[nodiscard]] Result<std::vector<AllowlistEntry>> ListAllowedEks();
  [[nodiscard]] Status RemoveEk(ByteView ek_sha256, const std::string& actor);

  // Adopts a known-good node's last verified PCR values as policy `name`.
  [[nodiscard]] Result<PolicyRecord> AdoptPolicy(const std::string& name, std::string_view node, const std::string& actor);
  [[nodiscard]] Result<PolicyRecord> PutPolicy(attest::PcrPolicy policy, const std::string& actor);
  [[nodiscard]] Result<std::vector<PolicyRecord>> ListPolicies();
  [[nodiscard]] Status DeletePolicy(const std::string& name, const std::string& actor);

  [[nodiscard]] Result<std::vector<AuditEntry>> ListAudit(size_t limit);
  [[nodiscard]] Result<int64_t> Generation();

  // Mesh config. With a publisher set, every committed membership or key
  // change publishes the new generation's full state. PublishCurrent
  // publishes what the store holds now (at start).
  void SetPublisher(ConfigPublisher* publisher) { publisher_ = publisher; }
  [[nodiscard]] Status PublishCurrent();
  // A node's acknowledgement of the generation it applied, with its
  // interface status.
  [[nodiscard]] Status RecordReport(std::string_view node_id, NodeReport report);
  std::map<std::string, NodeReport> Reports() const;

  const AuthoritySettings& settings() const { return settings_; }
  const AuthorityKeys& keys() const { return keys_; }

 private:
  Result<NodeRecord> ChangeStatus(std::string_view id, std::initializer_list<NodeStatus> from,
                                  NodeStatus to, const char* action, const std::string& actor,
                                  const std::string& reason, bool allocate);
  Result<std::optional<attest::PcrPolicy>> PolicyFor(Tx& tx, const std::optional<NodeRecord>& node);
  std::vector<proto::Peer> PeersFor(const std::vector<NodeRecord>& nodes, std::string_view self) const;
  int64_t Now() const;
  Result<meshcfg::MeshState> BuildState(Tx& tx, int64_t generation) const;
  Status Quarantine(const NodeRecord& node, const Error& why);
  void Publish(std::optional<meshcfg::MeshState> state);

  Store& store_;
  const attest::TrustStore& trust_;
  AuthorityKeys keys_;
  AuthoritySettings settings_;
  const Clock& clock_;
  Random& rng_;
  attest::Verifier verifier_;
  ConfigPublisher* publisher_ = nullptr;
  mutable std::mutex reports_mu_;
  std::map<std::string, NodeReport> reports_;
};

// Node id: hex of the first 10 bytes of the EK fingerprint.
std::string NodeIdFromEk(ByteView ek_sha256);

}  // namespace tpmesh::authority
