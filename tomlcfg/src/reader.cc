#include "tpmesh/tomlcfg/reader.h"

#include "tpmesh/common/parse.h"

namespace tpmesh::tomlcfg {

Error ConfigError(const std::string& path, const std::string& what) {
  return MakeError(Code::kInvalidArgument, "invalid_config", path + ": " + what);
}

Result<toml::table> ParseFile(const std::string& path) {
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return ConfigError(path, "line " + std::to_string(where.line) + ", column " +
                                 std::to_string(where.column) + ": " +
                                 std::string(e.description()));
  } catch (const std::exception& e) {
    return ConfigError(path, e.what());
  }
}

Status ConfigReader::KnownKeys(const toml::table& tab, const std::set<std::string>& known,
                               const std::string& prefix) const {
  for (const auto& [k, v] : tab) {
    if (!known.count(std::string(k.str())))
      return Fail("unknown key '" + prefix + std::string(k.str()) + "'");
  }
  return OkStatus();
}

Status ConfigReader::Str(const toml::table& tab, const char* key, std::string& out) const {
  if (auto n = tab.get(key)) {
    auto v = n->value<std::string>();
    if (!v) return Fail(std::string(key) + " must be a string");
    out = *v;
  }
  return OkStatus();
}

Status ConfigReader::StrList(const toml::table& tab, const char* key, std::vector<std::string>& out,
                             size_t max_items) const {
  auto n = tab.get(key);
  if (!n) return OkStatus();
  const auto* arr = n->as_array();
  const std::string bad =
      std::string(key) + " must be an array of at most " + std::to_string(max_items) + " strings";
  if (arr == nullptr || arr->size() > max_items) return Fail(bad);
  std::vector<std::string> items;
  for (const auto& e : *arr) {
    auto v = e.value<std::string>();
    if (!v) return Fail(bad);
    items.push_back(*v);
  }
  out = std::move(items);
  return OkStatus();
}

Status ConfigReader::Integer(const toml::table& tab, const char* key, int& out, int lo,
                             int hi) const {
  if (auto n = tab.get(key)) {
    auto v = n->value<int64_t>();
    if (!v || !n->is_integer() || *v < lo || *v > hi) {
      return Fail(std::string(key) + " must be an integer in [" + std::to_string(lo) + ", " +
                  std::to_string(hi) + "]");
    }
    out = static_cast<int>(*v);
  }
  return OkStatus();
}

Status ConfigReader::Boolean(const toml::table& tab, const char* key, bool& out) const {
  if (auto n = tab.get(key)) {
    auto v = n->value<bool>();
    if (!v) return Fail(std::string(key) + " must be true or false");
    out = *v;
  }
  return OkStatus();
}

Status ConfigReader::Duration(const toml::table& tab, const std::string& prefix, const char* key,
                              std::chrono::seconds& out, int64_t lo, int64_t hi) const {
  auto n = tab.get(key);
  if (!n) return OkStatus();
  const std::string name = prefix + key;
  auto bad = [&] {
    return Fail(name + " must be a duration like \"90s\", \"15m\", \"1h\" or \"7d\" between " +
                std::to_string(lo) + " and " + std::to_string(hi) + " seconds");
  };
  int64_t secs = 0;
  if (auto i = n->value<int64_t>(); i && n->is_integer()) {
    secs = *i;
  } else if (auto text = n->value<std::string>()) {
    auto parsed = ParseDurationSeconds(*text);
    if (!parsed.ok()) return bad();
    secs = *parsed;
  } else {
    return bad();
  }
  if (secs < lo || secs > hi) return bad();
  out = std::chrono::seconds(secs);
  return OkStatus();
}

}  // namespace tpmesh::tomlcfg
