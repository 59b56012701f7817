// Node certificate renewal with continuous attestation, in process: real
// service and SQLite store, SoftTpm nodes, no sockets (the fixture:
// renew_api_test.h). Renewal re-attests with the ENROLLED AK; a failed PCR
// policy (check 11) or TPM timing check (12) quarantines the node; a quote
// by another AK (13) is refused without quarantine.
#include "tests/unit/renew_api_test.h"

#include "tpmesh/pki/pki.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::authority::renewtest {
namespace {

TEST_F(RenewApiTest, RenewalIssuesAFreshCertForTheSameNode) {
  Node a("renew-ok-a", "renew-a");
  ASSERT_NO_FATAL_FAILURE(Enroll(a));
  const int64_t gen = Generation();
  clock_.Advance(13 * 3600);
  auto r = Renew(a);
  ASSERT_EQ(r.status, 200) << r.body;
  auto out = proto::ParseRenewFinishResponse(r.body);
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  EXPECT_EQ(out->node_id, a.node_id);
  EXPECT_EQ(out->ca_bundle_pem, ca_.cert_pem());
  EXPECT_TRUE(SignedBy(out->node_cert_pem, ca_.cert_pem()));
  auto ident = pki::IdentityFromCertPem(out->node_cert_pem);
  ASSERT_TRUE(ident.ok()) << ident.error().ToString();
  EXPECT_EQ(ident->kind, pki::PeerKind::kNode);
  EXPECT_EQ(ident->id, a.node_id);
  EXPECT_EQ(ToUnixSeconds(ident->not_after), ToUnixSeconds(clock_.Now()) + 24 * 3600);
  EXPECT_TRUE(Audited("node.renew", a));
  EXPECT_EQ(NodeJson(a).value("status", ""), "active");
  EXPECT_EQ(Generation(), gen) << "renewal does not change membership";
  // A TPM reboot moves resetCount forward: still fine.
  a.tpm.Reset();
  EXPECT_EQ(Renew(a).status, 200);
}

TEST_F(RenewApiTest, PcrPolicyMismatchQuarantinesTheNode) {
  Node a("renew-pcr-a", "renew-pcr-a");
  Node b("renew-pcr-b", "renew-pcr-b");
  ASSERT_NO_FATAL_FAILURE(Enroll(a));
  ASSERT_NO_FATAL_FAILURE(Enroll(b));
  ASSERT_NO_FATAL_FAILURE(AdoptPolicy(a));
  EXPECT_EQ(Renew(a).status, 200) << "unchanged PCRs still match";
  EXPECT_EQ(PublishedMembers(), (std::set<std::string>{"renew-pcr-a", "renew-pcr-b"}));
  const int64_t gen = Generation();

  ASSERT_TRUE(a.tpm.ExtendPcr(7, Bytes(32, 0x66)).ok());  // e.g. Secure Boot turned off
  auto r = Renew(a);
  EXPECT_EQ(StatusReason(r), "403 pcr_policy_mismatch");
  json rec = NodeJson(a);
  EXPECT_EQ(rec.value("status", ""), "quarantined");
  EXPECT_FALSE(rec.value("status_reason", "").empty());
  EXPECT_EQ(Generation(), gen + 1);
  EXPECT_EQ(PublishedMembers(), std::set<std::string>{"renew-pcr-b"});
  EXPECT_TRUE(Audited("node.quarantine", a));
  // A quarantined node can neither renew nor fetch config.
  EXPECT_EQ(StatusReason(Renew(a)), "403 node_not_active");
  // The other node is unaffected.
  EXPECT_EQ(NodeJson(b).value("status", ""), "active");
}

// After a renewal the previous certificate stays valid for cert_overlap
// only; there is never more than one previous certificate.
TEST_F(RenewApiTest, ThePreviousCertificateOverlapsOnlyBriefly) {
  Node a("renew-overlap", "renew-overlap");
  ASSERT_NO_FATAL_FAILURE(Enroll(a));
  const net::Caller first = a.caller();
  ASSERT_EQ(Renew(a).status, 200);
  const net::Caller second = a.caller();
  ASSERT_NE(first.serial, second.serial);
  EXPECT_EQ(Call("GET", "/v1/node/self", "", first).status, 200) << "within the overlap";
  clock_.Advance(settings_.cert_overlap.count());
  EXPECT_EQ(StatusReason(Call("GET", "/v1/node/self", "", first)), "401 node_cert_superseded");
  EXPECT_EQ(Call("GET", "/v1/node/self", "", second).status, 200);
  ASSERT_EQ(Renew(a).status, 200);
  EXPECT_EQ(Call("GET", "/v1/node/self", "", second).status, 200) << "the one just replaced";
  EXPECT_EQ(StatusReason(Call("GET", "/v1/node/self", "", first)), "401 node_cert_superseded");
  EXPECT_EQ(Call("GET", "/v1/node/self", "", a.caller()).status, 200);
}

// Quarantine ends the node's certificates: approving it does not bring them
// back (the node enrolls again, with fresh attestation).
TEST_F(RenewApiTest, QuarantineEndsTheCertificatesEvenAfterApproval) {
  Node a("renew-qend", "renew-qend");
  ASSERT_NO_FATAL_FAILURE(Enroll(a));
  ASSERT_NO_FATAL_FAILURE(AdoptPolicy(a));
  const net::Caller before = a.caller();
  ASSERT_TRUE(a.tpm.ExtendPcr(7, Bytes(32, 0x66)).ok());
  EXPECT_EQ(StatusReason(Renew(a)), "403 pcr_policy_mismatch");
  ASSERT_EQ(
      Call("POST", "/v1/admin/nodes/" + a.node_id + "/approve", R"({"reason": "known"})", kAdmin)
          .status,
      200);
  EXPECT_EQ(NodeJson(a).value("status", ""), "active");
  EXPECT_EQ(StatusReason(Call("GET", "/v1/node/self", "", before)), "401 node_cert_superseded");
}

// A vendor root removed from the trust store (or dev mode switched off)
// takes effect for a known node at its next renewal: it is quarantined.
TEST_F(RenewApiTest, ARemovedVendorRootQuarantinesAtRenewal) {
  Node a("renew-root", "renew-root");
  ASSERT_NO_FATAL_FAILURE(Enroll(a));  // allowlisted, but it sent its EK certificate
  trust_ = attest::TrustStore();
  Build();
  EXPECT_EQ(StatusReason(Renew(a)), "403 ek_cert_untrusted");
  EXPECT_EQ(NodeJson(a).value("status", ""), "quarantined");
  EXPECT_TRUE(Audited("node.quarantine", a));
}

// A node enrolled without an EK certificate stays only while its EK is on
// the allowlist: removing it quarantines the node at its next renewal.
TEST_F(RenewApiTest, ARemovedAllowlistEntryQuarantinesACertlessNodeAtRenewal) {
  Node a("renew-noek", "renew-noek");
  a.without_ek_cert = true;
  ASSERT_NO_FATAL_FAILURE(Enroll(a));
  ASSERT_EQ(Renew(a).status, 200) << "still allowlisted";
  auto h = a.tpm.EkSha256(KeyAlg::kEccP256);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(Call("DELETE", "/v1/admin/ek-allowlist/" + HexEncode(*h), "", kAdmin).status, 200);
  EXPECT_EQ(StatusReason(Renew(a)), "403 ek_cert_untrusted");
  EXPECT_EQ(NodeJson(a).value("status", ""), "quarantined");
}

TEST_F(RenewApiTest, QuoteByAnotherAkIsRefusedWithoutQuarantine) {
  Node a("renew-ak-a", "renew-ak-a");
  ASSERT_NO_FATAL_FAILURE(Enroll(a));
  const int64_t gen = Generation();
  auto other = a.tpm.CreateAk(KeyAlg::kEccP256);
  ASSERT_TRUE(other.ok());
  proto::RenewStartResponse ch;
  ASSERT_EQ(Start(a, &ch).status, 200);
  EXPECT_EQ(StatusReason(Finish(a, Answer(a.tpm, *other, ch))), "403 identity_changed");
  EXPECT_EQ(NodeJson(a).value("status", ""), "active");
  EXPECT_EQ(Generation(), gen);
  EXPECT_FALSE(Audited("node.quarantine", a));
}

TEST_F(RenewApiTest, ChallengesAreSingleUseBoundAndExpire) {
  Node a("renew-ch-a", "renew-ch-a");
  Node b("renew-ch-b", "renew-ch-b");
  ASSERT_NO_FATAL_FAILURE(Enroll(a));
  ASSERT_NO_FATAL_FAILURE(Enroll(b));

  proto::RenewStartResponse ch;
  ASSERT_EQ(Start(a, &ch).status, 200);
  EXPECT_EQ(ch.nonce.size(), 32u);
  auto answer = Answer(a.tpm, *a.ak, ch);
  ASSERT_EQ(Finish(a, answer).status, 200);
  EXPECT_EQ(StatusReason(Finish(a, answer)), "403 activation_secret_invalid") << "replay";

  auto unknown = answer;
  unknown.challenge_id = std::string(32, '0');
  EXPECT_EQ(StatusReason(Finish(a, unknown)), "403 activation_secret_invalid");

  // Another node's challenge: refused, and it stays its node's.
  proto::RenewStartResponse chb;
  ASSERT_EQ(Start(b, &chb).status, 200);
  EXPECT_EQ(StatusReason(Finish(a, Answer(a.tpm, *a.ak, chb))), "403 activation_secret_invalid");
  EXPECT_EQ(Finish(b, Answer(b.tpm, *b.ak, chb)).status, 200) << "a foreign attempt used it up";

  // Expired.
  ASSERT_EQ(Start(a, &ch).status, 200);
  clock_.Advance(settings_.challenge_ttl.count() + 1);
  EXPECT_EQ(StatusReason(Finish(a, Answer(a.tpm, *a.ak, ch))), "403 activation_secret_invalid");
}

// Challenges are of a kind: enroll/finish never takes a renewal challenge,
// renew/finish never an enrollment one; either attempt leaves the challenge
// to its own finish.
TEST_F(RenewApiTest, ChallengesAreOnlyTakenAsTheirOwnKind) {
  Node a("renew-kind-a", "renew-kind-a");
  ASSERT_NO_FATAL_FAILURE(Enroll(a));
  proto::RenewStartResponse ch;
  ASSERT_EQ(Start(a, &ch).status, 200);
  const proto::RenewFinishRequest answer = Answer(a.tpm, *a.ak, ch);
  proto::EnrollFinishRequest ef;
  ef.challenge_id = ch.challenge_id;
  ef.secret = SecretBytes(32);
  ef.quote = answer.quote;
  ef.wg_public_key = Bytes(32, 1);
  ef.hostname = a.hostname;
  ef.csr_pem = Csr("x");
  EXPECT_EQ(StatusReason(Call("POST", "/v1/enroll/finish", proto::ToJson(ef))),
            "403 activation_secret_invalid");
  EXPECT_EQ(NodeJson(a).value("status", ""), "active");
  EXPECT_EQ(Finish(a, answer).status, 200) << "the renewal challenge is still its node's";

  // A node enrolling: its enrollment challenge, answered by a renewing node.
  Node c("renew-kind-c", "renew-kind-c");
  auto ak = c.tpm.CreateAk(KeyAlg::kEccP256);
  ASSERT_TRUE(ak.ok());
  ASSERT_EQ(AllowEk(c.tpm, KeyAlg::kEccP256).status, 201);
  auto s = Call("POST", "/v1/enroll/start",
                proto::ToJson(StartRequest(c.tpm, KeyAlg::kEccP256, *ak, c.hostname)));
  ASSERT_EQ(s.status, 200) << s.body;
  auto ech = proto::ParseEnrollStartResponse(s.body);
  ASSERT_TRUE(ech.ok());
  proto::RenewFinishRequest rf = Answer(a.tpm, *a.ak, ch);
  rf.challenge_id = ech->challenge_id;
  EXPECT_EQ(StatusReason(Finish(a, rf)), "403 activation_secret_invalid");
  EXPECT_EQ(NodeJson(a).value("status", ""), "active");
  auto f = Call("POST", "/v1/enroll/finish",
                proto::ToJson(FinishRequest(c.tpm, KeyAlg::kEccP256, *ak, *ech, c.hostname,
                                            Bytes(32, 0xcc))));
  EXPECT_EQ(f.status, 200) << "the enrollment challenge is still there: " << f.body;
}

TEST_F(RenewApiTest, CallerMustBeAnActiveNode) {
  Node a("renew-auth-a", "renew-auth-a");
  ASSERT_NO_FATAL_FAILURE(Enroll(a));
  EXPECT_EQ(StatusReason(Call("POST", "/v1/node/renew/start", "{}")), "401 node_cert_required");
  EXPECT_EQ(StatusReason(Call("POST", "/v1/node/renew/start", "{}", kAdmin)),
            "401 node_cert_required");
  EXPECT_EQ(StatusReason(Call("POST", "/v1/node/renew/finish", "{}")), "401 node_cert_required");
  proto::RenewStartResponse ch;
  ASSERT_EQ(Start(a, &ch).status, 200);
  auto answer = Answer(a.tpm, *a.ak, ch);
  ASSERT_EQ(
      Call("POST", "/v1/admin/nodes/" + a.node_id + "/revoke", R"({"reason": "stolen"})", kAdmin)
          .status,
      200);
  EXPECT_EQ(StatusReason(Start(a, &ch)), "403 node_revoked");
  EXPECT_EQ(StatusReason(Finish(a, answer)), "403 node_revoked");
}

TEST_F(RenewApiTest, MalformedInputChangesNothing) {
  Node a("renew-bad-a", "renew-bad-a");
  ASSERT_NO_FATAL_FAILURE(Enroll(a));
  const int64_t gen = Generation();
  proto::RenewStartResponse ch;
  ASSERT_EQ(Start(a, &ch).status, 200);
  json good = json::parse(proto::ToJson(Answer(a.tpm, *a.ak, ch)));
  auto post = [&](const std::string& body) {
    return Call("POST", "/v1/node/renew/finish", body, a.caller());
  };
  EXPECT_EQ(StatusReason(post("{\"challenge_id\": ")), "400 invalid_request");
  EXPECT_EQ(StatusReason(post("[]")), "400 invalid_request");
  json j = good;
  j.erase("quote");
  EXPECT_EQ(StatusReason(post(j.dump())), "400 invalid_request");
  j = good;
  j["quote"]["attest"] = "!!";
  EXPECT_EQ(StatusReason(post(j.dump())), "400 invalid_request");
  j = good;
  j["quote"]["pcrs"] = json{{"99", "AA=="}};
  EXPECT_EQ(StatusReason(post(j.dump())), "400 invalid_request");
  EXPECT_EQ(StatusReason(Call("POST", "/v1/node/renew/start", "not json", a.caller())),
            "400 invalid_request");
  EXPECT_EQ(Generation(), gen);
  EXPECT_EQ(NodeJson(a).value("status", ""), "active");
  // None of that consumed the challenge.
  EXPECT_EQ(post(good.dump()).status, 200);
  // A bad CSR after a good quote: 400, no quarantine.
  ASSERT_EQ(Start(a, &ch).status, 200);
  auto bad_csr = Answer(a.tpm, *a.ak, ch);
  bad_csr.csr_pem =
      "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
  EXPECT_EQ(Finish(a, bad_csr).status, 400);
  EXPECT_EQ(NodeJson(a).value("status", ""), "active");
}

TEST_F(RenewApiTest, TpmClockGoingBackwardsQuarantines) {
  Node a("renew-clock-a", "renew-clock-a");
  ASSERT_NO_FATAL_FAILURE(Enroll(a));
  ASSERT_EQ(Renew(a).status, 200);  // the stored clock moves forward
  // Same TPM identity (seed), but its clock starts over without a reset:
  // what a replayed or rolled-back TPM state looks like.
  SoftTpm rolled_back("renew-clock-a");
  proto::RenewStartResponse ch;
  ASSERT_EQ(Start(a, &ch).status, 200);
  auto r = Finish(a, Answer(rolled_back, *a.ak, ch));
  EXPECT_EQ(StatusReason(r), "403 quote_timing_invalid");
  EXPECT_EQ(NodeJson(a).value("status", ""), "quarantined");
  EXPECT_TRUE(Audited("node.quarantine", a));
}

}  // namespace
}  // namespace tpmesh::authority::renewtest
