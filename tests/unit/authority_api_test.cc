// The authority's HTTP handler in process: enrollment and admission (the
// fixture: authority_api_test.h). Every failure case asserts the HTTP
// status and the stable error reason, and that nothing was half-written.
#include "tests/unit/authority_api_test.h"

#include <atomic>
#include <set>
#include <thread>

#include "tpmesh/pki/pki.h"

namespace tpmesh::authority::apitest {
namespace {

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
  EXPECT_EQ(fa->config_signing_key, keys_.signing->current_public());
  EXPECT_EQ(fa->config_signing_key.size(), 32u);
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
  // The claimed algorithm must be the key's (the node's EK here is ECC P-256).
  ASSERT_EQ(good.value("ek_alg", ""), "ecc-p256");
  json wrong_alg = good;
  wrong_alg["ek_alg"] = "rsa2048";
  auto wrong = post(wrong_alg.dump());
  EXPECT_EQ(StatusReason(wrong), "400 invalid_request");
  EXPECT_NE(wrong.body.find("ek_alg: 'rsa2048', but the key is ECC NIST P-256"), std::string::npos)
      << wrong.body;
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
  for (const char* field :
       {"challenge_id", "secret", "quote", "wg_public_key", "hostname", "csr"}) {
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
    ASSERT_GT(blob.size(), 5u);
    blob.erase(blob.end() - 5, blob.end());
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
  ASSERT_EQ(
      Call("DELETE", "/v1/admin/tokens/" + Parse(created)["id"].get<std::string>(), "", kAdmin)
          .status,
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

  auto approved =
      Call("POST", "/v1/admin/nodes/" + id + "/approve", R"({"reason": "known box"})", kAdmin);
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
  ASSERT_EQ(Call("POST", "/v1/admin/nodes/" + id + "/revoke", R"({"reason": "x"})", kAdmin).status,
            200);
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

// --- PCR policy ------------------------------------------------------------------

TEST_F(AuthorityApiTest, DefaultPcrPolicyGatesEnrollment) {
  Node good("api-pcr-good", "pcr-good");
  auto values = good.tpm.ReadPcrs(settings_.pcr_selection);
  ASSERT_TRUE(values.ok());
  json pcrs = json::object();
  for (const auto& [pcr, v] : *values) pcrs[std::to_string(pcr)] = HexEncode(v);
  ASSERT_EQ(
      Call("POST", "/v1/admin/policies", json{{"name", "fleet"}, {"pcrs", pcrs}}.dump(), kAdmin)
          .status,
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
}  // namespace tpmesh::authority::apitest
