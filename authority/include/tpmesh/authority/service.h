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
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tpmesh/attest/ekcert.h"
#include "tpmesh/attest/verifier.h"
#include "tpmesh/authority/ca_keys.h"
#include "tpmesh/authority/ipv6.h"
#include "tpmesh/authority/publisher.h"
#include "tpmesh/authority/records.h"
#include "tpmesh/authority/signing_keys.h"
#include "tpmesh/authority/store.h"
#include "tpmesh/common/env.h"
#include "tpmesh/keyrotate/rotation.h"
#include "tpmesh/keyrotate/schedule.h"
#include "tpmesh/pki/pki.h"
#include "tpmesh/proto/enroll.h"
#include "tpmesh/proto/renew.h"

namespace tpmesh::authority {

struct AdmissionSettings {
  bool allowlist = true;        // an allowlisted EK fingerprint admits
  bool tokens = true;           // a valid one-time token admits
  bool approval_queue = false;  // otherwise: queue for an admin instead of refusing
};

// WireGuard key rotation (docs/protocol.md, "Key rotation").
struct RotationSettings {
  keyrotate::RotationPolicy policy{.period = std::chrono::hours(24 * 30),
                                   .lead_time = std::chrono::hours(1),
                                   .overlap = std::chrono::hours(1),
                                   .jitter = std::chrono::hours(24 * 3),
                                   .confirm_deadline = std::chrono::minutes(5),
                                   .retry_after = std::chrono::minutes(10)};
  bool scheduled = true;                 // rotate every node on policy.period
  std::chrono::seconds live_window{90};  // reported within this: live (awaited in prepare)
};

struct AuthoritySettings {
  MeshPrefix mesh_prefix;
  int mtu = 1420;
  int persistent_keepalive = 25;
  bool dev_mode = false;  // accept software TPM EK certificates (check 15)
  attest::EkChainTime ek_chain_time = attest::EkChainTime::kIssuance;  // check 2
  AdmissionSettings admission;
  std::string default_policy;  // PCR policy new nodes are held to ("" = none)
  attest::PcrSelection pcr_selection{attest::HashAlg::kSha256, {0, 1, 2, 3, 4, 5, 6, 7}};
  std::chrono::seconds challenge_ttl{60};
  std::chrono::seconds node_cert_lifetime{24 * 3600};
  // After a renewal the previous node certificate stays valid this long
  // (bounded by its own expiry), for requests already under way with it.
  std::chrono::seconds cert_overlap{300};
  RotationSettings rotation;
  // Operational log lines (one line each, no secrets). Empty: stderr.
  std::function<void(const std::string&)> log;
};

// The authority's signing material as LoadState loads it from the state
// directory (tests and benchmarks load a directory InitState made). Not
// owned; both must outlive the service.
struct AuthorityKeys {
  SigningKeys& signing;  // config-signing key(s)
  CaKeys& cas;           // CA(s), server and admin certificates
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
  std::string ca_bundle_sha256;  // hex, of the CA bundle the node trusts ("" = not reported)
  int64_t at = 0;                // unix seconds of the report
  std::vector<PeerReport> peers;
  std::optional<std::vector<std::string>> endpoints;  // validated; nullopt: not reported
};

// A node's reported endpoints are published at most this often per node (a
// node flapping between addresses, or a hostile one, cannot make every
// member reconfigure on every ack); a change inside the window is taken
// from the node's next report.
inline constexpr int64_t kEndpointChangeIntervalSeconds = 5;

// What the authority tells a node in the answer to its acknowledgement.
struct RotationDirective {
  enum class Action { kNone, kPrepare, kSwitch };
  Action action = Action::kNone;
  Bytes next_public_key;  // kSwitch: the key the node registered
  std::string ca_bundle;  // non-empty: the node's CA bundle is stale; trust this one
};

// One node's keys as `tpmeshctl keys list` shows them.
struct NodeKeys {
  NodeRecord node;
  int64_t next_rotation = 0;  // unix s of the planned switch (schedule)
  std::string phase;          // "" (none), "requested", or keyrotate::PhaseName
  uint32_t attempt = 0;
  std::vector<std::string> awaiting;  // node ids
  int64_t confirm_deadline = 0, retry_at = 0;
};

struct CreatedToken {
  TokenRecord record;
  std::string token;  // shown once; only its hash is stored
};

namespace internal {
class MeshView;
}

class AuthorityService {
 public:
  // All references must outlive the service. The service observes the
  // store's commits (Store::AddCommitObserver) to keep membership in memory;
  // it must be the only writer of the store.
  AuthorityService(Store& store, const attest::TrustStore& trust, AuthorityKeys keys,
                   AuthoritySettings settings, const Clock& clock, Random& rng);
  ~AuthorityService();
  AuthorityService(const AuthorityService&) = delete;
  AuthorityService& operator=(const AuthorityService&) = delete;

  // Enrollment round 1 / round 2 (docs/protocol.md).
  [[nodiscard]] Result<proto::EnrollStartResponse> EnrollStart(
      const proto::EnrollStartRequest& req);
  [[nodiscard]] Result<proto::EnrollFinishResponse> EnrollFinish(
      const proto::EnrollFinishRequest& req);

  // Node-authenticated requests: OK only for an active node presenting a
  // certificate the authority holds valid for it (`serial`, hex): the one
  // its last enrollment or renewal issued, or the one before it for
  // settings.cert_overlap after a renewal. Revocation, quarantine, restore
  // and re-enrollment end every certificate issued before them. Checked on
  // every request, not at certificate expiry; answered from memory (the view
  // follows every commit), no store transaction. Errors: node_unknown,
  // node_revoked, node_not_active, node_cert_superseded (401).
  [[nodiscard]] Status AuthorizeNode(std::string_view node_id, std::string_view serial);

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
  // Renewal also re-checks the EK evidence the node enrolled with against
  // today's trust store and dev mode (checks 1, 2, 14, 15, or the EK
  // allowlist for a node without an EK certificate); failing that
  // quarantines the node too. `serial` is the certificate the request came
  // with: it stays valid for settings.cert_overlap beside the new one. A
  // challenge is its node's: another node's attempt leaves it intact.
  [[nodiscard]] Result<proto::RenewStartResponse> RenewStart(std::string_view node_id);
  [[nodiscard]] Result<proto::RenewFinishResponse> RenewFinish(
      std::string_view node_id, std::string_view serial, const proto::RenewFinishRequest& req);

  // Admin operations. `actor` is recorded in the audit log ("admin:<name>").
  [[nodiscard]] Result<std::vector<NodeRecord>> ListNodes();
  [[nodiscard]] Result<NodeRecord> GetNode(std::string_view id_or_hostname);
  [[nodiscard]] Result<NodeRecord> Approve(std::string_view id, const std::string& actor,
                                           const std::string& reason);
  [[nodiscard]] Result<NodeRecord> Revoke(std::string_view id, const std::string& actor,
                                          const std::string& reason);
  [[nodiscard]] Result<NodeRecord> Restore(std::string_view id, const std::string& actor,
                                           const std::string& reason);

  [[nodiscard]] Result<CreatedToken> CreateToken(std::chrono::seconds ttl,
                                                 const std::string& comment,
                                                 const std::string& actor);
  [[nodiscard]] Result<std::vector<TokenRecord>> ListTokens();
  [[nodiscard]] Result<TokenRecord> RevokeToken(std::string_view id, const std::string& actor);

  [[nodiscard]] Status AllowEk(ByteView ek_sha256, const std::string& comment,
                               const std::string& actor);
  [[nodiscard]] Result<std::vector<AllowlistEntry>> ListAllowedEks();
  [[nodiscard]] Status RemoveEk(ByteView ek_sha256, const std::string& actor);

  // Adopts a known-good node's last verified PCR values as policy `name`.
  [[nodiscard]] Result<PolicyRecord> AdoptPolicy(const std::string& name, std::string_view node,
                                                 const std::string& actor);
  [[nodiscard]] Result<PolicyRecord> PutPolicy(attest::PcrPolicy policy, const std::string& actor);
  [[nodiscard]] Result<std::vector<PolicyRecord>> ListPolicies();
  [[nodiscard]] Status DeletePolicy(const std::string& name, const std::string& actor);

  [[nodiscard]] Result<std::vector<AuditEntry>> ListAudit(size_t limit);
  [[nodiscard]] Result<int64_t> Generation();

  // Mesh config. With a publisher set, every committed membership or key
  // change publishes the new generation's full state before the call that
  // made it returns. Changes committed while a state is being signed are
  // published together in the next one (group publish: one signature for a
  // burst of enrollments; every published state is a committed generation,
  // and intermediate generations may never be published). The state is built
  // from memory (internal::MeshView), not from the store. PublishCurrent
  // publishes what the store holds now (at start).
  void SetPublisher(ConfigPublisher* publisher) { publisher_ = publisher; }
  [[nodiscard]] Status PublishCurrent();
  // A node's acknowledgement of the generation it applied, with its
  // interface status. A generation outside [0, current] is refused
  // (invalid_request) and recorded nowhere.
  // The answer carries what the node must do for its key rotation.
  [[nodiscard]] Result<RotationDirective> RecordReport(std::string_view node_id, NodeReport report);

  // --- WireGuard key rotation ----------------------------------------------
  // Two phases, atomic from the control plane's view (keyrotate/rotation.h):
  //  1. requested (schedule or admin): the node learns it from its next ack
  //     answer (kPrepare), generates the next key locally and registers its
  //     public half (RotatePrepare). The announcing generation publishes it
  //     as the member's next_wg_public_key; peers keep routing to the
  //     current key and do NOT configure the next one in WireGuard (a peer
  //     that knew it would accept the node's handshake before owning its
  //     prefix and drop its packets at the source check).
  //  2. every peer that was live (reported within rotation.live_window)
  //     acknowledges a generation >= the announcing one; then the node is
  //     told to switch (kSwitch, after a generation bump that wakes it; one
  //     node at a time, and only once it has applied the last commit, see
  //     switch_holder_),
  //     switches its private key first and calls RotateSwitched; the commit
  //     generation carries only the new key, so peers move the prefix to it
  //     in one UAPI set with a keepalive.
  // A live peer that does not confirm by policy.confirm_deadline postpones
  // the rotation (next key withdrawn, old key untouched, retried
  // policy.retry_after later). Offline peers are not waited for.
  // Every change is one store transaction with a generation bump and an
  // audit entry. In-flight rotations live in memory and are rebuilt from the
  // store at PublishCurrent (restart: prepares again).

  // Admin: rotate these nodes (ids or hostnames) or all active ones now.
  // Errors: node_not_found, node_not_active, invalid_request (none given).
  [[nodiscard]] Result<std::vector<NodeRecord>> RequestRotation(
      const std::vector<std::string>& nodes, bool all, const std::string& actor,
      const std::string& reason);
  // Node: registers its next public key (32 bytes). The same key again is a
  // no-op; a different key restarts the rotation. Errors:
  // rotation_not_requested, invalid_key, key_in_use.
  [[nodiscard]] Result<int64_t> RotatePrepare(std::string_view node_id, ByteView next_public_key);
  // Node: it now uses `public_key`. Commits (see above). A node that
  // switched before the prepare completed is committed at once: holding it
  // back would only prolong its outage. Same key as current: no-op.
  // Errors: rotation_not_prepared (an unknown key).
  [[nodiscard]] Status RotateSwitched(std::string_view node_id, ByteView public_key);
  // Deadlines, retries, the schedule, retiring old keys. Call about once a
  // second (tpmesh-authority serve does); tests call it with a fake clock.
  [[nodiscard]] Status RotationTick();
  [[nodiscard]] Result<std::vector<NodeKeys>> Keys();

  // Config-signing key rotation (signing_keys.h): announces a fresh next
  // key now; RotationTick switches to it once every active node has
  // acknowledged a generation carrying the announcement (or policy.overlap
  // after the announcement at the latest), and retires the old key
  // policy.overlap after the switch. Errors: "signing_rotation_unavailable"
  // (no publisher set), "rotation_in_progress".
  [[nodiscard]] Status RotateSigningKey(const std::string& actor, const std::string& reason);
  std::vector<SigningKeyInfo> SigningKeysInfo() const;
  Bytes ConfigSigningPublic() const;

  // Authority CA rotation (ca_keys.h): announces a new CA now; nodes fetch
  // the bundle through their ack answers; RotationTick switches once every
  // active node reported the new bundle (or policy.overlap after the
  // announcement) and retires the old CA once every certificate it issued
  // has expired. `reload` receives the server's new TLS material (the
  // server certificate and the client CAs) after each step.
  // Errors: "ca_rotation_unavailable" (no publisher set), "rotation_in_progress".
  [[nodiscard]] Status RotateCa(const std::string& actor, const std::string& reason);
  void SetTlsReloader(std::function<Status(const TlsFiles&)> reload) {
    tls_reload_ = std::move(reload);
  }
  std::vector<CaInfo> CasInfo() const;
  std::string CaBundle() const;
  std::shared_ptr<const pki::AuthorityCa> CurrentCa() const;
  std::map<std::string, NodeReport> Reports() const;

  const AuthoritySettings& settings() const { return settings_; }
  const AuthorityKeys& keys() const { return keys_; }
  const Clock& clock() const { return clock_; }

 private:
  Result<NodeRecord> ChangeStatus(std::string_view id, std::initializer_list<NodeStatus> from,
                                  NodeStatus to, const char* action, const std::string& actor,
                                  const std::string& reason, bool allocate);
  Result<std::optional<attest::PcrPolicy>> PolicyFor(Tx& tx, const std::optional<NodeRecord>& node);
  // A TPM without an EK certificate: OK only when its EK is allowlisted and
  // allowlist admission is on (check 1's stand-in, every enrollment).
  Status NoCertAllowed(Tx& tx, ByteView ek_sha256);
  struct IssuedNodeCert;
  // Enrollment step 3: admission (internal::Decide, admission.h, over the
  // facts read in the transaction), allocation, generation bump and audit,
  // in one transaction; then publishes.
  Result<proto::EnrollFinishResponse> AdmitAndRecord(const proto::EnrollFinishRequest& req,
                                                     const ChallengeRecord& taken,
                                                     const attest::AttestedNode& attested,
                                                     const std::optional<attest::PcrPolicy>& policy,
                                                     IssuedNodeCert cert);
  // Step 3's new row: `node` (the stored one, or empty when is_new) as the
  // enrollment leaves it; admitted_by "" = pending.
  static void FillEnrolledNode(NodeRecord& node, bool is_new, const std::string& admitted_by,
                               const proto::EnrollFinishRequest& req, const ChallengeRecord& taken,
                               const attest::AttestedNode& attested,
                               const std::optional<attest::PcrPolicy>& policy,
                               const IssuedNodeCert& cert, int64_t now);
  int64_t Now() const;
  Status Quarantine(const NodeRecord& node, const Error& why);
  struct IssuedNodeCert {
    std::string pem;
    std::string serial;     // hex, as pki::PeerIdentity::serial
    int64_t not_after = 0;  // unix seconds
  };
  Result<IssuedNodeCert> IssueNodeCert(std::string_view csr_pem, const std::string& node_id);
  // Renewal step 4: records the new TPM state and certificate.
  Result<proto::RenewFinishResponse> RecordRenewal(
      std::string_view node_id, std::string_view serial, const ChallengeRecord& taken,
      const attest::QuoteInfo& info, const attest::PcrValues& pcrs, IssuedNodeCert cert);
  // No certificate issued so far stays valid (revoke, quarantine, restore).
  static void EndCertificates(NodeRecord& n);
  // Loads the membership view from the store if it is not loaded yet.
  Status EnsureView();
  // Returns once a state of generation >= `generation` is published (0:
  // no-op). A state that cannot be signed is logged and fails with
  // kInternal "config_publish_failed" (the change stays committed; the next
  // change or restart publishes it): see Committed().
  [[nodiscard]] Status PublishThrough(int64_t generation);
  void Log(const std::string& line) const;
  // Re-checks a node's stored EK evidence (renewal): checks 1, 2, 14, 15
  // against today's trust store, or, without a certificate, whether its EK
  // is on the allowlist (`allowlisted`, read by the caller's transaction).
  Status RecheckEk(const NodeRecord& node, bool allowlisted) const;

  Store& store_;
  const attest::TrustStore& trust_;
  AuthorityKeys keys_;
  AuthoritySettings settings_;
  const Clock& clock_;
  Random& rng_;
  attest::Verifier verifier_;
  // Key rotation (service_rotation.cc).
  struct RotationEntry {
    keyrotate::WgRotation rotation;
    int64_t announce_generation = 0;
  };
  // Every active node has a report and `pred` holds for it.
  bool EveryActiveNodeReported(const std::vector<NodeRecord>& nodes,
                               const std::function<bool(const NodeReport&)>& pred) const;
  std::set<std::string> LivePeers(const std::vector<NodeRecord>& nodes,
                                  std::string_view self) const;
  void OnAck(std::string_view node_id, int64_t applied_generation);
  // Publishes a member's reported endpoints when they differ from the
  // config's (service_endpoints.cc).
  Status ReportEndpoints(std::string_view node_id, const std::vector<std::string>& endpoints);
  Status RecoverRotations();
  Status CommitRotation(std::string_view node_id, ByteView public_key, const std::string& how);
  void ForgetRotation(std::string_view node_id);
  Status SigningTick(const std::vector<NodeRecord>& nodes);  // rot_mu_ held
  Status CaTick(const std::vector<NodeRecord>& nodes);       // rot_mu_ held
  // RotationTick's steps (service_rotation_tick.cc), rot_mu_ held: advance
  // the in-flight rotations, find scheduled ones and keys to retire, then
  // write what changed (AnnounceTickWork: one generation bump).
  struct TickWork;
  void AdvanceRotations(const std::vector<NodeRecord>& nodes, TickWork& w);
  void ScanSchedule(const std::vector<NodeRecord>& nodes, TickWork& w) const;
  Status AnnounceTickWork(const TickWork& w);
  Status WriteTickWork(Tx& tx, const TickWork& w);
  Status RetireOldKeys(const TickWork& w);
  std::function<Status(const TlsFiles&)> tls_reload_;
  // One transaction: bumps the generation, runs fn with it; publishes the
  // new state after the commit.
  Status BumpAndPublish(const std::function<Status(Tx&, int64_t generation)>& fn);

  ConfigPublisher* publisher_ = nullptr;
  std::unique_ptr<internal::MeshView> view_;
  int observer_id_ = 0;
  std::mutex pub_mu_;  // guards the three below; never held across a transaction
  std::condition_variable pub_cv_;
  bool publishing_ = false;
  int64_t published_generation_ = -1;
  mutable std::mutex rot_mu_;  // before any store transaction; never taken inside one
  std::map<std::string, RotationEntry> rotations_;  // by node id
  std::set<std::string> rotation_requested_;        // mirrors rotate_requested_at != 0
  int64_t last_schedule_scan_ = 0;
  // One switch at a time: a node told to switch holds the slot until its
  // commit (or confirm_deadline). A node is only told to switch once it has
  // applied the last commit: a node that switched while it still had a peer
  // entry under a key about to be replaced would lose the packets WireGuard
  // stages on that entry when the commit removes it.
  std::string switch_holder_;
  int64_t switch_granted_at_ = 0;
  int64_t last_commit_generation_ = 0;
  mutable std::mutex reports_mu_;
  std::map<std::string, NodeReport> reports_;
  std::mutex endpoints_mu_;
  std::map<std::string, int64_t, std::less<>> endpoints_changed_at_;  // by node id
};

// Node id: hex of the first 10 bytes of the EK fingerprint.
std::string NodeIdFromEk(ByteView ek_sha256);

// The reason of a change that committed but whose config could not be
// published (see AuthorityService::PublishThrough).
inline constexpr const char* kPublishFailed = "config_publish_failed";
// OK, or the commit happened and only its publication failed.
inline bool Committed(const Status& s) { return s.ok() || s.error().reason == kPublishFailed; }

}  // namespace tpmesh::authority
