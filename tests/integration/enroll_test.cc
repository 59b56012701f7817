// Attested enrollment end to end: real tpmesh-authority and tpmesh-client
// processes, real swtpms (manufactured with EK certificates from a CA that
// the authority trusts), the admin API over mutual TLS.
#include "tpmesh/proto/enroll.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "tests/support/authority_proc.h"
#include "tests/support/swtpm.h"

namespace tpmesh::testing {
namespace {

using nlohmann::json;

// The /64 of an IPv6 address or prefix text ("fd00:1:2:3::1", "fd00:1:2:3::/64").
std::string Slash64(const std::string& text) {
  std::string addr = text.substr(0, text.find('/'));
  unsigned char b[16] = {};
  if (inet_pton(AF_INET6, addr.c_str(), b) != 1) return "invalid:" + text;
  return HexEncode(ByteView(b, 8));
}

int Mode(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

// One simulated host: its TPM and its tpmesh state dir.
struct Host {
  std::string name;
  std::unique_ptr<Swtpm> tpm;
  std::string state_dir;
};

class EnrollTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(BinDir().empty()) << "TPMESH_BIN_DIR must point at the build's bin dir";
    auto d = ScopedTempDir::Make("tpmesh-enroll-test.");
    ASSERT_TRUE(d.ok()) << d.error().ToString();
    work_ = std::move(*d);
    ca_dir_ = work_->path() + "/tpm-ca";
  }

  ~EnrollTest() override {
    auth_.reset();
    hosts_.clear();  // stops the swtpms while the threads that started them live
    {
      std::lock_guard<std::mutex> lock(keep_mu_);
      release_ = true;
    }
    keep_cv_.notify_all();
    for (auto& t : keepers_) t.join();
  }

  // Manufactures `n` swtpms sharing the test's EK CA: the first alone (it
  // creates the CA), the rest on a few threads (swtpm_setup is CPU-bound).
  // A swtpm dies with the thread that started it (PR_SET_PDEATHSIG), so
  // those threads stay parked until the fixture is destroyed.
  void AddHosts(int n, const std::string& prefix = "node-") {
    const size_t first = hosts_.size();
    for (int i = 0; i < n; ++i) {
      Host h;
      h.name = prefix + std::to_string(first + i + 1);
      h.state_dir = work_->path() + "/" + h.name;
      hosts_.push_back(std::move(h));
    }
    std::mutex mu;
    std::vector<std::string> errors;
    auto start_one = [&](size_t i) {
      Swtpm::Options o;
      o.ca_dir = ca_dir_;
      // No P-256 EK certificate (the client uses the RSA EK, certified by
      // swtpm_setup): provisioning it opens a TPM connection in this process
      // whose socket (no CLOEXEC in tss2) would leak into a swtpm forked by
      // another thread meanwhile, which keeps it open for good, and the
      // single-connection swtpm then never serves tpm2_nvdefine: a hang.
      o.provision_ecc_p256_ek_cert = false;
      auto t = Swtpm::Start(o);
      std::lock_guard<std::mutex> lock(mu);
      if (t.ok()) {
        hosts_[i].tpm = std::move(*t);
      } else {
        errors.push_back(hosts_[i].name + ": " + t.error().ToString());
      }
    };
    size_t next = first;
    if (first == 0 && n > 0) start_one(next++);
    std::atomic<size_t> cursor{next};
    std::atomic<int> finished{0};
    const int workers = 3;
    for (int w = 0; w < workers; ++w) {
      keepers_.emplace_back([&, this] {
        for (size_t i; (i = cursor.fetch_add(1)) < hosts_.size();) start_one(i);
        std::unique_lock<std::mutex> lock(keep_mu_);
        finished.fetch_add(1);
        keep_cv_.notify_all();
        keep_cv_.wait(lock, [this] { return release_; });
      });
    }
    {
      std::unique_lock<std::mutex> lock(keep_mu_);
      keep_cv_.wait(lock, [&] { return finished.load() == workers; });
    }
    ASSERT_TRUE(errors.empty()) << errors.front();
    std::set<int> ports;
    for (const auto& h : hosts_) ports.insert(h.tpm->port());
    ASSERT_EQ(ports.size(), hosts_.size()) << "two swtpms on one port";
  }

  void StartAuthority(bool approval_queue = false) {
    ASSERT_FALSE(hosts_.empty()) << "add hosts first: they create the EK CA";
    auto a = AuthorityProcess::Start(AuthorityOptions{
        {hosts_[0].tpm->ca_root_pem(), hosts_[0].tpm->ca_intermediate_pem()}, approval_queue});
    ASSERT_TRUE(a.ok()) << a.error().ToString();
    auth_ = std::move(*a);
  }

  std::string Token(int ttl = 3600) {
    auto t = auth_->CreateToken(ttl);
    EXPECT_TRUE(t.ok()) << t.error().ToString();
    return t.ok() ? *t : "";
  }

  CommandResult Enroll(const Host& h, std::optional<std::string> token, bool force = false) {
    return RunEnroll(
        *auth_, EnrollArgs{h.name,
                           h.tpm->tcti(),
                           h.state_dir,
                           std::move(token),
                           force,
                           {"[2001:db8::" + h.name.substr(h.name.rfind('-') + 1) + "]:51820"}});
  }

  static proto::EnrollFinishResponse NodeJson(const Host& h) {
    auto raw = ReadFileBytes(h.state_dir + "/node.json");
    EXPECT_TRUE(raw.ok()) << h.name << ": no node.json";
    if (!raw.ok()) return {};
    auto r = proto::ParseEnrollFinishResponse(std::string(raw->begin(), raw->end()));
    EXPECT_TRUE(r.ok()) << h.name << ": node.json: " << r.error().ToString();
    return r.ok() ? *r : proto::EnrollFinishResponse{};
  }

  json Nodes() {
    auto n = auth_->Nodes();
    EXPECT_TRUE(n.ok()) << n.error().ToString();
    return n.ok() ? *n : json{{"generation", -1}, {"nodes", json::array()}};
  }

  json Node(const std::string& id) {
    auto r = auth_->AdminGet("/v1/admin/nodes/" + id);
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    if (!r.ok()) return json::object();
    EXPECT_EQ(r->status, 200) << r->raw;
    return r->body;
  }

  // POST /v1/admin/nodes/{id}/{verb}; expects 200.
  json NodeAction(const std::string& id, const std::string& verb, const std::string& reason) {
    auto r = auth_->AdminPost("/v1/admin/nodes/" + id + "/" + verb, json{{"reason", reason}});
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    if (!r.ok()) return json::object();
    EXPECT_EQ(r->status, 200) << verb << ": " << r->raw;
    return r->body;
  }

  // SIGTERM: the authority must exit 0.
  void StopCleanly() {
    Status st = auth_->Stop();
    EXPECT_TRUE(st.ok()) << st.error().ToString();
  }

  // "ok" or what went wrong, from an independent reader of the DB.
  std::string IntegrityCheck() {
    CommandResult r = RunCommand({"sqlite3", auth_->db_path(), "PRAGMA integrity_check;"});
    if (r.exit_code != 0) return "sqlite3 exited " + std::to_string(r.exit_code) + ": " + r.output;
    while (!r.output.empty() && (r.output.back() == '\n' || r.output.back() == '\r'))
      r.output.pop_back();
    return r.output;
  }

  // Active nodes in the DB by node id; asserts their subnets are unique.
  std::map<std::string, json> ActiveNodes() {
    std::map<std::string, json> out;
    std::set<std::string> subnets;
    const json all = Nodes();
    for (const auto& n : all["nodes"]) {
      if (n.value("status", "") != "active") continue;
      out[n["node_id"].get<std::string>()] = n;
      EXPECT_TRUE(n.contains("overlay_prefix")) << n.dump();
      if (n.contains("overlay_prefix")) {
        EXPECT_TRUE(subnets.insert(n["overlay_prefix"].get<std::string>()).second)
            << "duplicate subnet " << n["overlay_prefix"];
      }
    }
    return out;
  }

  // Declared first, destroyed last: the CA and state dirs outlive the processes.
  std::unique_ptr<ScopedTempDir> work_;
  std::string ca_dir_;
  std::vector<Host> hosts_;
  std::unique_ptr<AuthorityProcess> auth_;
  // Threads that started swtpms, parked until the destructor (see AddHosts).
  std::vector<std::thread> keepers_;
  std::mutex keep_mu_;
  std::condition_variable keep_cv_;
  bool release_ = false;
};

#define ASSERT_ENROLLED(r) \
  ASSERT_EQ((r).exit_code, 0) << (r).output << "\nauthority log:\n" << auth_->log()

// 1. Three nodes with tokens: distinct /64s, state dirs, generation; a
//    second run without --force is a no-op.
TEST_F(EnrollTest, ThreeNodesGetDistinctPrefixesAndPrivateState) {
  ASSERT_NO_FATAL_FAILURE(AddHosts(3));
  ASSERT_NO_FATAL_FAILURE(StartAuthority());
  std::set<std::string> prefixes, addresses, ids;
  for (const auto& h : hosts_) {
    CommandResult r = Enroll(h, Token());
    ASSERT_ENROLLED(r);
    EXPECT_NE(r.output.find("enrolled as node"), std::string::npos) << r.output;
    auto nj = NodeJson(h);
    EXPECT_EQ(nj.status, "active");
    EXPECT_EQ(Slash64(nj.overlay_address), Slash64(nj.overlay_prefix)) << nj.overlay_address;
    EXPECT_NE(nj.overlay_prefix.find("/64"), std::string::npos) << nj.overlay_prefix;
    prefixes.insert(nj.overlay_prefix);
    addresses.insert(nj.overlay_address);
    ids.insert(nj.node_id);
    EXPECT_EQ(Mode(h.state_dir), 0700) << h.state_dir;
    EXPECT_EQ(Mode(h.state_dir + "/wg.key"), 0600);
    EXPECT_EQ(Mode(h.state_dir + "/node.key"), 0600);
  }
  EXPECT_EQ(prefixes.size(), 3u);
  EXPECT_EQ(addresses.size(), 3u);
  EXPECT_EQ(ids.size(), 3u);
  // The last node learned the other two as peers.
  EXPECT_EQ(NodeJson(hosts_[2]).peer_count, 2);

  json nodes = Nodes();
  EXPECT_EQ(nodes["generation"], 3);
  auto active = ActiveNodes();
  EXPECT_EQ(active.size(), 3u);
  for (const auto& h : hosts_) {
    auto nj = NodeJson(h);
    ASSERT_TRUE(active.count(nj.node_id)) << nj.node_id;
    EXPECT_EQ(active[nj.node_id]["overlay_address"], nj.overlay_address);
    EXPECT_EQ(active[nj.node_id]["hostname"], h.name);
  }

  CommandResult again = Enroll(hosts_[0], std::nullopt);
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("already enrolled"), std::string::npos) << again.output;
  EXPECT_EQ(Nodes()["generation"], 3) << "a no-op enrollment changed the mesh";
  StopCleanly();
}

// 2. --force re-enrollment of an active node needs no token and keeps its
//    identity and address; it is audited.
TEST_F(EnrollTest, ForcedReenrollmentKeepsIdentityAndAddress) {
  ASSERT_NO_FATAL_FAILURE(AddHosts(2));
  ASSERT_NO_FATAL_FAILURE(StartAuthority());
  for (const auto& h : hosts_) {
    CommandResult r = Enroll(h, Token());
    ASSERT_ENROLLED(r);
  }
  auto before = NodeJson(hosts_[0]);
  const int64_t gen = Nodes()["generation"].get<int64_t>();

  CommandResult r = Enroll(hosts_[0], std::nullopt, /*force=*/true);
  ASSERT_ENROLLED(r);
  auto after = NodeJson(hosts_[0]);
  EXPECT_EQ(after.node_id, before.node_id);
  EXPECT_EQ(after.overlay_address, before.overlay_address);
  EXPECT_EQ(after.overlay_prefix, before.overlay_prefix);
  EXPECT_GT(after.generation, gen);
  EXPECT_EQ(Node(before.node_id)["enroll_count"], 2);

  auto audit = auth_->AdminGet("/v1/admin/audit?limit=50");
  ASSERT_TRUE(audit.ok()) << audit.error().ToString();
  ASSERT_EQ(audit->status, 200) << audit->raw;
  bool found = false;
  for (const auto& e : audit->body["audit"]) {
    if (e["action"] == "node.reenroll" && e["target"] == before.node_id) found = true;
  }
  EXPECT_TRUE(found) << audit->raw;
  EXPECT_EQ(ActiveNodes().size(), 2u);
  StopCleanly();
}

// `config check` on an enrolled host tells its own TPM from another
// machine's (the EK that names the node), and leaves both untouched; the
// authority's check passes while the authority runs. Both print --version.
TEST_F(EnrollTest, ConfigCheckTellsTheNodesTpmFromAnother) {
  ASSERT_NO_FATAL_FAILURE(AddHosts(2));
  ASSERT_NO_FATAL_FAILURE(StartAuthority());
  for (const auto& h : hosts_) ASSERT_ENROLLED(Enroll(h, Token()));
  const std::string toml = work_->path() + "/client.toml";
  ASSERT_TRUE(WriteFileBytes(toml, AsView("state_dir = \"" + hosts_[0].state_dir + "\"\n")).ok());
  const std::string client = BinDir() + "/tpmesh-client";
  const std::string node_id = NodeJson(hosts_[0]).node_id;
  CommandResult own =
      RunCommand({client, "--config", toml, "config", "check", "--tcti", hosts_[0].tpm->tcti()});
  EXPECT_EQ(own.exit_code, 0) << own.output;
  EXPECT_NE(own.output.find("EK names node " + node_id), std::string::npos) << own.output;
  CommandResult other =
      RunCommand({client, "--config", toml, "config", "check", "--tcti", hosts_[1].tpm->tcti()});
  EXPECT_EQ(other.exit_code, 1) << other.output;
  EXPECT_NE(other.output.find("FAIL  TPM: "), std::string::npos) << other.output;
  EXPECT_NE(other.output.find("ek_mismatch"), std::string::npos) << other.output;
  EXPECT_EQ(NodeJson(hosts_[0]).node_id, node_id);

  CommandResult authority =
      RunCommand({BinDir() + "/tpmesh-authority", "config", "check", "--state-dir",
                  auth_->state_dir(), "--ek-trust-dir", auth_->trust_dir(), "--dev"});
  EXPECT_EQ(authority.exit_code, 0) << authority.output;
  EXPECT_NE(authority.output.find("in use by a running authority"), std::string::npos)
      << authority.output;
  for (const char* program : {"tpmesh-client", "tpmesh-authority", "tpmeshctl"}) {
    CommandResult v = RunCommand({BinDir() + "/" + program, "--version"});
    EXPECT_EQ(v.exit_code, 0) << program;
    EXPECT_NE(v.output.find("0."), std::string::npos) << program << ": " << v.output;
  }
  StopCleanly();
}

// 3. Revocation bumps the generation and blocks re-enrollment; after a
//    restore the node needs a fresh token and gets its old address back.
TEST_F(EnrollTest, RevokedNodeCannotEnrollUntilRestored) {
  ASSERT_NO_FATAL_FAILURE(AddHosts(2));
  ASSERT_NO_FATAL_FAILURE(StartAuthority());
  for (const auto& h : hosts_) {
    CommandResult r = Enroll(h, Token());
    ASSERT_ENROLLED(r);
  }
  auto orig = NodeJson(hosts_[0]);
  const int64_t gen = Nodes()["generation"].get<int64_t>();

  json revoked = NodeAction(orig.node_id, "revoke", "laptop stolen");
  EXPECT_EQ(revoked["status"], "revoked");
  EXPECT_EQ(revoked["status_reason"], "laptop stolen");
  EXPECT_EQ(Nodes()["generation"], gen + 1);
  EXPECT_EQ(ActiveNodes().size(), 1u);
  // A revocation needs a reason.
  auto no_reason = auth_->AdminPost("/v1/admin/nodes/" + NodeJson(hosts_[1]).node_id + "/revoke",
                                    json::object());
  ASSERT_TRUE(no_reason.ok());
  EXPECT_EQ(no_reason->status, 400) << no_reason->raw;

  CommandResult refused = Enroll(hosts_[0], Token(), /*force=*/true);
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("node_revoked"), std::string::npos) << refused.output;
  EXPECT_EQ(Node(orig.node_id)["status"], "revoked");

  json restored = NodeAction(orig.node_id, "restore", "laptop found");
  EXPECT_EQ(restored["status"], "pending");
  EXPECT_EQ(Nodes()["generation"], gen + 1) << "a restore alone must not change the mesh";

  // Restored is not admitted: it needs a token (or approval) like a new node.
  CommandResult no_token = Enroll(hosts_[0], std::nullopt, /*force=*/true);
  EXPECT_NE(no_token.exit_code, 0) << no_token.output;
  EXPECT_NE(no_token.output.find("not_admitted"), std::string::npos) << no_token.output;

  CommandResult back = Enroll(hosts_[0], Token(), /*force=*/true);
  ASSERT_ENROLLED(back);
  auto now = NodeJson(hosts_[0]);
  EXPECT_EQ(now.node_id, orig.node_id);
  EXPECT_EQ(now.overlay_address, orig.overlay_address);
  EXPECT_EQ(Node(orig.node_id)["status"], "active");
  EXPECT_EQ(Nodes()["generation"], gen + 2);
  EXPECT_EQ(ActiveNodes().size(), 2u);
  StopCleanly();
}

// 4. A token admits once; an expired token admits nobody.
TEST_F(EnrollTest, TokenIsSingleUseAndExpires) {
  ASSERT_NO_FATAL_FAILURE(AddHosts(2));
  ASSERT_NO_FATAL_FAILURE(StartAuthority());
  const std::string token = Token();
  const std::string short_lived = Token(/*ttl=*/1);
  CommandResult first = Enroll(hosts_[0], token);
  ASSERT_ENROLLED(first);

  CommandResult reused = Enroll(hosts_[1], token);
  EXPECT_NE(reused.exit_code, 0) << reused.output;
  EXPECT_NE(reused.output.find("token_invalid"), std::string::npos) << reused.output;
  EXPECT_NE(reused.output.find("already used"), std::string::npos) << reused.output;

  std::this_thread::sleep_for(std::chrono::seconds(2));
  CommandResult expired = Enroll(hosts_[1], short_lived);
  EXPECT_NE(expired.exit_code, 0) << expired.output;
  EXPECT_NE(expired.output.find("token_invalid"), std::string::npos) << expired.output;
  EXPECT_NE(expired.output.find("expired"), std::string::npos) << expired.output;

  EXPECT_FALSE(std::filesystem::exists(hosts_[1].state_dir + "/node.json"));
  EXPECT_EQ(ActiveNodes().size(), 1u);
  EXPECT_EQ(Nodes()["nodes"].size(), 1u) << "a refused node must leave no record";
  // The token records who used it.
  auto tokens = auth_->AdminGet("/v1/admin/tokens");
  ASSERT_TRUE(tokens.ok());
  int used = 0;
  for (const auto& t : tokens->body["tokens"]) {
    if (t.contains("used_at")) {
      ++used;
      EXPECT_EQ(t["used_by"], NodeJson(hosts_[0]).node_id);
    }
  }
  EXPECT_EQ(used, 1) << tokens->raw;
  EXPECT_EQ(tokens->raw.find(token), std::string::npos) << "token listed in clear";
  StopCleanly();
}

// 5. With the approval queue, an unknown node waits (exit 3) until an admin
//    approves it, then enrolls.
TEST_F(EnrollTest, PendingNodeEnrollsAfterApproval) {
  ASSERT_NO_FATAL_FAILURE(AddHosts(1));
  ASSERT_NO_FATAL_FAILURE(StartAuthority(/*approval_queue=*/true));
  CommandResult queued = Enroll(hosts_[0], std::nullopt);
  EXPECT_EQ(queued.exit_code, 3) << queued.output;
  EXPECT_NE(queued.output.find("pending_approval"), std::string::npos) << queued.output;
  EXPECT_FALSE(std::filesystem::exists(hosts_[0].state_dir + "/node.json"));

  json nodes = Nodes();
  ASSERT_EQ(nodes["nodes"].size(), 1u) << nodes.dump();
  json pending = nodes["nodes"][0];
  EXPECT_EQ(pending["status"], "pending");
  EXPECT_EQ(pending["hostname"], hosts_[0].name);
  EXPECT_FALSE(pending.contains("overlay_address")) << "a pending node holds no address";
  EXPECT_EQ(nodes["generation"], 0);
  const std::string id = pending["node_id"];
  EXPECT_NE(queued.output.find(id), std::string::npos) << "the client names its node id";

  json approved = NodeAction(id, "approve", "checked the asset tag");
  EXPECT_EQ(approved["status"], "active");
  ASSERT_TRUE(approved.contains("overlay_address")) << approved.dump();

  CommandResult enrolled = Enroll(hosts_[0], std::nullopt);
  ASSERT_ENROLLED(enrolled);
  auto nj = NodeJson(hosts_[0]);
  EXPECT_EQ(nj.node_id, id);
  EXPECT_EQ(nj.overlay_address, approved["overlay_address"]);
  EXPECT_EQ(ActiveNodes().size(), 1u);
  StopCleanly();
}

// 6. An EK certificate from a CA the authority does not trust is refused.
TEST_F(EnrollTest, UntrustedEkCertificateIsRefused) {
  ASSERT_NO_FATAL_FAILURE(AddHosts(1));
  ASSERT_NO_FATAL_FAILURE(StartAuthority());
  auto rogue = Swtpm::Start();  // its own, unrelated CA
  ASSERT_TRUE(rogue.ok()) << rogue.error().ToString();
  Host h{"rogue-1", std::move(*rogue), work_->path() + "/rogue-1"};
  CommandResult r = Enroll(h, Token());
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("ek_cert_untrusted"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(h.state_dir + "/node.json"));
  EXPECT_EQ(Nodes()["nodes"].size(), 0u);
  // The trusted TPM next to it enrolls (the refusal is about the CA).
  CommandResult ok = Enroll(hosts_[0], Token());
  ASSERT_ENROLLED(ok);
  StopCleanly();
}

// 7. Twenty concurrent enrollments: twenty distinct /64s.
TEST_F(EnrollTest, TwentyConcurrentEnrollmentsGetDistinctPrefixes) {
  constexpr int kN = 20;
  ASSERT_NO_FATAL_FAILURE(AddHosts(kN));
  ASSERT_NO_FATAL_FAILURE(StartAuthority());
  std::vector<std::string> tokens;
  for (int i = 0; i < kN; ++i) tokens.push_back(Token());
  std::vector<CommandResult> results(kN);
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < kN; ++i) {
      threads.emplace_back([&, i] { results[i] = Enroll(hosts_[i], tokens[i]); });
    }
    for (auto& th : threads) th.join();
  }
  std::set<std::string> prefixes;
  for (int i = 0; i < kN; ++i) {
    ASSERT_EQ(results[i].exit_code, 0) << hosts_[i].name << ":\n" << results[i].output;
    prefixes.insert(NodeJson(hosts_[i]).overlay_prefix);
  }
  EXPECT_EQ(prefixes.size(), static_cast<size_t>(kN));
  auto active = ActiveNodes();  // also asserts unique subnets
  EXPECT_EQ(active.size(), static_cast<size_t>(kN));
  EXPECT_EQ(Nodes()["nodes"].size(), static_cast<size_t>(kN));
  EXPECT_EQ(Nodes()["generation"], kN);
  for (const auto& h : hosts_) {
    auto nj = NodeJson(h);
    ASSERT_TRUE(active.count(nj.node_id)) << h.name;
    EXPECT_EQ(active[nj.node_id]["overlay_prefix"], nj.overlay_prefix);
  }
  StopCleanly();
  EXPECT_EQ(IntegrityCheck(), "ok");
}

// 8. kill -9 of the authority during an enrollment burst loses nothing that
//    was reported, corrupts nothing, and everyone else can finish afterwards.
TEST_F(EnrollTest, AuthorityCrashDuringBurstIsRecoverable) {
  constexpr int kN = 10;
  ASSERT_NO_FATAL_FAILURE(AddHosts(kN));
  ASSERT_NO_FATAL_FAILURE(StartAuthority());
  std::vector<std::string> tokens;
  for (int i = 0; i < kN; ++i) tokens.push_back(Token());

  std::vector<CommandResult> results(kN);
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kN; ++i) {
    threads.emplace_back([&, i] {
      results[i] = Enroll(hosts_[i], tokens[i]);
      done.fetch_add(1);
    });
  }
  // SIGKILL as soon as the first client has saved its result (node.json is
  // written last). Polls files, not the API: an admin connection opened here
  // would leak into the clients other threads fork meanwhile.
  bool killed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!killed && std::chrono::steady_clock::now() < deadline && done.load() < kN) {
    for (const auto& h : hosts_) {
      if (std::filesystem::exists(h.state_dir + "/node.json")) {
        EXPECT_TRUE(auth_->Kill9().ok());
        killed = true;
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(killed) << "no enrollment finished before all clients did";

  int succeeded = 0;
  for (const auto& r : results) succeeded += r.exit_code == 0;
  std::printf("[ crash    ] %d of %d enrollments reported success before the kill\n", succeeded,
              kN);
  EXPECT_LT(succeeded, kN) << "the kill hit no enrollment in flight";
  // Crash consistency, read by an independent SQLite (replays the WAL).
  EXPECT_EQ(IntegrityCheck(), "ok");

  ASSERT_TRUE(auth_->Restart().ok()) << auth_->log();
  auto active = ActiveNodes();
  for (int i = 0; i < kN; ++i) {
    if (results[i].exit_code != 0) continue;
    auto nj = NodeJson(hosts_[i]);
    ASSERT_TRUE(active.count(nj.node_id)) << hosts_[i].name << " reported success but is lost";
    EXPECT_EQ(active[nj.node_id]["overlay_address"], nj.overlay_address);
  }

  int committed_unreported = 0;
  // The rest re-run. One whose finish committed but whose response was lost
  // is an active node: --force re-enrollment admits it without using the
  // token; otherwise the token (rolled back with the rest) is still valid.
  for (int i = 0; i < kN; ++i) {
    if (results[i].exit_code == 0) continue;
    auto existing = auth_->AdminGet("/v1/admin/nodes/" + hosts_[i].name);
    ASSERT_TRUE(existing.ok());
    CommandResult again = Enroll(hosts_[i], tokens[i], /*force=*/true);
    ASSERT_ENROLLED(again);
    if (existing->status == 200) {
      ++committed_unreported;
      EXPECT_EQ(existing->body["status"], "active") << existing->raw;
      EXPECT_EQ(NodeJson(hosts_[i]).overlay_address, existing->body["overlay_address"]);
    }
  }
  std::printf("[ crash    ] %d committed without the client learning it\n", committed_unreported);
  active = ActiveNodes();  // also asserts unique subnets
  EXPECT_EQ(active.size(), static_cast<size_t>(kN));
  EXPECT_EQ(Nodes()["nodes"].size(), static_cast<size_t>(kN));
  for (const auto& h : hosts_) {
    auto nj = NodeJson(h);
    ASSERT_TRUE(active.count(nj.node_id)) << h.name;
    EXPECT_EQ(active[nj.node_id]["overlay_address"], nj.overlay_address);
  }
  StopCleanly();
  EXPECT_EQ(IntegrityCheck(), "ok");
}

}  // namespace
}  // namespace tpmesh::testing
