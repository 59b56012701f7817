#include "sqlite_util.h"

#include <SQLiteCpp/Exception.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

namespace tpmesh::authority::internal {
namespace {

// "UNIQUE constraint failed: nodes.hostname" -> "nodes.hostname".
std::string_view AfterColon(std::string_view msg) {
  const size_t pos = msg.find(": ");
  return pos == std::string_view::npos ? msg : msg.substr(pos + 2);
}

Error Conflict(int extended_code, std::string_view msg) {
  std::string what;
  switch (extended_code) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      what = std::string(AfterColon(msg)) + " already taken";
      break;
    case SQLITE_CONSTRAINT_CHECK:
      what = "constraint " + std::string(AfterColon(msg)) + " violated";
      break;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      what =
          "foreign key violated: a reference (e.g. tokens.used_by) names a row that does not exist";
      break;
    case SQLITE_CONSTRAINT_NOTNULL:
      what = std::string(AfterColon(msg)) + " must not be NULL";
      break;
    default:  // triggers carry their own message ("audit log is append-only")
      what = std::string(msg);
      break;
  }
  return MakeError(Code::kAlreadyExists, "conflict", std::move(what));
}

}  // namespace

Error SqliteError(int extended_code, std::string_view sqlite_message, std::string_view op) {
  const std::string detail = std::string(op) + ": " + std::string(sqlite_message);
  if (extended_code < 0) {  // SQLiteCpp's own failure (bad column name, ...)
    return MakeError(Code::kInternal, "store_error", detail);
  }
  switch (extended_code & 0xff) {
    case SQLITE_CONSTRAINT: return Conflict(extended_code, sqlite_message);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return MakeError(Code::kUnavailable, "store_busy",
                       detail + " (another tpmesh-authority process holds the database)");
    case SQLITE_FULL: return MakeError(Code::kResourceExhausted, "store_full", detail);
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM: return MakeError(Code::kUnavailable, "store_io_error", detail);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return MakeError(Code::kInternal, "store_corrupt", detail);
    default: return MakeError(Code::kInternal, "store_error", detail);
  }
}

Error ExceptionError(const std::exception& e, std::string_view op) {
  if (const auto* se = dynamic_cast<const SQLite::Exception*>(&e)) {
    return SqliteError(se->getExtendedErrorCode(), se->what(), op);
  }
  if (dynamic_cast<const nlohmann::json::exception*>(&e) != nullptr) {
    return MakeError(Code::kInvalidArgument, "store_invalid_value",
                     std::string(op) + ": cannot encode value as JSON: " + e.what());
  }
  return MakeError(Code::kInternal, "store_error", std::string(op) + ": " + e.what());
}

namespace {
// sqlite3_bind_blob with a NULL pointer binds SQL NULL; empty vectors may have
// data() == nullptr, so point zero-length blobs here instead.
constexpr uint8_t kEmpty = 0;
const void* BlobPtr(ByteView v) { return v.empty() ? &kEmpty : v.data(); }
}  // namespace

void BindBlob(SQLite::Statement& stmt, const char* name, ByteView v) {
  stmt.bind(name, BlobPtr(v), static_cast<int>(v.size()));
}

void BindBlobNoCopy(SQLite::Statement& stmt, const char* name, ByteView v) {
  stmt.bindNoCopy(name, BlobPtr(v), static_cast<int>(v.size()));
}

ByteView ColumnView(const SQLite::Column& col) {
  const auto* p = static_cast<const uint8_t*>(col.getBlob());  // before getBytes (SQLite rule)
  const int n = col.getBytes();
  if (p == nullptr || n <= 0) return {};
  return ByteView(p, static_cast<size_t>(n));
}

Bytes ColumnBytes(const SQLite::Column& col) {
  const ByteView v = ColumnView(col);
  return Bytes(v.begin(), v.end());
}

}  // namespace tpmesh::authority::internal
