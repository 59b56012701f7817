// Unit tests of the enrollment admission decision (admission.h): every
// branch of Decide, from plain facts (no store, no clock), with the error
// reasons and messages the API returns.
#include "admission.h"

#include <gtest/gtest.h>

#include <string>

namespace tpmesh::authority::internal {
namespace {

const Bytes kEk(32, 0xe1);
const Bytes kOtherEk(32, 0xe2);
constexpr int64_t kNow = 1000;

NodeRecord Node(NodeStatus status, Bytes ek = kEk) {
  NodeRecord n;
  n.node_id = "e1e1e1e1e1e1e1e1e1e1";
  n.hostname = "node-a";
  n.status = status;
  n.status_reason = "because";
  n.ek_sha256 = std::move(ek);
  return n;
}

TokenRecord Token() {
  TokenRecord t;
  t.id = "0123456789abcdef";
  t.created_at = kNow - 10;
  t.expires_at = kNow + 10;
  return t;
}

// A first enrollment with an EK certificate: no node yet, hostname free,
// not allowlisted, no token; the default switches.
AdmissionFacts Facts() {
  AdmissionFacts f;
  f.hostname = "node-a";
  f.ek_sha256 = kEk;
  f.has_ek_cert = true;
  f.now = kNow;
  return f;
}

AdmissionFacts WithToken(std::optional<TokenRecord> token) {
  AdmissionFacts f = Facts();
  f.token_given = true;
  f.token = std::move(token);
  return f;
}

// "reason: message" of a refusal ("admitted by <x>" when it admits).
std::string Refusal(const AdmissionFacts& f) {
  auto d = Decide(f);
  if (d.ok()) return "admitted by '" + d->admitted_by + "'";
  EXPECT_EQ(d.error().code, Code::kPermissionDenied) << d.error().ToString();
  return d.error().reason + ": " + d.error().message;
}

std::string AdmittedBy(const AdmissionFacts& f) {
  auto d = Decide(f);
  EXPECT_TRUE(d.ok()) << d.error().ToString();
  return d.ok() ? d->admitted_by : "<refused>";
}

const std::string kNotAdmitted =
    "not_admitted: attestation passed, but this EK (sha256:" + HexEncode(kEk) +
    ") is not on the allowlist and no valid enrollment token was given";

TEST(AdmissionTest, ARevokedNodeIsRefusedBeforeAnythingElse) {
  AdmissionFacts f = Facts();
  f.existing = Node(NodeStatus::kRevoked);
  f.holder = Node(NodeStatus::kActive, kOtherEk);  // would be identity_changed
  f.has_ek_cert = false;                           // would be ek_cert_untrusted
  f.allowlisted = true;
  EXPECT_EQ(Refusal(f),
            "node_revoked: node e1e1e1e1e1e1e1e1e1e1 (node-a) is revoked (because); an admin must "
            "restore it before it can enroll again");
}

TEST(AdmissionTest, AHostnameHeldByAnotherEkIsAnIdentityChange) {
  AdmissionFacts f = Facts();
  f.holder = Node(NodeStatus::kActive, kOtherEk);
  f.allowlisted = true;
  EXPECT_EQ(Refusal(f),
            "identity_changed: hostname 'node-a' belongs to node e1e1e1e1e1e1e1e1e1e1 with a "
            "different EK");
  f.holder = Node(NodeStatus::kActive, kEk);  // the node itself holds it
  f.existing = f.holder;
  EXPECT_EQ(AdmittedBy(f), "re-enrollment");
}

TEST(AdmissionTest, WithoutAnEkCertificateOnlyTheAllowlistAdmits) {
  AdmissionFacts f = Facts();
  f.has_ek_cert = false;
  const std::string not_listed =
      "ek_cert_untrusted: the node sent no EK certificate and its EK "
      "(sha256:" +
      HexEncode(kEk) +
      ") is not on the allowlist; only the allowlist can admit a TPM "
      "without an EK certificate ('tpmeshctl ek allow')";
  EXPECT_EQ(Refusal(f), not_listed);
  // Not a token, not the approval queue, not an earlier admission.
  AdmissionFacts token = WithToken(Token());
  token.has_ek_cert = false;
  EXPECT_EQ(Refusal(token), not_listed);
  f.settings.approval_queue = true;
  EXPECT_EQ(Refusal(f), not_listed);
  f.existing = Node(NodeStatus::kActive);
  EXPECT_EQ(Refusal(f), not_listed);
  // Allowlisted, but allowlist admission is off.
  f.allowlisted = true;
  f.settings.allowlist = false;
  EXPECT_EQ(Refusal(f), "ek_cert_untrusted: the node sent no EK certificate and its EK (sha256:" +
                            HexEncode(kEk) +
                            ") is on the allowlist, but allowlist admission is off on this "
                            "authority");
  f.settings.allowlist = true;
  EXPECT_EQ(AdmittedBy(f), "re-enrollment");
  f.existing.reset();
  EXPECT_EQ(AdmittedBy(f), "allowlist");
}

TEST(AdmissionTest, AnActiveNodeReenrollsWithoutTokenOrAllowlist) {
  AdmissionFacts f = Facts();
  f.existing = Node(NodeStatus::kActive);
  f.allowlisted = true;
  f.token_given = true;  // an unknown token is not even looked at
  auto d = Decide(f);
  ASSERT_TRUE(d.ok()) << d.error().ToString();
  EXPECT_EQ(d->admitted_by, "re-enrollment");
  EXPECT_FALSE(d->token.has_value()) << "no token consumed";
}

TEST(AdmissionTest, TheAllowlistAdmitsWhenOn) {
  AdmissionFacts f = WithToken(Token());
  f.allowlisted = true;
  auto d = Decide(f);
  ASSERT_TRUE(d.ok()) << d.error().ToString();
  EXPECT_EQ(d->admitted_by, "allowlist");
  EXPECT_FALSE(d->token.has_value()) << "the token is not consumed";
  f.settings.allowlist = false;
  EXPECT_EQ(AdmittedBy(f), "token 0123456789abcdef");
  f.token_given = false;
  EXPECT_EQ(Refusal(f), kNotAdmitted);
}

TEST(AdmissionTest, AValidTokenAdmitsAndIsConsumed) {
  auto d = Decide(WithToken(Token()));
  ASSERT_TRUE(d.ok()) << d.error().ToString();
  EXPECT_EQ(d->admitted_by, "token 0123456789abcdef");
  ASSERT_TRUE(d->token.has_value());
  EXPECT_EQ(d->token->id, "0123456789abcdef");
  TokenRecord edge = Token();
  edge.expires_at = kNow;  // still valid in its last second
  EXPECT_EQ(AdmittedBy(WithToken(edge)), "token 0123456789abcdef");
}

TEST(AdmissionTest, AnInvalidTokenIsRefusedSayingWhy) {
  EXPECT_EQ(Refusal(WithToken(std::nullopt)), "token_invalid: the enrollment token is not known");
  TokenRecord revoked = Token();
  revoked.revoked = true;
  revoked.used_at = kNow - 1;  // revoked is reported first
  EXPECT_EQ(Refusal(WithToken(revoked)), "token_invalid: the enrollment token was revoked");
  TokenRecord used = Token();
  used.used_at = kNow - 1;
  used.expires_at = kNow - 1;  // used is reported before expired
  EXPECT_EQ(Refusal(WithToken(used)), "token_invalid: the enrollment token was already used");
  TokenRecord expired = Token();
  expired.expires_at = kNow - 1;
  EXPECT_EQ(Refusal(WithToken(expired)), "token_invalid: the enrollment token expired");
  // An invalid token is refused even with the approval queue on.
  AdmissionFacts queued = WithToken(expired);
  queued.settings.approval_queue = true;
  EXPECT_EQ(Refusal(queued), "token_invalid: the enrollment token expired");
}

TEST(AdmissionTest, TokensDisabledRefusesAGivenToken) {
  AdmissionFacts f = WithToken(Token());
  f.settings.tokens = false;
  EXPECT_EQ(Refusal(f), "token_invalid: enrollment tokens are disabled on this authority");
  f.token_given = false;
  EXPECT_EQ(Refusal(f), kNotAdmitted);
}

TEST(AdmissionTest, AQuarantinedNodeWaitsForAnAdminWhateverAdmitsIt) {
  const std::string quarantined =
      "node_quarantined: node e1e1e1e1e1e1e1e1e1e1 is quarantined (because); an admin must "
      "approve it";
  AdmissionFacts f = WithToken(Token());
  f.existing = Node(NodeStatus::kQuarantined);
  f.allowlisted = true;
  f.settings.approval_queue = true;
  EXPECT_EQ(Refusal(f), quarantined);
  f.allowlisted = false;
  EXPECT_EQ(Refusal(f), quarantined) << "a valid token does not lift it";
  // An invalid token is reported first.
  f.token->revoked = true;
  EXPECT_EQ(Refusal(f), "token_invalid: the enrollment token was revoked");
}

TEST(AdmissionTest, TheApprovalQueueTakesWhatNothingAdmits) {
  AdmissionFacts f = Facts();
  EXPECT_EQ(Refusal(f), kNotAdmitted);
  f.settings.approval_queue = true;
  auto d = Decide(f);
  ASSERT_TRUE(d.ok()) << d.error().ToString();
  EXPECT_EQ(d->admitted_by, "") << "pending";
  EXPECT_FALSE(d->token.has_value());
  // A pending node enrolling again waits again.
  f.existing = Node(NodeStatus::kPending);
  EXPECT_EQ(AdmittedBy(f), "");
  f.settings.approval_queue = false;
  EXPECT_EQ(Refusal(f), kNotAdmitted);
}

TEST(AdmissionTest, CheckNoCertAllowed) {
  EXPECT_TRUE(CheckNoCertAllowed(kEk, true, true).ok());
  for (auto [listed, on] : {std::pair{true, false}, {false, true}, {false, false}}) {
    Status st = CheckNoCertAllowed(kEk, listed, on);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().reason, "ek_cert_untrusted");
  }
}

}  // namespace
}  // namespace tpmesh::authority::internal
