// JSON wire encoding of MeshState / MeshDelta / SignedState.
#include <nlohmann/json.hpp>

#include <algorithm>

#include "internal.h"
#include "tpmesh/json/reader.h"
#include "tpmesh/meshcfg/meshcfg.h"

namespace tpmesh::meshcfg {

using nlohmann::json;

namespace {

Error Failed(const JsonReader& r) { return Invalid(r.message()); }

json MemberJson(const MeshMember& m) {
  json j{{"node_id", m.node_id},
         {"hostname", m.hostname},
         {"wg_public_key", Base64Encode(m.wg_public_key)},
         {"endpoints", m.endpoints},
         {"allowed_ips", m.allowed_ips},
         {"persistent_keepalive", m.persistent_keepalive}};
  if (m.next_wg_public_key) j["next_wg_public_key"] = Base64Encode(*m.next_wg_public_key);
  return j;
}

json MembersJson(const std::vector<MeshMember>& members) {
  json out = json::array();
  for (const auto& m : members) out.push_back(MemberJson(m));
  return out;
}

json KeysJson(const std::vector<Bytes>& keys) {
  json arr = json::array();
  for (const auto& k : keys) arr.push_back(Base64Encode(k));
  return arr;
}

json StateJson(const MeshState& s) {
  json j{{"generation", s.generation},
         {"mesh_prefix", s.mesh_prefix},
         {"mtu", s.mtu},
         {"members", MembersJson(s.members)}};
  if (!s.signing_keys.empty()) j["signing_keys"] = KeysJson(s.signing_keys);
  return j;
}

MeshMember ReadMember(JsonReader r) {
  MeshMember m;
  m.node_id = r.String("node_id", 64);
  m.hostname = r.String("hostname", 253);
  m.wg_public_key = r.B64Exact("wg_public_key", kPublicKeyBytes);
  m.endpoints = r.StringList("endpoints", kMaxEndpoints, 64, /*required=*/true);
  m.allowed_ips = r.StringList("allowed_ips", kMaxAllowedIps, 64, /*required=*/true);
  m.persistent_keepalive = static_cast<int>(r.Int("persistent_keepalive", 0, 65535));
  m.next_wg_public_key = r.OptB64Exact("next_wg_public_key", kPublicKeyBytes);
  return m;
}

std::vector<MeshMember> ReadMembers(JsonReader& r, const char* field) {
  std::vector<MeshMember> out;
  const json* arr = r.Array(field, kMaxMembers);
  if (!arr) return out;
  out.reserve(arr->size());
  for (size_t i = 0; i < arr->size() && r.ok(); ++i) {
    out.push_back(
        ReadMember(r.Item((*arr)[i], std::string(field) + "[" + std::to_string(i) + "]")));
  }
  return out;
}

// Reads and validates a state from reader `r`; members come back sorted.
Result<MeshState> ReadState(JsonReader r) {
  MeshState s;
  s.generation = r.Int("generation", 0, INT64_MAX);
  s.mesh_prefix = r.String("mesh_prefix", 64);
  s.mtu = static_cast<int>(r.Int("mtu", 1280, 65535));
  s.members = ReadMembers(r, "members");
  s.signing_keys = r.OptB64ExactList("signing_keys", kMaxSigningKeys, kPublicKeyBytes)
                       .value_or(std::vector<Bytes>{});
  if (!r.ok()) return Failed(r);
  const std::string prefix = r.Name("");
  if (auto st = ValidateState(s); !st.ok()) {
    Error e = st.take_error();
    if (prefix != "body") e.message = prefix + "." + e.message;
    return e;
  }
  SortMembers(s);
  return s;
}

}  // namespace

std::string ToJson(const MeshState& v) { return StateJson(v).dump(); }

std::string ToJson(const MeshDelta& v) {
  json j{{"from_generation", v.from_generation}, {"to_generation", v.to_generation},
         {"upserts", MembersJson(v.upserts)},    {"removals", v.removals},
         {"mesh_prefix", v.mesh_prefix},         {"mtu", v.mtu},
         {"to_hash", Base64Encode(v.to_hash)},   {"signature", Base64Encode(v.signature)}};
  if (v.signing_keys) j["signing_keys"] = KeysJson(*v.signing_keys);
  if (!v.co_signatures.empty()) j["co_signatures"] = KeysJson(v.co_signatures);
  return j.dump();
}

std::string ToJson(const SignedState& v) {
  json j{{"state", StateJson(v.state)},
         {"hash", Base64Encode(v.hash)},
         {"signature", Base64Encode(v.signature)},
         {"signer_public_key", Base64Encode(v.signer_public_key)}};
  if (!v.co_signatures.empty()) j["co_signatures"] = KeysJson(v.co_signatures);
  return j.dump();
}

Result<MeshState> ParseMeshState(std::string_view text) { return ReadState(JsonReader(text)); }

Result<MeshDelta> ParseMeshDelta(std::string_view text) {
  JsonReader r(text);
  MeshDelta d;
  d.from_generation = r.Int("from_generation", 0, INT64_MAX - 1);
  d.to_generation = r.Int("to_generation", 0, INT64_MAX);
  d.upserts = ReadMembers(r, "upserts");
  d.removals = r.StringList("removals", kMaxMembers, 64, /*required=*/true);
  d.mesh_prefix = r.String("mesh_prefix", 64);
  d.mtu = static_cast<int>(r.Int("mtu", 1280, 65535));
  d.to_hash = r.B64Exact("to_hash", kHashBytes);
  d.signature = r.B64Exact("signature", kSignatureBytes);
  d.signing_keys = r.OptB64ExactList("signing_keys", kMaxSigningKeys, kPublicKeyBytes);
  d.co_signatures = r.OptB64ExactList("co_signatures", kMaxSigningKeys, kSignatureBytes)
                        .value_or(std::vector<Bytes>{});
  if (!r.ok()) return Failed(r);
  if (d.signing_keys) TPMESH_RETURN_IF_ERROR(ValidateSigningKeys(*d.signing_keys));
  if (d.to_generation <= d.from_generation)
    return Invalid("to_generation: must be greater than from_generation");
  for (size_t i = 0; i < d.upserts.size(); ++i) {
    TPMESH_RETURN_IF_ERROR(ValidateMember(d.upserts[i], "upserts[" + std::to_string(i) + "]"));
  }
  for (size_t i = 0; i < d.removals.size(); ++i) {
    TPMESH_RETURN_IF_ERROR(ValidateNodeId(d.removals[i], "removals[" + std::to_string(i) + "]"));
  }
  TPMESH_RETURN_IF_ERROR(ValidateCidr(d.mesh_prefix, "mesh_prefix"));
  std::stable_sort(d.upserts.begin(), d.upserts.end(),
                   [](const MeshMember& a, const MeshMember& b) { return a.node_id < b.node_id; });
  std::sort(d.removals.begin(), d.removals.end());
  return d;
}

Result<SignedState> ParseSignedState(std::string_view text) {
  JsonReader r(text);
  SignedState s;
  s.hash = r.B64Exact("hash", kHashBytes);
  s.signature = r.B64Exact("signature", kSignatureBytes);
  s.signer_public_key = r.B64Exact("signer_public_key", kPublicKeyBytes);
  s.co_signatures = r.OptB64ExactList("co_signatures", kMaxSigningKeys, kSignatureBytes)
                        .value_or(std::vector<Bytes>{});
  const json* state = r.Required("state");
  if (!r.ok()) return Failed(r);
  TPMESH_ASSIGN_OR_RETURN(s.state, ReadState(r.Item(*state, "state")));
  return s;
}

}  // namespace tpmesh::meshcfg
