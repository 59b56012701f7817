// Decoding a WG_CMD_GET_DEVICE dump (contract in netlink.h).
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>
#include <net/if.h>
#include <netinet/in.h>

#include <sodium.h>

#include <cstdlib>
#include <cstring>

#include "netlink_internal.h"
#include "tpmesh/wg/netlink.h"
#include "tpmesh/wg/uapi.h"

namespace tpmesh::wg::nl {
namespace {

// A 32-byte key attribute; all zero (how the kernel says "none") is nullopt.
Status GetKey(const nlattr* a, std::string_view name, std::optional<SecretBytes>& out) {
  TPMESH_RETURN_IF_ERROR(ExpectLen(a, WG_KEY_LEN, name));
  const auto* k = static_cast<const uint8_t*>(mnl_attr_get_payload(a));
  if (!sodium_is_zero(k, WG_KEY_LEN)) out = SecretBytes(ByteView(k, WG_KEY_LEN));
  return OkStatus();
}

Result<std::string> DecodeAllowedIp(const nlattr* nest) {
  std::optional<uint16_t> family;
  std::optional<uint8_t> cidr;
  const nlattr* addr = nullptr;
  TPMESH_RETURN_IF_ERROR(ForEachNestedAttr(nest, "allowed ip", [&](const nlattr* a) -> Status {
    switch (mnl_attr_get_type(a)) {
      case WGALLOWEDIP_A_FAMILY:
        TPMESH_RETURN_IF_ERROR(ExpectLen(a, 2, "WGALLOWEDIP_A_FAMILY"));
        family = mnl_attr_get_u16(a);
        break;
      case WGALLOWEDIP_A_IPADDR: addr = a; break;
      case WGALLOWEDIP_A_CIDR_MASK:
        TPMESH_RETURN_IF_ERROR(ExpectLen(a, 1, "WGALLOWEDIP_A_CIDR_MASK"));
        cidr = mnl_attr_get_u8(a);
        break;
      default: break;
    }
    return OkStatus();
  }));
  if (!family || !cidr || addr == nullptr)
    return Malformed("allowed ip lacks family, address or mask");
  if (*family != AF_INET && *family != AF_INET6)
    return Malformed("allowed ip of address family " + std::to_string(*family));
  TPMESH_RETURN_IF_ERROR(ExpectLen(addr, *family == AF_INET ? 4 : 16, "WGALLOWEDIP_A_IPADDR"));
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(*family, mnl_attr_get_payload(addr), text, sizeof text);
  auto canonical = CanonicalCidr(std::string(text) + "/" + std::to_string(*cidr));
  if (!canonical.ok()) return Malformed("allowed ip " + std::string(text) + " with bad prefix");
  return std::move(*canonical);
}

Result<std::optional<std::string>> DecodeEndpoint(const nlattr* a) {
  const size_t n = mnl_attr_get_payload_len(a);
  if (n < sizeof(sa_family_t)) return Malformed("WGPEER_A_ENDPOINT too short");
  sa_family_t family = 0;
  std::memcpy(&family, mnl_attr_get_payload(a), sizeof family);
  char text[INET6_ADDRSTRLEN] = {};
  std::string out;
  if (family == AF_INET && n == sizeof(sockaddr_in)) {
    sockaddr_in sa{};
    std::memcpy(&sa, mnl_attr_get_payload(a), sizeof sa);
    inet_ntop(AF_INET, &sa.sin_addr, text, sizeof text);
    out = std::string(text) + ":" + std::to_string(ntohs(sa.sin_port));
  } else if (family == AF_INET6 && n == sizeof(sockaddr_in6)) {
    sockaddr_in6 sa{};
    std::memcpy(&sa, mnl_attr_get_payload(a), sizeof sa);
    inet_ntop(AF_INET6, &sa.sin6_addr, text, sizeof text);
    std::string zone;
    if (sa.sin6_scope_id != 0) {
      char name[IF_NAMESIZE] = {};
      zone = "%" + std::string(if_indextoname(sa.sin6_scope_id, name)
                                   ? name
                                   : std::to_string(sa.sin6_scope_id).c_str());
    }
    out = "[" + std::string(text) + zone + "]:" + std::to_string(ntohs(sa.sin6_port));
  } else if (family == AF_UNSPEC) {
    return std::optional<std::string>();
  } else {
    return Malformed("WGPEER_A_ENDPOINT of family " + std::to_string(family) + " and " +
                     std::to_string(n) + " bytes");
  }
  auto canonical = CanonicalEndpoint(out);
  if (!canonical.ok()) return Malformed("WGPEER_A_ENDPOINT " + out + " is not an endpoint");
  return std::optional<std::string>(std::move(*canonical));
}

Status DecodePeerAttr(const nlattr* a, WgPeer& p) {
  switch (mnl_attr_get_type(a)) {
    case WGPEER_A_PUBLIC_KEY: {
      TPMESH_RETURN_IF_ERROR(ExpectLen(a, WG_KEY_LEN, "WGPEER_A_PUBLIC_KEY"));
      const auto* k = static_cast<const uint8_t*>(mnl_attr_get_payload(a));
      p.public_key.assign(k, k + WG_KEY_LEN);
      break;
    }
    case WGPEER_A_PRESHARED_KEY: return GetKey(a, "WGPEER_A_PRESHARED_KEY", p.preshared_key);
    case WGPEER_A_ENDPOINT: {
      TPMESH_ASSIGN_OR_RETURN(p.endpoint, DecodeEndpoint(a));
      break;
    }
    case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
      TPMESH_RETURN_IF_ERROR(ExpectLen(a, 2, "WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL"));
      p.persistent_keepalive = mnl_attr_get_u16(a);
      break;
    case WGPEER_A_LAST_HANDSHAKE_TIME: {
      TPMESH_RETURN_IF_ERROR(
          ExpectLen(a, sizeof(__kernel_timespec), "WGPEER_A_LAST_HANDSHAKE_TIME"));
      __kernel_timespec ts{};
      std::memcpy(&ts, mnl_attr_get_payload(a), sizeof ts);
      p.last_handshake_sec = ts.tv_sec;
      p.last_handshake_nsec = ts.tv_nsec;
      break;
    }
    case WGPEER_A_RX_BYTES:
      TPMESH_RETURN_IF_ERROR(ExpectLen(a, 8, "WGPEER_A_RX_BYTES"));
      p.rx_bytes = mnl_attr_get_u64(a);
      break;
    case WGPEER_A_TX_BYTES:
      TPMESH_RETURN_IF_ERROR(ExpectLen(a, 8, "WGPEER_A_TX_BYTES"));
      p.tx_bytes = mnl_attr_get_u64(a);
      break;
    case WGPEER_A_PROTOCOL_VERSION:
      TPMESH_RETURN_IF_ERROR(ExpectLen(a, 4, "WGPEER_A_PROTOCOL_VERSION"));
      p.protocol_version = mnl_attr_get_u32(a);
      break;
    case WGPEER_A_ALLOWEDIPS:
      return ForEachNestedAttr(a, "WGPEER_A_ALLOWEDIPS", [&](const nlattr* ip) -> Status {
        TPMESH_ASSIGN_OR_RETURN(std::string cidr, DecodeAllowedIp(ip));
        p.allowed_ips.push_back(std::move(cidr));
        return OkStatus();
      });
    default: break;  // newer kernels' attributes
  }
  return OkStatus();
}

}  // namespace

Status WgDumpDecoder::Add(ByteView message) {
  return ForEachMessageAttr(
      message, sizeof(genlmsghdr), "WG_CMD_GET_DEVICE", [&](const nlattr* a) -> Status {
        switch (mnl_attr_get_type(a)) {
          case WGDEVICE_A_PRIVATE_KEY:
            return GetKey(a, "WGDEVICE_A_PRIVATE_KEY", config_.private_key);
          case WGDEVICE_A_LISTEN_PORT:
            TPMESH_RETURN_IF_ERROR(ExpectLen(a, 2, "WGDEVICE_A_LISTEN_PORT"));
            config_.listen_port = mnl_attr_get_u16(a);
            break;
          case WGDEVICE_A_FWMARK: {
            TPMESH_RETURN_IF_ERROR(ExpectLen(a, 4, "WGDEVICE_A_FWMARK"));
            const uint32_t mark = mnl_attr_get_u32(a);
            config_.fwmark = mark == 0 ? std::nullopt : std::optional<uint32_t>(mark);
            break;
          }
          case WGDEVICE_A_PEERS:
            return ForEachNestedAttr(a, "WGDEVICE_A_PEERS", [&](const nlattr* nest) -> Status {
              WgPeer p;
              p.persistent_keepalive = 0;
              TPMESH_RETURN_IF_ERROR(ForEachNestedAttr(
                  nest, "peer", [&](const nlattr* pa) { return DecodePeerAttr(pa, p); }));
              if (p.public_key.empty()) return Malformed("peer without WGPEER_A_PUBLIC_KEY");
              if (!config_.peers.empty() && config_.peers.back().public_key == p.public_key) {
                auto& last = config_.peers.back().allowed_ips;  // a continued peer
                last.insert(last.end(), p.allowed_ips.begin(), p.allowed_ips.end());
                return OkStatus();
              }
              config_.peers.push_back(std::move(p));
              return OkStatus();
            });
          default: break;
        }
        return OkStatus();
      });
}

WgDeviceConfig WgDumpDecoder::Take() {
  WgDeviceConfig out = std::move(config_);
  config_ = WgDeviceConfig{};
  if (!out.listen_port) out.listen_port = 0;
  return out;
}

int FuzzDecodeWgDump(const uint8_t* data, size_t size) {
  auto msgs = SplitMessages(ByteView(data, size));
  if (!msgs.ok()) return 0;
  WgDumpDecoder d;
  for (const auto& m : *msgs) {
    if (m.kind != Received::Kind::kData) continue;
    if (!d.Add(m.message).ok()) return 0;
  }
  WgDeviceConfig c = d.Take();
  auto encoded = EncodeWgSet(0x20, "wg0", c, 1);
  if (!encoded.ok()) std::abort();
  return 0;
}

}  // namespace tpmesh::wg::nl
