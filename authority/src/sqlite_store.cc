// OpenSqliteStore and the Store over one SQLite connection.
//
// Concurrency: within a process, one connection guarded by a mutex (Transact
// calls serialize). Across processes (or several Store instances on one file),
// BEGIN IMMEDIATE takes SQLite's write lock up front; SQLite's busy handler
// (busy_timeout) waits for it, and Begin/Commit additionally retry SQLITE_BUSY
// with backoff until kBusyBudget has passed, then fail with "store_busy".
//
// WAL size (docs/operations.md, "Disk space"): SQLite's own checkpoint
// (PASSIVE, every 1000 pages) leaves the -wal file at its high-water mark for
// good. Instead, a commit that leaves kWalTruncatePages or more in the WAL is
// followed by a TRUNCATE checkpoint (the WAL is copied into the database and
// cut to zero bytes), which never waits: if another connection's reader
// holds the WAL it is retried kWalTruncatePages later, and journal_size_limit
// cuts the file back when SQLite next restarts the log. Only the commit that
// crosses 1 MiB pays for a checkpoint (SQLite's default: every 4 MiB); the
// others pay nothing.
// The -wal file stays below ~kWalTruncatePages pages plus the largest single
// transaction.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <sqlite3.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "schema.h"
#include "sqlite_tx.h"
#include "sqlite_util.h"
#include "tpmesh/authority/store.h"

namespace tpmesh::authority {
namespace {

using internal::Guarded;
using internal::SqliteError;
using SteadyClock = std::chrono::steady_clock;

constexpr int kBusyTimeoutMs = 5000;
constexpr auto kBusyBudget = std::chrono::milliseconds(kBusyTimeoutMs);
constexpr int kWalTruncatePages = 256;          // 1 MiB of 4 KiB pages
constexpr int64_t kJournalSizeLimit = 1 << 20;  // bytes

bool InTransaction(const SQLite::Database& db) {
  return sqlite3_get_autocommit(db.getHandle()) == 0;
}

void RollbackIfOpen(SQLite::Database& db) {
  if (InTransaction(db)) (void)db.tryExec("ROLLBACK");
}

// Runs `sql` (BEGIN IMMEDIATE or COMMIT), retrying with exponential backoff
// while SQLite reports BUSY/LOCKED, until `deadline`.
Status ExecRetryingBusy(SQLite::Database& db, const char* sql, SteadyClock::time_point deadline) {
  auto backoff = std::chrono::milliseconds(5);
  for (;;) {
    const int rc = db.tryExec(sql);
    if (rc == SQLITE_OK) return OkStatus();
    const int primary = rc & 0xff;
    if (primary != SQLITE_BUSY && primary != SQLITE_LOCKED) {
      return SqliteError(db.getExtendedErrorCode(), db.getErrorMsg(), sql);
    }
    if (SteadyClock::now() + backoff > deadline) {
      return MakeError(Code::kUnavailable, "store_busy",
                       std::string(sql) + ": the database stayed locked by another writer for " +
                           std::to_string(kBusyTimeoutMs / 1000) + " s; retry later");
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(200));
  }
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(SQLite::Database db) : db_(std::move(db)) {
    // Replaces SQLite's auto-checkpoint (see the file comment).
    sqlite3_wal_hook(db_.getHandle(), &SqliteStore::WalHook, this);
  }

  Status Transact(const std::function<Status(Tx&)>& fn) override {
    if (owner_.load() == std::this_thread::get_id()) {
      return MakeError(Code::kInternal, "store_nested_transaction",
                       "Transact called from inside a Transact callback (would deadlock)");
    }
    std::lock_guard<std::mutex> lock(mu_);
    owner_.store(std::this_thread::get_id());
    Status st = Guarded("transaction", [&] { return TransactLocked(fn); });
    if (!st.ok()) RollbackIfOpen(db_);  // also after an unexpected throw
    owner_.store(std::thread::id());
    return st;
  }

 private:
  Status TransactLocked(const std::function<Status(Tx&)>& fn) {
    RollbackIfOpen(db_);  // never nest into a transaction a failed ROLLBACK left open
    TPMESH_RETURN_IF_ERROR(
        ExecRetryingBusy(db_, "BEGIN IMMEDIATE", SteadyClock::now() + kBusyBudget));
    internal::SqliteTx tx(db_);
    Status st = RunCallback(fn, tx);
    if (!InTransaction(db_)) {
      // SQLite rolled the whole transaction back itself (disk full, I/O error).
      if (!st.ok()) return st;
      return MakeError(Code::kInternal, "store_rolled_back",
                       "SQLite rolled the transaction back after an error; nothing was written");
    }
    if (!st.ok()) {
      RollbackIfOpen(db_);
      return st;
    }
    // COMMIT can also fail on a deferred constraint (tokens.used_by); the
    // transaction then stays open and is rolled back by Transact.
    TPMESH_RETURN_IF_ERROR(ExecRetryingBusy(db_, "COMMIT", SteadyClock::now() + kBusyBudget));
    if (wal_pages_ >= truncate_at_) TruncateWal();
    if (tx.wrote_mesh()) Notify(tx.TakeCommitInfo());
    return OkStatus();
  }

  // sqlite3_wal_hook: after every commit, on the committing thread (under mu_).
  static int WalHook(void* self, sqlite3*, const char*, int pages) {
    auto* store = static_cast<SqliteStore*>(self);
    store->wal_pages_ = pages;
    if (pages < kWalTruncatePages) store->truncate_at_ = kWalTruncatePages;  // the log restarted
    return SQLITE_OK;
  }

  // Copies the WAL into the database and truncates it, without waiting for
  // another connection's reader (busy timeout 0 meanwhile). The commit is
  // already durable: a checkpoint that cannot finish is retried later.
  void TruncateWal() {
    sqlite3* h = db_.getHandle();
    sqlite3_busy_timeout(h, 0);
    const int rc =
        sqlite3_wal_checkpoint_v2(h, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    sqlite3_busy_timeout(h, kBusyTimeoutMs);
    truncate_at_ = rc == SQLITE_OK ? kWalTruncatePages : wal_pages_ + kWalTruncatePages;
    wal_pages_ = 0;
  }

  void Notify(const CommitInfo& info) {
    std::lock_guard<std::mutex> lock(observers_mu_);
    for (const auto& [id, fn] : observers_) {
      try {
        fn(info);
      } catch (...) {  // an observer's failure must not undo a commit
      }
    }
  }

 public:
  int AddCommitObserver(CommitObserver observer) override {
    std::lock_guard<std::mutex> lock(observers_mu_);
    observers_.emplace(++last_observer_, std::move(observer));
    return last_observer_;
  }
  void RemoveCommitObserver(int id) override {
    std::lock_guard<std::mutex> lock(observers_mu_);
    observers_.erase(id);
  }

 private:
  static Status RunCallback(const std::function<Status(Tx&)>& fn, Tx& tx) {
    try {
      return fn(tx);
    } catch (const std::exception& e) {
      return MakeError(Code::kInternal, "store_callback_threw",
                       std::string("transaction callback threw: ") + e.what() + "; rolled back");
    } catch (...) {
      return MakeError(Code::kInternal, "store_callback_threw",
                       "transaction callback threw a non-std exception; rolled back");
    }
  }

  std::mutex mu_;
  SQLite::Database db_;
  std::atomic<std::thread::id> owner_{};
  int wal_pages_ = 0;                    // frames in the WAL after the last commit (mu_)
  int truncate_at_ = kWalTruncatePages;  // TruncateWal when wal_pages_ reaches this (mu_)
  std::mutex observers_mu_;              // taken after mu_ (Notify) or alone
  std::map<int, CommitObserver> observers_;
  int last_observer_ = 0;
};

// Creates the file with mode 0600 if absent (SQLite would use 0644 and the
// umask); SQLite gives the -wal and -shm files the database file's mode.
Status CreateFile0600(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    return MakeError(Code::kUnavailable, "store_open_failed",
                     "cannot open database file " + path + ": " + std::strerror(err));
  }
  ::close(fd);
  return OkStatus();
}

Status NotADatabase(const std::string& path, const char* detail) {
  return MakeError(Code::kFailedPrecondition, "store_not_database",
                   path + " is not a tpmesh SQLite database (" + detail +
                       "); point the authority at its own database file");
}

Error Uninitialized(const std::string& path, const char* reason, const std::string& what) {
  return MakeError(
      Code::kFailedPrecondition, reason,
      path + " " + what +
          ": this is not an initialized authority database. Only "
          "'tpmesh-authority init --state-dir DIR' creates one; or restore authority.db "
          "from a backup");
}

// The first read of the file, so a non-SQLite file is reported here. With
// `existing`, a file without any table is refused before anything is written.
Status Probe(SQLite::Database& db, const std::string& path, bool existing) {
  int64_t objects = 0;
  try {
    objects = db.execAndGet("SELECT count(*) FROM sqlite_master").getInt64();
  } catch (const SQLite::Exception& e) {
    if ((e.getErrorCode() & 0xff) == SQLITE_NOTADB) return NotADatabase(path, e.what());
    throw;
  }
  if (existing && objects == 0) return Uninitialized(path, "store_empty", "holds no tables");
  return OkStatus();
}

// Connection settings.
Status Configure(SQLite::Database& db, const std::string& path) {
  const std::string mode = db.execAndGet("PRAGMA journal_mode = WAL").getString();
  if (mode != "wal") {
    return MakeError(Code::kFailedPrecondition, "store_wal_unavailable",
                     "cannot enable WAL journal mode on " + path + " (got '" + mode +
                         "'); put the database on a local filesystem");
  }
  db.exec("PRAGMA synchronous = FULL");
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA secure_delete = ON");  // deleted challenge secrets are zeroed in the file
  db.exec("PRAGMA journal_size_limit = " + std::to_string(kJournalSizeLimit));
  if (db.execAndGet("PRAGMA foreign_keys").getInt() != 1) {
    return MakeError(Code::kInternal, "store_error",
                     "this SQLite build cannot enforce foreign keys");
  }
  return OkStatus();
}

// Inside an open IMMEDIATE transaction: bring the schema to the current version.
Status MigrateLocked(SQLite::Database& db, const std::string& path) {
  const int64_t app_id = db.execAndGet("PRAGMA application_id").getInt64();
  if (app_id != 0 && app_id != internal::kApplicationId) {
    return NotADatabase(path, "application_id belongs to another program");
  }
  if (!db.tableExists("schema_version")) {
    if (db.execAndGet("SELECT count(*) FROM sqlite_master").getInt64() != 0) {
      return NotADatabase(path, "it has tables but no tpmesh schema_version");
    }
    db.exec(
        "CREATE TABLE schema_version (version INTEGER NOT NULL);"
        "INSERT INTO schema_version (version) VALUES (0)");
  }
  SQLite::Statement q(db, "SELECT version FROM schema_version");
  if (!q.executeStep()) {
    return MakeError(Code::kInternal, "store_corrupt", path + ": schema_version has no row");
  }
  const int64_t version = q.getColumn(0).getInt64();
  if (q.executeStep()) {
    return MakeError(Code::kInternal, "store_corrupt", path + ": schema_version has several rows");
  }
  q.reset();
  const int64_t current = internal::CurrentSchemaVersion();
  if (version > current) {
    return MakeError(Code::kFailedPrecondition, "schema_too_new",
                     path + " has schema version " + std::to_string(version) +
                         " but this tpmesh knows versions up to " + std::to_string(current) +
                         "; run a newer tpmesh-authority (or restore a backup)");
  }
  if (version < 0) {
    return MakeError(Code::kInternal, "store_corrupt",
                     path + ": negative schema version " + std::to_string(version));
  }
  const auto migrations = internal::Migrations();
  for (int64_t v = version; v < current; ++v) db.exec(migrations[static_cast<size_t>(v)]);
  if (version != current) {
    SQLite::Statement u(db, "UPDATE schema_version SET version = :v");
    u.bind(":v", current);
    u.exec();
  }
  return OkStatus();
}

Status Migrate(SQLite::Database& db, const std::string& path) {
  TPMESH_RETURN_IF_ERROR(ExecRetryingBusy(db, "BEGIN IMMEDIATE", SteadyClock::now() + kBusyBudget));
  Status st = Guarded("migrate " + path, [&] { return MigrateLocked(db, path); });
  if (st.ok()) st = ExecRetryingBusy(db, "COMMIT", SteadyClock::now() + kBusyBudget);
  if (!st.ok()) RollbackIfOpen(db);
  return st;
}

Result<std::unique_ptr<Store>> Open(const std::string& path, bool existing) {
  return Guarded("open " + path, [&]() -> Result<std::unique_ptr<Store>> {
    SQLite::Database db(path, SQLite::OPEN_READWRITE, kBusyTimeoutMs);
    TPMESH_RETURN_IF_ERROR(Probe(db, path, existing));
    TPMESH_RETURN_IF_ERROR(Configure(db, path));
    TPMESH_RETURN_IF_ERROR(Migrate(db, path));
    return std::unique_ptr<Store>(std::make_unique<SqliteStore>(std::move(db)));
  });
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  if (path.empty()) {
    return MakeError(Code::kInvalidArgument, "store_open_failed", "database path is empty");
  }
  TPMESH_RETURN_IF_ERROR(CreateFile0600(path));
  return Open(path, /*existing=*/false);
}

Result<std::unique_ptr<Store>> OpenExistingSqliteStore(const std::string& path) {
  if (path.empty()) {
    return MakeError(Code::kInvalidArgument, "store_open_failed", "database path is empty");
  }
  struct stat sb {};
  if (::stat(path.c_str(), &sb) != 0) {
    const int err = errno;
    if (err == ENOENT) return Uninitialized(path, "store_missing", "does not exist");
    return MakeError(Code::kUnavailable, "store_open_failed",
                     "cannot open database file " + path + ": " + std::strerror(err));
  }
  if (!S_ISREG(sb.st_mode)) return NotADatabase(path, "not a regular file").take_error();
  if (sb.st_size == 0) return Uninitialized(path, "store_empty", "is empty (0 bytes)");
  return Open(path, /*existing=*/true);
}

}  // namespace tpmesh::authority
