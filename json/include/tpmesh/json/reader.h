// tpmesh's one reader of untrusted JSON: typed, non-throwing field access over
// nlohmann::json, used by every wire format (proto/, net/'s error bodies,
// meshcfg/). Parsing never throws.
//
// Each getter records the first problem and returns a default; callers check
// ok() once at the end and return error() (or message()). A problem names the
// field by its full path from the body: "members[1].hostname: required field
// missing". Readers of nested objects and array items (Object, Item) share
// their parent's first problem, so checking the outermost reader is enough.
// A JSON null counts as an absent field.
//
// Ownership: a reader made from text owns the parsed document; readers made
// from a json value, and every nested reader, refer into a document that must
// outlive them.
// Thread-safety: a JsonReader is a value; use one per thread.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

namespace tpmesh {

class JsonReader {
 public:
  static constexpr size_t kDefaultMaxBytes = 32 * 1024 * 1024;

  // Parses `text`. Larger than `max_bytes`, not JSON, or not an object:
  // recorded as the first problem ("<what>: ..."). `what` names the document
  // itself in messages ("body" for HTTP bodies; the top-level fields go
  // unprefixed either way).
  explicit JsonReader(std::string_view text, size_t max_bytes = kDefaultMaxBytes,
                      std::string what = "body");
  // Reads `object` (not owned), naming fields "<prefix>.<field>" (just
  // "<field>" when prefix is empty). Not an object: the first problem.
  JsonReader(const nlohmann::json& object, std::string prefix);

  // Required string of at most max_len bytes.
  std::string String(const char* field, size_t max_len = 4096);
  std::optional<std::string> OptString(const char* field, size_t max_len = 4096);
  // Required integer in [min, max].
  int64_t Int(const char* field, int64_t min, int64_t max);
  std::optional<int64_t> OptInt(const char* field, int64_t min, int64_t max);
  // Optional unsigned integer (counters) up to `max`.
  std::optional<uint64_t> OptUint(const char* field, uint64_t max = UINT64_MAX);
  // Optional boolean.
  std::optional<bool> OptBool(const char* field);
  // Required padded base64 of at most max_len decoded bytes (approximately:
  // the text is bounded by 4/3 max_len + 4).
  Bytes B64(const char* field, size_t max_len = 8192);
  std::optional<Bytes> OptB64(const char* field, size_t max_len = 8192);
  // Padded base64 of exactly `len` bytes (keys, hashes, signatures).
  Bytes B64Exact(const char* field, size_t len);
  std::optional<Bytes> OptB64Exact(const char* field, size_t len);
  // Optional array (absent = empty) of base64 strings.
  std::vector<Bytes> B64List(const char* field, size_t max_items, size_t max_len = 8192);
  // Optional array (absent = nullopt) of base64 strings of exactly `len` bytes.
  std::optional<std::vector<Bytes>> OptB64ExactList(const char* field, size_t max_items,
                                                    size_t len);
  // Array of at most max_items strings of at most max_len bytes; absent = empty
  // unless `required`.
  std::vector<std::string> StringList(const char* field, size_t max_items, size_t max_len = 256,
                                      bool required = false);
  // Required array of at most max_items values; nullptr after a problem.
  const nlohmann::json* Array(const char* field, size_t max_items);
  // Required nested object; its problems are this reader's problems.
  JsonReader Object(const char* field);
  // Reader for `item` (an element of an array read from this reader) named
  // "<this prefix>.<path>", e.g. Item(arr[2], "members[2]").
  JsonReader Item(const nlohmann::json& item, const std::string& path);
  // The value of `field`, nullptr if absent (Required: a problem if absent).
  const nlohmann::json* Raw(const char* field);
  const nlohmann::json* Required(const char* field);

  // Records "<Name(field)>: <problem>" unless a problem is already recorded.
  void Fail(std::string_view field, const std::string& problem);
  // Full path of `field` ("" = this object itself; `what` at the top).
  std::string Name(std::string_view field) const;
  bool ok() const { return !error_->has_value(); }
  // The first problem as Error{kInvalidArgument, "invalid_request", message}.
  Error error() const;
  // The first problem's text.
  std::string message() const { return error_->value_or("invalid JSON body"); }

 private:
  JsonReader(const nlohmann::json* object, std::string prefix,
             std::shared_ptr<std::optional<std::string>> error);
  const nlohmann::json* Find(const char* field, bool required);

  std::shared_ptr<nlohmann::json> owned_;
  const nlohmann::json* obj_ = nullptr;
  std::string prefix_;
  std::string what_ = "body";
  std::shared_ptr<std::optional<std::string>> error_;
};

}  // namespace tpmesh
