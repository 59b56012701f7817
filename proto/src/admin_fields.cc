#include "tpmesh/proto/admin_fields.h"

#include <openssl/asn1.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "tpmesh/proto/enroll.h"

namespace tpmesh::proto {
namespace {

using nlohmann::json;

Error Invalid(std::string_view field, const std::string& problem) {
  return MakeError(Code::kInvalidArgument, "invalid_request", std::string(field) + ": " + problem);
}

// A rule's refusal: its message is the problem alone; the caller names the
// field (Named, AdminFields::Fail).
Error Problem(const std::string& problem) {
  return MakeError(Code::kInvalidArgument, "invalid_request", problem);
}
const std::string& ProblemOf(const Error& e) { return e.message; }

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

// The rules, their errors carrying the problem alone (Problem()).

Result<std::string> PolicyNameRule(std::string_view name) {
  const char* rule =
      "must be 1-64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit";
  if (name.empty() || name.size() > kMaxPolicyName) return Problem(rule);
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) {
      return Problem(Shown(name) + " " + rule);
    }
  }
  return std::string(name);
}

Result<std::string> AdminTextRule(std::string_view text) {
  if (text.size() > kMaxAdminText) {
    return Problem("longer than " + std::to_string(kMaxAdminText) + " bytes (" +
                   std::to_string(text.size()) + ")");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  size_t at = 0;
  while (at < text.size()) {
    unsigned long c = 0;
    const int n = UTF8_getc(p + at, static_cast<int>(text.size() - at), &c);
    if (n <= 0) return Problem("is not valid UTF-8 (at byte " + std::to_string(at) + ")");
    if (Forbidden(c)) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "U+%04lX", c);
      return Problem(std::string("contains the control or formatting character ") + hex +
                     " (at byte " + std::to_string(at) + "); plain single-line text only");
    }
    at += static_cast<size_t>(n);
  }
  return std::string(text);
}

Result<std::string> NodeRefRule(std::string_view ref) {
  std::string lower = Lower(ref);
  if (lower.size() == 20 && IsLowerHex(lower)) return lower;  // a node id
  auto host = CanonicalHostname(ref);
  if (!host.ok()) {
    return Problem("is neither a node id (20 hex digits) nor a hostname: " + host.error().message);
  }
  return std::move(host).value();
}

Result<Bytes> Sha256HexRule(std::string_view hex) {
  auto b = hex.size() == 64 ? HexDecode(hex) : Result<Bytes>(Error{});
  if (!b.ok()) return Problem("must be 64 hex digits (a SHA-256 fingerprint)");
  return std::move(b).value();
}

// A rule's result with the field named in its error.
template <typename T>
Result<T> Named(Result<T> r, std::string_view field) {
  if (!r.ok()) return Invalid(field, ProblemOf(r.error()));
  return r;
}

}  // namespace

Status ValidatePolicyName(std::string_view name, std::string_view field) {
  auto r = Named(PolicyNameRule(name), field);
  if (!r.ok()) return r.take_error();
  return OkStatus();
}

Status ValidateAdminText(std::string_view text, std::string_view field) {
  auto r = Named(AdminTextRule(text), field);
  if (!r.ok()) return r.take_error();
  return OkStatus();
}

Result<std::string> CanonicalNodeRef(std::string_view ref, std::string_view field) {
  return Named(NodeRefRule(ref), field);
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
  return Named(Sha256HexRule(hex), field);
}

AdminFields::AdminFields(std::string_view text) : reader_(doc_, "") {
  if (text.empty()) return;
  json parsed = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    reader_.Fail("", "is not valid JSON");  // "body: ..."
  } else if (!parsed.is_object()) {
    reader_.Fail("", "must be a JSON object");
  } else {
    doc_ = std::move(parsed);  // reader_ refers to doc_, an object still
  }
}

void AdminFields::Fail(std::string_view field, const std::string& problem) {
  reader_.Fail(field, problem);
}

const json* AdminFields::Find(const char* field) {
  read_.insert(field);
  return reader_.Raw(field);  // nullptr when absent, null, or after a problem
}

const std::string* AdminFields::FindString(const char* field) {
  const json* v = Find(field);
  if (v == nullptr) return nullptr;
  if (!v->is_string()) {
    Fail(field, std::string("must be a string, not ") + v->type_name());
    return nullptr;
  }
  return &v->get_ref<const std::string&>();
}

template <typename T, typename Rule>
std::optional<T> AdminFields::Parsed(const char* field, Rule&& rule) {
  const std::string* s = FindString(field);
  if (s == nullptr) return std::nullopt;
  Result<T> r = rule(*s);
  if (!r.ok()) {
    Fail(field, ProblemOf(r.error()));
    return std::nullopt;
  }
  return std::move(r).value();
}

std::optional<std::string> AdminFields::Text(const char* field) {
  return Parsed<std::string>(field, AdminTextRule);
}

std::optional<std::string> AdminFields::PolicyName(const char* field) {
  return Parsed<std::string>(field, PolicyNameRule);
}

std::optional<std::string> AdminFields::NodeRef(const char* field) {
  return Parsed<std::string>(field, NodeRefRule);
}

std::optional<Bytes> AdminFields::Sha256Hex(const char* field) {
  return Parsed<Bytes>(field, Sha256HexRule);
}

std::optional<std::vector<std::string>> AdminFields::NodeRefs(const char* field, size_t max_items) {
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
      Fail(name, std::string("must be a string, not ") + item.type_name());
      return std::nullopt;
    }
    auto ref = NodeRefRule(item.get_ref<const std::string&>());
    if (!ref.ok()) {
      Fail(name, ProblemOf(ref.error()));
      return std::nullopt;
    }
    out.push_back(std::move(ref).value());
  }
  return out;
}

std::optional<int64_t> AdminFields::Int(const char* field) {
  const json* v = Find(field);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number_integer()) {
    Fail(field, std::string("must be an integer, not ") + v->type_name());
    return std::nullopt;
  }
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    Fail(field, "out of range");
    return std::nullopt;
  }
  return v->get<int64_t>();
}

std::optional<bool> AdminFields::Bool(const char* field) {
  const json* v = Find(field);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) {
    Fail(field, std::string("must be true or false, not ") + v->type_name());
    return std::nullopt;
  }
  return v->get<bool>();
}

std::optional<std::map<uint32_t, std::vector<Bytes>>> AdminFields::Pcrs(const char* field) {
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
      auto b =
          x.is_string() ? Sha256HexRule(x.get_ref<const std::string&>()) : Result<Bytes>(Error{});
      if (!b.ok()) {
        Fail(name, shape);
        return std::nullopt;
      }
      out[idx].push_back(std::move(b).value());
    }
  }
  return out;
}

Status AdminFields::Finish() const {
  if (!reader_.ok()) return reader_.error();
  for (const auto& [key, value] : doc_.items()) {
    if (read_.count(key) != 0) continue;
    std::string known;
    for (const auto& r : read_) known += (known.empty() ? "" : ", ") + r;
    return Invalid(Shown(key), known.empty() ? "unknown field (this request takes no body fields)"
                                             : "unknown field (this request takes " + known + ")");
  }
  return OkStatus();
}

}  // namespace tpmesh::proto
