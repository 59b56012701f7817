// Unit tests of the store's challenges (store.h, "Enrollment and renewal
// challenges"): single use, expiry, kinds (a challenge is only ever taken as
// the kind it was issued as), and databases of schema version 3, whose
// renewal challenges were rows with hostname "renew:<node id>", migrating.
#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <string>

#include "authority/src/schema.h"
#include "tests/support/temp_dir.h"
#include "tpmesh/authority/store.h"

namespace tpmesh::authority {
namespace {

Bytes B(std::initializer_list<uint8_t> v) { return Bytes(v); }
Bytes Filled(uint8_t v, size_t n) { return Bytes(n, v); }

// Runs one transaction and requires it to succeed.
void Tx1(Store& s, const std::function<Status(Tx&)>& fn) {
  Status st = s.Transact(fn);
  ASSERT_TRUE(st.ok()) << st.error().ToString();
}

class ChallengeStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenSqliteStore(path_);
    ASSERT_TRUE(s.ok()) << s.error().ToString();
    store_ = std::move(s).value();
  }
  testing::TempDir dir_{"tpmesh-store-challenge"};
  std::string path_ = dir_.File("authority.db");
  std::unique_ptr<Store> store_;
};

ChallengeRecord MakeChallenge(const std::string& id, int64_t expires_at) {
  ChallengeRecord c;
  c.id = id;
  c.hostname = "host-" + id;
  c.ek_alg = attest::KeyAlg::kEccP256;
  c.secret = SecretBytes(ByteView(Filled(0x5e, 32)));
  c.nonce = Filled(0x0e, 32);
  c.selection = {attest::HashAlg::kSha256, {0, 2, 7}};
  c.ek_public = B({1});
  c.ak_public = B({2, 0});
  c.ek_name = B({3});
  c.ak_name = B({4});
  c.ek_sha256 = Filled(0xee, 32);
  c.has_ek_cert = true;
  c.expires_at = expires_at;
  return c;
}

TEST_F(ChallengeStoreTest, ChallengeIsSingleUse) {
  const ChallengeRecord c = MakeChallenge("ch1", 1000);
  Tx1(*store_, [&](Tx& tx) { return tx.PutChallenge(c); });
  Status dup = store_->Transact([&](Tx& tx) { return tx.PutChallenge(MakeChallenge("ch1", 5)); });
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().message, "challenges.id already taken");

  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto got, tx.TakeChallenge("ch1", ChallengeKind::kEnrollment));
    EXPECT_TRUE(got.has_value());
    if (!got) return OkStatus();
    EXPECT_EQ(got->id, c.id);
    EXPECT_EQ(got->kind, ChallengeKind::kEnrollment);
    EXPECT_EQ(got->hostname, c.hostname);
    EXPECT_EQ(got->node_id, "");
    EXPECT_EQ(got->ek_alg, c.ek_alg);
    EXPECT_TRUE(ConstantTimeEqual(got->secret.view(), c.secret.view()));
    EXPECT_EQ(got->nonce, c.nonce);
    EXPECT_EQ(got->selection, c.selection);
    EXPECT_EQ(got->ek_public, c.ek_public);
    EXPECT_EQ(got->ak_public, c.ak_public);
    EXPECT_EQ(got->ek_name, c.ek_name);
    EXPECT_EQ(got->ak_name, c.ak_name);
    EXPECT_EQ(got->ek_sha256, c.ek_sha256);
    EXPECT_EQ(got->has_ek_cert, c.has_ek_cert);
    EXPECT_EQ(got->expires_at, c.expires_at);
    return OkStatus();
  });
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto again, tx.TakeChallenge("ch1", ChallengeKind::kEnrollment));
    EXPECT_FALSE(again.has_value());
    TPMESH_ASSIGN_OR_RETURN(auto unknown, tx.TakeChallenge("never", ChallengeKind::kEnrollment));
    EXPECT_FALSE(unknown.has_value());
    return OkStatus();
  });
}

TEST_F(ChallengeStoreTest, TakeChallengeInAFailedTransactionKeepsIt) {
  Tx1(*store_, [&](Tx& tx) { return tx.PutChallenge(MakeChallenge("c", 10)); });
  Status st = store_->Transact([&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto got, tx.TakeChallenge("c", ChallengeKind::kEnrollment));
    EXPECT_TRUE(got.has_value());
    return MakeError(Code::kPermissionDenied, "quote_bad", "x");
  });
  ASSERT_FALSE(st.ok());
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto got, tx.TakeChallenge("c", ChallengeKind::kEnrollment));
    EXPECT_TRUE(got.has_value());  // the delete was rolled back with the rest
    return OkStatus();
  });
}

TEST_F(ChallengeStoreTest, DeleteExpiredChallenges) {
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.PutChallenge(MakeChallenge("old", 99)));
    TPMESH_RETURN_IF_ERROR(tx.PutChallenge(MakeChallenge("edge", 100)));
    TPMESH_RETURN_IF_ERROR(tx.PutChallenge(MakeChallenge("new", 101)));
    return tx.DeleteExpiredChallenges(100);
  });
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto old, tx.TakeChallenge("old", ChallengeKind::kEnrollment));
    EXPECT_FALSE(old.has_value());
    TPMESH_ASSIGN_OR_RETURN(auto edge, tx.TakeChallenge("edge", ChallengeKind::kEnrollment));
    EXPECT_TRUE(edge.has_value());
    TPMESH_ASSIGN_OR_RETURN(auto fresh, tx.TakeChallenge("new", ChallengeKind::kEnrollment));
    EXPECT_TRUE(fresh.has_value());
    return OkStatus();
  });
}

// A renewal challenge: its node, a nonce, the enrolled AK; no hostname, no
// secret (there is no credential in renewal).
ChallengeRecord MakeRenewal(const std::string& id, const std::string& node_id) {
  ChallengeRecord c = MakeChallenge(id, 1000);
  c.kind = ChallengeKind::kRenewal;
  c.hostname.clear();
  c.node_id = node_id;
  c.secret = SecretBytes();
  c.has_ek_cert = false;
  return c;
}

TEST_F(ChallengeStoreTest, RenewalChallengeRoundTripsItsKindAndNode) {
  const ChallengeRecord c = MakeRenewal("r1", "0011223344556677aabb");
  Tx1(*store_, [&](Tx& tx) { return tx.PutChallenge(c); });
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto got, tx.TakeChallenge("r1", ChallengeKind::kRenewal));
    EXPECT_TRUE(got.has_value());
    if (!got) return OkStatus();
    EXPECT_EQ(got->kind, ChallengeKind::kRenewal);
    EXPECT_EQ(got->node_id, c.node_id);
    EXPECT_EQ(got->hostname, "");
    EXPECT_EQ(got->secret.size(), 0u);
    EXPECT_EQ(got->nonce, c.nonce);
    EXPECT_EQ(got->selection, c.selection);
    EXPECT_EQ(got->ak_name, c.ak_name);
    EXPECT_EQ(got->expires_at, c.expires_at);
    return OkStatus();
  });
}

// Taking a challenge as the other kind finds nothing and leaves it in place:
// enroll/finish never consumes a renewal challenge, renew/finish never an
// enrollment one.
TEST_F(ChallengeStoreTest, AChallengeIsOnlyTakenAsItsOwnKind) {
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.PutChallenge(MakeChallenge("enroll", 1000)));
    return tx.PutChallenge(MakeRenewal("renew", "0011223344556677aabb"));
  });
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto as_renewal, tx.TakeChallenge("enroll", ChallengeKind::kRenewal));
    EXPECT_FALSE(as_renewal.has_value());
    TPMESH_ASSIGN_OR_RETURN(auto as_enroll, tx.TakeChallenge("renew", ChallengeKind::kEnrollment));
    EXPECT_FALSE(as_enroll.has_value());
    return OkStatus();
  });
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto enroll, tx.TakeChallenge("enroll", ChallengeKind::kEnrollment));
    EXPECT_TRUE(enroll.has_value()) << "still there";
    TPMESH_ASSIGN_OR_RETURN(auto renew, tx.TakeChallenge("renew", ChallengeKind::kRenewal));
    EXPECT_TRUE(renew.has_value()) << "still there";
    return OkStatus();
  });
}

// The schema ties the kind to the node: a renewal challenge names its node,
// an enrollment one none.
TEST_F(ChallengeStoreTest, TheSchemaRefusesAKindWithoutItsNode) {
  ChallengeRecord nameless = MakeRenewal("r", "");
  Status st = store_->Transact([&](Tx& tx) { return tx.PutChallenge(nameless); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().reason, "conflict");
  EXPECT_EQ(st.error().message, "constraint challenges_renewal_names_node violated");
  ChallengeRecord enroll_with_node = MakeChallenge("e", 1000);
  enroll_with_node.node_id = "0011223344556677aabb";
  st = store_->Transact([&](Tx& tx) { return tx.PutChallenge(enroll_with_node); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().reason, "conflict");
  EXPECT_EQ(st.error().message, "constraint challenges_renewal_names_node violated");
}

// A database of schema version 3 (the migrations before this one, applied as
// OpenSqliteStore applied them then) holding an enrollment challenge, a
// renewal challenge in the old "renew:<node id>" form and a node: it opens,
// both challenges keep working as their kind, the node is intact.
TEST(ChallengeMigrationTest, Version3DatabaseMigrates) {
  testing::TempDir dir("tpmesh-store-v3");
  const std::string path = dir.File("authority.db");
  const auto migrations = internal::Migrations();
  ASSERT_GE(migrations.size(), 4u);
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("CREATE TABLE schema_version (version INTEGER NOT NULL)");
    raw.exec("INSERT INTO schema_version (version) VALUES (3)");
    for (size_t v = 0; v < 3; ++v) raw.exec(migrations[v]);
    const std::string cols =
        "(id, hostname, ek_alg, secret, nonce, pcr_bank, pcrs, ek_public, ak_public, ek_name, "
        "ak_name, ek_sha256, has_ek_cert, expires_at) VALUES ";
    raw.exec("INSERT INTO challenges " + cols +
             "('e1', 'node-e', 'ecc-p256', x'5e5e', x'0e0e', 'sha256', '[0,7]', x'01', x'02', "
             "x'03', x'04', x'ee', 1, 2000)");
    raw.exec("INSERT INTO challenges " + cols +
             "('r1', 'renew:0011223344556677aabb', 'rsa2048', x'9999', x'0f0f', 'sha256', '[7]', "
             "x'01', x'02', x'03', x'04', x'ee', 0, 2000)");
    raw.exec(
        "INSERT INTO wg_keys (public_key, node_id, since) VALUES (zeroblob(32), "
        "'0011223344556677aabb', 5)");
    raw.exec(
        "INSERT INTO nodes (node_id, hostname, status, ek_sha256, ek_public, ek_name, ak_public, "
        "ak_name, subnet, wg_public_key, enrolled_at, updated_at, last_seen, cert_serial) "
        "VALUES ('0011223344556677aabb', 'node-r', 'active', x'ee', x'01', x'03', x'02', x'04', "
        "1, zeroblob(32), 5, 5, 5, 'abcd')");
  }
  auto opened = OpenSqliteStore(path);
  ASSERT_TRUE(opened.ok()) << opened.error().ToString();
  Store& store = **opened;
  Tx1(store, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto wrong, tx.TakeChallenge("r1", ChallengeKind::kEnrollment));
    EXPECT_FALSE(wrong.has_value()) << "the old renewal row is a renewal challenge now";
    TPMESH_ASSIGN_OR_RETURN(auto renewal, tx.TakeChallenge("r1", ChallengeKind::kRenewal));
    EXPECT_TRUE(renewal.has_value());
    if (renewal) {
      EXPECT_EQ(renewal->node_id, "0011223344556677aabb");
      EXPECT_EQ(renewal->hostname, "");
      EXPECT_EQ(renewal->secret.size(), 0u) << "the pointless random secret is gone";
      EXPECT_EQ(renewal->nonce, Filled(0x0f, 2));
      EXPECT_EQ(renewal->expires_at, 2000);
    }
    TPMESH_ASSIGN_OR_RETURN(auto enroll, tx.TakeChallenge("e1", ChallengeKind::kEnrollment));
    EXPECT_TRUE(enroll.has_value());
    if (enroll) {
      EXPECT_EQ(enroll->hostname, "node-e");
      EXPECT_EQ(enroll->node_id, "");
      EXPECT_TRUE(ConstantTimeEqual(enroll->secret.view(), Filled(0x5e, 2)));
      EXPECT_EQ(enroll->ek_alg, attest::KeyAlg::kEccP256);
    }
    TPMESH_ASSIGN_OR_RETURN(auto node, tx.FindNodeById("0011223344556677aabb"));
    EXPECT_TRUE(node.has_value());
    if (!node) return OkStatus();
    EXPECT_EQ(node->hostname, "node-r");
    EXPECT_EQ(node->cert_serial, "abcd");
    node->last_seen = 6;
    return tx.UpdateNode(*node);  // and it can be written
  });
  Tx1(store, [&](Tx& tx) { return tx.PutChallenge(MakeRenewal("r2", "0011223344556677aabb")); });
  opened->reset();
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("SELECT version FROM schema_version").getInt64(),
            internal::CurrentSchemaVersion());
  EXPECT_EQ(
      raw.execAndGet("SELECT kind || ' ' || node_id FROM challenges WHERE id = 'r2'").getString(),
      "renewal 0011223344556677aabb");
}

}  // namespace
}  // namespace tpmesh::authority
