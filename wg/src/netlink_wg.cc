// WG_CMD_GET_DEVICE / WG_CMD_SET_DEVICE messages (contract in netlink.h).
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <net/if.h>
#include <netinet/in.h>

#include <sodium.h>

#include <cstring>

#include "netlink_internal.h"
#include "tpmesh/common/parse.h"
#include "tpmesh/wg/netlink.h"
#include "tpmesh/wg/uapi.h"
#include "wg_internal.h"

namespace tpmesh::wg::nl {
namespace {

Error Invalid(const WgPeer& p, std::string what) {
  return MakeError(Code::kInvalidArgument, "wg_config_invalid",
                   "peer " + std::string(Base64Encode(p.public_key)) + ": " + std::move(what));
}

union SockAddr {
  sockaddr_in v4;
  sockaddr_in6 v6;
};

// An endpoint as the kernel takes it; nullopt if it does not parse (or names
// a zone that is neither a number nor an interface here).
std::optional<std::pair<SockAddr, size_t>> ParseSockAddr(std::string_view endpoint) {
  auto hp = ParseHostPort(endpoint, {.zone = true});
  if (!hp.ok()) return std::nullopt;
  SockAddr sa{};
  if (hp->kind == HostPort::Kind::kIpv4) {
    sa.v4.sin_family = AF_INET;
    sa.v4.sin_port = htons(hp->port);
    if (inet_pton(AF_INET, hp->host.c_str(), &sa.v4.sin_addr) != 1) return std::nullopt;
    return std::make_pair(sa, sizeof(sockaddr_in));
  }
  std::string host = hp->host;
  sa.v6.sin6_family = AF_INET6;
  sa.v6.sin6_port = htons(hp->port);
  if (size_t pct = host.find('%'); pct != std::string::npos) {
    const std::string zone = host.substr(pct + 1);
    host.resize(pct);
    auto id = ParseDecimal(zone, UINT32_MAX, true);
    if (!id) id = if_nametoindex(zone.c_str());
    if (*id == 0) return std::nullopt;
    sa.v6.sin6_scope_id = static_cast<uint32_t>(*id);
  }
  if (inet_pton(AF_INET6, host.c_str(), &sa.v6.sin6_addr) != 1) return std::nullopt;
  return std::make_pair(sa, sizeof(sockaddr_in6));
}

// Appends the head of peer `p` (everything but allowed IPs) inside an open
// peer nest; continuation: only the public key and UPDATE_ONLY.
bool PutPeerHead(nlmsghdr* nlh, size_t max, const WgPeer& p, bool continuation) {
  if (!mnl_attr_put_check(nlh, max, WGPEER_A_PUBLIC_KEY, p.public_key.size(), p.public_key.data()))
    return false;
  uint32_t flags = 0;
  if (continuation) {
    flags = WGPEER_F_UPDATE_ONLY;
  } else {
    if (p.remove) flags |= WGPEER_F_REMOVE_ME;
    if (p.replace_allowed_ips) flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
    if (p.update_only) flags |= WGPEER_F_UPDATE_ONLY;
  }
  if (flags != 0 && !mnl_attr_put_u32_check(nlh, max, WGPEER_A_FLAGS, flags)) return false;
  if (continuation) return true;
  if (p.preshared_key && !mnl_attr_put_check(nlh, max, WGPEER_A_PRESHARED_KEY,
                                             p.preshared_key->size(), p.preshared_key->data()))
    return false;
  if (p.endpoint) {
    auto sa = ParseSockAddr(*p.endpoint);  // validated by FormatUapiSet
    if (!sa || !mnl_attr_put_check(nlh, max, WGPEER_A_ENDPOINT, sa->second, &sa->first))
      return false;
  }
  if (p.persistent_keepalive &&
      !mnl_attr_put_u16_check(nlh, max, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
                              *p.persistent_keepalive))
    return false;
  return true;
}

bool PutAllowedIp(nlmsghdr* nlh, size_t max, const Cidr& ip) {
  nlattr* n = mnl_attr_nest_start_check(nlh, max, 0);
  if (n == nullptr) return false;
  if (!mnl_attr_put_u16_check(nlh, max, WGALLOWEDIP_A_FAMILY, static_cast<uint16_t>(ip.family)) ||
      !mnl_attr_put_check(nlh, max, WGALLOWEDIP_A_IPADDR, ip.family == AF_INET ? 4 : 16,
                          ip.address) ||
      !mnl_attr_put_u8_check(nlh, max, WGALLOWEDIP_A_CIDR_MASK,
                             static_cast<uint8_t>(ip.prefix_len))) {
    mnl_attr_nest_cancel(nlh, n);
    return false;
  }
  mnl_attr_nest_end(nlh, n);
  return true;
}

// Builds the message sequence; see EncodeWgSet.
class SetEncoder {
 public:
  SetEncoder(uint16_t family, std::string_view ifname, uint32_t seq, size_t max)
      : family_(family), ifname_(ifname), seq_(seq), max_(max) {}
  ~SetEncoder() {
    if (!m_.bytes.empty()) sodium_memzero(m_.bytes.data(), m_.bytes.size());
  }

  Status Device(const WgDeviceConfig& c) {
    Begin();
    auto* n = m_.nlh;
    bool ok = true;
    if (c.private_key)
      ok &= mnl_attr_put_check(n, max_, WGDEVICE_A_PRIVATE_KEY, c.private_key->size(),
                               c.private_key->data());
    if (c.listen_port)
      ok &= mnl_attr_put_u16_check(n, max_, WGDEVICE_A_LISTEN_PORT, *c.listen_port);
    if (c.fwmark) ok &= mnl_attr_put_u32_check(n, max_, WGDEVICE_A_FWMARK, *c.fwmark);
    if (c.replace_peers)
      ok &= mnl_attr_put_u32_check(n, max_, WGDEVICE_A_FLAGS, WGDEVICE_F_REPLACE_PEERS);
    if (!ok) return MakeError(Code::kInvalidArgument, "wg_config_invalid", "max message too small");
    return OkStatus();
  }

  Status Peer(const WgPeer& p) {
    std::vector<Cidr> ips;  // host bits cleared, as the kernel takes them
    for (const auto& a : p.allowed_ips) {
      auto ip = ParseCidr(a);
      if (!ip.ok()) return Invalid(p, "allowed ip " + a + " is not a CIDR");
      ips.push_back(*ip);
    }
    size_t next = 0;
    for (bool continuation = false;; continuation = true) {
      if (!OpenPeer(p, continuation)) {
        // A message holding only the device attributes may be sent as is.
        if (peers_in_message_ == 0 && !out_.empty())
          return Invalid(p, "does not fit in one netlink message");
        Flush();
        Begin();
        if (!OpenPeer(p, continuation)) return Invalid(p, "does not fit in one netlink message");
      }
      const size_t before = next;
      if (next < ips.size()) {
        if (nlattr* n = mnl_attr_nest_start_check(m_.nlh, max_, WGPEER_A_ALLOWEDIPS)) {
          while (next < ips.size() && PutAllowedIp(m_.nlh, max_, ips[next])) ++next;
          if (next == before)
            mnl_attr_nest_cancel(m_.nlh, n);
          else
            mnl_attr_nest_end(m_.nlh, n);
        }
      }
      mnl_attr_nest_end(m_.nlh, peer_);
      ++peers_in_message_;
      if (next == ips.size()) return OkStatus();
      if (continuation && next == before && peers_in_message_ == 1)
        return Invalid(p, "an allowed ip does not fit in one netlink message");
      Flush();
      Begin();
    }
  }

  std::vector<Bytes> Finish() {
    Flush();
    return std::move(out_);
  }

 private:
  void Begin() {
    m_ = MessageBuffer(max_, family_, NLM_F_REQUEST | NLM_F_ACK,
                       seq_ + static_cast<uint32_t>(out_.size()), sizeof(genlmsghdr));
    auto* g = static_cast<genlmsghdr*>(m_.extra_header());
    g->cmd = WG_CMD_SET_DEVICE;
    g->version = WG_GENL_VERSION;
    mnl_attr_put_strz(m_.nlh, WGDEVICE_A_IFNAME, ifname_.c_str());
    peers_ = nullptr;
    peers_in_message_ = 0;
  }

  bool OpenPeer(const WgPeer& p, bool continuation) {
    const bool opened_list = peers_ == nullptr;
    if (opened_list) peers_ = mnl_attr_nest_start_check(m_.nlh, max_, WGDEVICE_A_PEERS);
    if (peers_ == nullptr) return false;
    peer_ = mnl_attr_nest_start_check(m_.nlh, max_, 0);
    if (peer_ != nullptr && PutPeerHead(m_.nlh, max_, p, continuation)) return true;
    if (peer_ != nullptr) mnl_attr_nest_cancel(m_.nlh, peer_);
    if (opened_list) {
      mnl_attr_nest_cancel(m_.nlh, peers_);
      peers_ = nullptr;
    }
    return false;
  }

  void Flush() {
    if (m_.nlh == nullptr) return;
    if (peers_ != nullptr) mnl_attr_nest_end(m_.nlh, peers_);
    out_.push_back(m_.Take());
  }

  uint16_t family_;
  std::string ifname_;
  uint32_t seq_;
  size_t max_;
  MessageBuffer m_;
  nlattr* peers_ = nullptr;
  nlattr* peer_ = nullptr;
  int peers_in_message_ = 0;
  std::vector<Bytes> out_;
};

}  // namespace

Bytes EncodeWgGet(uint16_t family, std::string_view ifname, uint32_t seq) {
  MessageBuffer m(MNL_SOCKET_BUFFER_SIZE, family, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, seq,
                  sizeof(genlmsghdr));
  auto* g = static_cast<genlmsghdr*>(m.extra_header());
  g->cmd = WG_CMD_GET_DEVICE;
  g->version = WG_GENL_VERSION;
  mnl_attr_put_strz(m.nlh, WGDEVICE_A_IFNAME, std::string(ifname).c_str());
  return m.Take();
}

Result<std::vector<Bytes>> EncodeWgSet(uint16_t family, std::string_view ifname,
                                       const WgDeviceConfig& config, uint32_t first_seq,
                                       size_t max_message) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ || ifname.find('\0') != std::string_view::npos)
    return MakeError(Code::kInvalidArgument, "invalid_ifname", "bad interface name");
  {
    // The same validation as the UAPI backend, with the same errors.
    auto text = FormatUapiSet(config);
    if (!text.ok()) return text.take_error();
    sodium_memzero(text->data(), text->size());
  }
  if (max_message < 256 || max_message > (1u << 20))
    return MakeError(Code::kInvalidArgument, "wg_config_invalid", "max message out of range");
  SetEncoder enc(family, ifname, first_seq, max_message);
  TPMESH_RETURN_IF_ERROR(enc.Device(config));
  for (const auto& p : config.peers) TPMESH_RETURN_IF_ERROR(enc.Peer(p));
  return enc.Finish();
}

}  // namespace tpmesh::wg::nl
