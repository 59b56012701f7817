#include "json_columns.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <limits>

namespace tpmesh::authority::internal {
namespace {

using nlohmann::json;

Error Corrupt(std::string_view what, std::string_view why) {
  return MakeError(Code::kInternal, "store_corrupt",
                   std::string(what) + " is corrupt: " + std::string(why));
}

// Parses without exceptions; discarded (invalid) JSON yields nullopt.
std::optional<json> Parse(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::optional<uint32_t> ParseIndex(std::string_view s) {
  uint32_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  if (s.size() > 1 && s[0] == '0') return std::nullopt;  // canonical decimal only
  return v;
}

Result<Bytes> DecodeHex(const json& j, std::string_view what) {
  if (!j.is_string()) return Corrupt(what, "value is not a hex string");
  auto b = HexDecode(j.get_ref<const std::string&>());
  if (!b.ok()) return Corrupt(what, "bad hex: " + b.error().message);
  return std::move(b).value();
}

}  // namespace

Result<std::string> EncodeStrings(const std::vector<std::string>& v, std::string_view what) {
  json j = json::array();
  for (const auto& s : v) j.push_back(s);
  try {
    return j.dump();
  } catch (const json::exception&) {
    return MakeError(Code::kInvalidArgument, "store_invalid_value",
                     std::string(what) + ": contains text that is not valid UTF-8");
  }
}

std::string EncodeBlobs(const std::vector<Bytes>& v) {
  json j = json::array();
  for (const auto& b : v) j.push_back(HexEncode(b));
  return j.dump();
}

Result<std::vector<Bytes>> DecodeBlobs(std::string_view text, std::string_view what) {
  const auto j = Parse(text);
  if (!j || !j->is_array()) return Corrupt(what, "not a JSON array");
  std::vector<Bytes> out;
  for (const auto& e : *j) {
    TPMESH_ASSIGN_OR_RETURN(Bytes b, DecodeHex(e, what));
    out.push_back(std::move(b));
  }
  return out;
}

Result<std::vector<std::string>> DecodeStrings(std::string_view text, std::string_view what) {
  const auto j = Parse(text);
  if (!j || !j->is_array()) return Corrupt(what, "not a JSON array");
  std::vector<std::string> out;
  for (const auto& e : *j) {
    if (!e.is_string()) return Corrupt(what, "array element is not a string");
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::string EncodeIndices(const std::vector<uint32_t>& v) { return json(v).dump(); }

Result<std::vector<uint32_t>> DecodeIndices(std::string_view text, std::string_view what) {
  const auto j = Parse(text);
  if (!j || !j->is_array()) return Corrupt(what, "not a JSON array");
  std::vector<uint32_t> out;
  for (const auto& e : *j) {
    if (!e.is_number_unsigned() || e.get<uint64_t>() > std::numeric_limits<uint32_t>::max()) {
      return Corrupt(what, "array element is not a 32-bit unsigned integer");
    }
    out.push_back(e.get<uint32_t>());
  }
  return out;
}

std::string EncodePcrValues(const attest::PcrValues& v) {
  json j = json::object();
  for (const auto& [pcr, value] : v) j[std::to_string(pcr)] = HexEncode(value);
  return j.dump();
}

Result<attest::PcrValues> DecodePcrValues(std::string_view text, std::string_view what) {
  const auto j = Parse(text);
  if (!j || !j->is_object()) return Corrupt(what, "not a JSON object");
  attest::PcrValues out;
  for (const auto& [key, value] : j->items()) {
    const auto pcr = ParseIndex(key);
    if (!pcr) return Corrupt(what, "key '" + key + "' is not a PCR index");
    TPMESH_ASSIGN_OR_RETURN(out[*pcr], DecodeHex(value, what));
  }
  return out;
}

std::string EncodeGolden(const GoldenMap& g) {
  json j = json::object();
  for (const auto& [pcr, values] : g) {
    json arr = json::array();
    for (const auto& v : values) arr.push_back(HexEncode(v));
    j[std::to_string(pcr)] = std::move(arr);
  }
  return j.dump();
}

Result<GoldenMap> DecodeGolden(std::string_view text, std::string_view what) {
  const auto j = Parse(text);
  if (!j || !j->is_object()) return Corrupt(what, "not a JSON object");
  GoldenMap out;
  for (const auto& [key, values] : j->items()) {
    const auto pcr = ParseIndex(key);
    if (!pcr) return Corrupt(what, "key '" + key + "' is not a PCR index");
    if (!values.is_array())
      return Corrupt(what, "golden values of PCR " + key + " are not an array");
    auto& dst = out[*pcr];  // present even when empty: round-trips exactly
    for (const auto& v : values) {
      TPMESH_ASSIGN_OR_RETURN(Bytes b, DecodeHex(v, what));
      dst.push_back(std::move(b));
    }
  }
  return out;
}

}  // namespace tpmesh::authority::internal
