// The authority's own keys rotated through its API, in process (the
// fixture: rotation_api_test.h): the config-signing key (announce in a config
// signed by the current key, switch once every node holds it, the old key
// co-signs until retired) and the authority CA (announce, nodes fetch the
// bundle, switch with the server and admin certificates re-issued, retire
// once the old CA's certificates have expired). Both keys are the product's
// SigningKeys and CaKeys over a state directory `init` made.
#include <sodium.h>

#include <filesystem>

#include "tests/unit/rotation_api_test.h"
#include "tpmesh/authority/ca_keys.h"
#include "tpmesh/authority/signing_keys.h"
#include "tpmesh/meshcfg/meshcfg.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::authority::rotationtest {
namespace {

// ---- config-signing key rotation -------------------------------------------------

class SigningRotationTest : public RotationApiTest {
 protected:
  void SetUp() override {
    RotationApiTest::SetUp();
    original_ = keys_.signing->current_public();  // the key `init` made
  }

  meshcfg::SignedState Current() {
    auto body = publisher_.Newer(-1);
    EXPECT_TRUE(body);
    auto s = meshcfg::ParseSignedState(json::parse(*body)["full"].dump());
    EXPECT_TRUE(s.ok()) << s.error().ToString();
    return s.ok() ? *s : meshcfg::SignedState{};
  }

  std::vector<std::string> SigningStates() {
    std::vector<std::string> out;
    json keys = Parse(Call("GET", "/v1/admin/keys", "", kAdmin));
    for (const auto& k : keys["config_signing"]) out.push_back(k.value("state", ""));
    return out;
  }

  Bytes original_;
};

TEST_F(SigningRotationTest, AnnounceSwitchWhenAllNodesHoldItThenRetire) {
  for (Node* n : {&a_, &b_, &c_}) Ack(*n);
  EXPECT_TRUE(Current().state.signing_keys.empty())
      << "nothing announced before the first rotation";
  auto r = Call("POST", "/v1/admin/keys/signing/rotate", json{{"reason", "drill"}}.dump(), kAdmin);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(SigningStates(), (std::vector<std::string>{"current", "next"}));
  meshcfg::SignedState announced = Current();
  ASSERT_EQ(announced.state.signing_keys.size(), 2u);
  EXPECT_EQ(announced.state.signing_keys[0], original_);
  const Bytes next = announced.state.signing_keys[1];
  EXPECT_TRUE(meshcfg::VerifySignedState(announced, -1, {original_}).ok())
      << "signed by the current key";
  EXPECT_FALSE(meshcfg::VerifySignedState(announced, -1, {next}).ok());
  // A second rotation while one is under way is refused.
  EXPECT_EQ(StatusReason(Call("POST", "/v1/admin/keys/signing/rotate", "{}", kAdmin)),
            "409 rotation_in_progress");

  // Not every node holds the announcement yet: no switch.
  const int64_t g = Generation();
  Ack(a_, g);
  Ack(b_, g);
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(SigningStates(), (std::vector<std::string>{"current", "next"}));
  Ack(c_, g);
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(SigningStates(), (std::vector<std::string>{"current", "retired"}));
  EXPECT_EQ(service_->ConfigSigningPublic(), next) << "new enrollments pin the new key";
  meshcfg::SignedState switched = Current();
  EXPECT_EQ(switched.signer_public_key, next);
  EXPECT_EQ(switched.state.signing_keys, (std::vector<Bytes>{next, original_}));
  // A client that only knows the old key (it missed the announcement) still
  // verifies, through the old key's co-signature.
  EXPECT_TRUE(meshcfg::VerifySignedState(switched, -1, {original_}).ok());
  EXPECT_TRUE(meshcfg::VerifySignedState(switched, -1, {next}).ok());

  // The switch survives a restart: the files say so.
  auto reloaded = SigningKeys::Load(KeysDir());
  ASSERT_TRUE(reloaded.ok());
  EXPECT_EQ((*reloaded)->current_public(), next);
  EXPECT_TRUE((*reloaded)->has_old());

  clock_.Advance(601);  // the overlap
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(SigningStates(), (std::vector<std::string>{"current"}));
  meshcfg::SignedState retired = Current();
  EXPECT_EQ(retired.state.signing_keys, (std::vector<Bytes>{next}));
  EXPECT_TRUE(retired.co_signatures.empty());
  EXPECT_FALSE(meshcfg::VerifySignedState(retired, -1, {original_}).ok()) << "the old key is out";
  EXPECT_FALSE(std::filesystem::exists(KeysDir() + "/config-signing.old.key"));
  for (const char* action : {"signing_key.announce", "signing_key.switch", "signing_key.retire"}) {
    EXPECT_TRUE(Audited(action)) << action;
  }
}

TEST_F(SigningRotationTest, SwitchesAfterTheOverlapEvenIfANodeNeverAcknowledges) {
  ASSERT_EQ(Call("POST", "/v1/admin/keys/signing/rotate", "{}", kAdmin).status, 200);
  Ack(a_);  // b and c stay silent
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(SigningStates(), (std::vector<std::string>{"current", "next"}));
  clock_.Advance(601);
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(SigningStates(), (std::vector<std::string>{"current", "retired"}));
}

// ---- authority CA rotation -----------------------------------------------------

std::string Sha256Hex(const std::string& s) {
  Bytes h(crypto_hash_sha256_BYTES);
  crypto_hash_sha256(h.data(), reinterpret_cast<const uint8_t*>(s.data()), s.size());
  return HexEncode(h);
}

class CaRotationTest : public RotationApiTest {
 protected:
  void SetUp() override {
    RotationApiTest::SetUp();  // ca_ issued the enrolled nodes' certificates
    auto admin = pki::ReadFile(KeysDir() + "/admin.crt");
    ASSERT_TRUE(admin.ok()) << admin.error().ToString();
    original_admin_ = *admin;
    service_->SetTlsReloader([this](const TlsFiles& t) {
      reloads_.push_back(t.client_ca_pem);
      server_chain_ = t.cert_pem;
      return OkStatus();
    });
  }

  json AckWithBundle(const Node& n, const std::string& bundle_hash) {
    auto r = Call("POST", "/v1/node/ack",
                  json{{"generation", Generation()}, {"ca_bundle_sha256", bundle_hash}}.dump(),
                  n.caller());
    EXPECT_EQ(r.status, 200) << r.body;
    return Parse(r);
  }
  static size_t Certs(const std::string& pem) {
    auto fps = pki::BundleFingerprints(pem);
    return fps.ok() ? fps->size() : 0;
  }

  std::string original_admin_;
  std::vector<std::string> reloads_;
  std::string server_chain_;
};

TEST_F(CaRotationTest, AnnounceDistributeSwitchRetire) {
  const std::string old_fp = ca_.Fingerprint();
  const std::string old_hash = Sha256Hex(ca_.cert_pem());
  for (Node* n : {&a_, &b_, &c_}) EXPECT_FALSE(AckWithBundle(*n, old_hash).contains("ca_bundle"));

  auto r = Call("POST", "/v1/admin/keys/ca/rotate", json{{"reason", "drill"}}.dump(), kAdmin);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(Parse(r)["authority_ca"].size(), 2u);
  ASSERT_EQ(reloads_.size(), 1u);
  EXPECT_EQ(Certs(reloads_.back()), 2u) << "the server accepts client certificates from both CAs";
  EXPECT_EQ(StatusReason(Call("POST", "/v1/admin/keys/ca/rotate", "{}", kAdmin)),
            "409 rotation_in_progress");

  // A node with the old bundle is handed the new one; with the new one, nothing.
  json answer = AckWithBundle(a_, old_hash);
  ASSERT_TRUE(answer.contains("ca_bundle"));
  const std::string bundle = answer["ca_bundle"];
  EXPECT_EQ(Certs(bundle), 2u);
  EXPECT_FALSE(AckWithBundle(a_, Sha256Hex(bundle)).contains("ca_bundle"));
  EXPECT_EQ(
      StatusReason(Call("POST", "/v1/node/ack",
                        json{{"generation", 1}, {"ca_bundle_sha256", "xyz"}}.dump(), a_.caller())),
      "400 invalid_request");

  // Not every node holds it yet: no switch.
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(service_->CurrentCa()->Fingerprint(), old_fp);
  AckWithBundle(b_, Sha256Hex(bundle));
  AckWithBundle(c_, Sha256Hex(bundle));
  ASSERT_TRUE(service_->RotationTick().ok());
  const std::string new_fp = service_->CurrentCa()->Fingerprint();
  EXPECT_NE(new_fp, old_fp) << "switched once every node trusts the new CA";
  ASSERT_EQ(reloads_.size(), 2u);
  EXPECT_EQ(Certs(reloads_.back()), 2u) << "certificates of the old CA stay valid";
  auto chain = pki::BundleFingerprints(server_chain_);
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(chain->back(), new_fp) << "the server certificate comes from the new CA";
  auto admin = pki::ReadFile(KeysDir() + "/admin.crt");
  ASSERT_TRUE(admin.ok());
  EXPECT_NE(*admin, original_admin_) << "the admin certificate is re-issued by the new CA";
  auto admin_id = pki::IdentityFromCertPem(*admin);
  ASSERT_TRUE(admin_id.ok());
  EXPECT_EQ(admin_id->id, "admin");
  auto ca_file = pki::ReadFile(KeysDir() + "/ca.crt");
  ASSERT_TRUE(ca_file.ok());
  EXPECT_EQ(*ca_file, service_->CurrentCa()->cert_pem());
  // The switch survives a restart.
  auto reloaded = CaKeys::Load(KeysDir());
  ASSERT_TRUE(reloaded.ok()) << reloaded.error().ToString();
  EXPECT_EQ((*reloaded)->Current()->Fingerprint(), new_fp);
  EXPECT_TRUE((*reloaded)->has_old());

  // Retire once every certificate the old CA issued has expired.
  clock_.Advance(settings_.node_cert_lifetime.count() - 60);
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(Certs(service_->CaBundle()), 2u);
  clock_.Advance(120);
  ASSERT_TRUE(service_->RotationTick().ok());
  EXPECT_EQ(Certs(service_->CaBundle()), 1u);
  ASSERT_EQ(reloads_.size(), 3u);
  EXPECT_EQ(Certs(reloads_.back()), 1u);
  for (const char* action : {"ca.announce", "ca.switch", "ca.retire"})
    EXPECT_TRUE(Audited(action)) << action;
}

}  // namespace
}  // namespace tpmesh::authority::rotationtest
