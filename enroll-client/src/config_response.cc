#include "config_response.h"

#include <algorithm>
#include <optional>

#include "tpmesh/client/daemon.h"
#include "tpmesh/proto/node.h"

namespace tpmesh::client {
namespace {

Error Invalid(const std::string& message) {
  return MakeError(Code::kInvalidArgument, "invalid_config", "config response: " + message);
}

}  // namespace

Result<meshcfg::SignedState> VerifyConfigResponse(const std::string& body,
                                                  const meshcfg::SignedState* held,
                                                  const std::vector<Bytes>& trusted) {
  if (trusted.empty())
    return MakeError(Code::kInternal, "no_trusted_keys", "no config-signing key to verify with");
  auto envelope = proto::ParseConfigEnvelope(body);
  if (!envelope.ok()) return Invalid(envelope.error().message);
  if (envelope->full) {
    const meshcfg::SignedState& s = *envelope->full;
    TPMESH_ASSIGN_OR_RETURN(
        auto verified, meshcfg::VerifySignedState(s, held ? held->state.generation : -1, trusted));
    (void)verified;
    return std::move(*envelope->full);
  }
  if (held == nullptr) return Invalid("a delta, but no base state is held");
  const meshcfg::MeshDelta& d = *envelope->delta;
  TPMESH_ASSIGN_OR_RETURN(auto state, meshcfg::ApplyAndVerify(held->state, d, trusted));
  // Saved as mesh.json, which must parse again (a 32-byte signer key):
  // record the trusted key that verified the delta.
  Bytes signer = trusted.front();
  for (const auto& key : trusted) {
    if (meshcfg::VerifySigned(d.to_hash, state.generation, d.signature, {key}).ok()) {
      signer = key;
      break;
    }
  }
  return meshcfg::SignedState{std::move(state), d.to_hash, d.signature, std::move(signer),
                              d.co_signatures};
}

namespace {

bool IsV6(const std::string& endpoint) { return !endpoint.empty() && endpoint.front() == '['; }

// The endpoint of `peer` to configure: IPv6 first, unless this node
// registered only IPv4 endpoints (its underlay has no IPv6 a peer could
// answer from); then IPv4 first. Either way the other family if the peer has
// only that (WireGuard's roaming may still find a path).
std::optional<std::string> ChooseEndpoint(const meshcfg::MeshMember& peer, bool self_v4_only) {
  for (const auto& e : peer.endpoints) {
    if (IsV6(e) != self_v4_only) return e;
  }
  if (peer.endpoints.empty()) return std::nullopt;
  return peer.endpoints.front();
}

}  // namespace

wg::DesiredDevice DesiredFor(const meshcfg::MeshState& state, std::string_view self,
                             ByteView private_key, uint16_t listen_port) {
  wg::DesiredDevice d;
  d.private_key = SecretBytes(private_key);
  d.listen_port = listen_port;
  bool self_v4_only = false;
  for (const auto& m : state.members) {
    if (m.node_id != self) continue;
    self_v4_only =
        !m.endpoints.empty() && std::none_of(m.endpoints.begin(), m.endpoints.end(), IsV6);
  }
  for (const auto& m : meshcfg::PeersOf(state, self)) {
    wg::DesiredPeer p;
    p.public_key = m.wg_public_key;
    p.endpoint = ChooseEndpoint(m, self_v4_only);
    p.persistent_keepalive = static_cast<uint16_t>(m.persistent_keepalive);
    p.allowed_ips = m.allowed_ips;
    d.peers.push_back(std::move(p));
  }
  return d;
}

}  // namespace tpmesh::client
