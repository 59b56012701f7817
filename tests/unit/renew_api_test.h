// The RenewApiTest fixture, shared by renew_api_test.cc (the authority's
// renewal: re-attestation, quarantine, challenges, refusals) and
// renew_client_test.cc (client::RenewNodeCert against it): the authority's
// HTTP handler in process (testing::AuthorityFixture) publishing to a
// ConfigPublisher, SoftTpm nodes enrolled through the allowlist, and the
// renewal calls as a node makes them.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sodium.h>

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/support/api_test_util.h"
#include "tests/support/authority_fixture.h"
#include "tests/support/soft_tpm.h"
#include "tpmesh/authority/publisher.h"
#include "tpmesh/meshcfg/meshcfg.h"
#include "tpmesh/ossl/pem.h"
#include "tpmesh/proto/renew.h"

namespace tpmesh::authority::renewtest {

using attest::KeyAlg;
using nlohmann::json;
using testing::kAdmin;
using testing::SoftTpm;
using testing::StatusReason;
inline json Parse(const net::HttpResponse& r) { return testing::ParseBody(r); }

// True when `cert_pem` is signed by the CA certificate `ca_pem`.
inline bool SignedBy(const std::string& cert_pem, const std::string& ca_pem) {
  auto cert = ossl::ReadCertPem(cert_pem, "certificate", "test");
  auto ca = ossl::ReadCertPem(ca_pem, "CA certificate", "test");
  if (!cert.ok() || !ca.ok()) return false;
  EVP_PKEY* key = X509_get0_pubkey(ca->get());
  return key != nullptr && X509_verify(cert->get(), key) == 1;
}

// A machine: a SoftTpm plus what the enroll client keeps.
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

  // Enrolls through the allowlist (ECC EK) with a new AK and a WireGuard
  // key of its own; sets n.ak, n.node_id and n.cert_pem.
  void Enroll(Node& n) {
    auto ak = n.tpm.CreateAk(KeyAlg::kEccP256);
    ASSERT_TRUE(ak.ok());
    n.ak = *ak;
    const Bytes wg(32, static_cast<uint8_t>(n.hostname.size() + n.hostname.back()));
    auto r = EnrollAllowlisted(n.tpm, *n.ak, n.hostname, wg, !n.without_ek_cert);
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
    if (r.status == 200) {
      n.cert_pem = Parse(r).value("node_cert", n.cert_pem);  // as the client does
    }
    return r;
  }

  json NodeJson(const Node& n) {
    return Parse(Call("GET", "/v1/admin/nodes/" + n.node_id, "", kAdmin));
  }
  int64_t Generation() {
    return Parse(Call("GET", "/v1/admin/nodes", "", kAdmin)).value("generation", int64_t{-1});
  }
  // Whether the audit log has `action` with `n` as its target.
  bool Audited(const std::string& action, const Node& n) {
    const json audit = Parse(Call("GET", "/v1/admin/audit", "", kAdmin));
    for (const auto& a : audit.value("audit", json::array())) {
      if (a.value("action", "") == action && a.value("target", "") == n.node_id) return true;
    }
    return false;
  }
  // Hostnames in the newest published (signed) mesh state.
  std::set<std::string> PublishedMembers() {
    auto body = publisher_.Newer(-1);
    std::set<std::string> out;
    if (!body) return out;
    json j = json::parse(*body);
    auto state = meshcfg::ParseSignedState(j["full"].dump());
    EXPECT_TRUE(state.ok()) << *body;
    if (state.ok()) {
      for (const auto& m : state->state.members) out.insert(m.hostname);
    }
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

}  // namespace tpmesh::authority::renewtest
