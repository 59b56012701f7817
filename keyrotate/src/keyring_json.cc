// JSON form of a KeyRing (what the authority stores).
#include <nlohmann/json.hpp>

#include "internal.h"
#include "tpmesh/json/reader.h"
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

namespace {

// One entry of "keys"; problems go to `r` (which names the entry).
Result<KeyVersion> ReadVersion(JsonReader r, const std::string& where) {
  KeyVersion v;
  v.key_id = r.String("key_id");
  std::string state = r.String("state");
  int64_t nb = r.Int("not_before", 0, kMaxUnixSeconds);
  int64_t na = r.Int("not_after", 0, kMaxUnixSeconds);
  if (!r.ok()) return Malformed(r.message());
  if (auto s = internal::CheckKeyId(v.key_id, where + ".key_id"); !s.ok())
    return Malformed(s.error().message);
  if (state == "next")
    v.state = KeyState::kNext;
  else if (state == "current")
    v.state = KeyState::kCurrent;
  else if (state == "retired")
    v.state = KeyState::kRetired;
  else
    return Malformed(where + ".state: must be one of next, current, retired");
  if (nb >= na) return Malformed(where + ": not_before must be earlier than not_after");
  v.not_before = FromUnixSeconds(nb);
  v.not_after = FromUnixSeconds(na);
  return v;
}

}  // namespace

Result<KeyRing> KeyRing::FromJson(std::string_view text) {
  JsonReader r(text, kMaxJsonBytes, "document");
  const std::string format = r.String("format", 64);
  if (r.ok() && format != kFormat)
    return Malformed(std::string("format: must be \"") + kFormat + "\"");
  int64_t overlap_s = r.Int("overlap_s", 1, kMaxOverlap.count());
  const json* keys = r.Required("keys");
  if (keys && !keys->is_array()) r.Fail("keys", "must be an array");
  if (!r.ok()) return Malformed(r.message());
  if (keys->size() > kMaxVersions) {
    return Malformed("keys: " + std::to_string(keys->size()) + " entries, limit " +
                     std::to_string(kMaxVersions));
  }
  KeyRing ring{std::chrono::seconds{overlap_s}};
  for (size_t i = 0; i < keys->size(); ++i) {
    const std::string where = "keys[" + std::to_string(i) + "]";
    TPMESH_ASSIGN_OR_RETURN(KeyVersion v, ReadVersion(r.Item((*keys)[i], where), where));
    ring.versions_.push_back(std::move(v));
  }
  if (auto s = ring.CheckInvariants(); !s.ok()) return Malformed(s.error().message);
  ring.Normalize();
  return ring;
}

}  // namespace tpmesh::keyrotate
