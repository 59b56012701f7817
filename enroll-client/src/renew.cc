#include "tpmesh/client/renew.h"

#include <openssl/x509.h>
#include <sodium.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>

#include "tpmesh/client/enroll.h"
#include "tpmesh/client/node_state.h"
#include "tpmesh/keyrotate/rotation.h"
#include "tpmesh/ossl/pem.h"
#include "tpmesh/pki/pki.h"
#include "tpmesh/proto/renew.h"

namespace tpmesh::client {
namespace {

namespace fs = std::filesystem;

std::string P(const std::string& dir, const char* name) { return dir + "/" + name; }

Error Io(const std::string& what, const std::error_code& ec) {
  return MakeError(Code::kInternal, "state_write_failed", what + ": " + ec.message());
}

}  // namespace

Result<CertWindow> ReadCertWindow(std::string_view pem) {
  TPMESH_ASSIGN_OR_RETURN(ossl::X509Ptr cert, ossl::ReadCertPem(pem, "node.crt", "invalid_cert"));
  CertWindow w;
  auto not_before = ossl::FromAsn1Time(X509_get0_notBefore(cert.get()));
  auto not_after = ossl::FromAsn1Time(X509_get0_notAfter(cert.get()));
  if (!not_before.ok() || !not_after.ok()) {
    return MakeError(Code::kInvalidArgument, "invalid_cert", "node.crt: unreadable validity dates");
  }
  w.not_before = *not_before;
  w.not_after = *not_after;
  return w;
}

std::string FormatUtc(TimePoint t) {
  const std::time_t secs = static_cast<std::time_t>(ToUnixSeconds(t));
  struct tm tm {};
  char out[32] = "?";
  if (gmtime_r(&secs, &tm) != nullptr) std::strftime(out, sizeof out, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return out;
}

Status CheckNotExpired(std::string_view cert_pem, TimePoint now) {
  auto w = ReadCertWindow(cert_pem);
  if (!w.ok()) {
    return MakeError(Code::kFailedPrecondition, "state_corrupt",
                     w.error().message + "; enroll again ('tpmesh-client enroll --force')");
  }
  if (now <= w->not_after) return OkStatus();
  return MakeError(
      Code::kFailedPrecondition, "node_cert_expired",
      "the node certificate (node.crt) expired at " + FormatUtc(w->not_after) +
          "; it authenticates nothing any more: 'tpmesh-client renew' (or 'tpmesh-client run' with "
          "its TPM) enrolls this node again with the TPM, as does 'tpmesh-client enroll --force'");
}

Status RecoverRenewal(const std::string& dir) {
  const std::string key_new = P(dir, "node.key.new"), crt_new = P(dir, "node.crt.new");
  std::error_code ec;
  const bool have_key = fs::exists(key_new, ec), have_crt = fs::exists(crt_new, ec);
  if (have_key && !have_crt) {
    fs::remove(key_new, ec);  // crashed before the cert arrived: old pair is intact
    return OkStatus();
  }
  if (have_key) {
    fs::rename(key_new, P(dir, "node.key"), ec);
    if (ec) return Io("rename node.key.new", ec);
  }
  if (have_crt) {
    fs::rename(crt_new, P(dir, "node.crt"), ec);
    if (ec) return Io("rename node.crt.new", ec);
  }
  return OkStatus();
}

Result<bool> RenewNodeCert(const std::string& dir, attest::Tpm& tpm, net::Client& client,
                           const Clock& clock, bool force) {
  TPMESH_RETURN_IF_ERROR(RecoverRenewal(dir));
  TPMESH_ASSIGN_OR_RETURN(std::string cert, pki::ReadFile(P(dir, "node.crt")));
  TPMESH_ASSIGN_OR_RETURN(CertWindow window, ReadCertWindow(cert));
  TPMESH_RETURN_IF_ERROR(CheckNotExpired(cert, clock.Now()));
  if (!force && !keyrotate::ShouldRenew(window.not_before, window.not_after, clock.Now()))
    return false;
  TPMESH_ASSIGN_OR_RETURN(auto me, pki::IdentityFromCertPem(cert));
  TPMESH_ASSIGN_OR_RETURN(std::string blob, pki::ReadFile(P(dir, "ak.blob")));
  TPMESH_ASSIGN_OR_RETURN(auto ak, attest::AkBlob::Parse(AsView(blob)));

  TPMESH_ASSIGN_OR_RETURN(auto sr, client.Post("/v1/node/renew/start", "{}"));
  if (sr.status != 200) return net::ErrorFromResponse(sr);
  TPMESH_ASSIGN_OR_RETURN(auto challenge, proto::ParseRenewStartResponse(sr.body));

  proto::RenewFinishRequest req;
  req.challenge_id = challenge.challenge_id;
  TPMESH_ASSIGN_OR_RETURN(req.quote, tpm.Quote(ak, challenge.pcr_selection, challenge.nonce));
  TPMESH_ASSIGN_OR_RETURN(std::string key, pki::GenerateKeyPem());
  struct Wipe {
    std::string& s;
    ~Wipe() { sodium_memzero(s.data(), s.size()); }
  } wipe{key};
  TPMESH_ASSIGN_OR_RETURN(req.csr_pem, pki::MakeCsr(key, me.id));
  // The new key is on disk before the authority can issue a cert for it.
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(P(dir, "node.key.new"), key));

  auto fr = client.Post("/v1/node/renew/finish", proto::ToJson(req));
  Result<proto::RenewFinishResponse> out =
      !fr.ok()            ? Result<proto::RenewFinishResponse>(fr.error())
      : fr->status != 200 ? Result<proto::RenewFinishResponse>(net::ErrorFromResponse(*fr))
                          : proto::ParseRenewFinishResponse(fr->body);
  if (out.ok()) {
    auto ident = pki::IdentityFromCertPem(out->node_cert_pem);
    if (!ident.ok() || ident->id != me.id) {
      out = MakeError(Code::kInternal, "invalid_response",
                      "the renewed certificate does not name this node (" + me.id + ")");
    }
  }
  if (!out.ok()) {
    std::error_code ec;
    fs::remove(P(dir, "node.key.new"), ec);
    return out.error();
  }
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(P(dir, "node.crt.new"), out->node_cert_pem));
  TPMESH_RETURN_IF_ERROR(RecoverRenewal(dir));  // the two renames
  return true;
}

namespace {

// An expired certificate authenticates nothing, renewal included: enroll
// again as this node (ReenrollOptions), anonymously over the pinned CA.
Result<bool> Reenroll(const std::string& dir, const NodeFiles& f, attest::Tpm& tpm,
                      const Error& expired, const std::function<void(const std::string&)>& say) {
  std::optional<meshcfg::SignedState> held;
  if (auto raw = pki::ReadFile(P(dir, "mesh.json")); raw.ok()) {
    if (auto parsed = meshcfg::ParseSignedState(*raw); parsed.ok()) held = std::move(*parsed);
  }
  auto eo = ReenrollOptions(f, held ? &held->state : nullptr, dir);
  if (!eo.ok())
    return MakeError(Code::kFailedPrecondition, expired.reason,
                     expired.message + "; " + eo.error().message);
  if (say) say("the node certificate expired: enrolling again as node " + f.enrolled.node_id);
  TPMESH_ASSIGN_OR_RETURN(
      auto http, net::MakeClient(net::ClientOptions{eo->authority_url, f.ca, "", "", 30, true}));
  auto enrolled = EnrollOver(*eo, *http, tpm, say);
  if (!enrolled.ok()) return enrolled.take_error();
  return true;
}

}  // namespace

Result<bool> RenewFromStateDir(const std::string& dir, attest::Tpm& tpm, bool force,
                               const std::function<void(const std::string&)>& progress) {
  TPMESH_ASSIGN_OR_RETURN(auto f, LoadNodeFiles(dir));  // not_enrolled / state_corrupt
  if (Status st = CheckNotExpired(f->node_cert, SystemClock::Instance().Now()); !st.ok()) {
    if (st.error().reason != "node_cert_expired") return st.error();
    return Reenroll(dir, *f, tpm, st.error(), progress);
  }
  net::ClientOptions o;
  o.base_url = f->authority_urls.front();
  o.ca_pem = f->ca;
  o.client_cert_pem = f->node_cert;
  o.client_key_pem = f->node_key;
  auto client = net::MakeClient(o);
  sodium_memzero(o.client_key_pem.data(), o.client_key_pem.size());
  if (!client.ok()) return client.error();
  return RenewNodeCert(dir, tpm, **client, SystemClock::Instance(), force);
}

}  // namespace tpmesh::client
