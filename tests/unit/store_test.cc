// Unit tests of the SQLite authority store (real SQLite files in a temp dir).
#include "tpmesh/authority/store.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <thread>

#include "tests/support/temp_dir.h"

namespace tpmesh::authority {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class TempDir : public testing::TempDir {
 public:
  TempDir() : testing::TempDir("tpmesh-store") {}
};

std::unique_ptr<Store> Open(const std::string& path) {
  auto s = OpenSqliteStore(path);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().ToString());
  if (!s.ok()) return nullptr;
  return std::move(s).value();
}

Bytes B(std::initializer_list<uint8_t> v) { return Bytes(v); }
Bytes Filled(uint8_t v, size_t n) { return Bytes(n, v); }

NodeRecord MakeNode(const std::string& id, const std::string& host, uint8_t ek,
                    std::optional<uint32_t> subnet) {
  NodeRecord n;
  n.node_id = id;
  n.hostname = host;
  n.status = NodeStatus::kActive;
  n.ek_sha256 = Filled(ek, 32);
  n.ek_public = B({1, 0, 2});
  n.ek_name = B({0, 11});
  n.ak_public = B({3, 4});
  n.ak_name = B({0, 11, 5});
  n.subnet = subnet;
  n.wg_public_key = Filled(0x77, 32);  // a key of its own: derived from the id
  for (size_t i = 0; i < id.size(); ++i) {
    n.wg_public_key[i % 32] = static_cast<uint8_t>(n.wg_public_key[i % 32] * 31 + id[i]);
  }
  n.enrolled_at = 100;
  n.updated_at = 101;
  n.last_seen = 102;
  n.enroll_count = 1;
  return n;
}

void ExpectNodeEq(const NodeRecord& a, const NodeRecord& b) {
  EXPECT_EQ(a.node_id, b.node_id);
  EXPECT_EQ(a.hostname, b.hostname);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.status_reason, b.status_reason);
  EXPECT_EQ(a.ek_sha256, b.ek_sha256);
  EXPECT_EQ(a.ek_public, b.ek_public);
  EXPECT_EQ(a.ek_name, b.ek_name);
  EXPECT_EQ(a.ak_public, b.ak_public);
  EXPECT_EQ(a.ak_name, b.ak_name);
  EXPECT_EQ(a.subnet, b.subnet);
  EXPECT_EQ(a.wg_public_key, b.wg_public_key);
  EXPECT_EQ(a.endpoints, b.endpoints);
  EXPECT_EQ(a.pcr_policy, b.pcr_policy);
  EXPECT_EQ(a.pcr_values, b.pcr_values);
  EXPECT_EQ(a.tpm_clock.clock_ms, b.tpm_clock.clock_ms);
  EXPECT_EQ(a.tpm_clock.reset_count, b.tpm_clock.reset_count);
  EXPECT_EQ(a.tpm_clock.restart_count, b.tpm_clock.restart_count);
  EXPECT_EQ(a.tpm_clock.safe, b.tpm_clock.safe);
  EXPECT_EQ(a.enrolled_at, b.enrolled_at);
  EXPECT_EQ(a.updated_at, b.updated_at);
  EXPECT_EQ(a.last_seen, b.last_seen);
  EXPECT_EQ(a.enroll_count, b.enroll_count);
}

// Runs one transaction and requires it to succeed.
void Tx1(Store& s, const std::function<Status(Tx&)>& fn) {
  Status st = s.Transact(fn);
  ASSERT_TRUE(st.ok()) << st.error().ToString();
}

size_t CountNodes(Store& s) {
  size_t n = 0;
  Tx1(s, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto nodes, tx.ListNodes());
    n = nodes.size();
    return OkStatus();
  });
  return n;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("authority.db");
    store_ = Open(path_);
    ASSERT_NE(store_, nullptr);
  }
  TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

TEST(NodeStatusTest, NamesRoundTrip) {
  for (auto s : {NodeStatus::kPending, NodeStatus::kActive, NodeStatus::kRevoked,
                 NodeStatus::kQuarantined}) {
    EXPECT_EQ(ParseNodeStatus(NodeStatusName(s)), s);
  }
  EXPECT_STREQ(NodeStatusName(NodeStatus::kQuarantined), "quarantined");
  EXPECT_EQ(ParseNodeStatus("Active"), std::nullopt);
}

TEST_F(StoreTest, NodeRoundTripsEveryField) {
  NodeRecord n = MakeNode("0123456789abcdef0123", "node-a.example", 0xa1, 7);
  n.status = NodeStatus::kQuarantined;
  n.status_reason = "pcr mismatch";
  n.ek_public = B({0, 0, 0xff, 0});  // embedded NULs survive
  n.ak_name = {};                    // empty blob stays empty (not NULL)
  n.endpoints = {"[2001:db8::1]:51820", "198.51.100.7:51820", "hôte:1"};
  n.pcr_policy = "golden-2024";
  n.pcr_values = {{0, Filled(0x00, 32)}, {7, Filled(0x07, 32)}, {23, Filled(0xff, 32)}};
  n.tpm_clock = {std::numeric_limits<uint64_t>::max(), 0xfffffffe, 3, true};
  n.enrolled_at = -5;
  n.updated_at = std::numeric_limits<int64_t>::max();
  n.last_seen = 1'800'000'000;
  n.enroll_count = 42;
  Tx1(*store_, [&](Tx& tx) { return tx.InsertNode(n); });

  // Read back through a fresh connection: really persisted.
  store_.reset();
  store_ = Open(path_);
  ASSERT_NE(store_, nullptr);
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto by_id, tx.FindNodeById(n.node_id));
    EXPECT_TRUE(by_id.has_value());
    if (by_id) ExpectNodeEq(*by_id, n);
    TPMESH_ASSIGN_OR_RETURN(auto by_host, tx.FindNodeByHostname("node-a.example"));
    EXPECT_TRUE(by_host.has_value());
    if (by_host) {
      EXPECT_EQ(by_host->node_id, n.node_id);
    }
    TPMESH_ASSIGN_OR_RETURN(auto by_ek, tx.FindNodeByEk(n.ek_sha256));
    EXPECT_TRUE(by_ek.has_value());
    if (by_ek) ExpectNodeEq(*by_ek, n);
    TPMESH_ASSIGN_OR_RETURN(auto none, tx.FindNodeById("nope"));
    EXPECT_FALSE(none.has_value());
    TPMESH_ASSIGN_OR_RETURN(auto none2, tx.FindNodeByEk(Filled(0xa2, 32)));
    EXPECT_FALSE(none2.has_value());
    return OkStatus();
  });
}

TEST_F(StoreTest, NodeWithoutSubnetAndUpdate) {
  NodeRecord n = MakeNode("n1", "zeta", 1, std::nullopt);
  n.status = NodeStatus::kPending;
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.InsertNode(n));
    return tx.InsertNode(MakeNode("n2", "alpha", 2, std::nullopt));  // two NULL subnets are fine
  });
  n.status = NodeStatus::kRevoked;
  n.status_reason = "admin";
  n.subnet = 9;
  n.hostname = "zeta2";
  n.wg_public_key = Filled(0x55, 32);
  n.enroll_count = 2;
  Tx1(*store_, [&](Tx& tx) { return tx.UpdateNode(n); });
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto got, tx.FindNodeById("n1"));
    EXPECT_TRUE(got.has_value());
    if (got) ExpectNodeEq(*got, n);
    TPMESH_ASSIGN_OR_RETURN(auto all, tx.ListNodes());
    EXPECT_EQ(all.size(), 2u);
    if (all.size() == 2) {  // ordered by hostname
      EXPECT_EQ(all[0].hostname, "alpha");
      EXPECT_EQ(all[1].hostname, "zeta2");
    }
    return OkStatus();
  });
  Status st =
      store_->Transact([&](Tx& tx) { return tx.UpdateNode(MakeNode("ghost", "g", 9, {})); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Code::kNotFound);
  EXPECT_EQ(st.error().reason, "node_not_found");
}

// Inserts `first`, then `second` in the same transaction; expects the second
// to conflict naming `column`, and the transaction to leave nothing behind.
void ExpectConflictRollsBack(Store& s, const NodeRecord& existing, const NodeRecord& first,
                             const NodeRecord& second, const std::string& column) {
  Status seen_conflict;
  Status st = s.Transact([&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.InsertNode(first));
    seen_conflict = tx.InsertNode(second);
    return seen_conflict;
  });
  ASSERT_FALSE(st.ok()) << column;
  EXPECT_EQ(st.error().code, Code::kAlreadyExists);
  EXPECT_EQ(st.error().reason, "conflict");
  EXPECT_NE(st.error().message.find(column), std::string::npos) << st.error().message;
  Tx1(s, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto f, tx.FindNodeById(first.node_id));
    EXPECT_FALSE(f.has_value()) << "half-written transaction for " << column;
    TPMESH_ASSIGN_OR_RETURN(auto e, tx.FindNodeById(existing.node_id));
    EXPECT_TRUE(e.has_value());
    return OkStatus();
  });
}

TEST_F(StoreTest, UniqueViolationsAreConflictsAndRollBack) {
  const NodeRecord existing = MakeNode("e0", "existing", 0xe0, 5);
  Tx1(*store_, [&](Tx& tx) { return tx.InsertNode(existing); });
  const NodeRecord fresh = MakeNode("f0", "fresh", 0xf0, 6);

  ExpectConflictRollsBack(*store_, existing, fresh, MakeNode("x1", "existing", 0x01, 8),
                          "nodes.hostname");
  ExpectConflictRollsBack(*store_, existing, fresh, MakeNode("x2", "x2", 0xe0, 8),
                          "nodes.ek_sha256");
  ExpectConflictRollsBack(*store_, existing, fresh, MakeNode("x3", "x3", 0x03, 5), "nodes.subnet");
  ExpectConflictRollsBack(*store_, existing, fresh, MakeNode("e0", "x4", 0x04, 8), "nodes.node_id");
  ExpectConflictRollsBack(*store_, existing, fresh, MakeNode("x5", "x5", 0x05, 0),
                          "nodes_subnet_range");
  ExpectConflictRollsBack(*store_, existing, fresh, MakeNode("x6", "x6", 0x06, 65536),
                          "nodes_subnet_range");
  EXPECT_EQ(CountNodes(*store_), 1u);

  // An update into someone else's subnet is refused too.
  NodeRecord moved = fresh;
  Tx1(*store_, [&](Tx& tx) { return tx.InsertNode(fresh); });
  moved.subnet = 5;
  Status st = store_->Transact([&](Tx& tx) { return tx.UpdateNode(moved); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().reason, "conflict");
  EXPECT_EQ(st.error().message, "nodes.subnet already taken");
}

TEST_F(StoreTest, CallbackErrorAndThrowRollBack) {
  Status st = store_->Transact([&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.InsertNode(MakeNode("a", "a", 1, 1)));
    TPMESH_RETURN_IF_ERROR(tx.BumpGeneration().ok() ? OkStatus()
                                                    : Status(MakeError(Code::kInternal, "x", "")));
    return MakeError(Code::kPermissionDenied, "policy_says_no", "nope");
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().reason, "policy_says_no");  // the callback's error, unchanged

  st = store_->Transact([&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.InsertNode(MakeNode("b", "b", 2, 2)));
    throw std::runtime_error("boom");
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Code::kInternal);
  EXPECT_EQ(st.error().reason, "store_callback_threw");

  EXPECT_EQ(CountNodes(*store_), 0u);
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(int64_t g, tx.Generation());
    EXPECT_EQ(g, 0);
    return OkStatus();
  });
}

TEST_F(StoreTest, NestedTransactIsRefused) {
  Status inner;
  Tx1(*store_, [&](Tx&) -> Status {
    inner = store_->Transact([](Tx&) { return OkStatus(); });
    return OkStatus();
  });
  ASSERT_FALSE(inner.ok());
  EXPECT_EQ(inner.error().reason, "store_nested_transaction");
}

TEST_F(StoreTest, FreeSubnetFindsGapsAndCountsRevoked) {
  auto free = [&](uint32_t max) {
    Result<uint32_t> r = MakeError(Code::kInternal, "unset", "");
    Status st = store_->Transact([&](Tx& tx) {
      r = tx.FreeSubnet(max);
      return OkStatus();
    });
    EXPECT_TRUE(st.ok());
    return r;
  };
  auto r = free(10);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 1u);  // empty store

  NodeRecord revoked = MakeNode("r", "r", 3, 3);
  revoked.status = NodeStatus::kRevoked;
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.InsertNode(MakeNode("a", "a", 1, 2)));
    TPMESH_RETURN_IF_ERROR(tx.InsertNode(revoked));
    TPMESH_RETURN_IF_ERROR(tx.InsertNode(MakeNode("c", "c", 4, 5)));
    return tx.InsertNode(MakeNode("p", "p", 5, std::nullopt));  // pending, no subnet
  });
  r = free(10);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 1u);  // 1 is a gap before 2

  Tx1(*store_, [&](Tx& tx) { return tx.InsertNode(MakeNode("b", "b", 2, 1)); });
  r = free(10);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 4u);  // 1,2 used, 3 held by the revoked node, 5 used

  Tx1(*store_, [&](Tx& tx) { return tx.InsertNode(MakeNode("d", "d", 6, 4)); });
  r = free(10);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 6u);  // no gaps: max + 1

  r = free(5);  // 1..5 all held
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kResourceExhausted);
  EXPECT_EQ(r.error().reason, "address_space_exhausted");
  EXPECT_NE(r.error().message.find("1..5"), std::string::npos) << r.error().message;
  r = free(0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "address_space_exhausted");
  r = free(6);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 6u);
}

TEST_F(StoreTest, FreeSubnetNearTheTopOfTheRange) {
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.InsertNode(MakeNode("a", "a", 1, 1)));
    return tx.InsertNode(MakeNode("z", "z", 2, 65535));
  });
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(uint32_t s, tx.FreeSubnet(std::numeric_limits<uint32_t>::max()));
    EXPECT_EQ(s, 2u);  // 65536 would be the successor of 65535 but is out of range anyway
    return OkStatus();
  });
}

TEST_F(StoreTest, GenerationPersistsAcrossReopen) {
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(int64_t g0, tx.Generation());
    EXPECT_EQ(g0, 0);
    TPMESH_ASSIGN_OR_RETURN(int64_t g1, tx.BumpGeneration());
    EXPECT_EQ(g1, 1);
    TPMESH_ASSIGN_OR_RETURN(int64_t g2, tx.BumpGeneration());
    EXPECT_EQ(g2, 2);
    return OkStatus();
  });
  store_.reset();
  store_ = Open(path_);
  ASSERT_NE(store_, nullptr);
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(int64_t g, tx.Generation());
    EXPECT_EQ(g, 2);
    TPMESH_ASSIGN_OR_RETURN(int64_t g3, tx.BumpGeneration());
    EXPECT_EQ(g3, 3);
    return OkStatus();
  });
}

void ExpectTokenEq(const TokenRecord& a, const TokenRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.hash, b.hash);
  EXPECT_EQ(a.comment, b.comment);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.expires_at, b.expires_at);
  EXPECT_EQ(a.used_at, b.used_at);
  EXPECT_EQ(a.used_by, b.used_by);
  EXPECT_EQ(a.revoked, b.revoked);
}

TEST_F(StoreTest, TokensRoundTrip) {
  TokenRecord t{
      "00112233445566aa", Filled(0x11, 32), "for rack 4", 10, 20, std::nullopt, "", false};
  TokenRecord u{"00112233445566bb", Filled(0x22, 32), "", 11, 21, std::nullopt, "", true};
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.InsertToken(t));
    return tx.InsertToken(u);
  });
  Status dup = store_->Transact([&](Tx& tx) {
    TokenRecord d = u;
    d.id = "other";
    return tx.InsertToken(d);
  });
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().message, "tokens.hash already taken");

  // Mark used by a node inserted later in the same transaction (deferred FK).
  t.used_at = 15;
  t.used_by = "n1";
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.UpdateToken(t));
    return tx.InsertNode(MakeNode("n1", "h1", 1, 1));
  });
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto by_hash, tx.FindTokenByHash(t.hash));
    EXPECT_TRUE(by_hash.has_value());
    if (by_hash) ExpectTokenEq(*by_hash, t);
    TPMESH_ASSIGN_OR_RETURN(auto by_id, tx.FindToken(u.id));
    EXPECT_TRUE(by_id.has_value());
    if (by_id) ExpectTokenEq(*by_id, u);
    TPMESH_ASSIGN_OR_RETURN(auto none, tx.FindToken("nope"));
    EXPECT_FALSE(none.has_value());
    TPMESH_ASSIGN_OR_RETURN(auto all, tx.ListTokens());
    EXPECT_EQ(all.size(), 2u);
    if (all.size() == 2) {
      ExpectTokenEq(all[0], t);
      ExpectTokenEq(all[1], u);
    }
    return OkStatus();
  });

  TokenRecord ghost = t;
  ghost.id = "missing";
  Status st = store_->Transact([&](Tx& tx) { return tx.UpdateToken(ghost); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().reason, "token_not_found");
}

TEST_F(StoreTest, TokenUsedByUnknownNodeFailsAtCommit) {
  TokenRecord t{"t1", Filled(0x11, 32), "", 10, 20, 12, "no-such-node", false};
  Status st = store_->Transact([&](Tx& tx) { return tx.InsertToken(t); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Code::kAlreadyExists);
  EXPECT_EQ(st.error().reason, "conflict");
  EXPECT_NE(st.error().message.find("foreign key"), std::string::npos) << st.error().message;
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto got, tx.FindToken("t1"));
    EXPECT_FALSE(got.has_value());
    return OkStatus();
  });
}

TEST_F(StoreTest, AllowlistRoundTrip) {
  const AllowlistEntry a{Filled(0xa0, 32), "lab", 5};
  const AllowlistEntry b{Filled(0xb0, 32), "", 6};
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.PutAllowlist(a));
    TPMESH_RETURN_IF_ERROR(tx.PutAllowlist(b));
    return tx.PutAllowlist({a.ek_sha256, "lab, re-added", 7});  // upsert
  });
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(bool in, tx.IsAllowlisted(a.ek_sha256));
    EXPECT_TRUE(in);
    TPMESH_ASSIGN_OR_RETURN(bool out, tx.IsAllowlisted(Filled(0xc0, 32)));
    EXPECT_FALSE(out);
    TPMESH_ASSIGN_OR_RETURN(auto all, tx.ListAllowlist());
    EXPECT_EQ(all.size(), 2u);
    if (all.size() == 2) {  // by created_at
      EXPECT_EQ(all[0].ek_sha256, b.ek_sha256);
      EXPECT_EQ(all[0].comment, b.comment);
      EXPECT_EQ(all[0].created_at, b.created_at);
      EXPECT_EQ(all[1].ek_sha256, a.ek_sha256);
      EXPECT_EQ(all[1].comment, "lab, re-added");
      EXPECT_EQ(all[1].created_at, 7);
    }
    TPMESH_ASSIGN_OR_RETURN(bool removed, tx.RemoveAllowlist(a.ek_sha256));
    EXPECT_TRUE(removed);
    TPMESH_ASSIGN_OR_RETURN(bool again, tx.RemoveAllowlist(a.ek_sha256));
    EXPECT_FALSE(again);
    TPMESH_ASSIGN_OR_RETURN(bool gone, tx.IsAllowlisted(a.ek_sha256));
    EXPECT_FALSE(gone);
    return OkStatus();
  });
}

TEST_F(StoreTest, PoliciesRoundTrip) {
  PolicyRecord p;
  p.policy.name = "prod";
  p.policy.bank = attest::HashAlg::kSha384;
  p.policy.golden = {{0, {Filled(1, 48), Filled(2, 48)}}, {7, {Filled(7, 48)}}, {14, {}}};
  p.created_at = 77;
  PolicyRecord q;
  q.policy.name = "lab";
  q.created_at = 78;
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.PutPolicy(p));
    return tx.PutPolicy(q);
  });
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto got, tx.GetPolicy("prod"));
    EXPECT_TRUE(got.has_value());
    if (got) {
      EXPECT_EQ(got->policy.name, "prod");
      EXPECT_EQ(got->policy.bank, attest::HashAlg::kSha384);
      EXPECT_EQ(got->policy.golden, p.policy.golden);
      EXPECT_EQ(got->created_at, 77);
    }
    TPMESH_ASSIGN_OR_RETURN(auto all, tx.ListPolicies());
    EXPECT_EQ(all.size(), 2u);
    if (all.size() == 2) {
      EXPECT_EQ(all[0].policy.name, "lab");  // by name
      EXPECT_TRUE(all[0].policy.golden.empty());
      EXPECT_EQ(all[0].policy.bank, attest::HashAlg::kSha256);
    }
    return OkStatus();
  });
  p.policy.golden = {{4, {Filled(4, 48)}}};  // replace
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.PutPolicy(p));
    TPMESH_ASSIGN_OR_RETURN(auto got, tx.GetPolicy("prod"));
    EXPECT_TRUE(got.has_value());
    if (got) {
      EXPECT_EQ(got->policy.golden, p.policy.golden);
    }
    TPMESH_ASSIGN_OR_RETURN(bool deleted, tx.DeletePolicy("lab"));
    EXPECT_TRUE(deleted);
    TPMESH_ASSIGN_OR_RETURN(bool again, tx.DeletePolicy("lab"));
    EXPECT_FALSE(again);
    TPMESH_ASSIGN_OR_RETURN(auto none, tx.GetPolicy("lab"));
    EXPECT_FALSE(none.has_value());
    return OkStatus();
  });
}

TEST_F(StoreTest, AuditNewestFirstWithLimit) {
  Tx1(*store_, [&](Tx& tx) -> Status {
    for (int i = 0; i < 5; ++i) {
      TPMESH_RETURN_IF_ERROR(tx.AppendAudit(
          {0, 1000 + i, "admin:root", "node.revoke", "node" + std::to_string(i), "r", "d"}));
    }
    return OkStatus();
  });
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto last3, tx.ListAudit(3));
    EXPECT_EQ(last3.size(), 3u);
    if (last3.size() == 3) {
      EXPECT_EQ(last3[0].target, "node4");
      EXPECT_EQ(last3[2].target, "node2");
      EXPECT_GT(last3[0].id, last3[1].id);
      EXPECT_EQ(last3[0].at, 1004);
      EXPECT_EQ(last3[0].actor, "admin:root");
      EXPECT_EQ(last3[0].action, "node.revoke");
      EXPECT_EQ(last3[0].reason, "r");
      EXPECT_EQ(last3[0].detail, "d");
    }
    TPMESH_ASSIGN_OR_RETURN(auto all, tx.ListAudit(std::numeric_limits<size_t>::max()));
    EXPECT_EQ(all.size(), 5u);
    TPMESH_ASSIGN_OR_RETURN(auto none, tx.ListAudit(0));
    EXPECT_TRUE(none.empty());
    return OkStatus();
  });
}

TEST_F(StoreTest, MetaGetSet) {
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto none, tx.GetMeta("mesh_prefix"));
    EXPECT_FALSE(none.has_value());
    TPMESH_RETURN_IF_ERROR(tx.SetMeta("mesh_prefix", "fd00:1::/48"));
    TPMESH_RETURN_IF_ERROR(tx.SetMeta("mtu", "1380"));
    TPMESH_RETURN_IF_ERROR(tx.SetMeta("mtu", "1280"));
    TPMESH_ASSIGN_OR_RETURN(auto mtu, tx.GetMeta("mtu"));
    EXPECT_EQ(mtu, std::optional<std::string>("1280"));
    TPMESH_ASSIGN_OR_RETURN(auto pfx, tx.GetMeta("mesh_prefix"));
    EXPECT_EQ(pfx, std::optional<std::string>("fd00:1::/48"));
    return OkStatus();
  });
}

// {FreeSubnet, InsertNode, BumpGeneration} per transaction from many threads.
void AllocateConcurrently(std::vector<Store*> stores, int threads, int per_thread) {
  std::vector<std::thread> pool;
  std::atomic<int> failures{0};
  for (int t = 0; t < threads; ++t) {
    Store* s = stores[static_cast<size_t>(t) % stores.size()];
    pool.emplace_back([s, t, per_thread, &failures] {
      for (int i = 0; i < per_thread; ++i) {
        Status st = s->Transact([&](Tx& tx) -> Status {
          TPMESH_ASSIGN_OR_RETURN(uint32_t subnet, tx.FreeSubnet(65535));
          const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
          NodeRecord n = MakeNode(id, id + ".mesh", 0, subnet);
          n.ek_sha256 = ToBytes("ek-" + id);
          TPMESH_RETURN_IF_ERROR(tx.InsertNode(n));
          return tx.BumpGeneration().ok() ? OkStatus()
                                          : Status(MakeError(Code::kInternal, "bump", ""));
        });
        if (!st.ok()) {
          ADD_FAILURE() << st.error().ToString();
          ++failures;
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(failures.load(), 0);
}

void ExpectDistinctSubnetsAndGeneration(Store& s, size_t n) {
  Tx1(s, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto nodes, tx.ListNodes());
    std::set<uint32_t> subnets;
    for (const auto& node : nodes) {
      EXPECT_TRUE(node.subnet.has_value());
      if (node.subnet) subnets.insert(*node.subnet);
    }
    EXPECT_EQ(nodes.size(), n);
    EXPECT_EQ(subnets.size(), n);
    if (!subnets.empty()) {
      EXPECT_EQ(*subnets.begin(), 1u);
      EXPECT_EQ(*subnets.rbegin(), n);  // dense: 1..n
    }
    TPMESH_ASSIGN_OR_RETURN(int64_t g, tx.Generation());
    EXPECT_EQ(g, static_cast<int64_t>(n));
    return OkStatus();
  });
}

TEST_F(StoreTest, ConcurrentThreadsAllocateDistinctSubnets) {
  AllocateConcurrently({store_.get()}, 8, 25);
  ExpectDistinctSubnetsAndGeneration(*store_, 200);
}

TEST_F(StoreTest, TwoConnectionsAllocateDistinctSubnets) {
  auto second = Open(path_);  // a second connection, as another process would have
  ASSERT_NE(second, nullptr);
  AllocateConcurrently({store_.get(), second.get()}, 8, 25);
  ExpectDistinctSubnetsAndGeneration(*store_, 200);
  ExpectDistinctSubnetsAndGeneration(*second, 200);
}

TEST_F(StoreTest, LockedDatabaseGivesStoreBusyThenRecovers) {
  SQLite::Database other(path_, SQLite::OPEN_READWRITE);  // another process, holding the write lock
  other.exec("BEGIN IMMEDIATE");
  const auto start = std::chrono::steady_clock::now();
  Status st = store_->Transact([](Tx& tx) { return tx.SetMeta("k", "v"); });
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Code::kUnavailable);
  EXPECT_EQ(st.error().reason, "store_busy");
  EXPECT_GE(waited, std::chrono::seconds(4));   // it did wait for the lock
  EXPECT_LT(waited, std::chrono::seconds(12));  // bounded
  other.exec("ROLLBACK");
  Tx1(*store_, [](Tx& tx) { return tx.SetMeta("k", "v"); });
}

TEST_F(StoreTest, FileIsPrivate) {
  Tx1(*store_, [&](Tx& tx) { return tx.SetMeta("k", "v"); });
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((path_ + "-wal").c_str(), &st), 0);  // WAL mode is on
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// Store-level invariant: a WireGuard public key belongs to at most one node,
// ever (wg_keys, schema v3), whatever the caller does.
TEST_F(StoreTest, AWireGuardKeyBelongsToOneNodeEver) {
  const NodeRecord a = MakeNode("a", "a", 1, 1);
  NodeRecord b = MakeNode("b", "b", 2, 2);
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.InsertNode(a));
    return tx.InsertNode(b);
  });
  auto expect_in_use = [&](const NodeRecord& n, bool insert, const std::string& field) {
    Status st =
        store_->Transact([&](Tx& tx) { return insert ? tx.InsertNode(n) : tx.UpdateNode(n); });
    ASSERT_FALSE(st.ok()) << n.node_id;
    EXPECT_EQ(st.error().code, Code::kAlreadyExists);
    EXPECT_EQ(st.error().reason, "key_in_use");
    EXPECT_NE(st.error().message.find(field), std::string::npos) << st.error().message;
  };
  NodeRecord b2 = b;
  b2.wg_public_key = a.wg_public_key;
  expect_in_use(b2, false, "wg_public_key");
  b2 = b;
  b2.next_wg_public_key = a.wg_public_key;
  expect_in_use(b2, false, "next_public_key");
  NodeRecord c = MakeNode("c", "c", 3, 3);
  c.wg_public_key = a.wg_public_key;
  expect_in_use(c, true, "wg_public_key");
  EXPECT_EQ(CountNodes(*store_), 2u) << "a refused write leaves nothing";
  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto got, tx.FindNodeById("b"));
    EXPECT_TRUE(got && got->wg_public_key == b.wg_public_key && got->next_wg_public_key.empty());
    return OkStatus();
  });

  // A replaced current key is retired: not even its node takes it back.
  NodeRecord a2 = a;
  a2.wg_public_key = Filled(0x99, 32);
  Tx1(*store_, [&](Tx& tx) { return tx.UpdateNode(a2); });
  NodeRecord a3 = a2;
  a3.wg_public_key = a.wg_public_key;
  expect_in_use(a3, false, "retired");
  // The same row written again keeps its keys; a next key of its own is fine.
  a2.next_wg_public_key = Filled(0x98, 32);
  Tx1(*store_, [&](Tx& tx) { return tx.UpdateNode(a2); });

  // Revocation retires every key the node held; a restored row holds none.
  b.status = NodeStatus::kRevoked;
  Tx1(*store_, [&](Tx& tx) { return tx.UpdateNode(b); });
  b.status = NodeStatus::kPending;
  expect_in_use(b, false, "retired");
  b.wg_public_key.clear();
  Tx1(*store_, [&](Tx& tx) { return tx.UpdateNode(b); });
  c.wg_public_key = MakeNode("b", "b", 2, 2).wg_public_key;  // the revoked node's old key
  expect_in_use(c, true, "wg_public_key");

  // Not even SQL that bypasses the store writes an unclaimed key.
  store_.reset();
  SQLite::Database raw(path_, SQLite::OPEN_READWRITE);
  EXPECT_THROW(raw.exec("UPDATE nodes SET wg_public_key = zeroblob(32) WHERE node_id = 'a'"),
               SQLite::Exception);
}

TEST_F(StoreTest, NewerSchemaIsRefused) {
  store_.reset();
  {
    SQLite::Database raw(path_, SQLite::OPEN_READWRITE);
    raw.exec("UPDATE schema_version SET version = version + 1");
  }
  auto r = OpenSqliteStore(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(r.error().reason, "schema_too_new");
  EXPECT_NE(r.error().message.find(path_), std::string::npos) << r.error().message;
}

// --- commit feed (CommitInfo) --------------------------------------------------

Status Bump(Tx& tx) {
  TPMESH_ASSIGN_OR_RETURN(int64_t g, tx.BumpGeneration());
  (void)g;
  return OkStatus();
}

TEST_F(StoreTest, CommitObserversSeeOnlyCommittedNodeWritesInOrder) {
  std::vector<CommitInfo> seen;
  const int id = store_->AddCommitObserver([&](const CommitInfo& c) { seen.push_back(c); });

  Tx1(*store_, [&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.InsertNode(MakeNode("n1", "h1", 1, 1)));
    NodeRecord n2 = MakeNode("n2", "h2", 2, 2);
    TPMESH_RETURN_IF_ERROR(tx.InsertNode(n2));
    n2.hostname = "h2-renamed";
    TPMESH_RETURN_IF_ERROR(tx.UpdateNode(n2));  // last write per node is reported
    return Bump(tx);
  });
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_EQ(seen[0].nodes.size(), 2u);
  EXPECT_EQ(seen[0].generation, 1);
  for (const auto& n : seen[0].nodes) {
    if (n.node_id == "n2") {
      EXPECT_EQ(n.hostname, "h2-renamed");
    }
  }

  // Nothing mesh-related written: no notification.
  Tx1(*store_, [&](Tx& tx) { return tx.SetMeta("k", "v"); });
  EXPECT_EQ(seen.size(), 1u);

  // Rolled back by the callback: nothing reported.
  Status st = store_->Transact([&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.InsertNode(MakeNode("n3", "h3", 3, 3)));
    return MakeError(Code::kInternal, "test", "abort");
  });
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(seen.size(), 1u);

  // COMMIT itself fails (deferred foreign key): nothing reported either.
  TokenRecord t{"t1", Filled(0x11, 32), "", 10, 20, 12, "no-such-node", false};
  st = store_->Transact([&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.InsertNode(MakeNode("n4", "h4", 4, 4)));
    TPMESH_RETURN_IF_ERROR(Bump(tx));
    return tx.InsertToken(t);
  });
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_EQ(CountNodes(*store_), 2u);

  // A generation bump alone is reported; removed observers hear nothing.
  Tx1(*store_, [&](Tx& tx) { return Bump(tx); });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[1].nodes.empty());
  EXPECT_EQ(seen[1].generation, 2);
  store_->RemoveCommitObserver(id);
  Tx1(*store_, [&](Tx& tx) { return Bump(tx); });
  EXPECT_EQ(seen.size(), 2u);
}

TEST_F(StoreTest, AThrowingObserverDoesNotUndoTheCommit) {
  const int id = store_->AddCommitObserver(
      [](const CommitInfo&) { throw std::runtime_error("observer bug"); });
  Tx1(*store_, [&](Tx& tx) { return tx.InsertNode(MakeNode("n1", "h1", 1, 1)); });
  EXPECT_EQ(CountNodes(*store_), 1u);
  store_->RemoveCommitObserver(id);
}

TEST(StoreOpenTest, GarbageFileIsRefusedNamingThePath) {
  TempDir dir;
  const std::string path = dir.File("garbage.db");
  {
    std::ofstream f(path, std::ios::binary);
    f << std::string(4096, 'x');
  }
  auto r = OpenSqliteStore(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "store_not_database");
  EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().message;
}

TEST(StoreOpenTest, ForeignSqliteDatabaseIsRefused) {
  TempDir dir;
  const std::string path = dir.File("other.db");
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("CREATE TABLE photos (id INTEGER PRIMARY KEY)");
  }
  auto r = OpenSqliteStore(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "store_not_database");
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  EXPECT_FALSE(raw.tableExists("nodes"));  // untouched
}

TEST(StoreOpenTest, MissingDirectoryIsAClearError) {
  TempDir dir;
  const std::string path = dir.File("no/such/dir/a.db");
  auto r = OpenSqliteStore(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "store_open_failed");
  EXPECT_NE(r.error().message.find(path), std::string::npos);
}

TEST(StoreOpenTest, ReopenKeepsDataAndSchema) {
  TempDir dir;
  const std::string path = dir.File("a.db");
  {
    auto s = Open(path);
    ASSERT_NE(s, nullptr);
    Tx1(*s, [](Tx& tx) { return tx.SetMeta("k", "v1"); });
  }
  auto s = Open(path);
  ASSERT_NE(s, nullptr);
  Tx1(*s, [](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto v, tx.GetMeta("k"));
    EXPECT_EQ(v, std::optional<std::string>("v1"));
    return OkStatus();
  });
}

}  // namespace
}  // namespace tpmesh::authority
