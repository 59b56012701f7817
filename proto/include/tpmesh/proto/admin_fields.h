// The admin API's input rules (docs/protocol.md, "Admin API"): names, free
// text, node and token references, fingerprints and PCR values, as the
// authority checks them in request bodies and path parameters and as
// tpmeshctl may check them before it sends; and AdminFields, the strict field
// reader the request parsers of admin_requests.h are built on.
//
// Every refusal is Error{kInvalidArgument, "invalid_request",
// "<field>: <problem>"}: the message begins with the field it names
// ("reason: ...", "pcrs.7: ...", "nodes[1]: ..."). The rules are pure
// functions: thread-safe, no state.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"
#include "tpmesh/json/reader.h"

namespace tpmesh::proto {

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
// (CanonicalHostname, enroll.h), either in any case. Returns the lower-case
// form the store holds.
[[nodiscard]] Result<std::string> CanonicalNodeRef(std::string_view ref, std::string_view field);

// A token id (16 hex digits, the ID column of `tpmeshctl tokens list`), any
// case. Returns it in lower case.
[[nodiscard]] Result<std::string> CanonicalTokenId(std::string_view id, std::string_view field);

// A SHA-256 fingerprint: exactly 64 hex digits, any case. Returns the 32 bytes.
[[nodiscard]] Result<Bytes> ParseSha256Hex(std::string_view hex, std::string_view field);

// One admin request body, read strictly field by field over JsonReader. An
// empty body is {}; anything else must be a JSON object ("body: is not valid
// JSON", "body: must be a JSON object"). Each getter reads one field: absent
// or null gives nullopt; present with the wrong type or breaking its rule
// records the first problem (later getters then give nullopt). Finish()
// answers that problem, or refuses the first field no getter asked for: a
// misspelt field is an error, not a default.
//
// The request parsers of proto/ (admin_requests.h and the like) are built on
// it; an authority handler reads a body through those parsers, never through
// this class. Not copyable (the reader refers into the document it owns); not
// thread-safe.
class AdminFields {
 public:
  explicit AdminFields(std::string_view text);
  AdminFields(const AdminFields&) = delete;
  AdminFields& operator=(const AdminFields&) = delete;

  std::optional<std::string> Text(const char* field);        // ValidateAdminText
  std::optional<std::string> PolicyName(const char* field);  // ValidatePolicyName
  std::optional<std::string> NodeRef(const char* field);     // CanonicalNodeRef
  // An array of at most `max_items` node refs.
  std::optional<std::vector<std::string>> NodeRefs(const char* field, size_t max_items);
  std::optional<int64_t> Int(const char* field);  // a JSON integer in int64 range
  std::optional<bool> Bool(const char* field);
  std::optional<Bytes> Sha256Hex(const char* field);  // ParseSha256Hex
  // {"<PCR 0-23>": "<64 hex digits>" or ["<64 hex digits>", ...]} (SHA-256),
  // at most kMaxPcrAlternatives values per PCR.
  std::optional<std::map<uint32_t, std::vector<Bytes>>> Pcrs(const char* field);

  // Records `field: problem` as the problem unless one is recorded already.
  void Fail(std::string_view field, const std::string& problem);
  // Records "<field>: required field missing" when `value` is empty.
  template <typename T>
  void Require(const char* field, const std::optional<T>& value) {
    if (!value) Fail(field, "required field missing");
  }
  [[nodiscard]] Status Finish() const;
  // `v`, the value the getters read, or Finish()'s error.
  template <typename T>
  [[nodiscard]] Result<T> Finish(T v) const {
    if (auto st = Finish(); !st.ok()) return st.error();
    return v;
  }

 private:
  const nlohmann::json* Find(const char* field);
  const std::string* FindString(const char* field);
  // The string `field` through `rule(text) -> Result<T>`, whose error message
  // is the problem alone; a failure is recorded and yields nullopt.
  template <typename T, typename Rule>
  std::optional<T> Parsed(const char* field, Rule&& rule);

  nlohmann::json doc_ = nlohmann::json::object();  // always an object
  JsonReader reader_;                              // over doc_
  std::set<std::string, std::less<>> read_;        // the fields asked for
};

}  // namespace tpmesh::proto
