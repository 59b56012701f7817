// Internal: typed, non-throwing field access over nlohmann::json for parsing
// untrusted bodies. Each getter records the first problem (naming the field)
// and returns a default; callers check ok() once at the end.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

namespace tpmesh::proto {

class JsonReader {
 public:
  // Parses `text`; a parse failure or a non-object is recorded as the first problem.
  explicit JsonReader(std::string_view text);
  JsonReader(const nlohmann::json& object, std::string prefix);

  std::string String(const char* field, size_t max_len = 4096);
  std::optional<std::string> OptString(const char* field, size_t max_len = 4096);
  int64_t Int(const char* field, int64_t min, int64_t max);
  Bytes B64(const char* field, size_t max_len = 8192);
  std::optional<Bytes> OptB64(const char* field, size_t max_len = 8192);
  std::vector<Bytes> B64List(const char* field, size_t max_items, size_t max_len = 8192);
  std::vector<std::string> StringList(const char* field, size_t max_items, size_t max_len = 256);
  // Nested object (required). A missing or mistyped field fails *this* reader;
  // check both readers' ok().
  JsonReader Object(const char* field);
  const nlohmann::json* Raw(const char* field);  // nullptr if absent

  void Fail(const std::string& field, const std::string& problem);
  bool ok() const { return !error_.has_value(); }
  Error error() const;
  const std::string& prefix() const { return prefix_; }

 private:
  const nlohmann::json* Find(const char* field, bool required);
  std::string Name(const char* field) const { return prefix_ + field; }

  nlohmann::json owned_;
  const nlohmann::json* obj_ = nullptr;
  std::string prefix_;
  std::optional<std::string> error_;
};

}  // namespace tpmesh::proto
