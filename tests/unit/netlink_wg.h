// Test-side WireGuard netlink (linux/wireguard.h), independent of wg/src:
// walks WG_CMD_SET_DEVICE messages back into configs, and builds the
// WG_CMD_GET_DEVICE dump a kernel would send for a device state.
#pragma once

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/wireguard.h>

#include <optional>
#include <string>
#include <vector>

#include "netlink_builder.h"
#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"
#include "tpmesh/wg/device.h"

namespace tpmesh::wg::nltest {

struct WalkedPeer {
  std::vector<uint16_t> order;  // attribute types as sent
  Bytes public_key;
  std::optional<uint32_t> flags;
  std::optional<Bytes> preshared_key;
  std::optional<std::string> endpoint;
  std::optional<uint16_t> keepalive;
  bool has_allowed_ips = false;
  std::vector<std::string> allowed_ips;  // "addr/len" as sent (inet_ntop)
};

struct WalkedSet {
  nlmsghdr nl{};
  genlmsghdr genl{};
  std::vector<uint16_t> order;  // device attribute types as sent
  std::string ifname;
  std::optional<Bytes> private_key;
  std::optional<uint16_t> listen_port;
  std::optional<uint32_t> fwmark;
  std::optional<uint32_t> flags;
  std::vector<WalkedPeer> peers;
};

// One allowed-IP nest -> "addr/len"; checks family, address length, prefix
// and that the host bits are clear.
inline Result<std::string> WalkAllowedIp(const Attr& nest) {
  if (nest.type != 0 || !nest.nested) return Bad("allowed IP is not a nest of type 0");
  auto attrs = Attrs(nest.data);
  if (!attrs) return Bad("allowed IP attributes do not tile");
  std::optional<uint16_t> family;
  std::optional<uint8_t> prefix;
  ByteView addr;
  for (const Attr& a : *attrs) {
    if (a.type == WGALLOWEDIP_A_FAMILY) family = As<uint16_t>(a);
    if (a.type == WGALLOWEDIP_A_CIDR_MASK) prefix = As<uint8_t>(a);
    if (a.type == WGALLOWEDIP_A_IPADDR) addr = a.data;
  }
  if (!family || !prefix) return Bad("allowed IP without family or mask");
  size_t want = *family == AF_INET ? 4 : *family == AF_INET6 ? 16 : 0;
  if (want == 0 || addr.size() != want || *prefix > want * 8) return Bad("bad allowed IP");
  Bytes raw(addr.begin(), addr.end());
  if (MaskHost(raw, *prefix) != raw) return Bad("allowed IP with host bits set");
  return Ntop(*family, raw.data()) + "/" + std::to_string(*prefix);
}

inline Result<WalkedPeer> WalkPeer(const Attr& nest) {
  if (nest.type != 0 || !nest.nested) return Bad("peer is not a nest of type 0");
  auto attrs = Attrs(nest.data);
  if (!attrs) return Bad("peer attributes do not tile");
  WalkedPeer p;
  for (const Attr& a : *attrs) {
    p.order.push_back(a.type);
    switch (a.type) {
      case WGPEER_A_PUBLIC_KEY: p.public_key.assign(a.data.begin(), a.data.end()); break;
      case WGPEER_A_FLAGS: p.flags = As<uint32_t>(a); break;
      case WGPEER_A_PRESHARED_KEY: p.preshared_key = Bytes(a.data.begin(), a.data.end()); break;
      case WGPEER_A_ENDPOINT:
        p.endpoint = EndpointString(a.data);
        if (!p.endpoint) return Bad("bad endpoint");
        break;
      case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL: p.keepalive = As<uint16_t>(a); break;
      case WGPEER_A_ALLOWEDIPS: {
        auto ips = Attrs(a.data);
        if (!a.nested || !ips) return Bad("bad allowed IPs nest");
        p.has_allowed_ips = true;
        for (const Attr& ip : *ips) {
          auto s = WalkAllowedIp(ip);
          if (!s.ok()) return s.take_error();
          p.allowed_ips.push_back(*s);
        }
        break;
      }
      default: return Bad("unexpected peer attribute " + std::to_string(a.type));
    }
  }
  if (p.public_key.size() != WG_KEY_LEN) return Bad("peer public key is not 32 bytes");
  return p;
}

inline Result<WalkedSet> WalkSet(ByteView msg) {
  WalkedSet w;
  TPMESH_ASSIGN_OR_RETURN(w.nl, Header(msg));
  if (msg.size() < NLMSG_HDRLEN + GENL_HDRLEN) return Bad("no genlmsghdr");
  std::memcpy(&w.genl, msg.data() + NLMSG_HDRLEN, sizeof w.genl);
  auto attrs = Attrs(msg.subspan(NLMSG_HDRLEN + GENL_HDRLEN));
  if (!attrs) return Bad("device attributes do not tile");
  for (const Attr& a : *attrs) {
    w.order.push_back(a.type);
    switch (a.type) {
      case WGDEVICE_A_IFNAME: w.ifname = AsStrz(a).value_or("(not strz)"); break;
      case WGDEVICE_A_PRIVATE_KEY: w.private_key = Bytes(a.data.begin(), a.data.end()); break;
      case WGDEVICE_A_LISTEN_PORT: w.listen_port = As<uint16_t>(a); break;
      case WGDEVICE_A_FWMARK: w.fwmark = As<uint32_t>(a); break;
      case WGDEVICE_A_FLAGS: w.flags = As<uint32_t>(a); break;
      case WGDEVICE_A_PEERS: {
        auto peers = Attrs(a.data);
        if (!a.nested || !peers) return Bad("bad peers nest");
        for (const Attr& pa : *peers) {
          auto p = WalkPeer(pa);
          if (!p.ok()) return p.take_error();
          w.peers.push_back(std::move(*p));
        }
        break;
      }
      default: return Bad("unexpected device attribute " + std::to_string(a.type));
    }
  }
  return w;
}

inline Result<std::vector<WalkedSet>> WalkSets(const std::vector<Bytes>& msgs) {
  std::vector<WalkedSet> out;
  for (const Bytes& m : msgs) {
    auto w = WalkSet(m);
    if (!w.ok()) return w.take_error();
    out.push_back(std::move(*w));
  }
  return out;
}

inline WgPeer ToPeer(const WalkedPeer& w) {
  WgPeer p;
  p.public_key = w.public_key;
  uint32_t f = w.flags.value_or(0);
  p.remove = f & WGPEER_F_REMOVE_ME;
  p.replace_allowed_ips = f & WGPEER_F_REPLACE_ALLOWEDIPS;
  p.update_only = f & WGPEER_F_UPDATE_ONLY;
  if (w.preshared_key) p.preshared_key = SecretBytes(*w.preshared_key);
  p.endpoint = w.endpoint;
  p.persistent_keepalive = w.keepalive;
  p.allowed_ips = w.allowed_ips;
  return p;
}

// One message as a config (what the kernel applies for it).
inline WgDeviceConfig ToConfig(const WalkedSet& w) {
  WgDeviceConfig c;
  if (w.private_key) c.private_key = SecretBytes(*w.private_key);
  c.listen_port = w.listen_port;
  c.fwmark = w.fwmark;
  c.replace_peers = w.flags.value_or(0) & WGDEVICE_F_REPLACE_PEERS;
  for (const WalkedPeer& p : w.peers) c.peers.push_back(ToPeer(p));
  return c;
}

// A continuation fragment as linux/wireguard.h describes it for set.
inline bool IsContinuation(const WalkedPeer& p) {
  return p.order ==
             std::vector<uint16_t>{WGPEER_A_PUBLIC_KEY, WGPEER_A_FLAGS, WGPEER_A_ALLOWEDIPS} &&
         p.flags == WGPEER_F_UPDATE_ONLY;
}

// All messages as one config: device fields from message 0, a continuation
// at the start of a message merged into the previous message's last peer.
inline WgDeviceConfig Coalesce(const std::vector<WalkedSet>& msgs) {
  WgDeviceConfig c = ToConfig(msgs.at(0));
  for (size_t m = 1; m < msgs.size(); ++m) {
    for (size_t i = 0; i < msgs[m].peers.size(); ++i) {
      const WalkedPeer& p = msgs[m].peers[i];
      if (i == 0 && !c.peers.empty() && c.peers.back().public_key == p.public_key &&
          IsContinuation(p)) {
        auto& ips = c.peers.back().allowed_ips;
        ips.insert(ips.end(), p.allowed_ips.begin(), p.allowed_ips.end());
      } else {
        c.peers.push_back(ToPeer(p));
      }
    }
  }
  return c;
}

// --- the kernel's WG_CMD_GET_DEVICE dump ---

struct DumpShape {
  size_t peers_per_message = 1u << 20;  // peer fragments per message
  size_t ips_per_fragment = 1u << 20;   // allowed IPs per peer fragment
  uint32_t seq = 1;
  uint32_t ifindex = 7;
  bool nested_flag = true;        // NLA_F_NESTED on nests (kernels >= 5.2)
  bool ifname_in_later = true;    // later messages repeat WGDEVICE_A_IFNAME
  bool zero_private_key = false;  // no private key: send 32 zero bytes
};

inline void PutAllowedIp(Msg& m, const std::string& cidr, bool nested_flag) {
  auto c = ParseCidr(cidr);
  size_t n = m.Nest(0, nested_flag);
  m.U8(WGALLOWEDIP_A_CIDR_MASK, c->prefix);  // the kernel's order
  m.U16(WGALLOWEDIP_A_FAMILY, c->family);
  m.Attr(WGALLOWEDIP_A_IPADDR, c->addr);
  m.End(n);
}

// One peer nest: every field on the first fragment, else key + allowed IPs.
inline void PutDumpPeer(Msg& m, const WgPeer& p, bool first, size_t from, size_t count,
                        bool nested_flag) {
  size_t n = m.Nest(0, nested_flag);
  m.Attr(WGPEER_A_PUBLIC_KEY, p.public_key);
  if (first) {
    Bytes psk = p.preshared_key
                    ? Bytes(p.preshared_key->view().begin(), p.preshared_key->view().end())
                    : Bytes(WG_KEY_LEN, 0);
    m.Attr(WGPEER_A_PRESHARED_KEY, psk);
    int64_t ts[2] = {p.last_handshake_sec, p.last_handshake_nsec};  // __kernel_timespec
    m.Attr(WGPEER_A_LAST_HANDSHAKE_TIME, ts, sizeof ts);
    m.U16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, p.persistent_keepalive.value_or(0));
    m.U64(WGPEER_A_TX_BYTES, p.tx_bytes);
    m.U64(WGPEER_A_RX_BYTES, p.rx_bytes);
    m.U32(WGPEER_A_PROTOCOL_VERSION, p.protocol_version);
    if (p.endpoint) m.Attr(WGPEER_A_ENDPOINT, *EndpointBytes(*p.endpoint));
  }
  if (count > 0) {
    size_t ips = m.Nest(WGPEER_A_ALLOWEDIPS, nested_flag);
    for (size_t i = from; i < from + count; ++i) PutAllowedIp(m, p.allowed_ips[i], nested_flag);
    m.End(ips);
  }
  m.End(n);
}

// The kData messages (NLMSG_DONE not included) for a device in state `c`.
inline std::vector<Bytes> BuildDump(uint16_t family, std::string_view ifname,
                                    const WgDeviceConfig& c, const DumpShape& s) {
  std::vector<Bytes> out;
  std::optional<Msg> m;
  std::optional<size_t> peers;
  size_t in_msg = 0;
  auto open = [&](bool first) {
    m.emplace(family, NLM_F_MULTI, s.seq, kKernelPid);
    m->Genl(WG_CMD_GET_DEVICE, WG_GENL_VERSION);
    if (first) {
      m->U16(WGDEVICE_A_LISTEN_PORT, c.listen_port.value_or(0));
      m->U32(WGDEVICE_A_FWMARK, c.fwmark.value_or(0));
      m->U32(WGDEVICE_A_IFINDEX, s.ifindex);
      m->Str(WGDEVICE_A_IFNAME, ifname);
      if (c.private_key) m->Attr(WGDEVICE_A_PRIVATE_KEY, c.private_key->view());
      if (!c.private_key && s.zero_private_key)
        m->Attr(WGDEVICE_A_PRIVATE_KEY, Bytes(WG_KEY_LEN, 0));
      if (c.private_key || s.zero_private_key) {
        m->Attr(WGDEVICE_A_PUBLIC_KEY, Bytes(WG_KEY_LEN, 0x77));
      }
    } else if (s.ifname_in_later) {
      m->Str(WGDEVICE_A_IFNAME, ifname);
    }
    in_msg = 0;
    peers.reset();
  };
  auto close = [&] {
    if (peers) m->End(*peers);
    out.push_back(m->Done());
  };
  open(true);
  for (const WgPeer& p : c.peers) {
    size_t off = 0, n = p.allowed_ips.size();
    do {
      if (in_msg == s.peers_per_message) {
        close();
        open(false);
      }
      if (!peers) peers = m->Nest(WGDEVICE_A_PEERS, s.nested_flag);
      size_t take = std::min(s.ips_per_fragment, n - off);
      PutDumpPeer(*m, p, off == 0, off, take, s.nested_flag);
      ++in_msg;
      off += take;
      if (off < n) {
        close();
        open(false);
      }
    } while (off < n);
  }
  close();
  return out;
}

}  // namespace tpmesh::wg::nltest
