// Small row-iteration helpers for the SqliteTx implementation files.
#pragma once

#include <SQLiteCpp/Statement.h>

#include <optional>
#include <vector>

#include "tpmesh/common/result.h"

namespace tpmesh::authority::internal {

// Steps `q` to the end, converting every row with `read(q) -> Result<Rec>`.
template <typename Rec, typename Read>
Result<std::vector<Rec>> CollectRows(SQLite::Statement& q, Read&& read) {
  std::vector<Rec> out;
  while (q.executeStep()) {
    Result<Rec> r = read(q);
    if (!r.ok()) return r.take_error();
    out.push_back(std::move(r).value());
  }
  return out;
}

// The first row (queries on a unique key have at most one), or nullopt.
template <typename Rec, typename Read>
Result<std::optional<Rec>> FirstRow(SQLite::Statement& q, Read&& read) {
  if (!q.executeStep()) return std::optional<Rec>();
  Result<Rec> r = read(q);
  if (!r.ok()) return r.take_error();
  return std::optional<Rec>(std::move(r).value());
}

}  // namespace tpmesh::authority::internal
