// The authority's HTTP handler in process: config publishing (long poll,
// signed states, group publish, publish failures; the fixture:
// authority_api_test.h).
#include <atomic>
#include <memory>
#include <set>
#include <thread>

#include "tests/support/settle.h"
#include "tests/unit/authority_api_test.h"
#include "tpmesh/authority/publisher.h"
#include "tpmesh/authority/store.h"
#include "tpmesh/meshcfg/meshcfg.h"

namespace tpmesh::authority::apitest {
namespace {

class ConfigPushTest : public AuthorityApiTest {
 protected:
  void SetUpPublisher() {
    publisher_ = std::make_unique<ConfigPublisher>(SecretBytes(secret_));
    service_->SetPublisher(publisher_.get());
    handler_ = MakeApiHandler(*service_, publisher_.get());
    ASSERT_TRUE(service_->PublishCurrent().ok());
  }
  Bytes secret_ = [] {
    Bytes pk(32), sk(64);
    crypto_sign_keypair(pk.data(), sk.data());
    return sk;
  }();
  std::unique_ptr<ConfigPublisher> publisher_;
};

TEST_F(ConfigPushTest, LongPollServesSignedStateAndOneBadRecordDoesNotBlockOthers) {
  SetUpPublisher();
  Node a("push-a", "push-a");
  ASSERT_EQ(Enroll(a, NewToken()).status, 200);
  // A corrupt record (a 3-byte WireGuard key) lands in the store somehow.
  ASSERT_TRUE(store_
                  ->Transact([&](Tx& tx) -> Status {
                    NodeRecord bad;
                    bad.node_id = "00000000000000000bad";
                    bad.hostname = "corrupt";
                    bad.status = NodeStatus::kActive;
                    bad.ek_sha256 = Bytes(32, 0xee);
                    bad.subnet = 999;
                    bad.wg_public_key = Bytes();  // no key: cannot be a member
                    return tx.InsertNode(bad);
                  })
                  .ok());
  Node b("push-b", "push-b");
  auto rb = Enroll(b, NewToken());
  ASSERT_EQ(rb.status, 200) << rb.body;
  auto fb = proto::ParseEnrollFinishResponse(rb.body);
  ASSERT_TRUE(fb.ok());

  net::Caller node = testing::NodeCaller(fb->node_id, fb->node_cert_pem);
  net::HttpRequest req;
  req.method = "GET";
  req.path = "/v1/node/config";
  req.query = {{"since", "-1"}, {"wait", "0"}};
  auto r = tpmesh::testing::Settle(handler_(req, node));
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  auto state = meshcfg::ParseSignedState(j["full"].dump());
  ASSERT_TRUE(state.ok()) << state.error().ToString();
  Bytes pk(32);
  crypto_sign_ed25519_sk_to_pk(pk.data(), secret_.data());
  ASSERT_TRUE(meshcfg::VerifySignedState(*state, -1, {pk}).ok());
  std::set<std::string> hosts;
  for (const auto& m : state->state.members) hosts.insert(m.hostname);
  EXPECT_EQ(hosts, (std::set<std::string>{"push-a", "push-b"}));

  // Nothing newer: 204 after the (zero) wait.
  req.query = {{"since", std::to_string(state->state.generation)}, {"wait", "0"}};
  EXPECT_EQ(tpmesh::testing::Settle(handler_(req, node)).status, 204);
  // Bad query values are 400, not a crash.
  req.query = {{"since", "x"}};
  EXPECT_EQ(tpmesh::testing::Settle(handler_(req, node)).status, 400);

  // Acknowledge; admin status counts the node as converged.
  net::HttpRequest ack{
      "POST",
      "/v1/node/ack",
      {},
      "{\"generation\":" + std::to_string(state->state.generation) + ",\"peers\":[]}",
      "192.0.2.1"};
  clock_.Advance(100);
  EXPECT_EQ(tpmesh::testing::Settle(handler_(ack, node)).status, 200);
  // nodes list: LAST SEEN follows the ack, not only enrollments.
  auto listed = Call("GET", "/v1/admin/nodes", "", kAdmin);
  bool seen = false;
  const json listed_json = Parse(listed);
  for (const auto& n : listed_json["nodes"]) {
    if (n.value("node_id", "") == fb->node_id) {
      seen = true;
      EXPECT_EQ(n.value("last_seen", int64_t{0}), ToUnixSeconds(clock_.Now()));
    }
  }
  EXPECT_TRUE(seen) << listed.body;
  auto status = Call("GET", "/v1/admin/status", "", kAdmin);
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_GE(json::parse(status.body)["converged"].get<int>(), 1);
}

// Enrollments that commit while a state is being signed are published
// together (group publish); each call returns only once a state holding its
// generation is published, and the last published state is the store's.
// A state that cannot be signed fails the call that committed it, and is
// logged; the change stays committed and the next good publish carries it.
TEST_F(ConfigPushTest, AFailedPublishFailsTheCallAndIsLogged) {
  std::vector<std::string> lines;
  settings_.log = [&](const std::string& l) { lines.push_back(l); };
  Build();
  publisher_ = std::make_unique<ConfigPublisher>(SecretBytes(Bytes(5, 1)));  // no Ed25519 key
  service_->SetPublisher(publisher_.get());
  handler_ = MakeApiHandler(*service_, publisher_.get());
  Node a("push-fail", "push-fail");
  auto r = Enroll(a, NewToken());
  EXPECT_EQ(StatusReason(r), "500 config_publish_failed");
  EXPECT_EQ(Nodes().statuses, std::vector<std::string>{"push-fail:active"});
  EXPECT_EQ(publisher_->generation(), -1) << "nothing was published";
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines.back().find("publishing the mesh config of generation"), std::string::npos)
      << lines.back();
  EXPECT_NE(lines.back().find("invalid_signing_key"), std::string::npos) << lines.back();
}

TEST_F(ConfigPushTest, ConcurrentEnrollmentsAreAllPublishedBeforeTheyReturn) {
  SetUpPublisher();
  constexpr int kThreads = 4, kPerThread = 3;
  std::vector<std::unique_ptr<Node>> nodes;
  std::vector<std::string> tokens;
  for (int i = 0; i < kThreads * kPerThread; ++i) {
    nodes.push_back(
        std::make_unique<Node>("group-" + std::to_string(i), "group-" + std::to_string(i)));
    tokens.push_back(NewToken());
  }
  std::atomic<int> failures{0};
  std::vector<std::string> certs(nodes.size());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kPerThread; ++k) {
        const int i = t * kPerThread + k;
        auto r = Enroll(*nodes[i], tokens[i]);
        auto f = proto::ParseEnrollFinishResponse(r.body);
        if (r.status != 200 || !f.ok() || publisher_->generation() < f->generation) ++failures;
        if (f.ok()) certs[i] = f->node_cert_pem;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  const Snapshot s = Nodes();
  EXPECT_EQ(publisher_->generation(), s.generation);

  net::HttpRequest req{"GET", "/v1/node/config", {{"since", "-1"}, {"wait", "0"}}, "", "192.0.2.1"};
  auto self = Call("GET", "/v1/admin/nodes/group-0", "", kAdmin);
  ASSERT_EQ(self.status, 200) << self.body;
  net::Caller node = testing::NodeCaller(Parse(self).value("node_id", ""), certs[0]);
  auto r = tpmesh::testing::Settle(handler_(req, node));
  ASSERT_EQ(r.status, 200) << r.body;
  auto state = meshcfg::ParseSignedState(json::parse(r.body)["full"].dump());
  ASSERT_TRUE(state.ok()) << state.error().ToString();
  EXPECT_EQ(state->state.members.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(state->state.generation, s.generation);

  // Revocation reaches the per-request check (held in memory) at once.
  ASSERT_EQ(Call("POST", "/v1/admin/nodes/group-0/revoke", "{\"reason\":\"test\"}", kAdmin).status,
            200);
  EXPECT_EQ(StatusReason(tpmesh::testing::Settle(handler_(req, node))), "403 node_revoked");
  EXPECT_EQ(publisher_->generation(), s.generation + 1);
}

// A poll with nothing newer parks (HttpResponse::poll, no thread held) as a
// watcher on the publisher; the next publish answers it with the new
// generation, and a node revoked while it waits is answered 403.
TEST_F(ConfigPushTest, AParkedPollIsAnsweredByTheNextPublishAndRecheckedForRevocation) {
  SetUpPublisher();
  Node a("park-a", "park-a");
  auto ra = Enroll(a, NewToken());
  ASSERT_EQ(ra.status, 200) << ra.body;
  auto fa = proto::ParseEnrollFinishResponse(ra.body);
  ASSERT_TRUE(fa.ok());
  net::Caller node = testing::NodeCaller(fa->node_id, fa->node_cert_pem);
  const int64_t g = publisher_->generation();
  net::HttpRequest req{
      "GET", "/v1/node/config", {{"since", std::to_string(g)}, {"wait", "20"}}, "", "192.0.2.1"};
  net::HttpResponse parked = handler_(req, node);
  ASSERT_TRUE(parked.poll);
  EXPECT_EQ(parked.status, 204);  // what the server sends at the timeout
  EXPECT_EQ(parked.poll_timeout, std::chrono::seconds(20));
  std::atomic<bool> done{false};
  net::HttpResponse answered;
  std::thread waiter([&] {
    answered = tpmesh::testing::Settle(std::move(parked));
    done = true;
  });
  for (int i = 0; i < 500 && publisher_->waiting() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(publisher_->waiting(), 1u);
  EXPECT_FALSE(done);
  Node b("park-b", "park-b");
  ASSERT_EQ(Enroll(b, NewToken()).status, 200);  // publishes generation g + 1
  waiter.join();
  ASSERT_EQ(answered.status, 200) << answered.body;
  EXPECT_GT(json::parse(answered.body).value("generation", int64_t{0}), g);
  EXPECT_EQ(publisher_->waiting(), 0u);

  // Parked again, then revoked: the revocation's publish answers 403.
  req.query["since"] = std::to_string(publisher_->generation());
  net::HttpResponse again = handler_(req, node);
  ASSERT_TRUE(again.poll);
  std::thread waiter2([&] { answered = tpmesh::testing::Settle(std::move(again)); });
  for (int i = 0; i < 500 && publisher_->waiting() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(Call("POST", "/v1/admin/nodes/park-a/revoke", "{\"reason\":\"test\"}", kAdmin).status,
            200);
  waiter2.join();
  EXPECT_EQ(StatusReason(answered), "403 node_revoked");

  // Shutdown answers a parked poll with 204 at once.
  net::HttpRequest breq = req;
  Node c("park-c", "park-c");
  auto rc = Enroll(c, NewToken());
  auto fc = proto::ParseEnrollFinishResponse(rc.body);
  ASSERT_TRUE(fc.ok());
  breq.query["since"] = std::to_string(publisher_->generation());
  net::HttpResponse last = handler_(breq, testing::NodeCaller(fc->node_id, fc->node_cert_pem));
  ASSERT_TRUE(last.poll);
  std::thread waiter3([&] { answered = tpmesh::testing::Settle(std::move(last)); });
  for (int i = 0; i < 500 && publisher_->waiting() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  publisher_->Shutdown();
  waiter3.join();
  EXPECT_EQ(answered.status, 204);
}

}  // namespace
}  // namespace tpmesh::authority::apitest
