// ToString, Equal, Clone and AppendKeepaliveNow for the plain config structs.
#include <optional>
#include <string>

#include "tpmesh/wg/device.h"

namespace tpmesh::wg {
namespace {

bool SecretEq(const std::optional<SecretBytes>& a, const std::optional<SecretBytes>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || ConstantTimeEqual(a->view(), b->view());
}

std::optional<SecretBytes> CloneSecret(const std::optional<SecretBytes>& s) {
  if (!s) return std::nullopt;
  return SecretBytes(s->view());
}

std::string KeyText(const Bytes& k) {
  return k.size() == kKeyLen ? Base64Encode(k) : "(" + std::to_string(k.size()) + "-byte key)";
}

}  // namespace

std::string ToString(const WgPeer& p) {
  std::string s = "peer " + KeyText(p.public_key);
  if (p.remove) s += " remove";
  if (p.update_only) s += " update_only";
  if (p.preshared_key) s += " preshared_key=(hidden)";
  if (p.endpoint) s += " endpoint=" + *p.endpoint;
  if (p.persistent_keepalive) s += " keepalive=" + std::to_string(*p.persistent_keepalive);
  if (p.replace_allowed_ips) s += " replace_allowed_ips";
  s += " allowed_ips=[";
  for (size_t i = 0; i < p.allowed_ips.size(); ++i) s += (i ? "," : "") + p.allowed_ips[i];
  s += "]";
  if (p.last_handshake_sec || p.rx_bytes || p.tx_bytes) {
    s += " handshake=" + std::to_string(p.last_handshake_sec) +
         " rx=" + std::to_string(p.rx_bytes) + " tx=" + std::to_string(p.tx_bytes);
  }
  return s;
}

std::string ToString(const WgDeviceConfig& c) {
  std::string s = "device";
  if (c.private_key) s += " private_key=(hidden)";
  if (c.listen_port) s += " listen_port=" + std::to_string(*c.listen_port);
  if (c.fwmark) s += " fwmark=" + std::to_string(*c.fwmark);
  if (c.replace_peers) s += " replace_peers";
  for (const WgPeer& p : c.peers) s += "\n  " + ToString(p);
  return s;
}

bool Equal(const WgPeer& a, const WgPeer& b) {
  return a.public_key == b.public_key && SecretEq(a.preshared_key, b.preshared_key) &&
         a.endpoint == b.endpoint && a.persistent_keepalive == b.persistent_keepalive &&
         a.allowed_ips == b.allowed_ips && a.replace_allowed_ips == b.replace_allowed_ips &&
         a.remove == b.remove && a.update_only == b.update_only &&
         a.last_handshake_sec == b.last_handshake_sec &&
         a.last_handshake_nsec == b.last_handshake_nsec && a.rx_bytes == b.rx_bytes &&
         a.tx_bytes == b.tx_bytes && a.protocol_version == b.protocol_version;
}

bool Equal(const WgDeviceConfig& a, const WgDeviceConfig& b) {
  if (!SecretEq(a.private_key, b.private_key) || a.listen_port != b.listen_port ||
      a.fwmark != b.fwmark || a.replace_peers != b.replace_peers ||
      a.peers.size() != b.peers.size()) {
    return false;
  }
  for (size_t i = 0; i < a.peers.size(); ++i) {
    if (!Equal(a.peers[i], b.peers[i])) return false;
  }
  return true;
}

WgPeer Clone(const WgPeer& p) {
  WgPeer c;
  c.public_key = p.public_key;
  c.preshared_key = CloneSecret(p.preshared_key);
  c.endpoint = p.endpoint;
  c.persistent_keepalive = p.persistent_keepalive;
  c.allowed_ips = p.allowed_ips;
  c.replace_allowed_ips = p.replace_allowed_ips;
  c.remove = p.remove;
  c.update_only = p.update_only;
  c.last_handshake_sec = p.last_handshake_sec;
  c.last_handshake_nsec = p.last_handshake_nsec;
  c.rx_bytes = p.rx_bytes;
  c.tx_bytes = p.tx_bytes;
  c.protocol_version = p.protocol_version;
  return c;
}

WgDeviceConfig Clone(const WgDeviceConfig& config) {
  WgDeviceConfig c;
  c.private_key = CloneSecret(config.private_key);
  c.listen_port = config.listen_port;
  c.fwmark = config.fwmark;
  c.replace_peers = config.replace_peers;
  for (const WgPeer& p : config.peers) c.peers.push_back(Clone(p));
  return c;
}

void AppendKeepaliveNow(WgDeviceConfig& config, const Bytes& public_key, uint16_t keepalive) {
  auto block = [&](uint16_t seconds) {
    WgPeer p;
    p.public_key = public_key;
    p.update_only = true;
    p.persistent_keepalive = seconds;
    config.peers.push_back(std::move(p));
  };
  block(0);
  block(keepalive != 0 ? keepalive : 1);
  if (keepalive == 0) block(0);
}

}  // namespace tpmesh::wg
