// The authority's HTTP handler in process: real service, real SQLite file in
// a temp dir, SoftTpm nodes, no sockets. Every failure case asserts the HTTP
// status and the stable error reason, and that nothing was half-written.
#include <gtest/gtest.h>
#include <sodium.h>
#include <stdlib.h>

#include <filesystem>
#include <set>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <atomic>
#include <thread>

#include "tests/support/fake_env.h"
#include "tests/support/api_test_util.h"
#include "tests/support/temp_dir.h"
#include "tests/support/soft_tpm.h"
#include "tpmesh/authority/api.h"
#include "tpmesh/authority/service.h"
#include "tpmesh/authority/store.h"
#include "tpmesh/net/http.h"
#include "tpmesh/pki/pki.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::authority {
namespace {

namespace fs = std::filesystem;
using attest::KeyAlg;
using nlohmann::json;
using testing::EkCertSource;
using testing::FakeClock;
using testing::SoftTpm;

// Each hostname's own WireGuard public key (a key belongs to one node).
Bytes WgKeyFor(const std::string& hostname) {
  Bytes k(32);
  crypto_generichash(k.data(), k.size(), reinterpret_cast<const uint8_t*>(hostname.data()),
                     hostname.size(), nullptr, 0);
  return k;
}

// A fresh directory per test, removed afterwards.
class TempDir : public testing::TempDir {
 public:
  TempDir() : testing::TempDir("tpmesh-api") {}
};

using testing::kAdmin;
using testing::kAnon;
using testing::Reason;
using testing::StatusReason;
json Parse(const net::HttpResponse& r) { return testing::ParseBody(r); }

// A machine: a SoftTpm plus what the enroll client keeps.
struct Node {
  explicit Node(std::string seed, std::string host, KeyAlg alg = KeyAlg::kEccP256,
                EkCertSource cert = EkCertSource::kTrusted)
      : tpm(std::move(seed), cert), hostname(std::move(host)), ek_alg(alg) {}
  SoftTpm tpm;
  std::string hostname;
  KeyAlg ek_alg;
  std::optional<attest::AkBlob> ak;
  int wg_key_number = 0;  // bumped for a new WireGuard key, as `enroll --force` makes one
  std::optional<Bytes> wg_key;  // set: this key instead
};

class AuthorityApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenSqliteStore(dir_.File("authority.db"));
    ASSERT_TRUE(store.ok()) << store.error().ToString();
    store_ = std::move(store).value();
    auto ca = pki::AuthorityCa::Create("tpmesh test authority", clock_.Now(),
                                       std::chrono::hours(24 * 365));
    ASSERT_TRUE(ca.ok()) << ca.error().ToString();
    ca_ = std::move(ca).value();
    ASSERT_TRUE(trust_.AddPem(SoftTpm::TrustedRoot().Pem()).ok());
    auto prefix = ParseMeshPrefix("fd12:3456:789a::/48");
    ASSERT_TRUE(prefix.ok());
    settings_.mesh_prefix = *prefix;
    settings_.dev_mode = false;
    Build();
  }

  // (Re)creates the service over the same store with the current settings_.
  void Build() {
    AuthorityKeys keys{&ca_, ca_.cert_pem(), Bytes(32, 0xc5)};
    service_ = std::make_unique<AuthorityService>(*store_, trust_, keys, settings_, clock_,
                                                  SystemRandom::Instance());
    handler_ = MakeApiHandler(*service_);
  }

  net::HttpResponse Call(const std::string& method, const std::string& path,
                         const std::string& body = "", const net::Caller& caller = kAnon) {
    net::HttpRequest req;
    req.method = method;
    req.path = path;
    req.body = body;
    req.remote_addr = "192.0.2.1";
    return handler_(req, caller);
  }

  std::string NewToken() {
    auto r = Call("POST", "/v1/admin/tokens", R"({"ttl_seconds": 3600, "comment": "test"})", kAdmin);
    EXPECT_EQ(r.status, 201) << r.body;
    return Parse(r).value("token", "");
  }

  void Allow(Node& n) {
    auto h = n.tpm.EkSha256(n.ek_alg);
    ASSERT_TRUE(h.ok());
    auto r = Call("POST", "/v1/admin/ek-allowlist",
                  json{{"ek_sha256", HexEncode(*h)}, {"comment", n.hostname}}.dump(), kAdmin);
    ASSERT_EQ(r.status, 201) << r.body;
  }

  proto::EnrollStartRequest StartRequest(Node& n) {
    auto ek = n.tpm.ReadEk(n.ek_alg);
    EXPECT_TRUE(ek.ok());
    if (!n.ak) {
      auto ak = n.tpm.CreateAk(KeyAlg::kEccP256);
      EXPECT_TRUE(ak.ok());
      n.ak = *ak;
    }
    proto::EnrollStartRequest req;
    req.hostname = n.hostname;
    req.ek_alg = n.ek_alg;
    req.ek_public = ek->ek_public;
    req.ek_cert = ek->ek_cert_der;
    req.ek_intermediates = ek->intermediates;
    req.ak_public = n.ak->public_area;
    return req;
  }

  // POST /v1/enroll/start; on 200 fills *out.
  net::HttpResponse Start(Node& n, proto::EnrollStartResponse* out = nullptr) {
    auto r = Call("POST", "/v1/enroll/start", proto::ToJson(StartRequest(n)));
    if (r.status == 200 && out != nullptr) {
      auto parsed = proto::ParseEnrollStartResponse(r.body);
      EXPECT_TRUE(parsed.ok()) << r.body;
      if (parsed.ok()) *out = std::move(parsed).value();
    }
    return r;
  }

  // What the node sends back: ActivateCredential + Quote + keys.
  proto::EnrollFinishRequest Answer(Node& n, const proto::EnrollStartResponse& ch,
                                    std::optional<std::string> token = std::nullopt) {
    proto::EnrollFinishRequest req;
    req.challenge_id = ch.challenge_id;
    auto secret = n.tpm.ActivateCredential(*n.ak, n.ek_alg, ch.credential);
    EXPECT_TRUE(secret.ok()) << secret.error().ToString();
    if (secret.ok()) req.secret = std::move(secret).value();
    auto quote = n.tpm.Quote(*n.ak, ch.pcr_selection, ch.nonce);
    EXPECT_TRUE(quote.ok()) << quote.error().ToString();
    if (quote.ok()) req.quote = std::move(quote).value();
    req.wg_public_key = n.wg_key ? *n.wg_key : WgKeyFor(n.hostname + "#" + std::to_string(n.wg_key_number));
    req.hostname = n.hostname;
    req.endpoints = {"192.0.2.10:51820", "[2001:db8::10]:51820"};
    auto key = pki::GenerateKeyPem();
    EXPECT_TRUE(key.ok());
    auto csr = pki::MakeCsr(*key, n.hostname);
    EXPECT_TRUE(csr.ok());
    req.csr_pem = *csr;
    req.token = std::move(token);
    return req;
  }

  net::HttpResponse Finish(const proto::EnrollFinishRequest& req) {
    return Call("POST", "/v1/enroll/finish", proto::ToJson(req));
  }

  // start + finish.
  net::HttpResponse Enroll(Node& n, std::optional<std::string> token = std::nullopt) {
    proto::EnrollStartResponse ch;
    auto s = Start(n, &ch);
    if (s.status != 200) return s;
    return Finish(Answer(n, ch, std::move(token)));
  }

  struct Snapshot {
    int64_t generation = -1;
    size_t nodes = 0;
    std::vector<std::string> statuses;
  };
  Snapshot Nodes() {
    auto r = Call("GET", "/v1/admin/nodes", "", kAdmin);
    EXPECT_EQ(r.status, 200) << r.body;
    json j = Parse(r);
    Snapshot s;
    s.generation = j.value("generation", int64_t{-1});
    for (const auto& n : j.value("nodes", json::array())) {
      s.statuses.push_back(n.value("hostname", "") + ":" + n.value("status", ""));
    }
    s.nodes = s.statuses.size();
    return s;
  }
  void ExpectUnchanged(const Snapshot& before, const std::string& what) {
    Snapshot now = Nodes();
    EXPECT_EQ(now.generation, before.generation) << what;
    EXPECT_EQ(now.statuses, before.statuses) << what;
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Store> store_;
  pki::AuthorityCa ca_;
  attest::TrustStore trust_;
  AuthoritySettings settings_;
  std::unique_ptr<AuthorityService> service_;
  net::Handler handler_;
};

// --- happy path --------------------------------------------------------------

TEST_F(AuthorityApiTest, TwoNodesEnrollWithTokens) {
  const Snapshot empty = Nodes();
  EXPECT_EQ(empty.nodes, 0u);

  Node a("api-happy-a", "node-a");
  auto ra = Enroll(a, NewToken());
  ASSERT_EQ(ra.status, 200) << ra.body;
  auto fa = proto::ParseEnrollFinishResponse(ra.body);
  ASSERT_TRUE(fa.ok()) << fa.error().ToString();
  EXPECT_EQ(fa->status, "active");
  EXPECT_EQ(fa->mesh_prefix, "fd12:3456:789a::/48");
  EXPECT_EQ(fa->overlay_address.rfind("fd12:3456:789a:", 0), 0u) << fa->overlay_address;
  EXPECT_EQ(fa->overlay_prefix.rfind("fd12:3456:789a:", 0), 0u) << fa->overlay_prefix;
  EXPECT_EQ(fa->peer_count, 0);
  EXPECT_EQ(fa->ca_bundle_pem, ca_.cert_pem());
  EXPECT_EQ(fa->config_signing_key, Bytes(32, 0xc5));
  auto ek_hash = a.tpm.EkSha256(a.ek_alg);
  ASSERT_TRUE(ek_hash.ok());
  EXPECT_EQ(fa->node_id, NodeIdFromEk(*ek_hash));
  auto ident = pki::IdentityFromCertPem(fa->node_cert_pem);
  ASSERT_TRUE(ident.ok()) << ident.error().ToString();
  EXPECT_EQ(ident->kind, pki::PeerKind::kNode);
  EXPECT_EQ(ident->id, fa->node_id);
  EXPECT_EQ(fa->generation, empty.generation + 1);

  Node b("api-happy-b", "node-b", KeyAlg::kRsa2048);
  auto rb = Enroll(b, NewToken());
  ASSERT_EQ(rb.status, 200) << rb.body;
  auto fb = proto::ParseEnrollFinishResponse(rb.body);
  ASSERT_TRUE(fb.ok());
  EXPECT_EQ(fb->generation, fa->generation + 1);
  EXPECT_NE(fb->overlay_prefix, fa->overlay_prefix);
  EXPECT_EQ(fb->peer_count, 1);  // the peers themselves: only in the signed config
  EXPECT_EQ(rb.body.find("\"peers\""), std::string::npos) << rb.body;

  Snapshot s = Nodes();
  EXPECT_EQ(s.generation, fb->generation);
  EXPECT_EQ(s.statuses, (std::vector<std::string>{"node-a:active", "node-b:active"}));

  // Node routes: the node's own record with its certificate identity.
  auto self = Call("GET", "/v1/node/self", "", testing::NodeCaller(fa->node_id, fa->node_cert_pem));
  ASSERT_EQ(self.status, 200) << self.body;
  EXPECT_EQ(Parse(self).value("hostname", ""), "node-a");
  // Re-enrollment of the same EK keeps id and address, no token needed.
  Node a_again("api-happy-a", "node-a");
  auto again = Enroll(a_again);
  ASSERT_EQ(again.status, 200) << again.body;
  auto fa2 = proto::ParseEnrollFinishResponse(again.body);
  ASSERT_TRUE(fa2.ok());
  EXPECT_EQ(fa2->node_id, fa->node_id);
  EXPECT_EQ(fa2->overlay_address, fa->overlay_address);
  EXPECT_EQ(fa2->peer_count, 1);
}

// --- malformed requests --------------------------------------------------------

TEST_F(AuthorityApiTest, MalformedStartRequests) {
  Node n("api-malformed-start", "node-m");
  json good = json::parse(proto::ToJson(StartRequest(n)));
  auto post = [&](const std::string& body) { return Call("POST", "/v1/enroll/start", body); };

  EXPECT_EQ(StatusReason(post("{\"hostname\": ")), "400 invalid_request");
  EXPECT_EQ(StatusReason(post("[1, 2, 3]")), "400 invalid_request");
  EXPECT_EQ(StatusReason(post("")), "400 invalid_request");
  json missing = good;
  missing.erase("ak_public");
  EXPECT_EQ(StatusReason(post(missing.dump())), "400 invalid_request");
  json mistyped = good;
  mistyped["hostname"] = 42;
  EXPECT_EQ(StatusReason(post(mistyped.dump())), "400 invalid_request");
  json bad_b64 = good;
  bad_b64["ek_public"] = "!!not base64!!";
  EXPECT_EQ(StatusReason(post(bad_b64.dump())), "400 invalid_request");
  json bad_alg = good;
  bad_alg["ek_alg"] = "dsa1024";
  EXPECT_EQ(post(bad_alg.dump()).status, 400);
  json bad_host = good;
  bad_host["hostname"] = "under_score.example";
  EXPECT_EQ(StatusReason(post(bad_host.dump())), "400 invalid_hostname");
  bad_host["hostname"] = "-leading";
  EXPECT_EQ(StatusReason(post(bad_host.dump())), "400 invalid_hostname");
  // Error messages quote (a prefix of) the bad input; cutting a multi-byte
  // UTF-8 character must not break the JSON error body.
  bad_host["hostname"] = std::string(63, 'a') + "\u00e9";
  EXPECT_EQ(StatusReason(post(bad_host.dump())), "400 invalid_hostname");
  EXPECT_EQ(StatusReason(post(good.dump())).substr(0, 3), "200");
}

TEST_F(AuthorityApiTest, MalformedFinishRequestsChangeNothing) {
  Node n("api-malformed-finish", "node-f");
  proto::EnrollStartResponse ch;
  ASSERT_EQ(Start(n, &ch).status, 200);
  const std::string token = NewToken();
  json good = json::parse(proto::ToJson(Answer(n, ch, token)));
  const Snapshot before = Nodes();
  auto post = [&](const json& body) { return Call("POST", "/v1/enroll/finish", body.dump()); };
  auto check = [&](json body, const std::string& expect, const std::string& what) {
    EXPECT_EQ(StatusReason(post(body)), expect) << what;
    ExpectUnchanged(before, what);
  };

  EXPECT_EQ(StatusReason(Call("POST", "/v1/enroll/finish", "{{")), "400 invalid_request");
  EXPECT_EQ(StatusReason(Call("POST", "/v1/enroll/finish", "\"a string\"")), "400 invalid_request");
  for (const char* field : {"challenge_id", "secret", "quote", "wg_public_key", "hostname", "csr"}) {
    json j = good;
    j.erase(field);
    check(j, "400 invalid_request", std::string("missing ") + field);
  }
  json j = good;
  j["quote"].erase("pcrs");
  check(j, "400 invalid_request", "missing quote.pcrs");
  j = good;
  j["secret"] = "abc";  // not padded base64
  check(j, "400 invalid_request", "bad base64 secret");
  j = good;
  j["quote"]["attest"] = "%%%%";
  check(j, "400 invalid_request", "bad base64 attest");
  j = good;
  j["wg_public_key"] = Base64Encode(Bytes(31, 1));
  check(j, "400 invalid_request", "31-byte wg key");
  j = good;
  j["wg_public_key"] = Base64Encode(Bytes(33, 1));
  check(j, "400 invalid_request", "33-byte wg key");
  j = good;
  j["hostname"] = "bad host";
  check(j, "400 invalid_hostname", "hostname with a space");
  j = good;
  j["endpoints"] = {"192.0.2.10"};
  check(j, "400 invalid_endpoint", "endpoint without port");
  j = good;
  j["endpoints"] = {"2001:db8::1:51820"};
  check(j, "400 invalid_endpoint", "v6 endpoint without brackets");
  j = good;
  j["endpoints"] = {"192.0.2.10:70000"};
  check(j, "400 invalid_endpoint", "port out of range");
  // A different hostname than the challenge was issued for.
  j = good;
  j["hostname"] = "someone-else";
  check(j, "400 invalid_request", "hostname differs from the challenge");
}

TEST_F(AuthorityApiTest, TruncatedTpmStructures) {
  Node n("api-truncated", "node-t");
  json good = json::parse(proto::ToJson(StartRequest(n)));
  for (const char* field : {"ek_public", "ak_public"}) {
    auto raw = Base64Decode(good[field].get<std::string>());
    ASSERT_TRUE(raw.ok());
    for (size_t cut : {size_t{1}, raw->size() / 2, raw->size() - 2}) {
      json j = good;
      j[field] = Base64Encode(ByteView(raw->data(), raw->size() - cut));
      EXPECT_EQ(StatusReason(Call("POST", "/v1/enroll/start", j.dump())),
                "400 tpm_structure_malformed")
          << field << " minus " << cut;
    }
    json j = good;
    Bytes longer = *raw;
    longer.push_back(0);
    j[field] = Base64Encode(longer);
    EXPECT_EQ(StatusReason(Call("POST", "/v1/enroll/start", j.dump())),
              "400 tpm_structure_malformed")
        << field << " with a trailing byte";
  }

  const Snapshot before = Nodes();
  for (bool signature : {false, true}) {
    proto::EnrollStartResponse ch;
    ASSERT_EQ(Start(n, &ch).status, 200);
    auto req = Answer(n, ch, NewToken());
    Bytes& blob = signature ? req.quote.signature : req.quote.attest;
    blob.resize(blob.size() - 5);
    EXPECT_EQ(StatusReason(Finish(req)), "400 tpm_structure_malformed")
        << (signature ? "signature" : "attest");
    ExpectUnchanged(before, "truncated quote");
  }
}

// --- challenges ------------------------------------------------------------------

TEST_F(AuthorityApiTest, UnknownUsedAndExpiredChallenges) {
  Node n("api-challenge", "node-c");
  proto::EnrollStartResponse ch;
  ASSERT_EQ(Start(n, &ch).status, 200);
  EXPECT_EQ(ch.challenge_id.size(), 32u);
  EXPECT_EQ(ch.expires_at, ToUnixSeconds(clock_.Now()) + 60);
  const Snapshot before = Nodes();

  auto unknown = Answer(n, ch, NewToken());
  unknown.challenge_id = std::string(32, '0');
  EXPECT_EQ(StatusReason(Finish(unknown)), "403 activation_secret_invalid");
  ExpectUnchanged(before, "unknown challenge");

  // Wrong secret: fails and uses up the challenge.
  auto wrong = Answer(n, ch, NewToken());
  wrong.secret = SecretBytes(Bytes(32, 0x11));
  EXPECT_EQ(StatusReason(Finish(wrong)), "403 activation_secret_invalid");
  ExpectUnchanged(before, "wrong secret");
  EXPECT_EQ(StatusReason(Finish(Answer(n, ch, NewToken()))), "403 activation_secret_invalid");
  ExpectUnchanged(before, "challenge used by the failed attempt");

  // Expired: 61 s after issue.
  proto::EnrollStartResponse ch2;
  ASSERT_EQ(Start(n, &ch2).status, 200);
  auto late = Answer(n, ch2, NewToken());
  clock_.Advance(61);
  EXPECT_EQ(StatusReason(Finish(late)), "403 activation_secret_invalid");
  ExpectUnchanged(before, "expired challenge");

  // Exactly at the TTL it still counts.
  proto::EnrollStartResponse ch3;
  ASSERT_EQ(Start(n, &ch3).status, 200);
  auto on_time = Answer(n, ch3, NewToken());
  clock_.Advance(60);
  EXPECT_EQ(Finish(on_time).status, 200);
}

TEST_F(AuthorityApiTest, TwoConcurrentFinishesExactlyOneWins) {
  for (int round = 0; round < 3; ++round) {
    Node n("api-race-" + std::to_string(round), "race-" + std::to_string(round));
    proto::EnrollStartResponse ch;
    ASSERT_EQ(Start(n, &ch).status, 200);
    const std::string body = proto::ToJson(Answer(n, ch, NewToken()));
    const Snapshot before = Nodes();
    net::HttpResponse r1, r2;
    std::thread t1([&] { r1 = Call("POST", "/v1/enroll/finish", body); });
    std::thread t2([&] { r2 = Call("POST", "/v1/enroll/finish", body); });
    t1.join();
    t2.join();
    const int ok = (r1.status == 200) + (r2.status == 200);
    EXPECT_EQ(ok, 1) << r1.body << "\n" << r2.body;
    const auto& loser = r1.status == 200 ? r2 : r1;
    EXPECT_EQ(StatusReason(loser), "403 activation_secret_invalid");
    Snapshot after = Nodes();
    EXPECT_EQ(after.generation, before.generation + 1);
    EXPECT_EQ(after.nodes, before.nodes + 1);
  }
}

// --- admission -------------------------------------------------------------------

TEST_F(AuthorityApiTest, TokensAreSingleUse) {
  const std::string token = NewToken();
  Node a("api-token-a", "tok-a");
  ASSERT_EQ(Enroll(a, token).status, 200);
  const Snapshot before = Nodes();
  Node b("api-token-b", "tok-b");
  EXPECT_EQ(StatusReason(Enroll(b, token)), "403 token_invalid");
  ExpectUnchanged(before, "reused token");
  EXPECT_EQ(StatusReason(Enroll(b, "tpmesh-" + std::string(48, 'a'))), "403 token_invalid");
  ExpectUnchanged(before, "unknown token");

  // A revoked token and an expired one.
  auto created = Call("POST", "/v1/admin/tokens", R"({"ttl_seconds": 60})", kAdmin);
  ASSERT_EQ(created.status, 201);
  const std::string revoked = Parse(created)["token"];
  ASSERT_EQ(Call("DELETE", "/v1/admin/tokens/" + Parse(created)["id"].get<std::string>(), "",
                 kAdmin).status,
            200);
  EXPECT_EQ(StatusReason(Enroll(b, revoked)), "403 token_invalid");
  const std::string short_lived =
      Parse(Call("POST", "/v1/admin/tokens", R"({"ttl_seconds": 10})", kAdmin))["token"];
  proto::EnrollStartResponse ch;
  ASSERT_EQ(Start(b, &ch).status, 200);
  auto req = Answer(b, ch, short_lived);
  clock_.Advance(30);
  EXPECT_EQ(StatusReason(Finish(req)), "403 token_invalid");
  ExpectUnchanged(before, "revoked/expired token");
}

TEST_F(AuthorityApiTest, NoTokenNoAllowlistNoQueueIsNotAdmitted) {
  Node n("api-not-admitted", "nobody");
  const Snapshot before = Nodes();
  EXPECT_EQ(StatusReason(Enroll(n)), "403 not_admitted");
  ExpectUnchanged(before, "not admitted");
}

TEST_F(AuthorityApiTest, AllowlistedEkNeedsNoToken) {
  Node n("api-allowlisted", "allowed");
  Allow(n);
  auto listed = Call("GET", "/v1/admin/ek-allowlist", "", kAdmin);
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(Parse(listed)["ek_allowlist"].size(), 1u);
  const Snapshot before = Nodes();
  auto r = Enroll(n);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Nodes().generation, before.generation + 1);
  EXPECT_EQ(StatusReason(Call("POST", "/v1/admin/ek-allowlist", R"({"ek_sha256": "zz"})", kAdmin)),
            "400 invalid_request");
}

TEST_F(AuthorityApiTest, ApprovalQueue) {
  settings_.admission.approval_queue = true;
  Build();
  Node n("api-queue", "queued");
  const Snapshot before = Nodes();
  auto r = Enroll(n);
  ASSERT_EQ(r.status, 202) << r.body;
  json j = Parse(r);
  EXPECT_EQ(j.value("status", ""), "pending_approval");
  const std::string id = j.value("node_id", "");
  ASSERT_EQ(id.size(), 20u);
  EXPECT_FALSE(j.contains("node_cert"));
  Snapshot pending = Nodes();
  EXPECT_EQ(pending.generation, before.generation);
  EXPECT_EQ(pending.statuses, std::vector<std::string>{"queued:pending"});
  // A pending node has no access yet.
  EXPECT_EQ(StatusReason(Call("GET", "/v1/node/self", "", {net::Caller::Kind::kNode, id, ""})),
            "403 node_not_active");

  auto approved = Call("POST", "/v1/admin/nodes/" + id + "/approve", R"({"reason": "known box"})",
                       kAdmin);
  ASSERT_EQ(approved.status, 200) << approved.body;
  EXPECT_EQ(Parse(approved).value("status", ""), "active");
  const std::string address = Parse(approved).value("overlay_address", "");
  EXPECT_FALSE(address.empty());
  EXPECT_EQ(Nodes().generation, before.generation + 1);

  auto again = Enroll(n);
  ASSERT_EQ(again.status, 200) << again.body;
  auto f = proto::ParseEnrollFinishResponse(again.body);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->status, "active");
  EXPECT_EQ(f->node_id, id);
  EXPECT_EQ(f->overlay_address, address);
}

// --- revocation and authorization --------------------------------------------------

TEST_F(AuthorityApiTest, RevokedNodeIsRefusedEverywhere) {
  Node n("api-revoked", "revokee");
  auto r = Enroll(n, NewToken());
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string id = Parse(r).value("node_id", "");
  const net::Caller node = testing::NodeCaller(id, Parse(r).value("node_cert", ""));
  ASSERT_EQ(Call("GET", "/v1/node/self", "", node).status, 200);

  // Start of a re-enrollment before the revocation, finish after it.
  proto::EnrollStartResponse ch;
  ASSERT_EQ(Start(n, &ch).status, 200);
  auto pending_finish = Answer(n, ch);

  EXPECT_EQ(StatusReason(Call("POST", "/v1/admin/nodes/" + id + "/revoke", "{}", kAdmin)),
            "400 reason_required");
  const Snapshot before_revoke = Nodes();
  auto rev = Call("POST", "/v1/admin/nodes/" + id + "/revoke", R"({"reason": "stolen"})", kAdmin);
  ASSERT_EQ(rev.status, 200) << rev.body;
  const Snapshot revoked = Nodes();
  EXPECT_EQ(revoked.generation, before_revoke.generation + 1);
  EXPECT_EQ(revoked.statuses, std::vector<std::string>{"revokee:revoked"});

  // The still-valid certificate is refused on the next request.
  EXPECT_EQ(StatusReason(Call("GET", "/v1/node/self", "", node)), "403 node_revoked");
  EXPECT_EQ(StatusReason(Start(n)), "403 node_revoked");
  EXPECT_EQ(StatusReason(Enroll(n, NewToken())), "403 node_revoked");
  EXPECT_EQ(StatusReason(Finish(pending_finish)), "403 node_revoked");
  ExpectUnchanged(revoked, "revoked node enrolling");

  // Unknown node ids and anonymous callers on node routes.
  EXPECT_EQ(StatusReason(Call("GET", "/v1/node/self", "", {net::Caller::Kind::kNode, "00", ""})),
            "401 node_unknown");
  EXPECT_EQ(StatusReason(Call("GET", "/v1/node/self")), "401 node_cert_required");
}

TEST_F(AuthorityApiTest, AdminRoutesNeedAdminCaller) {
  const net::Caller node{net::Caller::Kind::kNode, "0123456789abcdef0123", ""};
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/admin/nodes"},
           {"POST", "/v1/admin/tokens"},
           {"GET", "/v1/admin/tokens"},
           {"POST", "/v1/admin/ek-allowlist"},
           {"POST", "/v1/admin/nodes/x/revoke"},
           {"GET", "/v1/admin/audit"}}) {
    EXPECT_EQ(StatusReason(Call(method, path, "{}", kAnon)), "401 admin_cert_required") << path;
    EXPECT_EQ(StatusReason(Call(method, path, "{}", node)), "401 admin_cert_required") << path;
  }
  auto tokens = Call("GET", "/v1/admin/tokens", "", kAdmin);
  ASSERT_EQ(tokens.status, 200);
  EXPECT_TRUE(Parse(tokens)["tokens"].empty()) << "anonymous POSTs must not have created tokens";
  EXPECT_EQ(StatusReason(Call("GET", "/v1/nothing-here")), "404 no_such_endpoint");
  EXPECT_EQ(StatusReason(Call("GET", "/v1/\xff\xfe")), "404 no_such_endpoint");
}

// --- identity ------------------------------------------------------------------------

TEST_F(AuthorityApiTest, HostnameOfAnotherEkIsRefused) {
  Node owner("api-host-owner", "web");
  Node late_claimant("api-host-late", "web");
  // Starts while the hostname is still free...
  proto::EnrollStartResponse ch;
  ASSERT_EQ(Start(late_claimant, &ch).status, 200);
  auto late_finish = Answer(late_claimant, ch, NewToken());
  // ...the owner enrolls...
  ASSERT_EQ(Enroll(owner, NewToken()).status, 200);
  const Snapshot before = Nodes();
  // ...so the claimant's finish, and any new start, are refused.
  EXPECT_EQ(StatusReason(Finish(late_finish)), "403 identity_changed");
  ExpectUnchanged(before, "identity_changed at finish");
  Node thief("api-host-thief", "web");
  EXPECT_EQ(StatusReason(Start(thief)), "403 identity_changed");
  ExpectUnchanged(before, "identity_changed at start");

  // The token given with the refused finish was not consumed.
  auto tokens = Parse(Call("GET", "/v1/admin/tokens", "", kAdmin))["tokens"];
  size_t unused = 0;
  for (const auto& t : tokens) unused += t.contains("used_at") ? 0 : 1;
  EXPECT_EQ(unused, 1u);
  EXPECT_EQ(Enroll(late_claimant, *late_finish.token).status, 403);  // still "web"
  late_claimant.hostname = "web-2";
  EXPECT_EQ(Enroll(late_claimant, *late_finish.token).status, 200);
}

// --- EK certificates --------------------------------------------------------------

TEST_F(AuthorityApiTest, EkWithoutCertificateNeedsAllowlist) {
  Node n("api-no-cert", "certless", KeyAlg::kEccP256, EkCertSource::kAbsent);
  const Snapshot before = Nodes();
  EXPECT_EQ(StatusReason(Start(n)), "403 ek_cert_untrusted");
  EXPECT_EQ(StatusReason(Enroll(n, NewToken())), "403 ek_cert_untrusted");
  ExpectUnchanged(before, "no EK cert");
  Allow(n);
  EXPECT_EQ(Enroll(n).status, 200);
}

TEST_F(AuthorityApiTest, EkCertificateFromUntrustedCa) {
  Node n("api-untrusted", "untrusted", KeyAlg::kEccP256, EkCertSource::kUntrusted);
  const Snapshot before = Nodes();
  EXPECT_EQ(StatusReason(Start(n)), "403 ek_cert_untrusted");
  ExpectUnchanged(before, "untrusted EK CA");
}

TEST_F(AuthorityApiTest, EkWithoutCertificateIsNeverAdmittedByToken) {
  // A cert-less EK may only be admitted through the allowlist (attest
  // VerifierOptions::require_ek_cert contract), also when the allowlist
  // entry goes away between start and finish.
  Node n("api-no-cert-race", "certless-2", KeyAlg::kEccP256, EkCertSource::kAbsent);
  Allow(n);
  proto::EnrollStartResponse ch;
  ASSERT_EQ(Start(n, &ch).status, 200);
  auto h = n.tpm.EkSha256(n.ek_alg);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(Call("DELETE", "/v1/admin/ek-allowlist/" + HexEncode(*h), "", kAdmin).status, 200);
  const Snapshot before = Nodes();
  EXPECT_EQ(StatusReason(Finish(Answer(n, ch, NewToken()))), "403 ek_cert_untrusted");
  ExpectUnchanged(before, "cert-less EK with a token");

  // Nor after a revoke + restore (the node exists, pending, off the allowlist).
  Allow(n);
  auto r = Enroll(n);
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string id = Parse(r).value("node_id", "");
  ASSERT_EQ(Call("POST", "/v1/admin/nodes/" + id + "/revoke", R"({"reason": "x"})", kAdmin).status, 200);
  ASSERT_EQ(Call("POST", "/v1/admin/nodes/" + id + "/restore", "{}", kAdmin).status, 200);
  ASSERT_EQ(Call("DELETE", "/v1/admin/ek-allowlist/" + HexEncode(*h), "", kAdmin).status, 200);
  const Snapshot restored = Nodes();
  EXPECT_EQ(StatusReason(Enroll(n, NewToken())), "403 ek_cert_untrusted");
  ExpectUnchanged(restored, "restored cert-less EK with a token");
  Allow(n);
  // Its WireGuard key died with the revocation: it needs a new one.
  EXPECT_EQ(StatusReason(Enroll(n)), "409 key_in_use");
  ++n.wg_key_number;
  EXPECT_EQ(Enroll(n).status, 200);
}

// --- identity is absolute (issue 11) ---------------------------------------------------

// Hole 1: a node request is accepted only with the certificate the authority
// holds valid: re-enrollment, revocation and restore end every earlier one.
TEST_F(AuthorityApiTest, OldCertificatesEndAtReenrollmentRevocationAndRestore) {
  Node n("ident-cert", "ident-cert");
  auto r1 = Enroll(n, NewToken());
  ASSERT_EQ(r1.status, 200) << r1.body;
  const std::string id = Parse(r1).value("node_id", "");
  const net::Caller first = testing::NodeCaller(id, Parse(r1).value("node_cert", ""));
  ASSERT_FALSE(first.serial.empty());
  ASSERT_EQ(Call("GET", "/v1/node/self", "", first).status, 200);

  auto r2 = Enroll(n);  // re-enrollment of an active node: no token needed
  ASSERT_EQ(r2.status, 200) << r2.body;
  const net::Caller second = testing::NodeCaller(id, Parse(r2).value("node_cert", ""));
  EXPECT_EQ(StatusReason(Call("GET", "/v1/node/self", "", first)), "401 node_cert_superseded");
  EXPECT_EQ(Call("GET", "/v1/node/self", "", second).status, 200);

  ASSERT_EQ(Call("POST", "/v1/admin/nodes/" + id + "/revoke", R"({"reason": "stolen"})", kAdmin).status, 200);
  ASSERT_EQ(Call("POST", "/v1/admin/nodes/" + id + "/restore", "{}", kAdmin).status, 200);
  ++n.wg_key_number;  // its old WireGuard key died with the revocation
  auto r3 = Enroll(n, NewToken());
  ASSERT_EQ(r3.status, 200) << r3.body;
  const net::Caller third = testing::NodeCaller(id, Parse(r3).value("node_cert", ""));
  const std::string ack = json{{"generation", 0}}.dump();
  for (const net::Caller& old : {first, second}) {
    EXPECT_EQ(StatusReason(Call("GET", "/v1/node/self", "", old)), "401 node_cert_superseded");
    EXPECT_EQ(StatusReason(Call("POST", "/v1/node/ack", ack, old)), "401 node_cert_superseded");
    EXPECT_EQ(StatusReason(Call("POST", "/v1/node/renew/start", "{}", old)), "401 node_cert_superseded");
  }
  EXPECT_EQ(Call("GET", "/v1/node/self", "", third).status, 200);
  // A caller without a serial never passes.
  EXPECT_EQ(StatusReason(Call("GET", "/v1/node/self", "", {net::Caller::Kind::kNode, id, ""})),
            "401 node_cert_superseded");
}

// Hole 2: a WireGuard public key belongs to at most one node, ever.
TEST_F(AuthorityApiTest, AWireGuardKeyBelongsToOneNodeEver) {
  Node a("ident-wg-a", "wg-a"), b("ident-wg-b", "wg-b"), c("ident-wg-c", "wg-c");
  ASSERT_EQ(Enroll(a, NewToken()).status, 200);
  ASSERT_EQ(Enroll(b, NewToken()).status, 200);
  const Bytes a_key = WgKeyFor("wg-a#0");
  const Snapshot before = Nodes();

  c.wg_key = a_key;  // a new node with a's key
  auto rc = Enroll(c, NewToken());
  EXPECT_EQ(StatusReason(rc), "409 key_in_use");
  EXPECT_NE(Parse(rc)["error"].value("message", "").find("wg_public_key"), std::string::npos) << rc.body;
  b.wg_key = a_key;  // an active node re-enrolling with a's key, no token
  EXPECT_EQ(StatusReason(Enroll(b)), "409 key_in_use");
  ExpectUnchanged(before, "enrollments with another node's WireGuard key");
  auto listed = Parse(Call("GET", "/v1/admin/nodes/wg-b", "", kAdmin));
  EXPECT_EQ(listed.value("wg_public_key", ""), Base64Encode(WgKeyFor("wg-b#0")));

  // Revoked: a's key is never accepted again, not from a itself either.
  const std::string a_id = Parse(Call("GET", "/v1/admin/nodes/wg-a", "", kAdmin)).value("node_id", "");
  ASSERT_EQ(Call("POST", "/v1/admin/nodes/" + a_id + "/revoke", R"({"reason": "x"})", kAdmin).status, 200);
  EXPECT_EQ(StatusReason(Enroll(c, NewToken())), "409 key_in_use");
  ASSERT_EQ(Call("POST", "/v1/admin/nodes/" + a_id + "/restore", "{}", kAdmin).status, 200);
  EXPECT_EQ(StatusReason(Enroll(a, NewToken())), "409 key_in_use");
  ++a.wg_key_number;
  EXPECT_EQ(Enroll(a, NewToken()).status, 200);
  // A re-enrollment with a new key retires the one it replaces.
  b.wg_key.reset();
  ++b.wg_key_number;
  ASSERT_EQ(Enroll(b).status, 200);
  b.wg_key = WgKeyFor("wg-b#0");
  EXPECT_EQ(StatusReason(Enroll(b)), "409 key_in_use");
}

// Hole 3: every enrollment, first or repeated, passes the EK certificate
// checks or the allowlist; an earlier admission vouches for nothing.
TEST_F(AuthorityApiTest, AKnownEkReenrollingWithoutItsCertificateIsRefused) {
  Node n("ident-ek", "ident-ek");
  ASSERT_EQ(Enroll(n, NewToken()).status, 200);  // with its EK certificate
  const Snapshot before = Nodes();
  proto::EnrollStartRequest req = StartRequest(n);
  req.ek_cert.reset();
  req.ek_intermediates.clear();
  EXPECT_EQ(StatusReason(Call("POST", "/v1/enroll/start", proto::ToJson(req))), "403 ek_cert_untrusted");
  // Allowlisted at start, removed before finish: refused at finish.
  Allow(n);
  auto started = Call("POST", "/v1/enroll/start", proto::ToJson(req));
  ASSERT_EQ(started.status, 200) << started.body;
  auto ch = proto::ParseEnrollStartResponse(started.body);
  ASSERT_TRUE(ch.ok());
  auto h = n.tpm.EkSha256(n.ek_alg);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(Call("DELETE", "/v1/admin/ek-allowlist/" + HexEncode(*h), "", kAdmin).status, 200);
  EXPECT_EQ(StatusReason(Finish(Answer(n, *ch))), "403 ek_cert_untrusted");
  ExpectUnchanged(before, "cert-less re-enrollment of a known EK");
}

// A trust anchor removed from the store takes effect for known nodes at
// their next enrollment.
TEST_F(AuthorityApiTest, ARemovedVendorRootRefusesKnownNodesAtReenrollment) {
  Node n("ident-root", "ident-root");
  ASSERT_EQ(Enroll(n, NewToken()).status, 200);
  trust_ = attest::TrustStore();  // the vendor root is gone
  Build();
  EXPECT_EQ(StatusReason(Enroll(n)), "403 ek_cert_untrusted");
}

// --- admin input validation --------------------------------------------------------

TEST_F(AuthorityApiTest, AdminBodiesWithWrongTypesAreRejected) {
  EXPECT_EQ(StatusReason(Call("POST", "/v1/admin/tokens", R"({"ttl_seconds": "1h"})", kAdmin)),
            "400 invalid_request");
  EXPECT_EQ(StatusReason(Call("POST", "/v1/admin/tokens", R"({"ttl_seconds": 1e300})", kAdmin)),
            "400 invalid_request");
  EXPECT_EQ(StatusReason(Call("POST", "/v1/admin/tokens", R"({"ttl_seconds": 0})", kAdmin)),
            "400 invalid_ttl");
  const std::string hex(64, 'a');
  auto policy = [&](const json& pcrs) {
    return StatusReason(
        Call("POST", "/v1/admin/policies", json{{"name", "p"}, {"pcrs", pcrs}}.dump(), kAdmin));
  };
  EXPECT_EQ(policy(json{{"7x", hex}}), "400 invalid_request");
  EXPECT_EQ(policy(json{{"7", json::array()}, {"8", hex}}), "400 invalid_request");
  EXPECT_EQ(policy(json{{"7", json::array({hex, 5})}}), "400 invalid_request");
  EXPECT_EQ(policy(json{{"7", 5}}), "400 invalid_request");
  EXPECT_EQ(policy(json{{"7", json::array({hex})}, {"8", hex}}).substr(0, 3), "200");
  auto listed = Parse(Call("GET", "/v1/admin/policies", "", kAdmin))["policies"];
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["pcrs"].size(), 2u);
}

// --- PCR policy ------------------------------------------------------------------

TEST_F(AuthorityApiTest, DefaultPcrPolicyGatesEnrollment) {
  Node good("api-pcr-good", "pcr-good");
  auto values = good.tpm.ReadPcrs(settings_.pcr_selection);
  ASSERT_TRUE(values.ok());
  json pcrs = json::object();
  for (const auto& [pcr, v] : *values) pcrs[std::to_string(pcr)] = HexEncode(v);
  ASSERT_EQ(Call("POST", "/v1/admin/policies", json{{"name", "fleet"}, {"pcrs", pcrs}}.dump(),
                 kAdmin).status,
            200);
  settings_.default_policy = "fleet";
  Build();
  Node bad("api-pcr-bad", "pcr-bad");
  ASSERT_TRUE(bad.tpm.ExtendPcr(7, Bytes(32, 0x66)).ok());
  const Snapshot before = Nodes();
  EXPECT_EQ(StatusReason(Enroll(bad, NewToken())), "403 pcr_policy_mismatch");
  ExpectUnchanged(before, "PCR policy mismatch");
  EXPECT_EQ(Enroll(good, NewToken()).status, 200);
}

}  // namespace
}  // namespace tpmesh::authority

namespace tpmesh::authority {
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
  ASSERT_TRUE(store_->Transact([&](Tx& tx) -> Status {
    NodeRecord bad;
    bad.node_id = "00000000000000000bad";
    bad.hostname = "corrupt";
    bad.status = NodeStatus::kActive;
    bad.ek_sha256 = Bytes(32, 0xee);
    bad.subnet = 999;
    bad.wg_public_key = Bytes();  // no key: cannot be a member
    return tx.InsertNode(bad);
  }).ok());
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
  auto r = handler_(req, node);
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
  EXPECT_EQ(handler_(req, node).status, 204);
  // Bad query values are 400, not a crash.
  req.query = {{"since", "x"}};
  EXPECT_EQ(handler_(req, node).status, 400);

  // Acknowledge; admin status counts the node as converged.
  net::HttpRequest ack{"POST", "/v1/node/ack", {},
                       "{\"generation\":" + std::to_string(state->state.generation) + ",\"peers\":[]}",
                       "192.0.2.1"};
  clock_.Advance(100);
  EXPECT_EQ(handler_(ack, node).status, 200);
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
  EXPECT_NE(lines.back().find("publishing the mesh config of generation"), std::string::npos) << lines.back();
  EXPECT_NE(lines.back().find("invalid_signing_key"), std::string::npos) << lines.back();
}

TEST_F(ConfigPushTest, ConcurrentEnrollmentsAreAllPublishedBeforeTheyReturn) {
  SetUpPublisher();
  constexpr int kThreads = 4, kPerThread = 3;
  std::vector<std::unique_ptr<Node>> nodes;
  std::vector<std::string> tokens;
  for (int i = 0; i < kThreads * kPerThread; ++i) {
    nodes.push_back(std::make_unique<Node>("group-" + std::to_string(i), "group-" + std::to_string(i)));
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
  auto r = handler_(req, node);
  ASSERT_EQ(r.status, 200) << r.body;
  auto state = meshcfg::ParseSignedState(json::parse(r.body)["full"].dump());
  ASSERT_TRUE(state.ok()) << state.error().ToString();
  EXPECT_EQ(state->state.members.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(state->state.generation, s.generation);

  // Revocation reaches the per-request check (held in memory) at once.
  ASSERT_EQ(Call("POST", "/v1/admin/nodes/group-0/revoke", "{\"reason\":\"test\"}", kAdmin).status, 200);
  EXPECT_EQ(StatusReason(handler_(req, node)), "403 node_revoked");
  EXPECT_EQ(publisher_->generation(), s.generation + 1);
}

}  // namespace
}  // namespace tpmesh::authority

// --- issue 11: strict admin input ------------------------------------------------

namespace tpmesh::authority {
namespace {

std::string ErrorMessage(const net::HttpResponse& r) {
  json j = Parse(r);
  return j.contains("error") && j["error"].is_object() ? j["error"].value("message", "") : "";
}

class AdminInputTest : public AuthorityApiTest {
 protected:
  // Everything an admin call can write: audit log, tokens, allowlist,
  // policies, nodes (statuses and reasons).
  std::string Written() {
    std::string out;
    for (const char* path : {"/v1/admin/audit", "/v1/admin/tokens", "/v1/admin/ek-allowlist",
                             "/v1/admin/policies", "/v1/admin/nodes"}) {
      auto r = Call("GET", path, "", kAdmin);
      EXPECT_EQ(r.status, 200) << path << ": " << r.body;
      out += r.body + "\n";
    }
    return out;
  }

  // `body` (or the path) is refused with 400 invalid_request naming `field`,
  // and nothing is written.
  void ExpectRefused(const std::string& method, const std::string& path, const std::string& body,
                     const std::string& field) {
    const std::string before = Written();
    auto r = Call(method, path, body, kAdmin);
    EXPECT_EQ(StatusReason(r), "400 invalid_request") << method << " " << path << " " << body;
    EXPECT_EQ(ErrorMessage(r).rfind(field + ":", 0), 0u)
        << method << " " << path << " " << body << ": " << ErrorMessage(r);
    EXPECT_EQ(Written(), before) << method << " " << path << " " << body;
  }

  // An enrolled node's id.
  std::string EnrolledNode(const std::string& seed, const std::string& hostname) {
    Node n(seed, hostname);
    auto r = Enroll(n, NewToken());
    EXPECT_EQ(r.status, 200) << r.body;
    return Parse(r).value("node_id", "");
  }
};

TEST_F(AdminInputTest, EkAllowlistWithAnEmptyBodyNamesTheMissingField) {
  // HexDecode("") handed libsodium a null pointer here (ASan+UBSan abort).
  ExpectRefused("POST", "/v1/admin/ek-allowlist", "{}", "ek_sha256");
  ExpectRefused("POST", "/v1/admin/ek-allowlist", "", "ek_sha256");
  ExpectRefused("POST", "/v1/admin/ek-allowlist", R"({"ek_sha256": ""})", "ek_sha256");
  ExpectRefused("POST", "/v1/admin/ek-allowlist", json{{"ek_sha256", std::string(62, 'a')}}.dump(), "ek_sha256");
}

TEST_F(AdminInputTest, WrongTypesAreRefusedNamingTheField) {
  const std::string id = EnrolledNode("admin-input-types", "typed");
  const std::string hex(64, 'a');
  const std::string node = "/v1/admin/nodes/" + id;
  const std::vector<std::tuple<std::string, std::string, json, std::string>> cases = {
      {"POST", "/v1/admin/tokens", {{"comment", 5}}, "comment"},
      {"POST", "/v1/admin/tokens", {{"ttl_seconds", "1h"}}, "ttl_seconds"},
      {"POST", "/v1/admin/tokens", {{"ttl_seconds", 18446744073709551615ull}}, "ttl_seconds"},
      {"POST", "/v1/admin/ek-allowlist", {{"ek_sha256", 5}}, "ek_sha256"},
      {"POST", "/v1/admin/ek-allowlist", {{"ek_sha256", hex}, {"comment", {"x"}}}, "comment"},
      {"POST", node + "/revoke", {{"reason", 5}}, "reason"},
      {"POST", node + "/approve", {{"reason", json::object()}}, "reason"},
      {"POST", node + "/restore", {{"reason", true}}, "reason"},
      {"POST", "/v1/admin/keys/rotate", {{"nodes", id}}, "nodes"},
      {"POST", "/v1/admin/keys/rotate", {{"nodes", {id, 7}}}, "nodes[1]"},
      {"POST", "/v1/admin/keys/rotate", {{"all", "yes"}}, "all"},
      {"POST", "/v1/admin/keys/rotate", {{"all", true}, {"reason", 1}}, "reason"},
      {"POST", "/v1/admin/keys/ca/rotate", {{"reason", 1}}, "reason"},
      {"POST", "/v1/admin/keys/signing/rotate", {{"reason", {1}}}, "reason"},
      {"POST", "/v1/admin/policies", {{"name", 5}, {"pcrs", {{"7", hex}}}}, "name"},
      {"POST", "/v1/admin/policies", {{"name", "p"}, {"from_node", 5}}, "from_node"},
      {"POST", "/v1/admin/policies", {{"pcrs", {{"7", hex}}}}, "name"},
      {"POST", "/v1/admin/policies", {{"name", "p"}}, "pcrs"},
      {"POST", "/v1/admin/policies", {{"name", "p"}, {"from_node", id}, {"pcrs", {{"7", hex}}}}, "pcrs"},
      {"POST", "/v1/admin/policies", {{"name", "p"}, {"pcrs", {{"07", hex}}}}, "pcrs"},
      // A misspelt field is refused, not defaulted.
      {"POST", "/v1/admin/tokens", {{"ttl_second", 60}}, "'ttl_second'"},
      {"POST", node + "/revoke", {{"reason", "stolen"}, {"force", true}}, "'force'"},
      {"GET", "/v1/admin/nodes", {{"limit", 1}}, "'limit'"},
  };
  for (const auto& [method, path, body, field] : cases) ExpectRefused(method, path, body.dump(), field);
  ExpectRefused("POST", node + "/revoke", "[\"stolen\"]", "body");
}

TEST_F(AdminInputTest, PolicyNamesComeFromTheDocumentedCharacterSet) {
  const json pcrs = {{"7", std::string(64, 'b')}};
  for (const std::string& bad :
       {std::string(), std::string("Golden"), std::string("../etc"), std::string("a/../b"),
        std::string("$(reboot)"), std::string("a\0b", 3), std::string("\xe2\x80\xaegolden"),
        std::string("gol\x1b[2Jden"), std::string("-x"), std::string(".x"), std::string("_x"),
        std::string("a b"), std::string("na\xc3\xafve"), std::string(65, 'a')}) {
    ExpectRefused("POST", "/v1/admin/policies", json{{"name", bad}, {"pcrs", pcrs}}.dump(), "name");
  }
  // The path parameter of DELETE (already percent-decoded) follows the same rule.
  for (const std::string& bad : {std::string(".."), std::string("$(x)"), std::string("A"), std::string(65, 'a')}) {
    ExpectRefused("DELETE", "/v1/admin/policies/" + bad, "", "policy name");
  }
  for (const std::string& good : {std::string("golden"), std::string("fleet-2026-11"), std::string("golden_2024.1"),
                                 std::string("7"), std::string(64, 'a')}) {
    auto r = Call("POST", "/v1/admin/policies", json{{"name", good}, {"pcrs", pcrs}}.dump(), kAdmin);
    EXPECT_EQ(r.status, 200) << good << ": " << r.body;
  }
  EXPECT_EQ(Parse(Call("GET", "/v1/admin/policies", "", kAdmin))["policies"].size(), 5u);
  EXPECT_EQ(Call("DELETE", "/v1/admin/policies/fleet-2026-11", "", kAdmin).status, 200);
}

TEST_F(AdminInputTest, ReasonsAndCommentsAreBoundedSingleLineText) {
  const std::string id = EnrolledNode("admin-input-text", "texty");
  const std::string hex(64, 'c');
  const std::string revoke = "/v1/admin/nodes/" + id + "/revoke";
  ExpectRefused("POST", "/v1/admin/tokens", json{{"comment", std::string(60000, 'x')}}.dump(), "comment");
  ExpectRefused("POST", "/v1/admin/tokens", json{{"comment", std::string(1025, 'x')}}.dump(), "comment");
  ExpectRefused("POST", "/v1/admin/ek-allowlist",
                json{{"ek_sha256", hex}, {"comment", std::string(60000, 'x')}}.dump(), "comment");
  ExpectRefused("POST", revoke, json{{"reason", std::string(60000, 'x')}}.dump(), "reason");
  for (const std::string& bad : {std::string("two\nlines"), std::string("tab\there"), std::string("nul\0", 4),
                                std::string("esc\x1b[31m"), std::string("del\x7f"),
                                std::string("c1 \xc2\x85"), std::string("rlo \xe2\x80\xae"),
                                std::string("zwsp \xe2\x80\x8b"), std::string("isolate \xe2\x81\xa6"),
                                std::string("bom \xef\xbb\xbf")}) {
    ExpectRefused("POST", revoke, json{{"reason", bad}}.dump(), "reason");
    ExpectRefused("POST", "/v1/admin/ek-allowlist", json{{"ek_sha256", hex}, {"comment", bad}}.dump(), "comment");
  }
  EXPECT_EQ(Nodes().statuses, std::vector<std::string>{"texty:active"});
  // Up to the bound, and any printable text, is fine.
  auto t = Call("POST", "/v1/admin/tokens", json{{"comment", std::string(1024, 'x')}}.dump(), kAdmin);
  EXPECT_EQ(t.status, 201) << t.body;
  const std::string reason = "disk stolen \xe2\x80\x94 caf\xc3\xa9 \xe2\x9c\x93";
  auto r = Call("POST", revoke, json{{"reason", reason}}.dump(), kAdmin);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Parse(r).value("status_reason", ""), reason);
}

TEST_F(AdminInputTest, PathParametersAreChecked) {
  const std::string id = EnrolledNode("admin-input-path", "path-node");
  ExpectRefused("GET", "/v1/admin/nodes/bad_name", "", "node");
  ExpectRefused("POST", "/v1/admin/nodes/a..b/revoke", R"({"reason": "x"})", "node");
  ExpectRefused("DELETE", "/v1/admin/tokens/xyz", "", "token id");
  ExpectRefused("DELETE", "/v1/admin/tokens/0123456789abcdef00", "", "token id");
  ExpectRefused("DELETE", "/v1/admin/ek-allowlist/abcd", "", "ek_sha256");
  // Ids and hostnames are matched without regard to case.
  auto upper = Call("GET", "/v1/admin/nodes/PATH-NODE", "", kAdmin);
  ASSERT_EQ(upper.status, 200) << upper.body;
  EXPECT_EQ(Parse(upper).value("node_id", ""), id);
  std::string id_upper = id;
  for (char& c : id_upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(Call("GET", "/v1/admin/nodes/" + id_upper, "", kAdmin).status, 200);
  EXPECT_EQ(StatusReason(Call("DELETE", "/v1/admin/ek-allowlist/" + std::string(64, 'A'), "", kAdmin)),
            "404 ek_not_found");
}

// Issue 11: `NODE-B` was admitted beside `node-b`.
TEST_F(AdminInputTest, HostnamesAreOneNameWhateverTheirCase) {
  Node mixed("admin-input-case-1", "Node-B.Example");
  auto r = Enroll(mixed, NewToken());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Nodes().statuses, std::vector<std::string>{"node-b.example:active"});
  const Snapshot before = Nodes();
  Node upper("admin-input-case-2", "NODE-B.EXAMPLE");
  Node lower("admin-input-case-3", "node-b.example");
  auto refused_upper = Enroll(upper, NewToken());
  auto refused_lower = Enroll(lower, NewToken());
  EXPECT_NE(refused_lower.status, 200) << refused_lower.body;
  EXPECT_EQ(StatusReason(refused_upper), StatusReason(refused_lower));
  ExpectUnchanged(before, "same hostname in another case");
}

}  // namespace
}  // namespace tpmesh::authority
