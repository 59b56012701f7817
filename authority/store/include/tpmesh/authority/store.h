// The authority's persistent state behind an interface; SQLite is the
// embedded default (OpenSqliteStore).
//
// All access goes through Store::Transact: the callback runs inside one
// transaction (SQLite: BEGIN IMMEDIATE, so writers serialize and read-modify-
// write sequences are race-free); it commits when the callback returns OK and
// rolls back otherwise, leaving nothing half-written. Business rules live in
// the caller; the store enforces the invariants that must hold even against a
// buggy caller, as schema constraints:
//   - node_id, hostname, ek_sha256 unique; subnet unique (never two nodes in
//     one /64), NULL allowed for nodes without an allocation;
//   - foreign keys on;
//   - a single generation counter (BumpGeneration) that the caller bumps in
//     the same transaction as every membership or key change;
//   - WireGuard keys: a public key belongs to at most one node, ever.
//     InsertNode/UpdateNode claim the row's wg_public_key and
//     next_wg_public_key for the node (a key already held by another node,
//     or retired, fails with kAlreadyExists "key_in_use", naming the field,
//     and writes nothing); a current key that an update replaces is retired;
//     writing a row with status revoked retires every key the node held.
//     Retired keys are never accepted again, by any node. Empty keys are
//     not claimed (a restored node holds none until it enrolls again).
// Constraint violations are Error{kAlreadyExists, "conflict", "<which>"}.
//
// Thread-safety: Store is thread-safe; Transact calls are serialized. A Tx is
// valid only inside its callback and only on that thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tpmesh/authority/records.h"
#include "tpmesh/common/result.h"

namespace tpmesh::authority {

class Tx {
 public:
  virtual ~Tx() = default;

  // Nodes
  [[nodiscard]] virtual Result<std::optional<NodeRecord>> FindNodeById(
      std::string_view node_id) = 0;
  [[nodiscard]] virtual Result<std::optional<NodeRecord>> FindNodeByHostname(
      std::string_view hostname) = 0;
  [[nodiscard]] virtual Result<std::optional<NodeRecord>> FindNodeByEk(ByteView ek_sha256) = 0;
  [[nodiscard]] virtual Result<std::vector<NodeRecord>> ListNodes() = 0;  // ordered by hostname
  [[nodiscard]] virtual Status InsertNode(const NodeRecord& node) = 0;
  [[nodiscard]] virtual Status UpdateNode(
      const NodeRecord& node) = 0;  // by node_id; kNotFound if absent
  // Lowest subnet index in [1, max_index] not held by any node (revoked ones
  // included). kResourceExhausted ("address_space_exhausted") when none.
  [[nodiscard]] virtual Result<uint32_t> FreeSubnet(uint32_t max_index) = 0;

  // Mesh generation
  [[nodiscard]] virtual Result<int64_t> Generation() = 0;
  [[nodiscard]] virtual Result<int64_t> BumpGeneration() = 0;  // returns the new value

  // Enrollment and renewal challenges (single use)
  [[nodiscard]] virtual Status PutChallenge(const ChallengeRecord& c) = 0;
  // Deletes and returns the challenge `id` of `kind`; nullopt when unknown,
  // already taken, or of the other kind (which stays, untouched).
  [[nodiscard]] virtual Result<std::optional<ChallengeRecord>> TakeChallenge(
      std::string_view id, ChallengeKind kind) = 0;
  [[nodiscard]] virtual Status DeleteExpiredChallenges(int64_t now) = 0;

  // Enrollment tokens
  [[nodiscard]] virtual Status InsertToken(const TokenRecord& t) = 0;
  [[nodiscard]] virtual Result<std::optional<TokenRecord>> FindTokenByHash(ByteView hash) = 0;
  [[nodiscard]] virtual Result<std::optional<TokenRecord>> FindToken(std::string_view id) = 0;
  [[nodiscard]] virtual Status UpdateToken(const TokenRecord& t) = 0;
  [[nodiscard]] virtual Result<std::vector<TokenRecord>> ListTokens() = 0;

  // EK allowlist
  [[nodiscard]] virtual Status PutAllowlist(const AllowlistEntry& e) = 0;      // upsert
  [[nodiscard]] virtual Result<bool> RemoveAllowlist(ByteView ek_sha256) = 0;  // false if absent
  [[nodiscard]] virtual Result<bool> IsAllowlisted(ByteView ek_sha256) = 0;
  [[nodiscard]] virtual Result<std::vector<AllowlistEntry>> ListAllowlist() = 0;

  // PCR policies
  [[nodiscard]] virtual Status PutPolicy(const PolicyRecord& p) = 0;  // upsert by name
  [[nodiscard]] virtual Result<std::optional<PolicyRecord>> GetPolicy(std::string_view name) = 0;
  [[nodiscard]] virtual Result<std::vector<PolicyRecord>> ListPolicies() = 0;
  [[nodiscard]] virtual Result<bool> DeletePolicy(std::string_view name) = 0;

  // Audit log (append-only)
  [[nodiscard]] virtual Status AppendAudit(const AuditEntry& e) = 0;  // id assigned
  [[nodiscard]] virtual Result<std::vector<AuditEntry>> ListAudit(
      size_t limit) = 0;  // newest first

  // Settings (mesh_prefix, mtu, ...)
  [[nodiscard]] virtual Result<std::optional<std::string>> GetMeta(std::string_view key) = 0;
  [[nodiscard]] virtual Status SetMeta(std::string_view key, std::string_view value) = 0;
};

// What one committed transaction changed: the change feed that lets the
// store's owner keep in-memory views (the authority's mesh membership and
// node statuses) without reading every row per change.
struct CommitInfo {
  std::vector<NodeRecord> nodes;  // rows inserted or updated, last write per node, as written
  int64_t generation = 0;         // the generation BumpGeneration set; 0: not bumped
};
using CommitObserver = std::function<void(const CommitInfo&)>;

class Store {
 public:
  virtual ~Store() = default;
  // Runs `fn` in one transaction (see file comment). Retries internally while
  // the database is busy (another process), up to a bounded time.
  [[nodiscard]] virtual Status Transact(const std::function<Status(Tx&)>& fn) = 0;

  // Observers run after every successful COMMIT that wrote a node row or
  // bumped the generation, in commit order, on the committing thread, while
  // Transact still serializes (so an observer must not call Transact, and
  // must not throw; a throw is swallowed). Nothing is reported for a
  // transaction that rolled back. Writes by another process are not seen:
  // one authority process owns the database (docs/architecture.md).
  // Returns an id for RemoveCommitObserver. Thread-safe.
  virtual int AddCommitObserver(CommitObserver observer) = 0;
  virtual void RemoveCommitObserver(int id) = 0;
};

// Opens (creating if needed, mode 0600) the SQLite database at `path`: WAL
// mode, synchronous=FULL, foreign keys on, schema migrated to the current
// version (versioned migrations in one table; a database from a newer
// tpmesh is refused).
[[nodiscard]] Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);

// Like OpenSqliteStore, but only for a database that `tpmesh-authority init`
// created: refuses a missing file ("store_missing"), an empty one or one
// without the tpmesh schema ("store_empty"), kFailedPrecondition, saying to
// run `tpmesh-authority init`; creates and changes nothing then.
[[nodiscard]] Result<std::unique_ptr<Store>> OpenExistingSqliteStore(const std::string& path);

}  // namespace tpmesh::authority
