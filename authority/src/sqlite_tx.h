// Tx over one SQLite connection with a transaction already open (see
// SqliteStore::Transact). Every method fences SQLiteCpp/JSON exceptions and
// returns Errors (sqlite_util.h has the mapping). Not thread-safe; lives only
// for the duration of one Transact callback.
#pragma once

#include <SQLiteCpp/Database.h>

#include <map>
#include <string>

#include "tpmesh/authority/store.h"

namespace tpmesh::authority::internal {

class SqliteTx final : public Tx {
 public:
  explicit SqliteTx(SQLite::Database& db) : db_(db) {}

  Result<std::optional<NodeRecord>> FindNodeById(std::string_view node_id) override;
  Result<std::optional<NodeRecord>> FindNodeByHostname(std::string_view hostname) override;
  Result<std::optional<NodeRecord>> FindNodeByEk(ByteView ek_sha256) override;
  Result<std::vector<NodeRecord>> ListNodes() override;
  Status InsertNode(const NodeRecord& node) override;
  Status UpdateNode(const NodeRecord& node) override;
  Result<uint32_t> FreeSubnet(uint32_t max_index) override;

  Result<int64_t> Generation() override;
  Result<int64_t> BumpGeneration() override;

  Status PutChallenge(const ChallengeRecord& c) override;
  Result<std::optional<ChallengeRecord>> TakeChallenge(std::string_view id,
                                                       ChallengeKind kind) override;
  Status DeleteExpiredChallenges(int64_t now) override;

  Status InsertToken(const TokenRecord& t) override;
  Result<std::optional<TokenRecord>> FindTokenByHash(ByteView hash) override;
  Result<std::optional<TokenRecord>> FindToken(std::string_view id) override;
  Status UpdateToken(const TokenRecord& t) override;
  Result<std::vector<TokenRecord>> ListTokens() override;

  Status PutAllowlist(const AllowlistEntry& e) override;
  Result<bool> RemoveAllowlist(ByteView ek_sha256) override;
  Result<bool> IsAllowlisted(ByteView ek_sha256) override;
  Result<std::vector<AllowlistEntry>> ListAllowlist() override;

  Status PutPolicy(const PolicyRecord& p) override;
  Result<std::optional<PolicyRecord>> GetPolicy(std::string_view name) override;
  Result<std::vector<PolicyRecord>> ListPolicies() override;
  Result<bool> DeletePolicy(std::string_view name) override;

  Status AppendAudit(const AuditEntry& e) override;
  Result<std::vector<AuditEntry>> ListAudit(size_t limit) override;

  Result<std::optional<std::string>> GetMeta(std::string_view key) override;
  Status SetMeta(std::string_view key, std::string_view value) override;

  // What this transaction wrote so far (for the store's commit observers).
  CommitInfo TakeCommitInfo();
  bool wrote_mesh() const { return !changed_.empty() || bumped_ != 0; }

 private:
  SQLite::Database& db_;
  std::map<std::string, NodeRecord> changed_;  // node id -> last row written
  int64_t bumped_ = 0;
};

}  // namespace tpmesh::authority::internal
