#include "admin_input.h"

#include <openssl/asn1.h>

#include <algorithm>
#include <charconv>

#include "tpmesh/proto/enroll.h"

namespace tpmesh::authority {
namespace {

using nlohmann::json;

Error Invalid(std::string_view field, const std::string& problem) {
  return MakeError(Code::kInvalidArgument, "invalid_request", std::string(field) + ": " + problem);
}

// Untrusted text as an error message may quote it: at most 40 characters,
// anything but printable ASCII shown as '?'.
std::string Shown(std::string_view s) {
  std::string out(s.substr(0, 40));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return "'" + out + (s.size() > 40 ? "...'" : "'");
}

// Control characters, and characters that are invisible or reorder text.
bool Forbidden(unsigned long c) {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x061c || c == 0x180e ||
         (c >= 0x200b && c <= 0x200f) || (c >= 0x2028 && c <= 0x202e) ||
         (c >= 0x2060 && c <= 0x206f) || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb) ||
         (c >= 0xe0000 && c <= 0xe007f);
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

const char* TypeName(const json& v) { return v.type_name(); }

}  // namespace

Status ValidatePolicyName(std::string_view name, std::string_view field) {
  const char* rule =
      "must be 1-64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit";
  if (name.empty() || name.size() > kMaxPolicyName) return Invalid(field, rule);
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) {
      return Invalid(field, Shown(name) + " " + rule);
    }
  }
  return OkStatus();
}

Status ValidateAdminText(std::string_view text, std::string_view field) {
  if (text.size() > kMaxAdminText) {
    return Invalid(field, "longer than " + std::to_string(kMaxAdminText) + " bytes (" +
                              std::to_string(text.size()) + ")");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  size_t at = 0;
  while (at < text.size()) {
    unsigned long c = 0;
    const int n = UTF8_getc(p + at, static_cast<int>(text.size() - at), &c);
    if (n <= 0) return Invalid(field, "is not valid UTF-8 (at byte " + std::to_string(at) + ")");
    if (Forbidden(c)) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "U+%04lX", c);
      return Invalid(field, std::string("contains the control or formatting character ") + hex +
                                " (at byte " + std::to_string(at) +
                                "); plain single-line text only");
    }
    at += static_cast<size_t>(n);
  }
  return OkStatus();
}

Result<std::string> CanonicalNodeRef(std::string_view ref, std::string_view field) {
  std::string lower = Lower(ref);
  if (lower.size() == 20 && IsLowerHex(lower)) return lower;  // a node id
  auto host = proto::CanonicalHostname(ref);
  if (!host.ok()) {
    return Invalid(field,
                   "is neither a node id (20 hex digits) nor a hostname: " + host.error().message);
  }
  return std::move(host).value();
}

Result<std::string> CanonicalTokenId(std::string_view id, std::string_view field) {
  std::string lower = Lower(id);
  if (lower.size() != 16 || !IsLowerHex(lower)) {
    return Invalid(field, Shown(id) +
                              " is not a token id (16 hex digits, the ID column of "
                              "'tpmeshctl tokens list')");
  }
  return lower;
}

Result<Bytes> ParseSha256Hex(std::string_view hex, std::string_view field) {
  auto b = hex.size() == 64 ? HexDecode(hex) : Result<Bytes>(Error{});
  if (!b.ok()) return Invalid(field, "must be 64 hex digits (a SHA-256 fingerprint)");
  return std::move(b).value();
}

AdminBody::AdminBody(std::string_view text) {
  if (text.empty()) return;
  body_ = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (body_.is_discarded() || !body_.is_object()) {
    error_ = Invalid("body", body_.is_discarded() ? "is not valid JSON" : "must be a JSON object");
    body_ = json::object();
  }
}

void AdminBody::Fail(std::string_view field, const std::string& problem) {
  if (!error_) error_ = Invalid(field, problem);
}

const json* AdminBody::Find(const char* field) {
  read_.insert(field);
  if (error_) return nullptr;
  auto it = body_.find(field);
  if (it == body_.end() || it->is_null()) return nullptr;
  return &*it;
}

const std::string* AdminBody::FindString(const char* field) {
  const json* v = Find(field);
  if (v == nullptr) return nullptr;
  if (!v->is_string()) {
    Fail(field, std::string("must be a string, not ") + TypeName(*v));
    return nullptr;
  }
  return &v->get_ref<const std::string&>();
}

void AdminBody::Record(Error e) {
  if (!error_) error_ = std::move(e);
}

template <typename T, typename Parse>
std::optional<T> AdminBody::Parsed(const char* field, Parse&& parse) {
  const std::string* s = FindString(field);
  if (s == nullptr) return std::nullopt;
  Result<T> r = parse(*s, field);
  if (!r.ok()) {
    Record(r.take_error());
    return std::nullopt;
  }
  return std::move(r).value();
}

namespace {

// A validator's Status as the accepted text itself.
template <Status (*Validate)(std::string_view, std::string_view)>
Result<std::string> Accepted(std::string_view s, std::string_view field) {
  TPMESH_RETURN_IF_ERROR(Validate(s, field));
  return std::string(s);
}

}  // namespace

std::optional<std::string> AdminBody::Text(const char* field) {
  return Parsed<std::string>(field, Accepted<ValidateAdminText>);
}

std::optional<std::string> AdminBody::PolicyName(const char* field) {
  return Parsed<std::string>(field, Accepted<ValidatePolicyName>);
}

std::optional<std::string> AdminBody::NodeRef(const char* field) {
  return Parsed<std::string>(field, CanonicalNodeRef);
}

std::optional<std::vector<std::string>> AdminBody::NodeRefs(const char* field, size_t max_items) {
  const json* v = Find(field);
  if (v == nullptr) return std::nullopt;
  if (!v->is_array() || v->size() > max_items) {
    Fail(field,
         "must be an array of at most " + std::to_string(max_items) + " node ids or hostnames");
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const std::string name = std::string(field) + "[" + std::to_string(i) + "]";
    const json& item = (*v)[i];
    if (!item.is_string()) {
      Fail(name, std::string("must be a string, not ") + TypeName(item));
      return std::nullopt;
    }
    auto ref = CanonicalNodeRef(item.get_ref<const std::string&>(), name);
    if (!ref.ok()) {
      Record(ref.take_error());
      return std::nullopt;
    }
    out.push_back(std::move(ref).value());
  }
  return out;
}

std::optional<int64_t> AdminBody::Int(const char* field) {
  const json* v = Find(field);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number_integer()) {
    Fail(field, std::string("must be an integer, not ") + TypeName(*v));
    return std::nullopt;
  }
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    Fail(field, "out of range");
    return std::nullopt;
  }
  return v->get<int64_t>();
}

std::optional<bool> AdminBody::Bool(const char* field) {
  const json* v = Find(field);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) {
    Fail(field, std::string("must be true or false, not ") + TypeName(*v));
    return std::nullopt;
  }
  return v->get<bool>();
}

std::optional<Bytes> AdminBody::Sha256Hex(const char* field) {
  return Parsed<Bytes>(field, ParseSha256Hex);
}

std::optional<std::map<uint32_t, std::vector<Bytes>>> AdminBody::Pcrs(const char* field) {
  const json* v = Find(field);
  if (v == nullptr) return std::nullopt;
  if (!v->is_object()) {
    Fail(field, "must be an object {\"7\": \"hex\" or [\"hex\", ...]}");
    return std::nullopt;
  }
  std::map<uint32_t, std::vector<Bytes>> out;
  for (const auto& [k, values] : v->items()) {
    uint32_t idx = 0;
    auto [end, ec] = std::from_chars(k.data(), k.data() + k.size(), idx);
    if (ec != std::errc() || end != k.data() + k.size() || idx >= 24 || k != std::to_string(idx)) {
      Fail(field, Shown(k) + " is not a PCR index 0-23");
      return std::nullopt;
    }
    const std::string name = std::string(field) + "." + k;
    const char* shape = "must be 64 hex digits (SHA-256) or a non-empty array of them";
    const json one = json::array({values});
    const json& list = values.is_array() ? values : one;
    if (list.empty() || list.size() > kMaxPcrAlternatives) {
      Fail(name, values.is_array()
                     ? "must list 1-" + std::to_string(kMaxPcrAlternatives) + " values"
                     : shape);
      return std::nullopt;
    }
    for (const auto& x : list) {
      auto b = x.is_string() ? ParseSha256Hex(x.get_ref<const std::string&>(), name)
                             : Result<Bytes>(Error{});
      if (!b.ok()) {
        Fail(name, shape);
        return std::nullopt;
      }
      out[idx].push_back(std::move(b).value());
    }
  }
  return out;
}

Status AdminBody::Finish() {
  if (error_) return *error_;
  for (const auto& [key, value] : body_.items()) {
    if (read_.count(key) != 0) continue;
    std::string known;
    for (const auto& r : read_) known += (known.empty() ? "" : ", ") + r;
    return Invalid(Shown(key), known.empty() ? "unknown field (this request takes no body fields)"
                                             : "unknown field (this request takes " + known + ")");
  }
  return OkStatus();
}

}  // namespace tpmesh::authority
