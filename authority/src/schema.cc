#include "schema.h"

#include <array>

namespace tpmesh::authority::internal {
namespace {

// Version 1: the initial schema.
//
// Foreign keys (PRAGMA foreign_keys=ON on every connection):
//   tokens.used_by -> nodes.node_id  ON DELETE SET NULL, DEFERRABLE INITIALLY
//     DEFERRED. A token can only name a node that exists, but checked at
//     COMMIT so enrollment may mark the token used before or after inserting
//     the node in the same transaction. Nodes are never deleted today
//     (revocation is a status); if a purge is ever added, the token stays
//     consumed (used_at is kept) and the audit log keeps who used it.
// Deliberately no foreign key:
//   nodes.pcr_policy -> policies.name: the name a node was admitted under is
//     history; deleting or replacing a policy must not be blocked by, nor
//     rewrite, node rows (re-attestation decides what a missing policy means).
//   challenges, ek_allowlist: exist before the node does.
//   audit.target: free text naming anything; the log must outlive its targets.
// Empty strings, not NULL, for absent text (except tokens.used_by, which must
// be NULL to satisfy the foreign key; the store maps "" <-> NULL).
constexpr const char* kV1 = R"sql(
PRAGMA application_id = 1953525107;

CREATE TABLE meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
);

-- Exactly one row (id 1): the mesh config generation.
CREATE TABLE generation (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  value INTEGER NOT NULL CHECK (value >= 0)
);
INSERT INTO generation (id, value) VALUES (1, 0);

CREATE TABLE nodes (
  node_id           TEXT PRIMARY KEY NOT NULL,
  hostname          TEXT NOT NULL UNIQUE,
  status            TEXT NOT NULL
    CONSTRAINT nodes_status_valid
    CHECK (status IN ('pending', 'active', 'revoked', 'quarantined')),
  status_reason     TEXT NOT NULL DEFAULT '',
  ek_sha256         BLOB NOT NULL UNIQUE,
  ek_public         BLOB NOT NULL,
  ek_name           BLOB NOT NULL,
  ak_public         BLOB NOT NULL,
  ak_name           BLOB NOT NULL,
  -- NULL: no /64 allocated. Revoked nodes keep theirs (never reused).
  subnet            INTEGER UNIQUE
    CONSTRAINT nodes_subnet_range CHECK (subnet BETWEEN 1 AND 65535),
  wg_public_key     BLOB NOT NULL,
  endpoints         TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
  pcr_policy        TEXT NOT NULL DEFAULT '',
  pcr_values        TEXT NOT NULL DEFAULT '{}',   -- JSON {"<pcr>": "<hex>"}
  tpm_clock_ms      INTEGER NOT NULL DEFAULT 0,   -- uint64 stored bit-for-bit
  tpm_reset_count   INTEGER NOT NULL DEFAULT 0,
  tpm_restart_count INTEGER NOT NULL DEFAULT 0,
  tpm_safe          INTEGER NOT NULL DEFAULT 0 CHECK (tpm_safe IN (0, 1)),
  enrolled_at       INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  last_seen         INTEGER NOT NULL,
  enroll_count      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE challenges (
  id          TEXT PRIMARY KEY NOT NULL,
  hostname    TEXT NOT NULL,
  ek_alg      TEXT NOT NULL,
  secret      BLOB NOT NULL,
  nonce       BLOB NOT NULL,
  pcr_bank    TEXT NOT NULL,
  pcrs        TEXT NOT NULL,                      -- JSON array of PCR indices
  ek_public   BLOB NOT NULL,
  ak_public   BLOB NOT NULL,
  ek_name     BLOB NOT NULL,
  ak_name     BLOB NOT NULL,
  ek_sha256   BLOB NOT NULL,
  has_ek_cert INTEGER NOT NULL CHECK (has_ek_cert IN (0, 1)),
  expires_at  INTEGER NOT NULL
);
CREATE INDEX challenges_expires_at ON challenges (expires_at);

CREATE TABLE tokens (
  id         TEXT PRIMARY KEY NOT NULL,
  hash       BLOB NOT NULL UNIQUE,
  comment    TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER,
  used_by    TEXT REFERENCES nodes (node_id) ON DELETE SET NULL
               DEFERRABLE INITIALLY DEFERRED,
  revoked    INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);
CREATE INDEX tokens_used_by ON tokens (used_by);

CREATE TABLE ek_allowlist (
  ek_sha256  BLOB PRIMARY KEY NOT NULL,
  comment    TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);

CREATE TABLE policies (
  name       TEXT PRIMARY KEY NOT NULL,
  bank       TEXT NOT NULL,
  golden     TEXT NOT NULL,                       -- JSON {"<pcr>": ["<hex>", ...]}
  created_at INTEGER NOT NULL
);

-- Append-only: the triggers refuse UPDATE and DELETE.
CREATE TABLE audit (
  id     INTEGER PRIMARY KEY AUTOINCREMENT,
  at     INTEGER NOT NULL,
  actor  TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
)sql";

// Version 2: WireGuard key rotation (docs/protocol.md, "Key rotation").
//   next_wg_public_key   the announced next key (empty: none): published
//                        while the rotation prepares, cleared when it commits
//                        or is postponed;
//   wg_key_since         when the current key became current (unix s);
//   prev_wg_public_key   the key the last rotation retired, and
//   prev_wg_key_until    the end of its overlap (never reused by any node);
//   rotate_requested_at  a rotation is due (schedule or admin) and the node
//                        has not registered its next key yet (0: none).
constexpr const char* kV2 = R"sql(
ALTER TABLE nodes ADD COLUMN next_wg_public_key BLOB NOT NULL DEFAULT x'';
ALTER TABLE nodes ADD COLUMN wg_key_since INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN prev_wg_public_key BLOB NOT NULL DEFAULT x'';
ALTER TABLE nodes ADD COLUMN prev_wg_key_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN rotate_requested_at INTEGER NOT NULL DEFAULT 0;
UPDATE nodes SET wg_key_since = enrolled_at;
)sql";

// Version 3: node identity is absolute (docs/threat-model.md, "Identity").
//   nodes.cert_serial, prev_cert_serial, prev_cert_until: the node
//     certificates the authority holds valid (records.h); rows from before
//     this version get '*' (any certificate, until the next enrollment,
//     renewal, revocation or quarantine).
//   nodes.ek_cert, ek_intermediates, ek_evidence: the EK evidence a node
//     enrolled with (DER; JSON array of hex), re-checked at renewal;
//     ek_evidence = 0 for rows from before this version (not re-checked).
//   challenges.ek_cert, ek_intermediates: carried from start to finish.
//   wg_keys: every WireGuard public key a node ever held or announced. The
//     primary key makes a key belong to at most one node, ever; `retired`
//     keys (replaced, or of a revoked node) are never accepted again. The
//     store claims a row's keys in the same statement sequence as every node
//     write (sqlite_tx_nodes.cc); the triggers refuse a node row whose key
//     is not claimed by that node, so no caller can bypass it.
//   Existing keys are claimed in enrollment order; a key two nodes already
//   share stays with the first (the second is refused at its next write of
//   that key, and the config builder refuses a state that lists it twice).
constexpr const char* kV3 = R"sql(
ALTER TABLE nodes ADD COLUMN cert_serial TEXT NOT NULL DEFAULT '';
ALTER TABLE nodes ADD COLUMN prev_cert_serial TEXT NOT NULL DEFAULT '';
ALTER TABLE nodes ADD COLUMN prev_cert_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN ek_evidence INTEGER NOT NULL DEFAULT 0 CHECK (ek_evidence IN (0, 1));
ALTER TABLE nodes ADD COLUMN ek_cert BLOB NOT NULL DEFAULT x'';
ALTER TABLE nodes ADD COLUMN ek_intermediates TEXT NOT NULL DEFAULT '[]';
UPDATE nodes SET cert_serial = '*' WHERE status IN ('active', 'quarantined');
ALTER TABLE challenges ADD COLUMN ek_cert BLOB NOT NULL DEFAULT x'';
ALTER TABLE challenges ADD COLUMN ek_intermediates TEXT NOT NULL DEFAULT '[]';

CREATE TABLE wg_keys (
  public_key BLOB PRIMARY KEY NOT NULL CHECK (length(public_key) = 32),
  node_id    TEXT NOT NULL,
  retired    INTEGER NOT NULL DEFAULT 0 CHECK (retired IN (0, 1)),
  since      INTEGER NOT NULL
);
CREATE INDEX wg_keys_node_id ON wg_keys (node_id);
INSERT OR IGNORE INTO wg_keys (public_key, node_id, retired, since)
  SELECT wg_public_key, node_id, status = 'revoked', wg_key_since FROM nodes
  WHERE length(wg_public_key) = 32 ORDER BY enrolled_at, node_id;
INSERT OR IGNORE INTO wg_keys (public_key, node_id, retired, since)
  SELECT next_wg_public_key, node_id, status = 'revoked', updated_at FROM nodes
  WHERE length(next_wg_public_key) = 32 ORDER BY enrolled_at, node_id;
INSERT OR IGNORE INTO wg_keys (public_key, node_id, retired, since)
  SELECT prev_wg_public_key, node_id, 1, wg_key_since FROM nodes
  WHERE length(prev_wg_public_key) = 32 ORDER BY enrolled_at, node_id;

CREATE TRIGGER nodes_wg_key_claimed_insert BEFORE INSERT ON nodes
  WHEN NEW.status != 'revoked' AND (
    (length(NEW.wg_public_key) > 0 AND NOT EXISTS (SELECT 1 FROM wg_keys
       WHERE public_key = NEW.wg_public_key AND node_id = NEW.node_id AND retired = 0)) OR
    (length(NEW.next_wg_public_key) > 0 AND NOT EXISTS (SELECT 1 FROM wg_keys
       WHERE public_key = NEW.next_wg_public_key AND node_id = NEW.node_id AND retired = 0)))
  BEGIN SELECT RAISE(ABORT, 'wg_keys: node key not claimed by the node'); END;
CREATE TRIGGER nodes_wg_key_claimed_update BEFORE UPDATE ON nodes
  WHEN NEW.status != 'revoked' AND (
    (length(NEW.wg_public_key) > 0 AND NOT EXISTS (SELECT 1 FROM wg_keys
       WHERE public_key = NEW.wg_public_key AND node_id = NEW.node_id AND retired = 0)) OR
    (length(NEW.next_wg_public_key) > 0 AND NOT EXISTS (SELECT 1 FROM wg_keys
       WHERE public_key = NEW.next_wg_public_key AND node_id = NEW.node_id AND retired = 0)))
  BEGIN SELECT RAISE(ABORT, 'wg_keys: node key not claimed by the node'); END;
)sql";

// Version 4: renewal challenges are their own kind (records.h, ChallengeKind).
//   challenges.kind     'enrollment' or 'renewal'; a challenge is only taken
//                       as its own kind (Tx::TakeChallenge);
//   challenges.node_id  the node a renewal challenge was issued to ('' for
//                       enrollment ones; the CHECK ties the two together).
//   Before this version a renewal challenge was a row with hostname
//   'renew:<node id>' and a random secret nobody ever saw: rows still in
//   flight become renewal rows of that node, with no hostname and an empty
//   secret. `secret` stays NOT NULL (SQLite cannot relax it without
//   rebuilding the table): a renewal row holds a zero-length blob.
constexpr const char* kV4 = R"sql(
ALTER TABLE challenges ADD COLUMN kind TEXT NOT NULL DEFAULT 'enrollment'
  CONSTRAINT challenges_kind_valid CHECK (kind IN ('enrollment', 'renewal'));
ALTER TABLE challenges ADD COLUMN node_id TEXT NOT NULL DEFAULT ''
  CONSTRAINT challenges_renewal_names_node CHECK ((kind = 'renewal') = (node_id != ''));
UPDATE challenges
  SET kind = 'renewal', node_id = substr(hostname, 7), hostname = '', secret = x''
  WHERE substr(hostname, 1, 6) = 'renew:' AND length(hostname) > 6;
)sql";

// Version 5: nodes.cert_not_after, the notAfter of the current certificate
//   (unix seconds), so that an active node whose certificate ended is shown
//   as expired. 0 for rows from before this version, until their next
//   renewal or enrollment.
constexpr const char* kV5 = R"sql(
ALTER TABLE nodes ADD COLUMN cert_not_after INTEGER NOT NULL DEFAULT 0;
)sql";

constexpr std::array<const char*, 5> kAll = {kV1, kV2, kV3, kV4, kV5};

}  // namespace

std::span<const char* const> Migrations() { return kAll; }
int64_t CurrentSchemaVersion() { return static_cast<int64_t>(kAll.size()); }

}  // namespace tpmesh::authority::internal
