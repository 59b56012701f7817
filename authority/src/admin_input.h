// Internal: strict input of the admin API (docs/protocol.md, "Admin API"):
// the request bodies, the path parameters, and the rules for names and free
// text, which AuthorityService may apply as well. Every refusal is
// kInvalidArgument "invalid_request" with a message that begins with the
// field it names ("reason: ...", "pcrs.7: ...").
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

namespace tpmesh::authority {

inline constexpr size_t kMaxPolicyName = 64;       // characters
inline constexpr size_t kMaxAdminText = 1024;      // bytes of UTF-8
inline constexpr size_t kMaxPcrAlternatives = 64;  // accepted values per PCR

// A PCR policy name: 1-64 characters of [a-z0-9._-], the first a letter or a
// digit (the alphabet of admin names in certificates, pki::ValidateAdminName).
[[nodiscard]] Status ValidatePolicyName(std::string_view name, std::string_view field = "name");

// Free text an admin attaches to an action (a reason, a comment): "" or at
// most 1,024 bytes of well-formed UTF-8 without control characters (U+0000 to
// U+001F, tab and newline included, and U+007F to U+009F) and without
// invisible or bidirectional formatting characters (U+061C, U+180E, U+200B to
// U+200F, U+2028 to U+202E, U+2060 to U+206F, U+FEFF, U+FFF9 to U+FFFB,
// U+E0000 to U+E007F).
[[nodiscard]] Status ValidateAdminText(std::string_view text, std::string_view field);

// A node an admin names: its node id (20 hex digits) or its hostname
// (proto::CanonicalHostname), either in any case. Returns the lower-case form
// the store holds.
[[nodiscard]] Result<std::string> CanonicalNodeRef(std::string_view ref, std::string_view field);

// A token id (16 hex digits, the ID column of `tpmeshctl tokens list`), any
// case. Returns it in lower case.
[[nodiscard]] Result<std::string> CanonicalTokenId(std::string_view id, std::string_view field);

// A SHA-256 fingerprint: exactly 64 hex digits, any case. Returns the 32 bytes.
[[nodiscard]] Result<Bytes> ParseSha256Hex(std::string_view hex, std::string_view field);

// One admin request body. An empty body is {}; anything else must be a JSON
// object. The getters read one field each: absent or null gives nullopt (or
// empty); present with the wrong type or breaking its rule records the first
// error (later getters then return defaults). Finish() answers that error, or
// refuses the first field no getter asked for: a misspelt field is an error,
// not a default.
class AdminBody {
 public:
  explicit AdminBody(std::string_view text);

  std::optional<std::string> Text(const char* field);        // ValidateAdminText
  std::optional<std::string> PolicyName(const char* field);  // ValidatePolicyName
  std::optional<std::string> NodeRef(const char* field);     // CanonicalNodeRef
  // An array of at most `max_items` node refs; absent: empty.
  std::optional<std::vector<std::string>> NodeRefs(const char* field, size_t max_items);
  std::optional<int64_t> Int(const char* field);  // a JSON integer in int64 range
  std::optional<bool> Bool(const char* field);
  std::optional<Bytes> Sha256Hex(const char* field);  // ParseSha256Hex
  // {"<PCR 0-23>": "<64 hex digits>" or ["<64 hex digits>", ...]} (SHA-256),
  // at most kMaxPcrAlternatives values per PCR.
  std::optional<std::map<uint32_t, std::vector<Bytes>>> Pcrs(const char* field);

  // Records `field: problem` as the error unless one is recorded already.
  void Fail(std::string_view field, const std::string& problem);
  // Records "<field>: required field missing" when `value` is empty.
  template <typename T>
  void Require(const char* field, const std::optional<T>& value) {
    if (!value) Fail(field, "required field missing");
  }
  [[nodiscard]] Status Finish();

 private:
  const nlohmann::json* Find(const char* field);
  const std::string* FindString(const char* field);
  // The string `field` through `parse(text, field) -> Result<T>`; a failure
  // is recorded (Record) and yields nullopt, as an absent field does.
  template <typename T, typename Parse>
  std::optional<T> Parsed(const char* field, Parse&& parse);
  void Record(Error e);  // keeps the first error

  nlohmann::json body_ = nlohmann::json::object();
  std::set<std::string, std::less<>> read_;
  std::optional<Error> error_;
};

}  // namespace tpmesh::authority
