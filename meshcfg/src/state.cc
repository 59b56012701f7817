// MeshState validation, canonical encoding, hash and node view.

#include <sodium.h>

#include <algorithm>
#include <map>

#include "internal.h"
#include "tpmesh/common/parse.h"
#include "tpmesh/meshcfg/meshcfg.h"

namespace tpmesh::meshcfg {

namespace {

constexpr std::string_view kStateTag = "tpmesh-meshcfg-state-v1";

bool AllOf(std::string_view s, std::string_view allowed_extra) {
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           allowed_extra.find(c) != std::string_view::npos;
  });
}

}  // namespace

Status ValidateCidr(std::string_view s, const std::string& what) {
  if (ParseCidr(s).ok()) return OkStatus();
  return Invalid(what + ": '" + std::string(s.substr(0, 64)) + "' is not a CIDR (addr/len)");
}

namespace {

Status ValidateEndpoint(std::string_view s, const std::string& what) {
  if (s.size() <= 64 && ParseHostPort(s).ok()) return OkStatus();
  return Invalid(what + ": '" + std::string(s.substr(0, 64)) +
                 "' is not [v6addr]:port or v4addr:port");
}

// --- canonical encoding writers (format in meshcfg.h) ---
void PutU32(Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}
void PutI64(Bytes& out, int64_t v) {
  auto u = static_cast<uint64_t>(v);
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(u >> shift));
}
void PutBin(Bytes& out, ByteView b) {
  PutU32(out, static_cast<uint32_t>(b.size()));
  out.insert(out.end(), b.begin(), b.end());
}
void PutStr(Bytes& out, std::string_view s) { PutBin(out, AsView(s)); }
void PutStrList(Bytes& out, const std::vector<std::string>& list) {
  PutU32(out, static_cast<uint32_t>(list.size()));
  for (const auto& s : list) PutStr(out, s);
}

Bytes EncodeMember(const MeshMember& m) {
  Bytes out;
  PutStr(out, m.node_id);
  PutStr(out, m.hostname);
  PutBin(out, m.wg_public_key);
  PutStrList(out, m.endpoints);
  PutStrList(out, m.allowed_ips);
  PutI64(out, m.persistent_keepalive);
  if (m.next_wg_public_key) {
    out.push_back(1);
    PutBin(out, *m.next_wg_public_key);
  } else {
    out.push_back(0);
  }
  return out;
}

}  // namespace

Status ValidateNodeId(std::string_view id, std::string_view what) {
  if (id.empty() || id.size() > 64 || !AllOf(id, "._-")) {
    return Invalid(std::string(what) + ": node id must be 1-64 characters of [0-9A-Za-z._-]");
  }
  return OkStatus();
}

void SortMembers(MeshState& state) {
  auto by_id = [](const MeshMember& a, const MeshMember& b) { return a.node_id < b.node_id; };
  // Usually sorted already (built from an ordered map, sorted again on the
  // way to signing): one linear check instead of a merge sort each time.
  if (std::is_sorted(state.members.begin(), state.members.end(), by_id)) return;
  std::stable_sort(state.members.begin(), state.members.end(), by_id);
}

Status ValidateMember(const MeshMember& m, std::string_view what_view) {
  const std::string what(what_view);
  TPMESH_RETURN_IF_ERROR(ValidateNodeId(m.node_id, what + ".node_id"));
  if (m.hostname.empty() || m.hostname.size() > 253 || !AllOf(m.hostname, ".-")) {
    return Invalid(what + ".hostname: must be 1-253 characters of [0-9A-Za-z.-]");
  }
  if (m.wg_public_key.size() != kPublicKeyBytes) {
    return Invalid(what + ".wg_public_key: must be 32 bytes, got " +
                   std::to_string(m.wg_public_key.size()));
  }
  if (m.endpoints.size() > kMaxEndpoints) {
    return Invalid(what + ".endpoints: at most " + std::to_string(kMaxEndpoints) + " allowed");
  }
  for (size_t i = 0; i < m.endpoints.size(); ++i) {
    TPMESH_RETURN_IF_ERROR(
        ValidateEndpoint(m.endpoints[i], what + ".endpoints[" + std::to_string(i) + "]"));
  }
  if (m.allowed_ips.size() > kMaxAllowedIps) {
    return Invalid(what + ".allowed_ips: at most " + std::to_string(kMaxAllowedIps) + " allowed");
  }
  for (size_t i = 0; i < m.allowed_ips.size(); ++i) {
    TPMESH_RETURN_IF_ERROR(
        ValidateCidr(m.allowed_ips[i], what + ".allowed_ips[" + std::to_string(i) + "]"));
  }
  if (m.persistent_keepalive < 0 || m.persistent_keepalive > 65535) {
    return Invalid(what + ".persistent_keepalive: must be 0-65535 seconds");
  }
  if (m.next_wg_public_key && m.next_wg_public_key->size() != kPublicKeyBytes) {
    return Invalid(what + ".next_wg_public_key: must be 32 bytes, got " +
                   std::to_string(m.next_wg_public_key->size()));
  }
  return OkStatus();
}

namespace {

// Every WireGuard key (current or next) belongs to one member, and no two
// members route the same prefix: a peer would otherwise configure one entry
// for two members, and one of their prefixes would vanish.
Status CheckUniqueKeysAndPrefixes(const std::vector<MeshMember>& members) {
  std::map<std::string, std::string_view> keys;  // key bytes -> node id
  std::map<std::string_view, std::string_view> prefixes;
  auto key = [&](const Bytes& k, const MeshMember& m) -> Status {
    auto [it, fresh] = keys.emplace(std::string(k.begin(), k.end()), m.node_id);
    if (fresh || it->second == m.node_id) return OkStatus();
    return Invalid("members: nodes '" + std::string(it->second) + "' and '" + m.node_id +
                   "' share WireGuard key " + Base64Encode(k) + "; every node needs its own");
  };
  for (const auto& m : members) {
    TPMESH_RETURN_IF_ERROR(key(m.wg_public_key, m));
    if (m.next_wg_public_key) TPMESH_RETURN_IF_ERROR(key(*m.next_wg_public_key, m));
    for (const auto& p : m.allowed_ips) {
      auto [it, fresh] = prefixes.emplace(p, m.node_id);
      if (!fresh && it->second != m.node_id) {
        return Invalid("members: nodes '" + std::string(it->second) + "' and '" + m.node_id +
                       "' both route " + p + "; overlay addresses never overlap");
      }
    }
  }
  return OkStatus();
}

}  // namespace

Status ValidateState(const MeshState& state) {
  if (state.generation < 0) return Invalid("generation: must be >= 0");
  TPMESH_RETURN_IF_ERROR(ValidateCidr(state.mesh_prefix, "mesh_prefix"));
  if (state.mtu < 1280 || state.mtu > 65535) return Invalid("mtu: must be 1280-65535");
  if (state.members.size() > kMaxMembers) {
    return Invalid("members: at most " + std::to_string(kMaxMembers) + " allowed");
  }
  std::vector<std::string_view> ids;
  ids.reserve(state.members.size());
  for (size_t i = 0; i < state.members.size(); ++i) {
    TPMESH_RETURN_IF_ERROR(ValidateMember(state.members[i], "members[" + std::to_string(i) + "]"));
    ids.push_back(state.members[i].node_id);
  }
  std::sort(ids.begin(), ids.end());
  if (auto dup = std::adjacent_find(ids.begin(), ids.end()); dup != ids.end()) {
    return Invalid("members: node id '" + std::string(*dup) + "' appears more than once");
  }
  TPMESH_RETURN_IF_ERROR(CheckUniqueKeysAndPrefixes(state.members));
  return ValidateSigningKeys(state.signing_keys);
}

Status ValidateSigningKeys(const std::vector<Bytes>& keys) {
  if (keys.size() > kMaxSigningKeys) {
    return Invalid("signing_keys: at most " + std::to_string(kMaxSigningKeys) + " allowed");
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].size() != kPublicKeyBytes) {
      return Invalid("signing_keys[" + std::to_string(i) + "]: must be 32 bytes");
    }
    for (size_t j = 0; j < i; ++j) {
      if (keys[j] == keys[i])
        return Invalid("signing_keys[" + std::to_string(i) + "]: listed twice");
    }
  }
  return OkStatus();
}

Bytes CanonicalEncoding(const MeshState& state) {
  std::vector<std::pair<std::string_view, Bytes>> members;
  members.reserve(state.members.size());
  for (const auto& m : state.members) members.emplace_back(m.node_id, EncodeMember(m));
  std::sort(members.begin(), members.end());  // by node id, then by encoding (duplicates only)

  Bytes out;
  PutStr(out, kStateTag);
  PutI64(out, state.generation);
  PutStr(out, state.mesh_prefix);
  PutI64(out, state.mtu);
  PutU32(out, static_cast<uint32_t>(members.size()));
  for (const auto& [id, enc] : members) out.insert(out.end(), enc.begin(), enc.end());
  if (!state.signing_keys.empty()) {  // trailer, absent when no keys are announced
    PutStr(out, "signing_keys");
    PutU32(out, static_cast<uint32_t>(state.signing_keys.size()));
    for (const auto& k : state.signing_keys) PutBin(out, k);
  }
  return out;
}

Bytes StateHash(const MeshState& state) { return Sha256(CanonicalEncoding(state)); }

std::vector<MeshMember> PeersOf(const MeshState& state, std::string_view self_node_id) {
  std::vector<MeshMember> out;
  out.reserve(state.members.size());
  for (const auto& m : state.members) {
    if (m.node_id != self_node_id) out.push_back(m);
  }
  return out;
}

}  // namespace tpmesh::meshcfg
