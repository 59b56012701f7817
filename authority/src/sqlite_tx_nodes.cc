// SqliteTx: nodes, subnet allocation, generation.
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "json_columns.h"
#include "schema.h"
#include "sqlite_rows.h"
#include "sqlite_tx.h"
#include "sqlite_util.h"

namespace tpmesh::authority::internal {
namespace {

constexpr const char* kNodeColumns =
    "node_id, hostname, status, status_reason, ek_sha256, ek_public, ek_name, ak_public, ak_name, "
    "subnet, wg_public_key, endpoints, pcr_policy, pcr_values, tpm_clock_ms, tpm_reset_count, "
    "tpm_restart_count, tpm_safe, enrolled_at, updated_at, last_seen, enroll_count, "
    "next_wg_public_key, wg_key_since, prev_wg_public_key, prev_wg_key_until, rotate_requested_at, "
    "cert_serial, prev_cert_serial, prev_cert_until, ek_evidence, ek_cert, ek_intermediates, "
    "cert_not_after";

// Both bind every column by name (BindNode); UPDATE matches on :node_id.
constexpr const char* kNodeInsert =
    "INSERT INTO nodes (node_id, hostname, status, status_reason, ek_sha256, ek_public, ek_name, "
    "ak_public, ak_name, subnet, wg_public_key, endpoints, pcr_policy, pcr_values, tpm_clock_ms, "
    "tpm_reset_count, tpm_restart_count, tpm_safe, enrolled_at, updated_at, last_seen, "
    "enroll_count, "
    "next_wg_public_key, wg_key_since, prev_wg_public_key, prev_wg_key_until, rotate_requested_at, "
    "cert_serial, prev_cert_serial, prev_cert_until, ek_evidence, ek_cert, ek_intermediates, "
    "cert_not_after) "
    "VALUES (:node_id, :hostname, :status, :status_reason, :ek_sha256, :ek_public, :ek_name, "
    ":ak_public, :ak_name, :subnet, :wg_public_key, :endpoints, :pcr_policy, :pcr_values, "
    ":tpm_clock_ms, :tpm_reset_count, :tpm_restart_count, :tpm_safe, :enrolled_at, :updated_at, "
    ":last_seen, :enroll_count, :next_wg_public_key, :wg_key_since, :prev_wg_public_key, "
    ":prev_wg_key_until, :rotate_requested_at, :cert_serial, :prev_cert_serial, :prev_cert_until, "
    ":ek_evidence, :ek_cert, :ek_intermediates, :cert_not_after)";
constexpr const char* kNodeUpdate =
    "UPDATE nodes SET hostname = :hostname, status = :status, status_reason = :status_reason, "
    "ek_sha256 = :ek_sha256, ek_public = :ek_public, ek_name = :ek_name, ak_public = :ak_public, "
    "ak_name = :ak_name, subnet = :subnet, wg_public_key = :wg_public_key, endpoints = :endpoints, "
    "pcr_policy = :pcr_policy, pcr_values = :pcr_values, tpm_clock_ms = :tpm_clock_ms, "
    "tpm_reset_count = :tpm_reset_count, tpm_restart_count = :tpm_restart_count, "
    "tpm_safe = :tpm_safe, enrolled_at = :enrolled_at, updated_at = :updated_at, "
    "last_seen = :last_seen, enroll_count = :enroll_count, next_wg_public_key = "
    ":next_wg_public_key, "
    "wg_key_since = :wg_key_since, prev_wg_public_key = :prev_wg_public_key, "
    "prev_wg_key_until = :prev_wg_key_until, rotate_requested_at = :rotate_requested_at, "
    "cert_serial = :cert_serial, prev_cert_serial = :prev_cert_serial, "
    "prev_cert_until = :prev_cert_until, ek_evidence = :ek_evidence, ek_cert = :ek_cert, "
    "ek_intermediates = :ek_intermediates, cert_not_after = :cert_not_after "
    "WHERE node_id = :node_id";

std::string SelectNodes(const char* where_and_order) {
  return std::string("SELECT ") + kNodeColumns + " FROM nodes " + where_and_order;
}

Status BindNode(SQLite::Statement& s, const NodeRecord& n) {
  TPMESH_ASSIGN_OR_RETURN(std::string endpoints,
                          EncodeStrings(n.endpoints, "endpoints of node '" + n.node_id + "'"));
  s.bind(":node_id", n.node_id);
  s.bind(":hostname", n.hostname);
  s.bind(":status", NodeStatusName(n.status));
  s.bind(":status_reason", n.status_reason);
  BindBlob(s, ":ek_sha256", n.ek_sha256);
  BindBlob(s, ":ek_public", n.ek_public);
  BindBlob(s, ":ek_name", n.ek_name);
  BindBlob(s, ":ak_public", n.ak_public);
  BindBlob(s, ":ak_name", n.ak_name);
  if (n.subnet) {
    s.bind(":subnet", static_cast<int64_t>(*n.subnet));
  } else {
    s.bind(":subnet");
  }
  BindBlob(s, ":wg_public_key", n.wg_public_key);
  s.bind(":endpoints", endpoints);
  s.bind(":pcr_policy", n.pcr_policy);
  s.bind(":pcr_values", EncodePcrValues(n.pcr_values));
  s.bind(":tpm_clock_ms", static_cast<int64_t>(n.tpm_clock.clock_ms));  // bit-for-bit
  s.bind(":tpm_reset_count", static_cast<int64_t>(n.tpm_clock.reset_count));
  s.bind(":tpm_restart_count", static_cast<int64_t>(n.tpm_clock.restart_count));
  s.bind(":tpm_safe", n.tpm_clock.safe ? 1 : 0);
  s.bind(":enrolled_at", n.enrolled_at);
  s.bind(":updated_at", n.updated_at);
  s.bind(":last_seen", n.last_seen);
  s.bind(":enroll_count", n.enroll_count);
  BindBlob(s, ":next_wg_public_key", n.next_wg_public_key);
  s.bind(":wg_key_since", n.wg_key_since);
  BindBlob(s, ":prev_wg_public_key", n.prev_wg_public_key);
  s.bind(":prev_wg_key_until", n.prev_wg_key_until);
  s.bind(":rotate_requested_at", n.rotate_requested_at);
  s.bind(":cert_serial", n.cert_serial);
  s.bind(":prev_cert_serial", n.prev_cert_serial);
  s.bind(":prev_cert_until", n.prev_cert_until);
  s.bind(":cert_not_after", n.cert_not_after);
  s.bind(":ek_evidence", n.ek_evidence_stored ? 1 : 0);
  BindBlob(s, ":ek_cert", n.ek_cert);
  s.bind(":ek_intermediates", EncodeBlobs(n.ek_intermediates));
  return OkStatus();
}

Error KeyInUse(std::string_view field, bool retired) {
  return MakeError(Code::kAlreadyExists, "key_in_use",
                   std::string(field) +
                       (retired ? ": this WireGuard key was retired (replaced, or its node was "
                                  "revoked) and is never accepted again; generate a new one"
                                : ": this WireGuard key belongs to another node; every node needs "
                                  "its own key"));
}

// Claims `key` for `node_id` in wg_keys (schema v3): inserts it, or keeps it
// when it already is this node's and not retired. One statement: the primary
// key decides, not a read before the write.
Status ClaimKey(SQLite::Database& db, const std::string& node_id, ByteView key, int64_t now,
                std::string_view field) {
  if (key.size() != 32) {
    return MakeError(Code::kInvalidArgument, "invalid_key",
                     std::string(field) + ": a WireGuard public key is 32 bytes, got " +
                         std::to_string(key.size()));
  }
  SQLite::Statement s(db,
                      "INSERT INTO wg_keys (public_key, node_id, retired, since) "
                      "VALUES (:k, :id, 0, :now) ON CONFLICT (public_key) DO UPDATE "
                      "SET since = since WHERE node_id = excluded.node_id AND retired = 0");
  BindBlob(s, ":k", key);
  s.bind(":id", node_id);
  s.bind(":now", now);
  if (s.exec() == 1) return OkStatus();
  SQLite::Statement q(db, "SELECT node_id, retired FROM wg_keys WHERE public_key = :k");
  BindBlob(q, ":k", key);
  const bool retired =
      q.executeStep() && q.getColumn(0).getString() == node_id && q.getColumn(1).getInt64() != 0;
  return KeyInUse(field, retired);
}

void RetireKey(SQLite::Database& db, const std::string& node_id, ByteView key) {
  SQLite::Statement s(db, "UPDATE wg_keys SET retired = 1 WHERE public_key = :k AND node_id = :id");
  BindBlob(s, ":k", key);
  s.bind(":id", node_id);
  s.exec();
}

// The wg_keys side of writing node row `n` whose stored keys were `old`
// (nullopt: a new row). See store.h, "WireGuard keys".
Status SyncKeys(SQLite::Database& db, const NodeRecord& n,
                const std::optional<std::pair<Bytes, Bytes>>& old) {
  if (n.status == NodeStatus::kRevoked) {
    SQLite::Statement s(db, "UPDATE wg_keys SET retired = 1 WHERE node_id = :id");
    s.bind(":id", n.node_id);
    s.exec();
    return OkStatus();
  }
  if (!n.wg_public_key.empty()) {
    TPMESH_RETURN_IF_ERROR(ClaimKey(db, n.node_id, n.wg_public_key, n.updated_at, "wg_public_key"));
  }
  if (!n.next_wg_public_key.empty()) {
    TPMESH_RETURN_IF_ERROR(
        ClaimKey(db, n.node_id, n.next_wg_public_key, n.updated_at, "next_public_key"));
  }
  // A replaced current key (rotation commit, re-enrollment) never returns.
  if (old && !old->first.empty() && old->first != n.wg_public_key)
    RetireKey(db, n.node_id, old->first);
  return OkStatus();
}

// The keys a node row holds now: (wg_public_key, next_wg_public_key).
std::optional<std::pair<Bytes, Bytes>> StoredKeys(SQLite::Database& db,
                                                  const std::string& node_id) {
  SQLite::Statement q(db,
                      "SELECT wg_public_key, next_wg_public_key FROM nodes WHERE node_id = :id");
  q.bind(":id", node_id);
  if (!q.executeStep()) return std::nullopt;
  return std::make_pair(ColumnBytes(q.getColumn(0)), ColumnBytes(q.getColumn(1)));
}

Result<NodeRecord> ReadNode(const SQLite::Statement& q) {
  NodeRecord n;
  n.node_id = q.getColumn("node_id").getString();
  const std::string what = "node '" + n.node_id + "'";
  n.hostname = q.getColumn("hostname").getString();
  const std::string status = q.getColumn("status").getString();
  const auto parsed = ParseNodeStatus(status);
  if (!parsed) {
    return MakeError(Code::kInternal, "store_corrupt",
                     "nodes.status of " + what + " is corrupt: unknown status '" + status + "'");
  }
  n.status = *parsed;
  n.status_reason = q.getColumn("status_reason").getString();
  n.ek_sha256 = ColumnBytes(q.getColumn("ek_sha256"));
  n.ek_public = ColumnBytes(q.getColumn("ek_public"));
  n.ek_name = ColumnBytes(q.getColumn("ek_name"));
  n.ak_public = ColumnBytes(q.getColumn("ak_public"));
  n.ak_name = ColumnBytes(q.getColumn("ak_name"));
  const SQLite::Column subnet = q.getColumn("subnet");
  if (!subnet.isNull()) n.subnet = static_cast<uint32_t>(subnet.getInt64());
  n.wg_public_key = ColumnBytes(q.getColumn("wg_public_key"));
  TPMESH_ASSIGN_OR_RETURN(n.endpoints, DecodeStrings(q.getColumn("endpoints").getString(),
                                                     "nodes.endpoints of " + what));
  n.pcr_policy = q.getColumn("pcr_policy").getString();
  TPMESH_ASSIGN_OR_RETURN(n.pcr_values, DecodePcrValues(q.getColumn("pcr_values").getString(),
                                                        "nodes.pcr_values of " + what));
  n.tpm_clock.clock_ms = static_cast<uint64_t>(q.getColumn("tpm_clock_ms").getInt64());
  n.tpm_clock.reset_count = static_cast<uint32_t>(q.getColumn("tpm_reset_count").getInt64());
  n.tpm_clock.restart_count = static_cast<uint32_t>(q.getColumn("tpm_restart_count").getInt64());
  n.tpm_clock.safe = q.getColumn("tpm_safe").getInt64() != 0;
  n.enrolled_at = q.getColumn("enrolled_at").getInt64();
  n.updated_at = q.getColumn("updated_at").getInt64();
  n.last_seen = q.getColumn("last_seen").getInt64();
  n.enroll_count = q.getColumn("enroll_count").getInt64();
  n.next_wg_public_key = ColumnBytes(q.getColumn("next_wg_public_key"));
  n.wg_key_since = q.getColumn("wg_key_since").getInt64();
  n.prev_wg_public_key = ColumnBytes(q.getColumn("prev_wg_public_key"));
  n.prev_wg_key_until = q.getColumn("prev_wg_key_until").getInt64();
  n.rotate_requested_at = q.getColumn("rotate_requested_at").getInt64();
  n.cert_serial = q.getColumn("cert_serial").getString();
  n.prev_cert_serial = q.getColumn("prev_cert_serial").getString();
  n.prev_cert_until = q.getColumn("prev_cert_until").getInt64();
  n.cert_not_after = q.getColumn("cert_not_after").getInt64();
  n.ek_evidence_stored = q.getColumn("ek_evidence").getInt64() != 0;
  n.ek_cert = ColumnBytes(q.getColumn("ek_cert"));
  TPMESH_ASSIGN_OR_RETURN(n.ek_intermediates,
                          DecodeBlobs(q.getColumn("ek_intermediates").getString(),
                                      "nodes.ek_intermediates of " + what));
  return n;
}

}  // namespace

Result<std::optional<NodeRecord>> SqliteTx::FindNodeById(std::string_view node_id) {
  return Guarded("nodes.find_by_id", [&]() -> Result<std::optional<NodeRecord>> {
    SQLite::Statement q(db_, SelectNodes("WHERE node_id = :k"));
    q.bind(":k", std::string(node_id));
    return FirstRow<NodeRecord>(q, ReadNode);
  });
}

Result<std::optional<NodeRecord>> SqliteTx::FindNodeByHostname(std::string_view hostname) {
  return Guarded("nodes.find_by_hostname", [&]() -> Result<std::optional<NodeRecord>> {
    SQLite::Statement q(db_, SelectNodes("WHERE hostname = :k"));
    q.bind(":k", std::string(hostname));
    return FirstRow<NodeRecord>(q, ReadNode);
  });
}

Result<std::optional<NodeRecord>> SqliteTx::FindNodeByEk(ByteView ek_sha256) {
  return Guarded("nodes.find_by_ek", [&]() -> Result<std::optional<NodeRecord>> {
    SQLite::Statement q(db_, SelectNodes("WHERE ek_sha256 = :k"));
    BindBlob(q, ":k", ek_sha256);
    return FirstRow<NodeRecord>(q, ReadNode);
  });
}

Result<std::vector<NodeRecord>> SqliteTx::ListNodes() {
  return Guarded("nodes.list", [&]() -> Result<std::vector<NodeRecord>> {
    SQLite::Statement q(db_, SelectNodes("ORDER BY hostname"));
    return CollectRows<NodeRecord>(q, ReadNode);
  });
}

Status SqliteTx::InsertNode(const NodeRecord& node) {
  return Guarded("nodes.insert", [&]() -> Status {
    TPMESH_RETURN_IF_ERROR(SyncKeys(db_, node, std::nullopt));
    SQLite::Statement s(db_, kNodeInsert);
    TPMESH_RETURN_IF_ERROR(BindNode(s, node));
    s.exec();
    changed_[node.node_id] = node;
    return OkStatus();
  });
}

Status SqliteTx::UpdateNode(const NodeRecord& node) {
  return Guarded("nodes.update", [&]() -> Status {
    auto old = StoredKeys(db_, node.node_id);
    if (!old)
      return MakeError(Code::kNotFound, "node_not_found", "no node with id '" + node.node_id + "'");
    TPMESH_RETURN_IF_ERROR(SyncKeys(db_, node, old));
    SQLite::Statement s(db_, kNodeUpdate);
    TPMESH_RETURN_IF_ERROR(BindNode(s, node));
    if (s.exec() == 0) {
      return MakeError(Code::kNotFound, "node_not_found", "no node with id '" + node.node_id + "'");
    }
    changed_[node.node_id] = node;
    return OkStatus();
  });
}

Result<uint32_t> SqliteTx::FreeSubnet(uint32_t max_index) {
  // The schema caps subnet indices; anything above could never be inserted.
  const uint32_t max = std::min(max_index, kMaxSubnetIndex);
  return Guarded("nodes.free_subnet", [&]() -> Result<uint32_t> {
    // Candidates: 1 if free, and every used index + 1 that is free. The
    // smallest candidate is the lowest free index. Uses the UNIQUE index on
    // subnet for each probe; rows of every status count (revoked included).
    SQLite::Statement q(db_,
                        "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM nodes WHERE subnet = 1) "
                        "UNION ALL "
                        "SELECT n.subnet + 1 FROM nodes n WHERE n.subnet IS NOT NULL "
                        "AND n.subnet < :max "
                        "AND NOT EXISTS (SELECT 1 FROM nodes m WHERE m.subnet = n.subnet + 1) "
                        "ORDER BY 1 LIMIT 1");
    q.bind(":max", static_cast<int64_t>(max));
    if (q.executeStep()) {
      const int64_t v = q.getColumn(0).getInt64();
      if (v >= 1 && v <= static_cast<int64_t>(max)) return static_cast<uint32_t>(v);
    }
    if (max == 0) {
      return MakeError(Code::kResourceExhausted, "address_space_exhausted",
                       "no subnet index is available (max_index is 0)");
    }
    return MakeError(Code::kResourceExhausted, "address_space_exhausted",
                     "every subnet index in 1.." + std::to_string(max) +
                         " is held by a node (revoked nodes keep theirs)");
  });
}

Result<int64_t> SqliteTx::Generation() {
  return Guarded("generation.get", [&]() -> Result<int64_t> {
    SQLite::Statement q(db_, "SELECT value FROM generation WHERE id = 1");
    if (!q.executeStep()) {
      return MakeError(Code::kInternal, "store_corrupt", "generation row is missing");
    }
    return q.getColumn(0).getInt64();
  });
}

Result<int64_t> SqliteTx::BumpGeneration() {
  return Guarded("generation.bump", [&]() -> Result<int64_t> {
    SQLite::Statement q(db_,
                        "UPDATE generation SET value = value + 1 WHERE id = 1 RETURNING value");
    if (!q.executeStep()) {
      return MakeError(Code::kInternal, "store_corrupt", "generation row is missing");
    }
    const int64_t v = q.getColumn(0).getInt64();
    while (q.executeStep()) {
    }
    bumped_ = v;
    return v;
  });
}

CommitInfo SqliteTx::TakeCommitInfo() {
  CommitInfo info;
  info.nodes.reserve(changed_.size());
  for (auto& [id, n] : changed_) info.nodes.push_back(std::move(n));
  changed_.clear();
  info.generation = bumped_;
  bumped_ = 0;
  return info;
}

}  // namespace tpmesh::authority::internal
