// The daemon's config sync (daemon_impl.h): long poll GET /v1/node/config,
// verify, apply to the WireGuard device, save, acknowledge.

#include "config_response.h"
#include "daemon_impl.h"
#include "tpmesh/client/ack_answer.h"
#include "tpmesh/client/renew.h"
#include "tpmesh/keyrotate/rotation.h"
#include "tpmesh/pki/pki.h"
#include "tpmesh/proto/node.h"

namespace tpmesh::client::internal {

Status Daemon::SetUpLink() {
  TPMESH_RETURN_IF_ERROR(link_.Ensure(o_.ifname));
  TPMESH_RETURN_IF_ERROR(link_.Configure(o_.ifname, f_->enrolled.overlay_address,
                                         f_->enrolled.mesh_prefix, f_->enrolled.mtu));
  TPMESH_ASSIGN_OR_RETURN(device_, env_.make_device(o_.ifname, o_.uapi_dir));
  return OkStatus();
}

Status Daemon::Apply(const meshcfg::SignedState& s) {
  wg::DesiredDevice desired =
      DesiredFor(s.state, f_->enrolled.node_id, f_->wg_private.view(), o_.listen_port);
  TPMESH_ASSIGN_OR_RETURN(auto current, device_->Get());
  wg::WgDeviceConfig change = wg::ComputeApply(current, desired, last_applied_);
  if (!wg::IsNoop(change)) TPMESH_RETURN_IF_ERROR(device_->Set(change));
  if (s.state.mtu != f_->enrolled.mtu || s.state.mesh_prefix != f_->enrolled.mesh_prefix) {
    TPMESH_RETURN_IF_ERROR(
        link_.Configure(o_.ifname, f_->enrolled.overlay_address, s.state.mesh_prefix, s.state.mtu));
  }
  last_applied_ = std::move(desired);
  held_ = s;
  have_state_ = true;
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(o_.state_dir + "/mesh.json", meshcfg::ToJson(s)));
  UpdateTrust(s.state);
  return OkStatus();
}

Result<std::unique_ptr<net::Client>> Daemon::ClientFor(const std::string& url) {
  return env_.make_client(
      net::ClientOptions{url, f_->ca, f_->node_cert, f_->node_key, o_.poll_wait_seconds + 15});
}

Status Daemon::PollOnce(const std::string& url) {
  // The authority's TLS layer drops an expired certificate without a word.
  TPMESH_RETURN_IF_ERROR(CheckNotExpired(f_->node_cert, env_.clock.Now()));
  if (!client_ || client_url_ != url) {
    TPMESH_ASSIGN_OR_RETURN(client_, ClientFor(url));
    client_url_ = url;
    stop_.OnStop([weak = std::weak_ptr<net::Client>(client_)] {
      if (auto c = weak.lock()) c->Cancel();
    });
    need_ack_ = true;
  }
  // The authority keeps reports in memory: tell it what we hold on every
  // (re)connection, else after its restart it shows us as "never" applied
  // until the next generation change.
  if (need_ack_ && have_state_) {
    (void)stop_.TakeNudge();  // this ack reports the addresses as they are now
    if (auto st = AckAndRotate(*client_); !st.ok()) {
      client_.reset();
      return st;
    }
    need_ack_ = false;
  }
  const int64_t since = have_state_ ? held_.state.generation : -1;
  auto r = client_->Get("/v1/node/config?since=" + std::to_string(since) +
                        "&wait=" + std::to_string(PollWait()));
  if (!r.ok()) {
    client_.reset();
    return r.take_error();
  }
  if (r->status == 204) {
    // Nothing changed: refresh the interface status (handshake ages,
    // transfer) the authority shows, once per poll period.
    need_ack_ = true;
    return OkStatus();
  }
  if (r->status != 200) return net::ErrorFromResponse(*r);
  TPMESH_ASSIGN_OR_RETURN(auto next, Verify(r->body));
  if (auto st = Apply(next); !st.ok()) {
    Log("applying generation " + std::to_string(next.state.generation) +
        " failed: " + st.error().ToString());
    return st;
  }
  Log("applied generation " + std::to_string(next.state.generation) + ": " +
      std::to_string(meshcfg::PeersOf(next.state, f_->enrolled.node_id).size()) + " peer(s)");
  if (auto st = AckAndRotate(*client_); !st.ok()) {
    need_ack_ = true;  // retried before the next poll
    client_.reset();
    return st;
  }
  return OkStatus();
}

// --poll-wait, cut short so that the poll ends just after the certificate's
// renewal time (or its end, with renewal off): a long poll must not sleep
// through it (with 60 s certificates and 25 s polls it would renew at 50 s).
int Daemon::PollWait() const {
  const int wait = o_.poll_wait_seconds;
  auto w = ReadCertWindow(f_->node_cert);
  if (!w.ok()) return wait;
  const TimePoint due =
      o_.tcti.empty() ? w->not_after : keyrotate::RenewAt(w->not_before, w->not_after);
  const int64_t left =
      std::chrono::duration_cast<std::chrono::seconds>(due - env_.clock.Now()).count();
  if (left < 0 || left >= wait) return wait;
  return static_cast<int>(left) + 1;
}

// Acknowledges the held generation, then does what the answer says for
// the key rotation (docs/protocol.md, "Key rotation"). An answer that does
// not parse is logged and not acted on (ack_answer.h).
Status Daemon::AckAndRotate(net::Client& client) {
  TPMESH_ASSIGN_OR_RETURN(std::string body, Ack(client));
  auto answer = ParseAckAnswer(body);
  if (!answer.ok()) {
    Log("ignoring the authority's ack answer: " + answer.error().ToString());
  } else {
    if (answer->ca_bundle) UpdateCaBundle(*answer->ca_bundle);
    if (answer->rotation == AckAnswer::Rotation::kPrepare) {
      TPMESH_RETURN_IF_ERROR(RegisterNextKey(client));
    } else if (answer->rotation == AckAnswer::Rotation::kSwitch) {
      TPMESH_RETURN_IF_ERROR(SwitchKey(client, answer->next_public_key));
    }
  }
  if (switch_unreported_) TPMESH_RETURN_IF_ERROR(ReportSwitched(client));
  return OkStatus();
}

// Verifies a config body against what we hold; never goes backwards.
Result<meshcfg::SignedState> Daemon::Verify(const std::string& body) {
  return VerifyConfigResponse(body, have_state_ ? &held_ : nullptr, trusted_);
}

// Configured, else derived; nullopt (the registered ones stay) when neither
// gives any. Logs a change.
std::optional<std::vector<std::string>> Daemon::CurrentEndpoints() {
  std::vector<std::string> now = o_.endpoints;
  if (now.empty() && env_.host_addresses) {
    now =
        DeriveEndpoints(env_.host_addresses(), o_.ifname, f_->enrolled.mesh_prefix, o_.listen_port);
  }
  if (now.empty()) return std::nullopt;
  if (now != reported_endpoints_) {
    std::string list;
    for (const auto& e : now) list += (list.empty() ? "" : ", ") + e;
    Log("underlay endpoints: " + list +
        (o_.endpoints.empty() ? " (from this host's addresses)" : ""));
    reported_endpoints_ = now;
  }
  return now;
}

// POSTs the ack; returns the answer's body.
Result<std::string> Daemon::Ack(net::Client& client) {
  TPMESH_ASSIGN_OR_RETURN(auto dev, device_->Get());
  proto::AckRequest ack;
  ack.generation = held_.state.generation;
  ack.ca_bundle_sha256 = Sha256Hex(AsView(f_->ca));
  for (const auto& p : dev.peers) {
    ack.peers.push_back({p.public_key, p.last_handshake_sec, p.rx_bytes, p.tx_bytes});
  }
  ack.endpoints = CurrentEndpoints();
  TPMESH_ASSIGN_OR_RETURN(auto r, client.Post("/v1/node/ack", proto::ToJson(ack)));
  if (r.status != 200) return net::ErrorFromResponse(r);
  return std::move(r.body);
}

}  // namespace tpmesh::client::internal
