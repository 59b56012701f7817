// JSON form of a KeyRing (what the authority stores).
#include <nlohmann/json.hpp>

#include "internal.h"
#include "tpmesh/keyrotate/lifecycle.h"

namespace tpmesh::keyrotate {

using nlohmann::json;

namespace {

constexpr const char* kFormat = "tpmesh-keyring-v1";
constexpr size_t kMaxJsonBytes = 1024 * 1024;
constexpr int64_t kMaxUnixSeconds = 9'000'000'000;  // year 2255, inside TimePoint's range

Error Malformed(const std::string& message) {
  return MakeError(Code::kInvalidArgument, "malformed_keyring", message);
}

// Returns the member `field` of object `obj`, or sets *error naming `path`.
const json* Field(const json& obj, const char* field, const std::string& path, std::string* error) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) {
    *error = path + ": required field missing";
    return nullptr;
  }
  return &*it;
}

bool Int(const json& obj, const char* field, const std::string& prefix, int64_t min, int64_t max, int64_t* out,
         std::string* error) {
  const std::string path = prefix.empty() ? field : prefix + "." + field;
  const json* v = Field(obj, field, path, error);
  if (!v) return false;
  if (!v->is_number_integer()) return *error = path + ": must be an integer", false;
  const bool too_big = v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(max);
  if (too_big || v->get<int64_t>() < min || v->get<int64_t>() > max) {
    *error = path + ": out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]";
    return false;
  }
  *out = v->get<int64_t>();
  return true;
}

bool Str(const json& obj, const char* field, const std::string& prefix, std::string* out, std::string* error) {
  const std::string path = prefix + "." + field;
  const json* v = Field(obj, field, path, error);
  if (!v) return false;
  if (!v->is_string()) return *error = path + ": must be a string", false;
  *out = v->get<std::string>();
  return true;
}

}  // namespace

std::string KeyRing::ToJson() const {
  json keys = json::array();
  for (const auto& v : versions_) {
    keys.push_back({{"key_id", v.key_id},
                    {"state", KeyStateName(v.state)},
                    {"not_before", ToUnixSeconds(v.not_before)},
                    {"not_after", ToUnixSeconds(v.not_after)}});
  }
  json doc = {{"format", kFormat}, {"overlap_s", overlap_.count()}, {"keys", std::move(keys)}};
  return doc.dump();
}

Result<KeyRing> KeyRing::FromJson(std::string_view text) {
  if (text.size() > kMaxJsonBytes) {
    return Malformed("document is " + std::to_string(text.size()) + " bytes, limit " + std::to_string(kMaxJsonBytes));
  }
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return Malformed(std::string("not valid JSON: ") + e.what());
  }
  if (!doc.is_object()) return Malformed("document: must be a JSON object");

  std::string error;
  const json* format = Field(doc, "format", "format", &error);
  if (!format) return Malformed(error);
  if (!format->is_string() || format->get<std::string>() != kFormat) {
    return Malformed(std::string("format: must be \"") + kFormat + "\"");
  }
  int64_t overlap_s = 0;
  if (!Int(doc, "overlap_s", "", 1, kMaxOverlap.count(), &overlap_s, &error)) return Malformed(error);
  const json* keys = Field(doc, "keys", "keys", &error);
  if (!keys) return Malformed(error);
  if (!keys->is_array()) return Malformed("keys: must be an array");
  if (keys->size() > kMaxVersions) {
    return Malformed("keys: " + std::to_string(keys->size()) + " entries, limit " + std::to_string(kMaxVersions));
  }

  KeyRing ring{std::chrono::seconds{overlap_s}};
  for (size_t i = 0; i < keys->size(); ++i) {
    const json& k = (*keys)[i];
    const std::string where = "keys[" + std::to_string(i) + "]";
    if (!k.is_object()) return Malformed(where + ": must be an object");
    KeyVersion v;
    std::string state;
    int64_t nb = 0, na = 0;
    if (!Str(k, "key_id", where, &v.key_id, &error) || !Str(k, "state", where, &state, &error) ||
        !Int(k, "not_before", where, 0, kMaxUnixSeconds, &nb, &error) ||
        !Int(k, "not_after", where, 0, kMaxUnixSeconds, &na, &error)) {
      return Malformed(error);
    }
    if (auto s = internal::CheckKeyId(v.key_id, where + ".key_id"); !s.ok()) return Malformed(s.error().message);
    if (state == "next") v.state = KeyState::kNext;
    else if (state == "current") v.state = KeyState::kCurrent;
    else if (state == "retired") v.state = KeyState::kRetired;
    else return Malformed(where + ".state: must be one of next, current, retired");
    if (nb >= na) return Malformed(where + ": not_before must be earlier than not_after");
    v.not_before = FromUnixSeconds(nb);
    v.not_after = FromUnixSeconds(na);
    ring.versions_.push_back(std::move(v));
  }
  if (auto s = ring.CheckInvariants(); !s.ok()) return Malformed(s.error().message);
  ring.Normalize();
  return ring;
}

}  // namespace tpmesh::keyrotate
