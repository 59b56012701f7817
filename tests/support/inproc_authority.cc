#include "tests/support/inproc_authority.h"

#include <nlohmann/json.hpp>

#include "tests/support/api_test_util.h"
#include "tests/support/settle.h"
#include "tpmesh/authority/api.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::testing {
namespace {

using nlohmann::json;

Error Refused(const std::string& what, const net::HttpResponse& r) {
  return MakeError(Code::kInternal, "test_setup",
                   what + ": " + std::to_string(r.status) + " " + r.body);
}

authority::AuthoritySettings Settings() {
  authority::AuthoritySettings s;
  auto prefix = authority::ParseMeshPrefix("fd12:3456:789a::/48");
  if (prefix.ok()) s.mesh_prefix = *prefix;
  s.rotation.scheduled = false;
  s.rotation.live_window = std::chrono::seconds(60);
  s.rotation.policy.confirm_deadline = std::chrono::seconds(30);
  s.rotation.policy.retry_after = std::chrono::seconds(120);
  s.rotation.policy.overlap = std::chrono::seconds(600);
  s.log = [](const std::string&) {};
  return s;
}

}  // namespace

Result<std::unique_ptr<InProcessAuthority>> InProcessAuthority::Create(FakeClock& clock) {
  std::unique_ptr<InProcessAuthority> a(new InProcessAuthority(clock));
  TPMESH_RETURN_IF_ERROR(a->Init());
  return a;
}

InProcessAuthority::~InProcessAuthority() { publisher_.Shutdown(); }

Status InProcessAuthority::Init() {
  TPMESH_ASSIGN_OR_RETURN(store_, authority::OpenSqliteStore(dir_.File("authority.db")));
  TPMESH_RETURN_IF_ERROR(trust_.AddPem(SoftTpm::TrustedRoot().Pem()));
  // The keys as `tpmesh-authority init` leaves them and `serve` loads them.
  TPMESH_ASSIGN_OR_RETURN(keys_, InitAuthorityKeys(dir_.File("keys"), clock_));
  signing_public_ = keys_.signing->current_public();
  keys_.signing->Configure(publisher_);
  service_ = std::make_unique<authority::AuthorityService>(
      *store_, trust_, keys_.keys(), Settings(), clock_, SystemRandom::Instance());
  service_->SetPublisher(&publisher_);
  service_->SetTlsReloader([](const authority::TlsFiles&) { return OkStatus(); });
  handler_ = authority::MakeApiHandler(*service_, &publisher_);
  return service_->PublishCurrent();
}

net::HttpResponse InProcessAuthority::Call(const std::string& method, const std::string& path,
                                           const std::string& body, const net::Caller& caller) {
  return testing::Settle(handler_(MakeRequest(method, path, body), caller));
}

net::Handler InProcessAuthority::handler() {
  return [this](const net::HttpRequest& req, const net::Caller& caller) {
    return testing::Settle(handler_(req, caller));
  };
}

Result<InProcessAuthority::Enrolled> InProcessAuthority::Enroll(SoftTpm& tpm,
                                                                const std::string& hostname,
                                                                const Bytes& wg_public,
                                                                const std::string& key_pem) {
  using attest::KeyAlg;
  TPMESH_ASSIGN_OR_RETURN(auto ek, tpm.ReadEk(KeyAlg::kEccP256));
  TPMESH_ASSIGN_OR_RETURN(auto ak, tpm.CreateAk(KeyAlg::kEccP256));
  TPMESH_ASSIGN_OR_RETURN(Bytes ek_hash, tpm.EkSha256(KeyAlg::kEccP256));
  auto allow = Call("POST", "/v1/admin/ek-allowlist",
                    json{{"ek_sha256", HexEncode(ek_hash)}}.dump(), kAdmin);
  if (allow.status != 201) return Refused("allowlist", allow);
  proto::EnrollStartRequest sreq{hostname,       KeyAlg::kEccP256, ek.ek_public,
                                 ek.ek_cert_der, ek.intermediates, ak.public_area};
  auto s = Call("POST", "/v1/enroll/start", proto::ToJson(sreq), kAnon);
  if (s.status != 200) return Refused("enroll/start", s);
  TPMESH_ASSIGN_OR_RETURN(auto ch, proto::ParseEnrollStartResponse(s.body));
  proto::EnrollFinishRequest f;
  f.challenge_id = ch.challenge_id;
  TPMESH_ASSIGN_OR_RETURN(f.secret, tpm.ActivateCredential(ak, KeyAlg::kEccP256, ch.credential));
  TPMESH_ASSIGN_OR_RETURN(f.quote, tpm.Quote(ak, ch.pcr_selection, ch.nonce));
  f.wg_public_key = wg_public;
  f.hostname = hostname;
  TPMESH_ASSIGN_OR_RETURN(f.csr_pem, pki::MakeCsr(key_pem, hostname));
  auto r = Call("POST", "/v1/enroll/finish", proto::ToJson(f), kAnon);
  if (r.status != 200) return Refused("enroll/finish", r);
  TPMESH_ASSIGN_OR_RETURN(auto result, proto::ParseEnrollFinishResponse(r.body));
  return Enrolled{std::move(result), std::move(ak)};
}

}  // namespace tpmesh::testing
