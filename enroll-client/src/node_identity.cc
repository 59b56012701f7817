// The daemon's node identity (daemon_impl.h): certificate renewal at half
// life (renew.h), and a reload of the state directory after an
// `enroll --force` replaced the node's certificate and keys.
#include <sodium.h>

#include <algorithm>
#include <chrono>

#include "daemon_impl.h"
#include "tpmesh/client/enroll.h"
#include "tpmesh/client/renew.h"
#include "tpmesh/keyrotate/rotation.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::client::internal {

bool Daemon::IsCertRefusal(const Error& e) {
  return e.reason == "node_cert_superseded" || e.reason == "node_cert_expired";
}

// After `why` (IsCertRefusal): reads the state directory again and, if an
// `enroll --force` left a new, consistent identity there, uses it. False
// (logged) when there is nothing new to use yet.
bool Daemon::ReloadIdentity(const Error& why) {
  Log("the node certificate is not accepted (" + why.ToString() + "); reading " + o_.state_dir +
      " again");
  auto fresh = LoadNodeFiles(o_.state_dir, o_.extra_authority_urls);
  if (!fresh.ok()) {
    Log("reload: " + fresh.error().ToString());
    return false;
  }
  if (SameNodeFiles(**fresh, *f_)) {
    // An expired certificate with a TPM: OnExpired enrolls again itself.
    if (why.reason != "node_cert_expired" || o_.tcti.empty()) {
      Log(o_.state_dir +
          " holds the same node certificate and keys: this node must enroll again "
          "('tpmesh-client enroll --force'); the mesh keeps its last config meanwhile");
    }
    return false;
  }
  NodeFiles& n = **fresh;
  if (Status st = CheckNotExpired(n.node_cert, env_.clock.Now()); !st.ok()) {
    Log("reload: the new files are not usable: " + st.error().ToString());
    return false;
  }
  // node.key and node.crt must belong together (enroll may still be writing).
  if (auto probe = env_.make_client(
          net::ClientOptions{n.authority_urls[0], n.ca, n.node_cert, n.node_key, 5});
      !probe.ok()) {
    Log("reload: the new files do not fit together yet (" + probe.error().ToString() + ")");
    return false;
  }
  if (Status st = Adopt(std::move(*fresh)); !st.ok()) {
    Log("reload: could not apply the new identity: " + st.error().ToString());
    return false;
  }
  return true;
}

// Switches the running daemon to a re-enrolled identity.
Status Daemon::Adopt(std::unique_ptr<NodeFiles> n) {
  const auto& e = n->enrolled;
  const bool moved = e.overlay_address != f_->enrolled.overlay_address ||
                     e.mesh_prefix != f_->enrolled.mesh_prefix || e.mtu != f_->enrolled.mtu;
  TPMESH_ASSIGN_OR_RETURN(Bytes pub, WgPublicFromPrivate(n->wg_private.view()));
  if (pub != wg_public_) {
    wg::WgDeviceConfig change;
    change.private_key = SecretBytes(n->wg_private.view());
    TPMESH_RETURN_IF_ERROR(device_->Set(change));
    last_applied_.private_key = SecretBytes(n->wg_private.view());
    Log("reload: set the new WireGuard key " + Base64Encode(pub) + " on " + o_.ifname);
  }
  if (moved) {
    TPMESH_RETURN_IF_ERROR(link_.Configure(o_.ifname, e.overlay_address, e.mesh_prefix, e.mtu));
    Log("reload: " + o_.ifname + " now has " + e.overlay_address);
  }
  if (e.node_id != f_->enrolled.node_id) have_state_ = false;  // the held config names another self
  f_ = std::move(n);
  wg_public_ = std::move(pub);
  switch_unreported_ = false;  // a rotation of the old key is void
  LoadTrust();                 // the enrollment pinned the current config-signing key
  client_.reset();             // reconnect with the new certificate
  need_ack_ = true;
  Log("reload: now node " + f_->enrolled.node_id + " with its new certificate; reconnecting");
  return OkStatus();
}

Status Daemon::OpenTpm() {
  if (tpm_) return OkStatus();
  TPMESH_ASSIGN_OR_RETURN(tpm_, env_.make_tpm(o_.tcti));
  return OkStatus();
}

namespace {
// Worth another try later: the authority or the TPM did not answer, was
// overloaded, or something failed on our side. Anything else is an answer.
bool Transient(const Error& e) {
  return e.code == Code::kUnavailable || e.code == Code::kResourceExhausted ||
         e.code == Code::kAborted || e.code == Code::kInternal;
}
}  // namespace

std::optional<Status> Daemon::OnExpired(const Status& expired) {
  if (ReloadIdentity(expired.error())) {  // an operator re-enrolled meanwhile
    backoff_ = 1;
    url_index_ = 0;
    return std::nullopt;
  }
  if (o_.tcti.empty()) {
    Log("the node certificate expired and renewal is off (--tcti none): stopping; enroll again "
        "with 'tpmesh-client enroll --force', then start the daemon");
    return expired;
  }
  const std::string url = f_->authority_urls[url_index_];
  Log("the node certificate expired: enrolling again with the TPM at " + url);
  Status st = Reenroll(url);
  if (st.ok()) return std::nullopt;
  if (st.error().reason == "node_revoked") return st;
  if (!Transient(st.error())) {
    Log("enrolling again was refused: " + st.error().ToString() + "; stopping");
    return MakeError(Code::kFailedPrecondition, "node_cert_expired",
                     expired.error().message + "; enrolling again with the TPM was refused (" +
                         st.error().ToString() + ")");
  }
  Log("enrolling again failed: " + st.error().ToString() + "; the mesh keeps its last config; " +
      "retrying in ~" + std::to_string(backoff_) + " s");
  url_index_ = (url_index_ + 1) % f_->authority_urls.size();
  SleepJittered(backoff_);
  backoff_ = std::min(backoff_ * 2, o_.max_backoff_seconds);
  return std::nullopt;
}

// Enrolls again as this node (ReenrollOptions: the EK that names node_id,
// no token, hostname and endpoints from the held config), as `enroll
// --force` does: the authority admits an active node's own EK after a fresh
// attestation. New WireGuard and node keys; then Adopt.
Status Daemon::Reenroll(const std::string& url) {
  TPMESH_ASSIGN_OR_RETURN(EnrollOptions eo,
                          ReenrollOptions(*f_, have_state_ ? &held_.state : nullptr, o_.state_dir));
  TPMESH_RETURN_IF_ERROR(OpenTpm());
  TPMESH_ASSIGN_OR_RETURN(auto http,
                          env_.make_client(net::ClientOptions{url, f_->ca, "", "", 30, true}));
  auto enrolled =
      EnrollOver(eo, *http, *tpm_, [this](const std::string& l) { Log("enroll: " + l); });
  if (!enrolled.ok()) return enrolled.take_error();
  TPMESH_ASSIGN_OR_RETURN(auto fresh, LoadNodeFiles(o_.state_dir, o_.extra_authority_urls));
  TPMESH_RETURN_IF_ERROR(Adopt(std::move(fresh)));
  backoff_ = 1;
  url_index_ = 0;
  return OkStatus();
}

// Renews the node certificate at half its life (renew.h). A failure is
// logged and retried a minute later; the current certificate stays in use
// until then (a quarantined node then gets 403 on its polls).
void Daemon::MaybeRenew(const std::string& url) {
  if (o_.tcti.empty() || env_.time.Now() < next_renew_try_) return;
  const TimePoint now = env_.clock.Now();
  auto window = ReadCertWindow(f_->node_cert);
  if (window.ok() && !keyrotate::ShouldRenew(window->not_before, window->not_after, now)) return;
  if (window.ok() && now > window->not_after) return;  // too late: OnExpired enrolls again
  // Only a failure holds the next attempt off: a success is followed by
  // the next half-life check (short-lived certificates renew often).
  const auto retry_later = env_.time.Now() + std::chrono::seconds(60);
  if (Status st = OpenTpm(); !st.ok()) {
    Log("certificate renewal: " + st.error().ToString());
    next_renew_try_ = retry_later;
    return;
  }
  auto client = env_.make_client(net::ClientOptions{url, f_->ca, f_->node_cert, f_->node_key, 30});
  Result<bool> renewed = client.ok() ? RenewNodeCert(o_.state_dir, *tpm_, **client, env_.clock)
                                     : Result<bool>(client.error());
  if (!renewed.ok()) {
    Log("certificate renewal failed: " + renewed.error().ToString());
    next_renew_try_ = retry_later;
    return;
  }
  if (!*renewed) return;
  auto cert = pki::ReadFile(o_.state_dir + "/node.crt");
  auto key = pki::ReadFile(o_.state_dir + "/node.key");
  if (!cert.ok() || !key.ok()) {
    Log("certificate renewed but could not be reloaded; restart the daemon");
    return;
  }
  sodium_memzero(f_->node_key.data(), f_->node_key.size());
  f_->node_cert = std::move(cert).value();
  f_->node_key = std::move(key).value();
  client_.reset();  // reconnect with the new certificate
  Log("renewed the node certificate (TPM re-attested)");
}

}  // namespace tpmesh::client::internal
