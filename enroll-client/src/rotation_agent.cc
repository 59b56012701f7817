// The node's half of a WireGuard key rotation (daemon_impl.h;
// docs/protocol.md, "Key rotation"): register a next key when told to
// prepare, switch to it when told to, report the switch.
#include "daemon_impl.h"
#include "tpmesh/client/keyfiles.h"
#include "tpmesh/proto/node.h"

namespace tpmesh::client::internal {

// The next keypair is made here and never leaves this host; only its
// public half is registered.
Status Daemon::RegisterNextKey(net::Client& client) {
  TPMESH_ASSIGN_OR_RETURN(auto next, LoadOrCreateNextKey(o_.state_dir, wg_public_, env_.random));
  TPMESH_ASSIGN_OR_RETURN(auto r,
                          client.Post("/v1/node/rotate/prepare",
                                      proto::ToJson(proto::RotatePrepareRequest{next.public_key})));
  if (r.status != 200) {
    Error e = net::ErrorFromResponse(r);
    if (e.reason == "key_in_use" || e.reason == "invalid_key") DiscardNextKey(o_.state_dir);
    return e;
  }
  Log("key rotation: registered the next WireGuard key " + Base64Encode(next.public_key));
  return OkStatus();
}

// Every live peer holds the next key: switch the private key first (our
// packets wait in WireGuard's staging queue until each peer has moved our
// prefix to the new key and handshaken), then tell the authority.
//
// The same set sends a keepalive to every peer, so our handshake under the
// new key leaves before the report and reaches each peer while it does not
// know the key yet (it drops it). WireGuard then starts no other initiation
// from us for 5 s, and the peer's own, sent when it moves our prefix, is
// answered. Without this our first packet after the switch could start an
// initiation that crosses the peer's: each side then answers the other's
// and drops the answer to its own, and both wait 5 s for a retry
// (docs/adr/0004-hitless-key-rotation.md).
Status Daemon::SwitchKey(net::Client& client, const Bytes& want) {
  if (want == wg_public_) {
    switch_unreported_ = true;  // switched before, the report got lost
    return OkStatus();
  }
  TPMESH_ASSIGN_OR_RETURN(auto next, LoadNextKey(o_.state_dir, wg_public_));
  if (!next || next->public_key != want) {
    Log("key rotation: told to switch to a key this node does not hold; registering a new one");
    DiscardNextKey(o_.state_dir);
    return RegisterNextKey(client);
  }
  // Durable first: after a crash here the daemon starts with the new key,
  // and the authority's repeated "switch" finds it already in use.
  TPMESH_RETURN_IF_ERROR(PromoteNextKey(o_.state_dir, *next));
  wg::WgDeviceConfig change;
  change.private_key = SecretBytes(next->private_key.view());
  for (const wg::DesiredPeer& p : last_applied_.peers) {
    wg::AppendKeepaliveNow(change, p.public_key, p.persistent_keepalive);
  }
  f_->wg_private = SecretBytes(next->private_key.view());
  last_applied_.private_key = SecretBytes(next->private_key.view());
  wg_public_ = next->public_key;
  switch_unreported_ = true;
  TPMESH_RETURN_IF_ERROR(device_->Set(change));
  Log("key rotation: switched to WireGuard key " + Base64Encode(wg_public_));
  return OkStatus();
}

Status Daemon::ReportSwitched(net::Client& client) {
  TPMESH_ASSIGN_OR_RETURN(auto r,
                          client.Post("/v1/node/rotate/switched",
                                      proto::ToJson(proto::RotateSwitchedRequest{wg_public_})));
  if (r.status != 200) return net::ErrorFromResponse(r);
  switch_unreported_ = false;
  Log("key rotation: committed by the authority");
  return OkStatus();
}

}  // namespace tpmesh::client::internal
