// Node certificate renewal with continuous attestation, in process: real
// service and SQLite store, SoftTpm nodes, no sockets. Renewal re-attests
// with the ENROLLED AK; a failed PCR policy (check 11) or TPM timing check
// (12) quarantines the node; a quote by another AK (13) is refused without
// quarantine.
#include <stdlib.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include <filesystem>
#include <set>
#include <stdexcept>

#include "tests/support/api_test_util.h"
#include "tests/support/authority_fixture.h"
#include "tests/support/fake_env.h"
#include "tests/support/soft_tpm.h"
#include "tests/support/temp_dir.h"
#include "tpmesh/authority/api.h"
#include "tpmesh/authority/service.h"
#include "tpmesh/authority/store.h"
#include "tpmesh/client/renew.h"
#include "tpmesh/meshcfg/meshcfg.h"
#include "tpmesh/net/http.h"
#include "tpmesh/pki/pki.h"
#include "tpmesh/proto/enroll.h"
#include "tpmesh/proto/renew.h"

namespace tpmesh::authority {
namespace {

namespace fs = std::filesystem;
using attest::KeyAlg;
using nlohmann::json;
using testing::FakeClock;
using testing::SoftTpm;

// A fresh directory per test, removed afterwards.
class TempDir : public testing::TempDir {
 public:
  TempDir() : testing::TempDir("tpmesh-renew") {}
};

using testing::kAdmin;
using testing::kAnon;
using testing::StatusReason;
json Parse(const net::HttpResponse& r) { return testing::ParseBody(r); }

// True when `cert_pem` is signed by the CA certificate `ca_pem`.
bool SignedBy(const std::string& cert_pem, const std::string& ca_pem) {
  auto load = [](const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    return x;
  };
  X509* cert = load(cert_pem);
  X509* ca = load(ca_pem);
  bool ok = false;
  if (cert && ca) {
    EVP_PKEY* key = X509_get0_pubkey(ca);
    ok = key && X509_verify(cert, key) == 1;
  }
  X509_free(cert);
  X509_free(ca);
  return ok;
}

struct Node {
  Node(std::string seed, std::string host) : tpm(std::move(seed)), hostname(std::move(host)) {}
  SoftTpm tpm;
  std::string hostname;
  std::optional<attest::AkBlob> ak;
  std::string node_id;
  std::string cert_pem;          // from enrollment, then from each renewal
  bool without_ek_cert = false;  // enroll as a TPM with no EK certificate in NV
  net::Caller caller() const { return testing::NodeCaller(node_id, cert_pem); }
};

class RenewApiTest : public testing::AuthorityFixture {
 protected:
  RenewApiTest() : AuthorityFixture("tpmesh-renew") {}

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenState());
    Build();
  }

  // (Re)creates the service over the same store with the current settings_,
  // publishing to publisher_.
  void Build() { BuildService(&publisher_); }

  // Enrolls through the allowlist (ECC EK) with a new AK; sets n.ak and
  // n.node_id.
  void Enroll(Node& n) {
    ASSERT_EQ(AllowEk(n.tpm, KeyAlg::kEccP256).status, 201);
    auto ak = n.tpm.CreateAk(KeyAlg::kEccP256);
    ASSERT_TRUE(ak.ok());
    n.ak = *ak;
    proto::EnrollStartRequest sreq = StartRequest(n.tpm, KeyAlg::kEccP256, *n.ak, n.hostname);
    if (n.without_ek_cert) {
      sreq.ek_cert.reset();
      sreq.ek_intermediates.clear();
    }
    auto s = Call("POST", "/v1/enroll/start", proto::ToJson(sreq));
    ASSERT_EQ(s.status, 200) << s.body;
    auto ch = proto::ParseEnrollStartResponse(s.body);
    ASSERT_TRUE(ch.ok());
    proto::EnrollFinishRequest f =
        FinishRequest(n.tpm, KeyAlg::kEccP256, *n.ak, *ch, n.hostname,
                      Bytes(32, static_cast<uint8_t>(n.hostname.size() + n.hostname.back())));
    auto r = Call("POST", "/v1/enroll/finish", proto::ToJson(f));
    ASSERT_EQ(r.status, 200) << r.body;
    n.node_id = Parse(r).value("node_id", "");
    n.cert_pem = Parse(r).value("node_cert", "");
  }

  // POST /v1/node/renew/start as `n`; on 200 fills *out.
  net::HttpResponse Start(const Node& n, proto::RenewStartResponse* out) {
    auto r = Call("POST", "/v1/node/renew/start", "{}", n.caller());
    if (r.status == 200) {
      auto parsed = proto::ParseRenewStartResponse(r.body);
      EXPECT_TRUE(parsed.ok()) << r.body;
      if (parsed.ok()) *out = std::move(parsed).value();
    }
    return r;
  }

  // The node's answer: a fresh quote by `tpm` with `ak` and a CSR for a new key.
  proto::RenewFinishRequest Answer(attest::Tpm& tpm, const attest::AkBlob& ak,
                                   const proto::RenewStartResponse& ch) {
    proto::RenewFinishRequest req;
    req.challenge_id = ch.challenge_id;
    auto quote = tpm.Quote(ak, ch.pcr_selection, ch.nonce);
    EXPECT_TRUE(quote.ok()) << quote.error().ToString();
    if (quote.ok()) req.quote = *quote;
    req.csr_pem = Csr("renewed");
    return req;
  }

  net::HttpResponse Finish(const Node& n, const proto::RenewFinishRequest& req) {
    return Call("POST", "/v1/node/renew/finish", proto::ToJson(req), n.caller());
  }

  // start + finish with the node's own TPM and AK.
  net::HttpResponse Renew(Node& n) {
    proto::RenewStartResponse ch;
    auto s = Start(n, &ch);
    if (s.status != 200) return s;
    auto r = Finish(n, Answer(n.tpm, *n.ak, ch));
    if (r.status == 200)
      n.cert_pem = Parse(r).value("node_cert", n.cert_pem);  // as the client does
    return r;
  }

  json NodeJson(const Node& n) {
    return Parse(Call("GET", "/v1/admin/nodes/" + n.node_id, "", kAdmin));
  }
  int64_t Generation() {
    return Parse(Call("GET", "/v1/admin/nodes", "", kAdmin)).value("generation", int64_t{-1});
  }
  std::vector<std::string> AuditActions() {
    std::vector<std::string> out;
    const json audit = Parse(Call("GET", "/v1/admin/audit", "", kAdmin));
    for (const auto& a : audit.value("audit", json::array())) {
      out.push_back(a.value("action", "") + " " + a.value("target", ""));
    }
    return out;
  }
  bool Audited(const std::string& action, const Node& n) {
    auto all = AuditActions();
    return std::find(all.begin(), all.end(), action + " " + n.node_id) != all.end();
  }
  // Hostnames in the newest published (signed) mesh state.
  std::set<std::string> PublishedMembers() {
    auto body = publisher_.WaitNewer(-1, std::chrono::milliseconds(0));
    std::set<std::string> out;
    if (!body) return out;
    json j = json::parse(*body);
    auto state = meshcfg::ParseSignedState(j["full"].dump());
    EXPECT_TRUE(state.ok()) << *body;
    if (state.ok())
      for (const auto& m : state->state.members) out.insert(m.hostname);
    return out;
  }

  // Makes PCR policy "golden" from `n`'s enrolled values the default.
  void AdoptPolicy(const Node& n) {
    auto r = Call("POST", "/v1/admin/policies",
                  json{{"name", "golden"}, {"from_node", n.node_id}}.dump(), kAdmin);
    ASSERT_EQ(r.status, 200) << r.body;
    settings_.default_policy = "golden";
    Build();
  }

  ConfigPublisher publisher_{[] {
    Bytes pk(32);
    SecretBytes sk(64);
    crypto_sign_keypair(pk.data(), sk.data());
    return sk;
  }()};
};

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

  // An enrollment finish cannot consume a renewal challenge.
  ASSERT_EQ(Start(a, &ch).status, 200);
  proto::EnrollFinishRequest ef;
  ef.challenge_id = ch.challenge_id;
  ef.secret = SecretBytes(32);
  ef.quote = Answer(a.tpm, *a.ak, ch).quote;
  ef.wg_public_key = Bytes(32, 1);
  ef.hostname = a.hostname;
  ef.csr_pem = Csr("x");
  EXPECT_NE(Call("POST", "/v1/enroll/finish", proto::ToJson(ef)).status, 200);
  EXPECT_EQ(NodeJson(a).value("status", ""), "active");
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

// --- the client side (client::RenewNodeCert) over the in-process handler ------

// A net::Client that calls the handler directly as a given node.
class HandlerClient final : public net::Client {
 public:
  HandlerClient(const net::Handler& h, net::Caller caller) : h_(h), caller_(std::move(caller)) {}
  Result<net::ClientResponse> Get(const std::string& path) override { return Do("GET", path, ""); }
  Result<net::ClientResponse> Post(const std::string& path, const std::string& body) override {
    return Do("POST", path, body);
  }
  Result<net::ClientResponse> Delete(const std::string& path) override {
    return Do("DELETE", path, "");
  }
  void Cancel() override {}

 private:
  Result<net::ClientResponse> Do(const std::string& method, const std::string& path,
                                 const std::string& body) {
    net::HttpRequest req;
    req.method = method;
    req.path = path;
    req.body = body;
    auto r = h_(req, caller_);
    return net::ClientResponse{r.status, r.body};
  }
  const net::Handler& h_;
  net::Caller caller_;
};

bool KeyMatchesCert(const std::string& key_pem, const std::string& cert_pem) {
  BIO* kb = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  BIO* cb = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  const bool ok = key && cert && X509_check_private_key(cert, key) == 1;
  EVP_PKEY_free(key);
  X509_free(cert);
  BIO_free(kb);
  BIO_free(cb);
  return ok;
}

TEST_F(RenewApiTest, ClientRenewsAtHalfLifeAndSwapsKeyAndCertTogether) {
  Node a("renew-client-a", "renew-client-a");
  ASSERT_NO_FATAL_FAILURE(Enroll(a));
  TempDir state;
  auto put = [&](const char* name, const std::string& data) {
    ASSERT_TRUE(pki::WritePrivateFile(state.File(name), data).ok());
  };
  put("node.crt", a.cert_pem);
  put("node.key", "old key");
  Bytes blob = a.ak->Serialize();
  put("ak.blob", std::string(blob.begin(), blob.end()));
  HandlerClient client(handler_, a.caller());

  auto early = client::RenewNodeCert(state.File(""), a.tpm, client, clock_);
  ASSERT_TRUE(early.ok()) << early.error().ToString();
  EXPECT_FALSE(*early) << "not due before half the 24 h lifetime";
  EXPECT_EQ(*pki::ReadFile(state.File("node.crt")), a.cert_pem);

  clock_.Advance(12 * 3600 + 60);
  auto due = client::RenewNodeCert(state.File(""), a.tpm, client, clock_);
  ASSERT_TRUE(due.ok()) << due.error().ToString();
  EXPECT_TRUE(*due);
  auto cert = pki::ReadFile(state.File("node.crt"));
  auto key = pki::ReadFile(state.File("node.key"));
  ASSERT_TRUE(cert.ok() && key.ok());
  EXPECT_NE(*cert, a.cert_pem);
  EXPECT_TRUE(KeyMatchesCert(*key, *cert));
  EXPECT_TRUE(SignedBy(*cert, ca_.cert_pem()));
  EXPECT_EQ(pki::IdentityFromCertPem(*cert)->id, a.node_id);
  EXPECT_FALSE(fs::exists(state.File("node.key.new")));
  EXPECT_FALSE(fs::exists(state.File("node.crt.new")));
  EXPECT_TRUE(Audited("node.renew", a));

  // Refused by the authority (policy mismatch): old pair kept, no leftovers.
  ASSERT_NO_FATAL_FAILURE(AdoptPolicy(a));
  ASSERT_TRUE(a.tpm.ExtendPcr(7, Bytes(32, 0x99)).ok());
  HandlerClient client2(handler_, a.caller());
  auto refused = client::RenewNodeCert(state.File(""), a.tpm, client2, clock_, /*force=*/true);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().reason, "pcr_policy_mismatch");
  EXPECT_EQ(*pki::ReadFile(state.File("node.crt")), *cert);
  EXPECT_EQ(*pki::ReadFile(state.File("node.key")), *key);
  EXPECT_FALSE(fs::exists(state.File("node.key.new")));
  EXPECT_EQ(NodeJson(a).value("status", ""), "quarantined");
}

TEST(RenewRecoveryTest, InterruptedSwapRollsForwardOrBack) {
  TempDir dir;
  auto put = [&](const char* name, const std::string& data) {
    ASSERT_TRUE(pki::WritePrivateFile(dir.File(name), data).ok());
  };
  // Crash after the key rename: the new cert is waiting.
  put("node.key", "new key");
  put("node.crt", "old cert");
  put("node.crt.new", "new cert");
  ASSERT_TRUE(client::RecoverRenewal(dir.File("")).ok());
  EXPECT_EQ(*pki::ReadFile(dir.File("node.crt")), "new cert");
  EXPECT_FALSE(fs::exists(dir.File("node.crt.new")));
  // Crash before the cert arrived: the stray new key is discarded.
  put("node.key.new", "newer key");
  ASSERT_TRUE(client::RecoverRenewal(dir.File("")).ok());
  EXPECT_EQ(*pki::ReadFile(dir.File("node.key")), "new key");
  EXPECT_FALSE(fs::exists(dir.File("node.key.new")));
  // Crash with both written, before any rename: both move.
  put("node.key.new", "k2");
  put("node.crt.new", "c2");
  ASSERT_TRUE(client::RecoverRenewal(dir.File("")).ok());
  EXPECT_EQ(*pki::ReadFile(dir.File("node.key")), "k2");
  EXPECT_EQ(*pki::ReadFile(dir.File("node.crt")), "c2");
}

}  // namespace
}  // namespace tpmesh::authority
