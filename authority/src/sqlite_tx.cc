// SqliteTx: challenges, tokens, allowlist, policies, audit, meta.
#include "sqlite_tx.h"

#include <SQLiteCpp/Statement.h>

#include <limits>

#include "json_columns.h"
#include "sqlite_rows.h"
#include "sqlite_util.h"

namespace tpmesh::authority::internal {
namespace {

constexpr const char* kChallengeColumns =
    "id, hostname, ek_alg, secret, nonce, pcr_bank, pcrs, ek_public, ak_public, ek_name, ak_name, "
    "ek_sha256, has_ek_cert, expires_at, ek_cert, ek_intermediates, kind, node_id";
constexpr const char* kTokenColumns =
    "id, hash, comment, created_at, expires_at, used_at, used_by, revoked";

Error Corrupt(std::string what, const Error& why) {
  return MakeError(Code::kInternal, "store_corrupt", what + " is corrupt: " + why.message);
}

// challenges.kind (schema v4).
const char* KindName(ChallengeKind k) {
  return k == ChallengeKind::kRenewal ? "renewal" : "enrollment";
}
Result<ChallengeKind> ParseKind(const std::string& s) {
  if (s == "enrollment") return ChallengeKind::kEnrollment;
  if (s == "renewal") return ChallengeKind::kRenewal;
  return MakeError(Code::kInternal, "store_corrupt", "unknown challenge kind '" + s + "'");
}

// Reads a challenge row; the secret goes straight from SQLite's buffer into
// SecretBytes (no intermediate copy to wipe).
Result<ChallengeRecord> ReadChallenge(const SQLite::Statement& q) {
  ChallengeRecord c;
  c.id = q.getColumn("id").getString();
  const std::string what = "challenge '" + c.id + "'";
  auto kind = ParseKind(q.getColumn("kind").getString());
  if (!kind.ok()) return Corrupt("challenges.kind of " + what, kind.error());
  c.kind = *kind;
  c.hostname = q.getColumn("hostname").getString();
  c.node_id = q.getColumn("node_id").getString();
  auto alg = attest::ParseKeyAlg(q.getColumn("ek_alg").getString());
  if (!alg.ok()) return Corrupt("challenges.ek_alg of " + what, alg.error());
  c.ek_alg = *alg;
  c.secret = SecretBytes(ColumnView(q.getColumn("secret")));
  c.nonce = ColumnBytes(q.getColumn("nonce"));
  auto bank = attest::ParseHashAlg(q.getColumn("pcr_bank").getString());
  if (!bank.ok()) return Corrupt("challenges.pcr_bank of " + what, bank.error());
  c.selection.bank = *bank;
  // Stored and returned as given (not re-sorted): the record round-trips exactly.
  TPMESH_ASSIGN_OR_RETURN(c.selection.pcrs, DecodeIndices(q.getColumn("pcrs").getString(),
                                                          "challenges.pcrs of " + what));
  c.ek_public = ColumnBytes(q.getColumn("ek_public"));
  c.ak_public = ColumnBytes(q.getColumn("ak_public"));
  c.ek_name = ColumnBytes(q.getColumn("ek_name"));
  c.ak_name = ColumnBytes(q.getColumn("ak_name"));
  c.ek_sha256 = ColumnBytes(q.getColumn("ek_sha256"));
  c.has_ek_cert = q.getColumn("has_ek_cert").getInt64() != 0;
  c.expires_at = q.getColumn("expires_at").getInt64();
  c.ek_cert = ColumnBytes(q.getColumn("ek_cert"));
  TPMESH_ASSIGN_OR_RETURN(c.ek_intermediates,
                          DecodeBlobs(q.getColumn("ek_intermediates").getString(),
                                      "challenges.ek_intermediates of " + what));
  return c;
}

Result<TokenRecord> ReadToken(const SQLite::Statement& q) {
  TokenRecord t;
  t.id = q.getColumn("id").getString();
  t.hash = ColumnBytes(q.getColumn("hash"));
  t.comment = q.getColumn("comment").getString();
  t.created_at = q.getColumn("created_at").getInt64();
  t.expires_at = q.getColumn("expires_at").getInt64();
  const SQLite::Column used_at = q.getColumn("used_at");
  if (!used_at.isNull()) t.used_at = used_at.getInt64();
  t.used_by = q.getColumn("used_by").getString();  // NULL reads as ""
  t.revoked = q.getColumn("revoked").getInt64() != 0;
  return t;
}

void BindToken(SQLite::Statement& s, const TokenRecord& t) {
  s.bind(":id", t.id);
  BindBlob(s, ":hash", t.hash);
  s.bind(":comment", t.comment);
  s.bind(":created_at", t.created_at);
  s.bind(":expires_at", t.expires_at);
  if (t.used_at) {
    s.bind(":used_at", *t.used_at);
  } else {
    s.bind(":used_at");
  }
  if (t.used_by.empty()) {  // NULL: no node (foreign key)
    s.bind(":used_by");
  } else {
    s.bind(":used_by", t.used_by);
  }
  s.bind(":revoked", t.revoked ? 1 : 0);
}

Result<AllowlistEntry> ReadAllowlist(const SQLite::Statement& q) {
  AllowlistEntry e;
  e.ek_sha256 = ColumnBytes(q.getColumn("ek_sha256"));
  e.comment = q.getColumn("comment").getString();
  e.created_at = q.getColumn("created_at").getInt64();
  return e;
}

Result<PolicyRecord> ReadPolicy(const SQLite::Statement& q) {
  PolicyRecord p;
  p.policy.name = q.getColumn("name").getString();
  const std::string what = "policy '" + p.policy.name + "'";
  auto bank = attest::ParseHashAlg(q.getColumn("bank").getString());
  if (!bank.ok()) return Corrupt("policies.bank of " + what, bank.error());
  p.policy.bank = *bank;
  TPMESH_ASSIGN_OR_RETURN(p.policy.golden, DecodeGolden(q.getColumn("golden").getString(),
                                                        "policies.golden of " + what));
  p.created_at = q.getColumn("created_at").getInt64();
  return p;
}

Result<AuditEntry> ReadAudit(const SQLite::Statement& q) {
  AuditEntry e;
  e.id = q.getColumn("id").getInt64();
  e.at = q.getColumn("at").getInt64();
  e.actor = q.getColumn("actor").getString();
  e.action = q.getColumn("action").getString();
  e.target = q.getColumn("target").getString();
  e.reason = q.getColumn("reason").getString();
  e.detail = q.getColumn("detail").getString();
  return e;
}

}  // namespace

// ---- Challenges ----

Status SqliteTx::PutChallenge(const ChallengeRecord& c) {
  return Guarded("challenges.put", [&]() -> Status {
    SQLite::Statement s(db_, std::string("INSERT INTO challenges (") + kChallengeColumns +
                                 ") VALUES (:id, :hostname, :ek_alg, :secret, :nonce, :pcr_bank, "
                                 ":pcrs, :ek_public, :ak_public, :ek_name, :ak_name, :ek_sha256, "
                                 ":has_ek_cert, :expires_at, :ek_cert, :ek_intermediates, :kind, "
                                 ":node_id)");
    s.bind(":id", c.id);
    s.bind(":kind", KindName(c.kind));
    s.bind(":hostname", c.hostname);
    s.bind(":node_id", c.node_id);
    s.bind(":ek_alg", attest::KeyAlgName(c.ek_alg));
    BindBlobNoCopy(s, ":secret", c.secret.view());  // `c` outlives `s`
    BindBlob(s, ":nonce", c.nonce);
    s.bind(":pcr_bank", attest::HashAlgName(c.selection.bank));
    s.bind(":pcrs", EncodeIndices(c.selection.pcrs));
    BindBlob(s, ":ek_public", c.ek_public);
    BindBlob(s, ":ak_public", c.ak_public);
    BindBlob(s, ":ek_name", c.ek_name);
    BindBlob(s, ":ak_name", c.ak_name);
    BindBlob(s, ":ek_sha256", c.ek_sha256);
    s.bind(":has_ek_cert", c.has_ek_cert ? 1 : 0);
    s.bind(":expires_at", c.expires_at);
    BindBlob(s, ":ek_cert", c.ek_cert);
    s.bind(":ek_intermediates", EncodeBlobs(c.ek_intermediates));
    s.exec();
    return OkStatus();
  });
}

Result<std::optional<ChallengeRecord>> SqliteTx::TakeChallenge(std::string_view id,
                                                               ChallengeKind kind) {
  return Guarded("challenges.take", [&]() -> Result<std::optional<ChallengeRecord>> {
    std::optional<ChallengeRecord> found;
    {
      SQLite::Statement q(db_, std::string("SELECT ") + kChallengeColumns +
                                   " FROM challenges WHERE id = :id AND kind = :kind");
      q.bind(":id", std::string(id));
      q.bind(":kind", KindName(kind));
      TPMESH_ASSIGN_OR_RETURN(found, FirstRow<ChallengeRecord>(q, ReadChallenge));
    }
    if (!found) return found;
    // Same IMMEDIATE transaction as the SELECT: no other writer can take it
    // in between; with the delete committed, a second take sees nothing.
    SQLite::Statement d(db_, "DELETE FROM challenges WHERE id = :id AND kind = :kind");
    d.bind(":id", std::string(id));
    d.bind(":kind", KindName(kind));
    d.exec();
    return found;
  });
}

Status SqliteTx::DeleteExpiredChallenges(int64_t now) {
  return Guarded("challenges.delete_expired", [&]() -> Status {
    // Strictly past: a challenge is still usable in the second it expires.
    SQLite::Statement d(db_, "DELETE FROM challenges WHERE expires_at < :now");
    d.bind(":now", now);
    d.exec();
    return OkStatus();
  });
}

// ---- Tokens ----

Status SqliteTx::InsertToken(const TokenRecord& t) {
  return Guarded("tokens.insert", [&]() -> Status {
    SQLite::Statement s(db_, std::string("INSERT INTO tokens (") + kTokenColumns +
                                 ") VALUES (:id, :hash, :comment, :created_at, :expires_at, "
                                 ":used_at, :used_by, :revoked)");
    BindToken(s, t);
    s.exec();
    return OkStatus();
  });
}

Result<std::optional<TokenRecord>> SqliteTx::FindTokenByHash(ByteView hash) {
  return Guarded("tokens.find_by_hash", [&]() -> Result<std::optional<TokenRecord>> {
    SQLite::Statement q(db_,
                        std::string("SELECT ") + kTokenColumns + " FROM tokens WHERE hash = :k");
    BindBlob(q, ":k", hash);
    return FirstRow<TokenRecord>(q, ReadToken);
  });
}

Result<std::optional<TokenRecord>> SqliteTx::FindToken(std::string_view id) {
  return Guarded("tokens.find", [&]() -> Result<std::optional<TokenRecord>> {
    SQLite::Statement q(db_, std::string("SELECT ") + kTokenColumns + " FROM tokens WHERE id = :k");
    q.bind(":k", std::string(id));
    return FirstRow<TokenRecord>(q, ReadToken);
  });
}

Status SqliteTx::UpdateToken(const TokenRecord& t) {
  return Guarded("tokens.update", [&]() -> Status {
    SQLite::Statement s(db_,
                        "UPDATE tokens SET hash = :hash, comment = :comment, "
                        "created_at = :created_at, expires_at = :expires_at, used_at = :used_at, "
                        "used_by = :used_by, revoked = :revoked WHERE id = :id");
    BindToken(s, t);
    if (s.exec() == 0) {
      return MakeError(Code::kNotFound, "token_not_found", "no token with id '" + t.id + "'");
    }
    return OkStatus();
  });
}

Result<std::vector<TokenRecord>> SqliteTx::ListTokens() {
  return Guarded("tokens.list", [&]() -> Result<std::vector<TokenRecord>> {
    SQLite::Statement q(
        db_, std::string("SELECT ") + kTokenColumns + " FROM tokens ORDER BY created_at, id");
    return CollectRows<TokenRecord>(q, ReadToken);
  });
}

// ---- EK allowlist ----

Status SqliteTx::PutAllowlist(const AllowlistEntry& e) {
  return Guarded("ek_allowlist.put", [&]() -> Status {
    SQLite::Statement s(db_,
                        "INSERT INTO ek_allowlist (ek_sha256, comment, created_at) "
                        "VALUES (:ek, :comment, :created_at) ON CONFLICT (ek_sha256) DO UPDATE "
                        "SET comment = excluded.comment, created_at = excluded.created_at");
    BindBlob(s, ":ek", e.ek_sha256);
    s.bind(":comment", e.comment);
    s.bind(":created_at", e.created_at);
    s.exec();
    return OkStatus();
  });
}

Result<bool> SqliteTx::RemoveAllowlist(ByteView ek_sha256) {
  return Guarded("ek_allowlist.remove", [&]() -> Result<bool> {
    SQLite::Statement s(db_, "DELETE FROM ek_allowlist WHERE ek_sha256 = :ek");
    BindBlob(s, ":ek", ek_sha256);
    return s.exec() > 0;
  });
}

Result<bool> SqliteTx::IsAllowlisted(ByteView ek_sha256) {
  return Guarded("ek_allowlist.check", [&]() -> Result<bool> {
    SQLite::Statement q(db_, "SELECT 1 FROM ek_allowlist WHERE ek_sha256 = :ek");
    BindBlob(q, ":ek", ek_sha256);
    return q.executeStep();
  });
}

Result<std::vector<AllowlistEntry>> SqliteTx::ListAllowlist() {
  return Guarded("ek_allowlist.list", [&]() -> Result<std::vector<AllowlistEntry>> {
    SQLite::Statement q(db_,
                        "SELECT ek_sha256, comment, created_at FROM ek_allowlist "
                        "ORDER BY created_at, ek_sha256");
    return CollectRows<AllowlistEntry>(q, ReadAllowlist);
  });
}

// ---- PCR policies ----

Status SqliteTx::PutPolicy(const PolicyRecord& p) {
  return Guarded("policies.put", [&]() -> Status {
    SQLite::Statement s(db_,
                        "INSERT INTO policies (name, bank, golden, created_at) "
                        "VALUES (:name, :bank, :golden, :created_at) ON CONFLICT (name) DO UPDATE "
                        "SET bank = excluded.bank, golden = excluded.golden, "
                        "created_at = excluded.created_at");
    s.bind(":name", p.policy.name);
    s.bind(":bank", attest::HashAlgName(p.policy.bank));
    s.bind(":golden", EncodeGolden(p.policy.golden));
    s.bind(":created_at", p.created_at);
    s.exec();
    return OkStatus();
  });
}

Result<std::optional<PolicyRecord>> SqliteTx::GetPolicy(std::string_view name) {
  return Guarded("policies.get", [&]() -> Result<std::optional<PolicyRecord>> {
    SQLite::Statement q(db_, "SELECT name, bank, golden, created_at FROM policies WHERE name = :n");
    q.bind(":n", std::string(name));
    return FirstRow<PolicyRecord>(q, ReadPolicy);
  });
}

Result<std::vector<PolicyRecord>> SqliteTx::ListPolicies() {
  return Guarded("policies.list", [&]() -> Result<std::vector<PolicyRecord>> {
    SQLite::Statement q(db_, "SELECT name, bank, golden, created_at FROM policies ORDER BY name");
    return CollectRows<PolicyRecord>(q, ReadPolicy);
  });
}

Result<bool> SqliteTx::DeletePolicy(std::string_view name) {
  return Guarded("policies.delete", [&]() -> Result<bool> {
    SQLite::Statement s(db_, "DELETE FROM policies WHERE name = :n");
    s.bind(":n", std::string(name));
    return s.exec() > 0;
  });
}

// ---- Audit ----

Status SqliteTx::AppendAudit(const AuditEntry& e) {
  return Guarded("audit.append", [&]() -> Status {
    // e.id is ignored: AUTOINCREMENT assigns ids that only ever grow.
    SQLite::Statement s(db_,
                        "INSERT INTO audit (at, actor, action, target, reason, detail) "
                        "VALUES (:at, :actor, :action, :target, :reason, :detail)");
    s.bind(":at", e.at);
    s.bind(":actor", e.actor);
    s.bind(":action", e.action);
    s.bind(":target", e.target);
    s.bind(":reason", e.reason);
    s.bind(":detail", e.detail);
    s.exec();
    return OkStatus();
  });
}

Result<std::vector<AuditEntry>> SqliteTx::ListAudit(size_t limit) {
  return Guarded("audit.list", [&]() -> Result<std::vector<AuditEntry>> {
    constexpr auto kMax = static_cast<size_t>(std::numeric_limits<int64_t>::max());
    SQLite::Statement q(db_,
                        "SELECT id, at, actor, action, target, reason, detail FROM audit "
                        "ORDER BY id DESC LIMIT :limit");
    q.bind(":limit", static_cast<int64_t>(std::min(limit, kMax)));
    return CollectRows<AuditEntry>(q, ReadAudit);
  });
}

// ---- Meta ----

Result<std::optional<std::string>> SqliteTx::GetMeta(std::string_view key) {
  return Guarded("meta.get", [&]() -> Result<std::optional<std::string>> {
    SQLite::Statement q(db_, "SELECT value FROM meta WHERE key = :k");
    q.bind(":k", std::string(key));
    if (!q.executeStep()) return std::optional<std::string>();
    return std::optional<std::string>(q.getColumn(0).getString());
  });
}

Status SqliteTx::SetMeta(std::string_view key, std::string_view value) {
  return Guarded("meta.set", [&]() -> Status {
    SQLite::Statement s(db_,
                        "INSERT INTO meta (key, value) VALUES (:k, :v) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    s.bind(":k", std::string(key));
    s.bind(":v", std::string(value));
    s.exec();
    return OkStatus();
  });
}

}  // namespace tpmesh::authority::internal
