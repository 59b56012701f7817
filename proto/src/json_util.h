// Internal to proto/src: what every typed body's print and parse share.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "tpmesh/common/result.h"
#include "tpmesh/json/reader.h"

namespace tpmesh::proto::internal {

// Compact JSON; bytes that are not UTF-8 are printed as U+FFFD.
inline std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Reads the array `field` (at most `max_items`) of objects with
// `read(JsonReader&) -> T`, naming items "field[i]" in errors.
template <typename T, typename Read>
std::vector<T> ReadList(JsonReader& r, const char* field, size_t max_items, Read read) {
  std::vector<T> out;
  const nlohmann::json* arr = r.Array(field, max_items);
  for (size_t i = 0; arr && i < arr->size() && r.ok(); ++i) {
    JsonReader item = r.Item((*arr)[i], std::string(field) + "[" + std::to_string(i) + "]");
    out.push_back(read(item));
  }
  return out;
}

// `read(JsonReader&) -> T` over `text`; the reader's first error if any.
template <typename T, typename Read>
Result<T> ParseWith(std::string_view text, Read read) {
  JsonReader r(text);
  T v = read(r);
  if (!r.ok()) return r.error();
  return v;
}

}  // namespace tpmesh::proto::internal
