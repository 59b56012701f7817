// Opening the authority database: only `init` creates one (OpenSqliteStore);
// everything else opens an existing, initialized one (OpenExistingSqliteStore)
// and creates nothing. And the WAL stays bounded however many writes come.
#include <sys/stat.h>

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/temp_dir.h"
#include "tpmesh/authority/store.h"

namespace tpmesh::authority {
namespace {

namespace fs = std::filesystem;

class StoreOpenExistingTest : public ::testing::Test {
 protected:
  std::string Path() const { return dir_.File("authority.db"); }
  bool Exists(const std::string& suffix) const { return fs::exists(Path() + suffix); }
  testing::TempDir dir_{"tpmesh-store-open"};
};

TEST_F(StoreOpenExistingTest, MissingDatabaseIsRefusedAndNotCreated) {
  auto r = OpenExistingSqliteStore(Path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "store_missing");
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition);
  EXPECT_NE(r.error().message.find(Path()), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("tpmesh-authority init"), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(Exists(""));
  EXPECT_FALSE(Exists("-wal"));
  EXPECT_FALSE(Exists("-shm"));
}

TEST_F(StoreOpenExistingTest, ZeroByteDatabaseIsRefusedAndLeftAsItWas) {
  std::ofstream(Path()).close();
  auto r = OpenExistingSqliteStore(Path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "store_empty");
  EXPECT_NE(r.error().message.find("tpmesh-authority init"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(fs::file_size(Path()), 0u);
  EXPECT_FALSE(Exists("-wal"));
  EXPECT_FALSE(Exists("-shm"));
}

TEST_F(StoreOpenExistingTest, SqliteFileWithoutSchemaIsRefusedAndNotMigrated) {
  {
    SQLite::Database raw(Path(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("CREATE TABLE t (x INTEGER); DROP TABLE t");  // a valid file with no tables
  }
  ASSERT_GT(fs::file_size(Path()), 0u);
  auto r = OpenExistingSqliteStore(Path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "store_empty");
  EXPECT_NE(r.error().message.find("tpmesh-authority init"), std::string::npos)
      << r.error().message;
  SQLite::Database raw(Path(), SQLite::OPEN_READONLY);
  EXPECT_FALSE(raw.tableExists("schema_version"));
}

TEST_F(StoreOpenExistingTest, ForeignDatabaseIsStillNotOurs) {
  {
    SQLite::Database raw(Path(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("CREATE TABLE photos (id INTEGER PRIMARY KEY)");
  }
  auto r = OpenExistingSqliteStore(Path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "store_not_database");
}

TEST_F(StoreOpenExistingTest, InitializedDatabaseOpensWithItsData) {
  {
    auto s = OpenSqliteStore(Path());
    ASSERT_TRUE(s.ok()) << s.error().ToString();
    ASSERT_TRUE(
        (*s)->Transact([](Tx& tx) { return tx.SetMeta("mesh_prefix", "fd00:1:2::/48"); }).ok());
  }
  auto s = OpenExistingSqliteStore(Path());
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  std::optional<std::string> v;
  ASSERT_TRUE((*s)->Transact([&](Tx& tx) -> Status {
                    TPMESH_ASSIGN_OR_RETURN(v, tx.GetMeta("mesh_prefix"));
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(v, std::optional<std::string>("fd00:1:2::/48"));
}

// SQLite's default checkpoint leaves the WAL file at its high-water mark
// (1000 pages, ~4 MiB, and more after a large transaction) for good. The
// store truncates it once a commit leaves 256 pages in it, so its size never
// passes ~1 MiB plus one transaction, on any disk and at any write rate.
TEST(StoreWalTest, WalFileStaysBoundedUnderManyWrites) {
  testing::TempDir dir{"tpmesh-store-wal"};
  const std::string path = dir.File("authority.db");
  auto s = OpenSqliteStore(path);
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  const std::string value(6000, 'v');  // two overflow pages per write
  uintmax_t largest = 0;
  for (int i = 0; i < 1500; ++i) {
    Status st = (*s)->Transact([&](Tx& tx) -> Status {
      TPMESH_RETURN_IF_ERROR(tx.SetMeta("k" + std::to_string(i % 50), value + std::to_string(i)));
      return tx.AppendAudit(AuditEntry{0, i, "system", "test.write", "", "", std::to_string(i)});
    });
    ASSERT_TRUE(st.ok()) << st.error().ToString();
    std::error_code ec;
    const uintmax_t wal = fs::file_size(path + "-wal", ec);
    if (!ec) largest = std::max(largest, wal);
  }
  EXPECT_GT(largest, 0u);                    // the writes did go through the WAL
  constexpr uintmax_t kBound = 1536 * 1024;  // 256 pages of 4 KiB + their frame headers + one write
  EXPECT_LE(largest, kBound) << "the WAL grew to " << largest << " bytes";
}

}  // namespace
}  // namespace tpmesh::authority
