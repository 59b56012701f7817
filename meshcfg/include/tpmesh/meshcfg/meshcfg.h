// The signed, versioned mesh config shared by the authority and the client.
// Pure logic, no I/O; every function is thread-safe (pure, or touches only
// its arguments).
//
// Model. The authority keeps one MeshState; every change (join, revoke,
// endpoint or key change) bumps `generation` by at least one in the same
// transaction, and the authority signs (generation, StateHash(state)) with its
// Ed25519 config-signing key. Clients hold the last state they verified and
// accept a new one only if it is signed by a trusted key, its hash matches,
// and its generation is strictly higher (older or replayed configs are
// refused: "stale_generation"). Changes travel as MeshDelta keyed by the
// stable node id; a client whose generation does not equal the delta's
// from_generation ("generation_gap") fetches the full SignedState instead.
//
// Canonical encoding (CanonicalEncoding, the input of StateHash). We chose a
// length-prefixed binary encoding over canonical JSON: it has no number
// formatting, string escaping, Unicode normalisation or key-order rules to
// get exactly right, so any implementation reproduces it in a few lines.
// Integers are big-endian, fixed width:
//   u8  = 1 byte, u32 = 4 bytes, i64 = 8 bytes two's complement
//   str = u32 byte length || the raw bytes (no NUL, no normalisation)
//   bin = u32 byte length || the bytes
//   list<T> = u32 item count || items
// The encoding is
//   str "tpmesh-meshcfg-state-v1"
//   i64 generation
//   str mesh_prefix
//   i64 mtu
//   list<member>, members sorted by node_id (byte-wise, ascending)
// and each member is
//   str node_id, str hostname, bin wg_public_key,
//   list<str> endpoints, list<str> allowed_ips   (in the given order: order is data),
//   i64 persistent_keepalive,
//   u8 0 (no next_wg_public_key) | u8 1 || bin next_wg_public_key.
// followed, only when signing_keys is not empty, by the trailer
//   str "signing_keys", list<bin> signing_keys   (in the given order)
// Member order in MeshState therefore never changes the hash; any change of
// any field does. (Members with equal node ids, which ValidateState rejects,
// are ordered by their encodings so even such states hash deterministically.)
//
// Signature. Ed25519 (libsodium crypto_sign_detached) over
//   "tpmesh-meshcfg-v1" (17 ASCII bytes) || i64 generation || 32-byte hash.
//
// Errors (Error.reason is stable):
//   invalid_mesh_config      kInvalidArgument   malformed JSON, field or state ("<field>:
//   <problem>") stale_generation         kFailedPrecondition  to_generation <= the generation held
//   generation_gap           kFailedPrecondition  delta does not start at the generation held
//   delta_inconsistent       kInvalidArgument   delta removes an unknown id, names an id twice, ...
//   config_hash_mismatch     kPermissionDenied  applied/received state does not hash to the signed
//   hash config_signature_invalid kPermissionDenied  no trusted key verifies the signature
//   no_trusted_keys          kFailedPrecondition  empty trusted key list
//   invalid_signing_key      kInvalidArgument   SignHash/SignState secret is not 64 bytes
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

namespace tpmesh::meshcfg {

inline constexpr size_t kHashBytes = 32;       // SHA-256
inline constexpr size_t kSignatureBytes = 64;  // Ed25519
inline constexpr size_t kPublicKeyBytes = 32;  // Ed25519 and WireGuard (X25519)
inline constexpr size_t kMaxMembers = 65536;
inline constexpr size_t kMaxEndpoints = 16;
inline constexpr size_t kMaxAllowedIps = 64;
inline constexpr size_t kMaxSigningKeys = 4;

struct MeshMember {
  std::string node_id;                      // stable id, 1-64 chars of [0-9A-Za-z._-]
  std::string hostname;                     // 1-253 chars
  Bytes wg_public_key;                      // 32 bytes
  std::vector<std::string> endpoints;       // "[v6]:port" / "v4:port", <= 16, preference order
  std::vector<std::string> allowed_ips;     // CIDRs, <= 64
  int persistent_keepalive = 25;            // seconds, 0 = off, <= 65535
  std::optional<Bytes> next_wg_public_key;  // 32 bytes: the announced next key during a rotation

  bool operator==(const MeshMember&) const = default;
};

struct MeshState {
  int64_t generation = 0;           // >= 0
  std::string mesh_prefix;          // CIDR, e.g. "fd12:3456:789a::/48"
  int mtu = 1420;                   // 1280..65535
  std::vector<MeshMember> members;  // sorted by node_id, unique (see SortMembers)
  // Config-signing keys (Ed25519, 32 bytes, <= kMaxSigningKeys, unique) that
  // clients trust from this generation on: the authority announces its next
  // key here in a config signed by the current one, and drops the old key
  // after the overlap. Empty: no announcement (clients keep their set).
  std::vector<Bytes> signing_keys;

  bool operator==(const MeshState&) const = default;
};

// Sorts members by node_id (byte-wise ascending). Does not deduplicate.
void SortMembers(MeshState& state);

// Every field within the bounds documented above, node ids unique (any order).
[[nodiscard]] Status ValidateMember(const MeshMember& m, std::string_view what = "member");
[[nodiscard]] Status ValidateState(const MeshState& state);
[[nodiscard]] Status ValidateSigningKeys(const std::vector<Bytes>& keys);

// Deterministic bytes of `state` (format above). Sorts a copy; never fails.
Bytes CanonicalEncoding(const MeshState& state);
// SHA-256 of CanonicalEncoding(state); 32 bytes.
Bytes StateHash(const MeshState& state);

// --- signing ---------------------------------------------------------------

struct SignedState {
  MeshState state;
  Bytes hash;               // StateHash(state)
  Bytes signature;          // SignHash(hash, state.generation, key)
  Bytes signer_public_key;  // informational (which key signed); verification never trusts it
  // Signatures over the same (generation, hash) by other authority keys:
  // while the signing key rotates, the outgoing key co-signs, so a client
  // that missed the announcement still verifies (and learns signing_keys).
  std::vector<Bytes> co_signatures;
};

// Ed25519 signature over the domain-separated message above. `ed25519_secret`
// is a libsodium 64-byte secret key; `hash` must be 32 bytes, generation >= 0.
[[nodiscard]] Result<Bytes> SignHash(ByteView hash, int64_t generation, ByteView ed25519_secret);

// OK if any of `trusted_public_keys` (32 bytes each; several are trusted while
// the signing key rotates) verifies `signature` over (generation, hash).
[[nodiscard]] Status VerifySigned(ByteView hash, int64_t generation, ByteView signature,
                                  const std::vector<Bytes>& trusted_public_keys);

// VerifySigned for `signature`, else for any of `co_signatures`.
[[nodiscard]] Status VerifySignedAny(ByteView hash, int64_t generation, ByteView signature,
                                     const std::vector<Bytes>& co_signatures,
                                     const std::vector<Bytes>& trusted_public_keys);

// Authority side: validates `state`, sorts its members, hashes and signs it
// (and co-signs with each of `co_signers`, 64-byte secrets).
[[nodiscard]] Result<SignedState> SignState(MeshState state, ByteView ed25519_secret,
                                            const std::vector<ByteView>& co_signers = {});

// Client side, full-state path: the state is valid, hashes to `s.hash`, the
// signature verifies with a trusted key, and s.state.generation is strictly
// greater than `held_generation` (pass -1 when the client holds nothing).
// Returns the (sorted) state.
[[nodiscard]] Result<MeshState> VerifySignedState(const SignedState& s, int64_t held_generation,
                                                  const std::vector<Bytes>& trusted_public_keys);

// --- node view ------------------------------------------------------------

// Everyone but `self_node_id`, in state order. This is the peer list a node
// configures into WireGuard.
std::vector<MeshMember> PeersOf(const MeshState& state, std::string_view self_node_id);

// --- deltas ---------------------------------------------------------------

// Change from one generation to the next, keyed by node id. mesh_prefix and
// mtu are always carried in full. `to_hash` = StateHash(target) and
// `signature` = SignHash(to_hash, to_generation, key): a client that applies
// the delta ends up with exactly the state the authority signed.
struct MeshDelta {
  int64_t from_generation = 0;
  int64_t to_generation = 0;
  std::vector<MeshMember> upserts;    // new or changed members, sorted by node_id
  std::vector<std::string> removals;  // node ids, sorted
  std::string mesh_prefix;
  int mtu = 1420;
  Bytes to_hash;
  Bytes signature;  // empty from Diff; the authority fills it in with SignHash
  std::optional<std::vector<Bytes>> signing_keys;  // set when they change
  std::vector<Bytes> co_signatures;                // as in SignedState

  bool operator==(const MeshDelta&) const = default;
};

// Members of `to` absent from or different in `from` become upserts; ids of
// `from` absent from `to` become removals. Sets to_hash; leaves signature empty.
MeshDelta Diff(const MeshState& from, const MeshState& to);

// Applies `d` to `base` without checking hash or signature. Refuses
// to_generation <= base.generation ("stale_generation"), base.generation !=
// from_generation ("generation_gap"), removal of an id not in base, an id
// named twice or both upserted and removed ("delta_inconsistent"), and an
// invalid result ("invalid_mesh_config"). The result is sorted.
[[nodiscard]] Result<MeshState> ApplyDelta(const MeshState& base, const MeshDelta& d);

// ApplyDelta, then StateHash(result) == d.to_hash ("config_hash_mismatch")
// and VerifySignedAny(d.to_hash, d.to_generation, d.signature,
// d.co_signatures, trusted). Only a
// state that passes all of these is returned.
[[nodiscard]] Result<MeshState> ApplyAndVerify(const MeshState& base, const MeshDelta& d,
                                               const std::vector<Bytes>& trusted_public_keys);

// --- JSON wire encoding ---------------------------------------------------
//
// Objects with the C++ field names as keys; Bytes as padded base64;
// next_wg_public_key omitted when absent. Parse* take untrusted text, never
// throw, ignore unknown fields, and reject anything missing, mistyped, out of
// bounds or invalid (ValidateState) with Error{kInvalidArgument,
// "invalid_mesh_config", "<field path>: <problem>"}, e.g.
// "members[3].wg_public_key: must be 32 bytes". Parsed members come back
// sorted; duplicate node ids are refused. A parsed MeshDelta needs a 32-byte
// to_hash and a 64-byte signature; a SignedState additionally a 32-byte
// signer_public_key. Parsing checks form only: use ApplyAndVerify /
// VerifySignedState for trust.
std::string ToJson(const MeshState& v);
std::string ToJson(const MeshDelta& v);
std::string ToJson(const SignedState& v);

[[nodiscard]] Result<MeshState> ParseMeshState(std::string_view json);
[[nodiscard]] Result<MeshDelta> ParseMeshDelta(std::string_view json);
[[nodiscard]] Result<SignedState> ParseSignedState(std::string_view json);

}  // namespace tpmesh::meshcfg
