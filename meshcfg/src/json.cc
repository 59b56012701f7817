// JSON wire encoding of MeshState / MeshDelta / SignedState.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "internal.h"
#include "tpmesh/meshcfg/meshcfg.h"

namespace tpmesh::meshcfg {

using nlohmann::json;

namespace {

constexpr size_t kMaxJsonBytes = 32 * 1024 * 1024;

// Typed, non-throwing field access over one JSON object. Readers of nested
// objects share the first error (which names the full field path); getters
// return defaults after an error, callers check ok() once.
class Reader {
 public:
  Reader(const json& obj, std::string prefix, std::optional<std::string>* error)
      : prefix_(std::move(prefix)), error_(error) {
    if (obj.is_object()) obj_ = &obj;
    else Fail("", "must be an object");
  }

  bool ok() const { return !error_->has_value(); }
  void Fail(const std::string& field, const std::string& problem) {
    if (ok()) *error_ = Name(field) + ": " + problem;
  }
  std::string Name(const std::string& field) const {
    if (field.empty()) return prefix_.empty() ? "body" : prefix_;
    return prefix_.empty() ? field : prefix_ + "." + field;
  }

  const json* Find(const char* field, bool required) {
    if (!obj_ || !ok()) return nullptr;
    auto it = obj_->find(field);
    if (it == obj_->end() || it->is_null()) {
      if (required) Fail(field, "required field missing");
      return nullptr;
    }
    return &*it;
  }

  std::string Str(const char* field, size_t max_len) {
    const json* v = Find(field, true);
    if (!v) return {};
    if (!v->is_string()) return Fail(field, "must be a string"), std::string();
    const auto& s = v->get_ref<const std::string&>();
    if (s.size() > max_len) return Fail(field, "longer than " + std::to_string(max_len) + " characters"), std::string();
    return s;
  }

  int64_t Int(const char* field, int64_t min, int64_t max) {
    const json* v = Find(field, true);
    if (!v) return 0;
    if (!v->is_number_integer()) return Fail(field, "must be an integer"), 0;
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(max)) {
      return Fail(field, "out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]"), 0;
    }
    int64_t x = v->get<int64_t>();
    if (x < min || x > max) {
      return Fail(field, "out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]"), 0;
    }
    return x;
  }

  std::optional<Bytes> OptB64(const char* field, size_t exact_len, bool required) {
    const json* v = Find(field, required);
    if (!v) return std::nullopt;
    if (!v->is_string() || v->get_ref<const std::string&>().size() > 4 * exact_len) {
      Fail(field, "must be a base64 string of " + std::to_string(exact_len) + " bytes");
      return std::nullopt;
    }
    auto b = Base64Decode(v->get_ref<const std::string&>(), Name(field));
    if (!b.ok()) return Fail(field, "not valid padded base64"), std::nullopt;
    if (b->size() != exact_len) {
      Fail(field, "must be " + std::to_string(exact_len) + " bytes, got " + std::to_string(b->size()));
      return std::nullopt;
    }
    return std::move(*b);
  }
  Bytes B64(const char* field, size_t exact_len) { return OptB64(field, exact_len, true).value_or(Bytes{}); }

  // Required array of at most max_items; nullptr (and an error) otherwise.
  const json* Array(const char* field, size_t max_items) {
    const json* v = Find(field, true);
    if (v && (!v->is_array() || v->size() > max_items)) {
      Fail(field, "must be an array of at most " + std::to_string(max_items) + " items");
      return nullptr;
    }
    return v;
  }

  std::vector<std::string> StrList(const char* field, size_t max_items, size_t max_len) {
    std::vector<std::string> out;
    const json* v = Array(field, max_items);
    if (!v) return out;
    for (size_t i = 0; i < v->size(); ++i) {
      const json& item = (*v)[i];
      if (!item.is_string() || item.get_ref<const std::string&>().size() > max_len) {
        Fail(std::string(field) + "[" + std::to_string(i) + "]",
             "must be a string of at most " + std::to_string(max_len) + " characters");
        return {};
      }
      out.push_back(item.get<std::string>());
    }
    return out;
  }

  // Optional array of base64 strings of exact_len bytes each; nullopt when absent.
  std::optional<std::vector<Bytes>> OptB64List(const char* field, size_t max_items, size_t exact_len) {
    const json* v = Find(field, false);
    if (!v) return std::nullopt;
    if (!v->is_array() || v->size() > max_items) {
      Fail(field, "must be an array of at most " + std::to_string(max_items) + " items");
      return std::nullopt;
    }
    std::vector<Bytes> out;
    for (size_t i = 0; i < v->size(); ++i) {
      const json& item = (*v)[i];
      const std::string name = std::string(field) + "[" + std::to_string(i) + "]";
      auto b = item.is_string() && item.get_ref<const std::string&>().size() <= 4 * exact_len
                   ? Base64Decode(item.get_ref<const std::string&>(), Name(name))
                   : Result<Bytes>(Error{});
      if (!b.ok() || b->size() != exact_len) {
        Fail(name, "must be a base64 string of " + std::to_string(exact_len) + " bytes");
        return std::nullopt;
      }
      out.push_back(std::move(*b));
    }
    return out;
  }

  // Reader for the object `item` found at `path` (relative to this reader).
  Reader Sub(const json& item, const std::string& path) { return Reader(item, Name(path), error_); }

 private:
  const json* obj_ = nullptr;
  std::string prefix_;
  std::optional<std::string>* error_;
};

// Parses `text` as a JSON object; on failure sets *error.
json ParseObject(std::string_view text, std::optional<std::string>* error) {
  if (text.size() > kMaxJsonBytes) {
    *error = "body: larger than " + std::to_string(kMaxJsonBytes) + " bytes";
    return json();
  }
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) *error = "body: not valid JSON";
  else if (!j.is_object()) *error = "body: must be a JSON object";
  return j;
}

Error Failed(const std::optional<std::string>& error) { return Invalid(error.value_or("invalid mesh config")); }

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

MeshMember ReadMember(Reader r) {
  MeshMember m;
  m.node_id = r.Str("node_id", 64);
  m.hostname = r.Str("hostname", 253);
  m.wg_public_key = r.B64("wg_public_key", kPublicKeyBytes);
  m.endpoints = r.StrList("endpoints", kMaxEndpoints, 64);
  m.allowed_ips = r.StrList("allowed_ips", kMaxAllowedIps, 64);
  m.persistent_keepalive = static_cast<int>(r.Int("persistent_keepalive", 0, 65535));
  m.next_wg_public_key = r.OptB64("next_wg_public_key", kPublicKeyBytes, false);
  return m;
}

std::vector<MeshMember> ReadMembers(Reader& r, const char* field) {
  std::vector<MeshMember> out;
  const json* arr = r.Array(field, kMaxMembers);
  if (!arr) return out;
  out.reserve(arr->size());
  for (size_t i = 0; i < arr->size() && r.ok(); ++i) {
    out.push_back(ReadMember(r.Sub((*arr)[i], std::string(field) + "[" + std::to_string(i) + "]")));
  }
  return out;
}

// Reads and validates a state from reader `r`; members come back sorted.
Result<MeshState> ReadState(Reader r, const std::optional<std::string>& error) {
  MeshState s;
  s.generation = r.Int("generation", 0, INT64_MAX);
  s.mesh_prefix = r.Str("mesh_prefix", 64);
  s.mtu = static_cast<int>(r.Int("mtu", 1280, 65535));
  s.members = ReadMembers(r, "members");
  s.signing_keys = r.OptB64List("signing_keys", kMaxSigningKeys, kPublicKeyBytes).value_or(std::vector<Bytes>{});
  if (!r.ok()) return Failed(error);
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
  json j{{"from_generation", v.from_generation},
              {"to_generation", v.to_generation},
              {"upserts", MembersJson(v.upserts)},
              {"removals", v.removals},
              {"mesh_prefix", v.mesh_prefix},
              {"mtu", v.mtu},
              {"to_hash", Base64Encode(v.to_hash)},
              {"signature", Base64Encode(v.signature)}};
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

Result<MeshState> ParseMeshState(std::string_view text) {
  std::optional<std::string> error;
  json j = ParseObject(text, &error);
  if (error) return Failed(error);
  return ReadState(Reader(j, "", &error), error);
}

Result<MeshDelta> ParseMeshDelta(std::string_view text) {
  std::optional<std::string> error;
  json j = ParseObject(text, &error);
  if (error) return Failed(error);
  Reader r(j, "", &error);
  MeshDelta d;
  d.from_generation = r.Int("from_generation", 0, INT64_MAX - 1);
  d.to_generation = r.Int("to_generation", 0, INT64_MAX);
  d.upserts = ReadMembers(r, "upserts");
  d.removals = r.StrList("removals", kMaxMembers, 64);
  d.mesh_prefix = r.Str("mesh_prefix", 64);
  d.mtu = static_cast<int>(r.Int("mtu", 1280, 65535));
  d.to_hash = r.B64("to_hash", kHashBytes);
  d.signature = r.B64("signature", kSignatureBytes);
  d.signing_keys = r.OptB64List("signing_keys", kMaxSigningKeys, kPublicKeyBytes);
  d.co_signatures = r.OptB64List("co_signatures", kMaxSigningKeys, kSignatureBytes).value_or(std::vector<Bytes>{});
  if (!r.ok()) return Failed(error);
  if (d.signing_keys) TPMESH_RETURN_IF_ERROR(ValidateSigningKeys(*d.signing_keys));
  if (d.to_generation <= d.from_generation) return Invalid("to_generation: must be greater than from_generation");
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
  std::optional<std::string> error;
  json j = ParseObject(text, &error);
  if (error) return Failed(error);
  Reader r(j, "", &error);
  SignedState s;
  s.hash = r.B64("hash", kHashBytes);
  s.signature = r.B64("signature", kSignatureBytes);
  s.signer_public_key = r.B64("signer_public_key", kPublicKeyBytes);
  s.co_signatures = r.OptB64List("co_signatures", kMaxSigningKeys, kSignatureBytes).value_or(std::vector<Bytes>{});
  const json* state = r.Find("state", true);
  if (!r.ok()) return Failed(error);
  TPMESH_ASSIGN_OR_RETURN(s.state, ReadState(r.Sub(*state, "state"), error));
  return s;
}

}  // namespace tpmesh::meshcfg
