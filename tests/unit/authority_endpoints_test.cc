// Endpoints that follow the host (issue 14 item 6): a node's ack carries its
// current endpoints; the authority publishes a change in the next signed
// generation (audited, rate-limited per node), ignores unchanged ones and
// refuses malformed ones; admin status lists the pairs of members whose
// endpoints share no address family.
#include <sodium.h>

#include "tests/support/settle.h"
#include "tests/unit/authority_api_test.h"
#include "tpmesh/authority/publisher.h"
#include "tpmesh/meshcfg/meshcfg.h"

namespace tpmesh::authority::apitest {
namespace {

class EndpointsTest : public AuthorityApiTest {
 protected:
  void SetUp() override {
    AuthorityApiTest::SetUp();
    Bytes pk(32);
    crypto_sign_keypair(pk.data(), secret_.data());
    publisher_ = std::make_unique<ConfigPublisher>(SecretBytes(secret_));
    service_->SetPublisher(publisher_.get());
    handler_ = MakeApiHandler(*service_, publisher_.get());
    ASSERT_TRUE(service_->PublishCurrent().ok());
  }

  struct Enrolled {
    std::string id;
    net::Caller caller;
  };
  Enrolled Join(const std::string& host, std::vector<std::string> endpoints) {
    Node n(host, host);
    proto::EnrollStartResponse ch;
    EXPECT_EQ(Start(n, &ch).status, 200);
    auto req = Answer(n, ch, NewToken());
    req.endpoints = std::move(endpoints);
    auto r = Finish(req);
    EXPECT_EQ(r.status, 200) << r.body;
    auto f = proto::ParseEnrollFinishResponse(r.body);
    EXPECT_TRUE(f.ok());
    return {f->node_id, testing::NodeCaller(f->node_id, f->node_cert_pem)};
  }

  net::HttpResponse Ack(const Enrolled& n, const std::string& endpoints_json) {
    std::string body = "{\"generation\":" + std::to_string(publisher_->generation()) +
                       ",\"peers\":[]" +
                       (endpoints_json.empty() ? "" : ",\"endpoints\":" + endpoints_json) + "}";
    net::HttpRequest req{"POST", "/v1/node/ack", {}, body, "192.0.2.1"};
    return tpmesh::testing::Settle(handler_(req, n.caller));
  }

  // The endpoints the latest signed state gives `id`.
  std::vector<std::string> Published(const std::string& id) {
    auto body = publisher_->Newer(-1);
    EXPECT_TRUE(body);
    auto state = meshcfg::ParseSignedState(json::parse(*body)["full"].dump());
    EXPECT_TRUE(state.ok());
    for (const auto& m : state->state.members) {
      if (m.node_id == id) return m.endpoints;
    }
    return {"(not a member)"};
  }

  Bytes secret_ = Bytes(64);
  std::unique_ptr<ConfigPublisher> publisher_;
};

TEST_F(EndpointsTest, AChangeIsPublishedInTheNextGenerationAndAudited) {
  Enrolled a = Join("ep-a", {"[2001:db8::10]:51820"});
  const int64_t before = publisher_->generation();
  ASSERT_EQ(Ack(a, R"(["[2001:db8::99]:51820", "192.0.2.99:51820"])").status, 200);
  EXPECT_EQ(publisher_->generation(), before + 1);
  EXPECT_EQ(Published(a.id),
            (std::vector<std::string>{"[2001:db8::99]:51820", "192.0.2.99:51820"}));
  auto audit = Parse(Call("GET", "/v1/admin/audit", "", kAdmin));
  bool found = false;
  for (const auto& e : audit["audit"]) {
    if (e.value("action", "") == "node.endpoints" && e.value("target", "") == a.id) {
      found = true;
      EXPECT_NE(e.value("detail", "").find("[2001:db8::10]:51820] -> [[2001:db8::99]"),
                std::string::npos)
          << e.dump();
    }
  }
  EXPECT_TRUE(found) << audit.dump();

  // The same endpoints again, or none reported: nothing new.
  clock_.Advance(60);
  ASSERT_EQ(Ack(a, R"(["[2001:db8::99]:51820", "192.0.2.99:51820"])").status, 200);
  ASSERT_EQ(Ack(a, "").status, 200);
  EXPECT_EQ(publisher_->generation(), before + 1);
}

TEST_F(EndpointsTest, ChangesFromOneNodeArePublishedAtMostOncePerInterval) {
  Enrolled a = Join("ep-rate", {"[2001:db8::10]:51820"});
  const int64_t before = publisher_->generation();
  ASSERT_EQ(Ack(a, R"(["[2001:db8::1]:51820"])").status, 200);
  ASSERT_EQ(Ack(a, R"(["[2001:db8::2]:51820"])").status, 200);  // inside the interval
  EXPECT_EQ(publisher_->generation(), before + 1);
  EXPECT_EQ(Published(a.id), std::vector<std::string>{"[2001:db8::1]:51820"});
  clock_.Advance(kEndpointChangeIntervalSeconds);
  ASSERT_EQ(Ack(a, R"(["[2001:db8::2]:51820"])").status, 200);  // the next report carries it
  EXPECT_EQ(publisher_->generation(), before + 2);
  EXPECT_EQ(Published(a.id), std::vector<std::string>{"[2001:db8::2]:51820"});
}

TEST_F(EndpointsTest, MalformedEndpointsAreRefusedAndChangeNothing) {
  Enrolled a = Join("ep-bad", {"[2001:db8::10]:51820"});
  const int64_t before = publisher_->generation();
  for (const char* bad :
       {R"(["2001:db8::1:51820"])", R"(["[2001:db8::1]:0"])", R"(["host.example:51820"])",
        R"("[2001:db8::1]:51820")", R"(["a:1","b:1","c:1","d:1","e:1","f:1","g:1","h:1","i:1"])"}) {
    auto r = Ack(a, bad);
    EXPECT_EQ(r.status, 400) << bad << " -> " << r.body;
    EXPECT_NE(r.body.find("endpoint"), std::string::npos) << r.body;
  }
  EXPECT_EQ(publisher_->generation(), before);
  EXPECT_EQ(Published(a.id), std::vector<std::string>{"[2001:db8::10]:51820"});
}

TEST_F(EndpointsTest, StatusListsThePairsThatShareNoAddressFamily) {
  Enrolled dual = Join("ep-dual", {"[2001:db8::1]:51820", "192.0.2.1:51820"});
  Enrolled v4 = Join("ep-v4", {"192.0.2.2:51820"});
  Enrolled v6 = Join("ep-v6", {"[2001:db8::3]:51820"});
  auto status = Parse(Call("GET", "/v1/admin/status", "", kAdmin));
  ASSERT_EQ(status["unreachable_pairs"].get<int>(), 1) << status.dump();
  const auto& pair = status["unreachable"][0];
  EXPECT_EQ(std::set<std::string>({pair["a"], pair["b"]}), std::set<std::string>({v4.id, v6.id}));
  EXPECT_LT(pair["a"].get<std::string>(), pair["b"].get<std::string>());
  EXPECT_NE(pair["reason"].get<std::string>().find("no common address family"), std::string::npos);
  // v4 gains an IPv6 address: no pair is left.
  ASSERT_EQ(Ack(v4, R"(["[2001:db8::2]:51820", "192.0.2.2:51820"])").status, 200);
  status = Parse(Call("GET", "/v1/admin/status", "", kAdmin));
  EXPECT_EQ(status["unreachable_pairs"].get<int>(), 0) << status.dump();
  EXPECT_TRUE(status["unreachable"].empty());
  (void)dual;
}

}  // namespace
}  // namespace tpmesh::authority::apitest
