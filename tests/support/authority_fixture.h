// AuthorityFixture: the authority in process for unit tests of its HTTP API
// (authority_api_test, renew_api_test, rotation_api_test): a real
// AuthorityService over a real SQLite store in a fresh temp dir, its keys
// (SigningKeys, CaKeys) in a state directory made as `tpmesh-authority init`
// makes one (authority_keys.h), SoftTpm's vendor root trusted, mesh
// fd12:3456:789a::/48, a FakeClock, and the API handler called directly (no
// sockets). Also the enrollment protocol's requests, built from a SoftTpm the
// way the enroll client builds them, and a whole enrollment through the
// allowlist.
//
// Header-only, so a test needs no library beyond the tpmesh_authority,
// tpmesh_pki and tpmesh_testsupport it links already. Not thread-safe,
// except Call, which is as thread-safe as the handler (for tests that
// enroll from several threads).
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "tests/support/api_test_util.h"
#include "tests/support/authority_keys.h"
#include "tests/support/fake_env.h"
#include "tests/support/settle.h"
#include "tests/support/soft_tpm.h"
#include "tests/support/temp_dir.h"
#include "tpmesh/authority/api.h"
#include "tpmesh/authority/publisher.h"
#include "tpmesh/authority/service.h"
#include "tpmesh/authority/store.h"
#include "tpmesh/net/http.h"
#include "tpmesh/pki/pki.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::testing {

class AuthorityFixture : public ::testing::Test {
 protected:
  // `dir_prefix` names the test's temp dir (removed afterwards).
  explicit AuthorityFixture(const std::string& dir_prefix) : dir_(dir_prefix) {}

  // The service goes first: it must not outlive a publisher the derived
  // fixture owns.
  void TearDown() override {
    handler_ = nullptr;
    service_.reset();
  }

  // Opens the store (dir_/authority.db), makes and loads the keys
  // (dir_/keys, KeysDir), trusts SoftTpm's root and sets the mesh prefix in
  // settings_. Call it first in SetUp, through ASSERT_NO_FATAL_FAILURE; then
  // adjust settings_ and BuildService.
  void OpenState() {
    auto store = authority::OpenSqliteStore(dir_.File("authority.db"));
    ASSERT_TRUE(store.ok()) << store.error().ToString();
    store_ = std::move(store).value();
    auto keys = InitAuthorityKeys(KeysDir(), clock_);
    ASSERT_TRUE(keys.ok()) << keys.error().ToString();
    keys_ = std::move(keys).value();
    auto cert = pki::ReadFile(keys_.dir + "/ca.crt");
    auto key = pki::ReadFile(keys_.dir + "/ca.key");
    ASSERT_TRUE(cert.ok() && key.ok());
    auto ca = pki::AuthorityCa::Load(*cert, *key);
    ASSERT_TRUE(ca.ok()) << ca.error().ToString();
    ca_ = std::move(ca).value();
    ASSERT_TRUE(trust_.AddPem(SoftTpm::TrustedRoot().Pem()).ok());
    auto prefix = authority::ParseMeshPrefix("fd12:3456:789a::/48");
    ASSERT_TRUE(prefix.ok());
    settings_.mesh_prefix = *prefix;
  }

  // (Re)creates the service over the same store and keys with the current
  // settings_. With `publisher`: it gets the config-signing keys (as `serve`
  // configures it), the service publishes to it, the handler serves it, and
  // the current state is published (asserted). `publisher` must outlive the
  // service.
  void BuildService(authority::ConfigPublisher* publisher = nullptr) {
    service_ = std::make_unique<authority::AuthorityService>(
        *store_, trust_, keys_.keys(), settings_, clock_, SystemRandom::Instance());
    if (publisher == nullptr) {
      handler_ = authority::MakeApiHandler(*service_);
      return;
    }
    keys_.signing->Configure(*publisher);
    service_->SetPublisher(publisher);
    handler_ = authority::MakeApiHandler(*service_, publisher);
    ASSERT_TRUE(service_->PublishCurrent().ok());
  }

  // One request through the handler, from 192.0.2.1.
  net::HttpResponse Call(const std::string& method, const std::string& path,
                         const std::string& body = "", const net::Caller& caller = kAnon) {
    return Settle(handler_(MakeRequest(method, path, body), caller));
  }

  // POST /v1/admin/ek-allowlist with `tpm`'s `alg` EK (and `comment`, when
  // given). A TPM without that EK: a 500 response, and a failed expectation.
  net::HttpResponse AllowEk(SoftTpm& tpm, attest::KeyAlg alg,
                            std::optional<std::string> comment = std::nullopt) {
    auto h = tpm.EkSha256(alg);
    EXPECT_TRUE(h.ok());
    if (!h.ok()) return net::HttpResponse{500, "test: no EK"};
    nlohmann::json body{{"ek_sha256", HexEncode(*h)}};
    if (comment) body["comment"] = *comment;
    return Call("POST", "/v1/admin/ek-allowlist", body.dump(), kAdmin);
  }

  // The enroll/start request for `tpm`'s `alg` EK (with the EK certificate
  // and intermediates it holds) and the AK `ak`.
  static proto::EnrollStartRequest StartRequest(SoftTpm& tpm, attest::KeyAlg alg,
                                                const attest::AkBlob& ak,
                                                const std::string& hostname) {
    auto ek = tpm.ReadEk(alg);
    EXPECT_TRUE(ek.ok());
    proto::EnrollStartRequest req;
    req.hostname = hostname;
    req.ek_alg = alg;
    if (!ek.ok()) return req;
    req.ek_public = ek->ek_public;
    req.ek_cert = ek->ek_cert_der;
    req.ek_intermediates = ek->intermediates;
    req.ak_public = ak.public_area;
    return req;
  }

  // The enroll/finish answer to `ch`: the secret ActivateCredential
  // recovers, a quote by `ak` over the challenge's selection and nonce,
  // `wg_key`, `hostname` and a CSR for a fresh key. No endpoints, no token.
  static proto::EnrollFinishRequest FinishRequest(SoftTpm& tpm, attest::KeyAlg alg,
                                                  const attest::AkBlob& ak,
                                                  const proto::EnrollStartResponse& ch,
                                                  const std::string& hostname, Bytes wg_key) {
    proto::EnrollFinishRequest req;
    req.challenge_id = ch.challenge_id;
    auto secret = tpm.ActivateCredential(ak, alg, ch.credential);
    EXPECT_TRUE(secret.ok()) << secret.error().ToString();
    if (secret.ok()) req.secret = std::move(secret).value();
    auto quote = tpm.Quote(ak, ch.pcr_selection, ch.nonce);
    EXPECT_TRUE(quote.ok()) << quote.error().ToString();
    if (quote.ok()) req.quote = std::move(quote).value();
    req.wg_public_key = std::move(wg_key);
    req.hostname = hostname;
    req.csr_pem = Csr(hostname);
    return req;
  }

  // A node's enrollment through the allowlist, as the enroll client does
  // it: allowlists `tpm`'s ECC P-256 EK, then enroll/start (without the EK
  // certificate and intermediates when `send_ek_cert` is false, as a TPM
  // with none in NV) and enroll/finish (FinishRequest, with `wg_key`).
  // Returns the finish response, or the first failed one.
  net::HttpResponse EnrollAllowlisted(SoftTpm& tpm, const attest::AkBlob& ak,
                                      const std::string& hostname, Bytes wg_key,
                                      bool send_ek_cert = true) {
    const attest::KeyAlg alg = attest::KeyAlg::kEccP256;
    if (auto r = AllowEk(tpm, alg); r.status != 201) return r;
    proto::EnrollStartRequest start = StartRequest(tpm, alg, ak, hostname);
    if (!send_ek_cert) {
      start.ek_cert.reset();
      start.ek_intermediates.clear();
    }
    auto s = Call("POST", "/v1/enroll/start", proto::ToJson(start));
    if (s.status != 200) return s;
    auto ch = proto::ParseEnrollStartResponse(s.body);
    EXPECT_TRUE(ch.ok()) << s.body;
    if (!ch.ok()) return net::HttpResponse{500, "test: bad challenge"};
    return Call("POST", "/v1/enroll/finish",
                proto::ToJson(FinishRequest(tpm, alg, ak, *ch, hostname, std::move(wg_key))));
  }

  // A CSR with common name `cn` for a fresh key ("" after a failed
  // expectation).
  static std::string Csr(const std::string& cn) {
    auto key = pki::GenerateKeyPem();
    EXPECT_TRUE(key.ok());
    auto csr = pki::MakeCsr(key.ok() ? *key : "", cn);
    EXPECT_TRUE(csr.ok());
    return csr.ok() ? *csr : "";
  }

  // The state directory of the keys (ca.crt, admin.crt, config-signing.key, ...).
  std::string KeysDir() const { return dir_.File("keys"); }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<authority::Store> store_;
  AuthorityKeyFiles keys_;  // keys_.signing, keys_.cas
  pki::AuthorityCa ca_;     // the current CA at OpenState, loaded from keys_'s ca.crt/ca.key
  attest::TrustStore trust_;
  authority::AuthoritySettings settings_;
  std::unique_ptr<authority::AuthorityService> service_;
  net::Handler handler_;
};

}  // namespace tpmesh::testing
