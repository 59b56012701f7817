// SQLite helpers shared by the store's files: error mapping, exception
// fencing, and blob binding/reading. Internal to tpmesh_authority_store.
#pragma once

#include <SQLiteCpp/Column.h>
#include <SQLiteCpp/Statement.h>

#include <exception>
#include <string>
#include <string_view>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

namespace tpmesh::authority::internal {

// Maps a SQLite result code and message to the store's errors:
//   constraint      -> kAlreadyExists "conflict" ("nodes.hostname already taken", ...)
//   busy / locked   -> kUnavailable "store_busy"
//   full            -> kResourceExhausted "store_full"
//   I/O, read-only  -> kUnavailable "store_io_error"
//   corrupt, notadb -> kInternal "store_corrupt"
//   anything else   -> kInternal "store_error"
// `op` names what was being done, for the non-conflict messages.
Error SqliteError(int extended_code, std::string_view sqlite_message, std::string_view op);

// The same for an exception caught around SQLiteCpp or JSON code.
Error ExceptionError(const std::exception& e, std::string_view op);

// Runs `f` (returning Result<T> or Status) and converts anything thrown into
// an Error: no exception leaves the store.
template <typename F>
auto Guarded(std::string_view op, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    return ExceptionError(e, op);
  } catch (...) {
    return MakeError(Code::kInternal, "store_error", std::string(op) + ": unknown exception");
  }
}

// Binds a blob; an empty view binds a zero-length blob (never NULL).
void BindBlob(SQLite::Statement& stmt, const char* name, ByteView v);
// Like BindBlob but without SQLite taking a copy: `v` must stay alive and
// unchanged until the statement is reset or destroyed (used for secrets, so
// no stray copy is left in SQLite's heap).
void BindBlobNoCopy(SQLite::Statement& stmt, const char* name, ByteView v);
// A blob column as bytes; NULL reads as empty.
Bytes ColumnBytes(const SQLite::Column& col);
// A view of a blob column, valid until the statement steps or resets.
ByteView ColumnView(const SQLite::Column& col);

}  // namespace tpmesh::authority::internal
