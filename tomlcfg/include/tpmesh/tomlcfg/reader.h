// Typed, strict reads of tpmesh's TOML configuration files (authority.toml,
// client.toml) over toml++. Every error is kInvalidArgument
// "invalid_config" with a message that starts with the file's path and
// names the key; no toml++ exception leaves this library.
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "tpmesh/common/result.h"

namespace tpmesh::tomlcfg {

Error ConfigError(const std::string& path, const std::string& what);

// The whole file; a syntax error names the line and column.
[[nodiscard]] Result<toml::table> ParseFile(const std::string& path);

// Reads of optional keys: a key that is absent leaves `out` as it is; one
// of the wrong type or out of range is an error naming it. `path` must
// outlive the reader. Thread-compatible.
class ConfigReader {
 public:
  explicit ConfigReader(const std::string& path) : path_(path) {}

  Error Fail(const std::string& what) const { return ConfigError(path_, what); }

  // Every key of `tab` is in `known` ("unknown key '<prefix><key>'" if not).
  [[nodiscard]] Status KnownKeys(const toml::table& tab, const std::set<std::string>& known,
                                 const std::string& prefix) const;
  [[nodiscard]] Status Str(const toml::table& tab, const char* key, std::string& out) const;
  // An array of at most `max_items` strings.
  [[nodiscard]] Status StrList(const toml::table& tab, const char* key,
                               std::vector<std::string>& out, size_t max_items) const;
  [[nodiscard]] Status Integer(const toml::table& tab, const char* key, int& out, int lo,
                               int hi) const;
  [[nodiscard]] Status Boolean(const toml::table& tab, const char* key, bool& out) const;
  // A duration: "90s", "15m", "1h", "7d", or an integer number of seconds,
  // in [lo, hi] seconds; `prefix` + `key` names it in errors.
  [[nodiscard]] Status Duration(const toml::table& tab, const std::string& prefix, const char* key,
                                std::chrono::seconds& out, int64_t lo, int64_t hi) const;

 private:
  const std::string& path_;
};

}  // namespace tpmesh::tomlcfg
