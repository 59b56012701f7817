// The netlink messages of kernel WireGuard as pure functions: no I/O, safe
// on untrusted input (FuzzDecodeWgDump is the fuzz entry point). Messages are
// built and walked with libmnl; the constants come from linux/wireguard.h,
// linux/genetlink.h and linux/rtnetlink.h (linux-libc-dev).
//
// Three protocols meet here:
// - generic netlink's controller: the id of the "wireguard" family
//   (EncodeGetFamily / DecodeFamilyId);
// - the WireGuard family (WG_CMD_GET_DEVICE as a dump, WG_CMD_SET_DEVICE),
//   whose semantics match the UAPI text protocol field for field (device.h):
//   an unset optional is not sent, zero is sent as zero;
// - rtnetlink: look up a link and create one of kind "wireguard".
//
// A WireGuard configuration may not fit in one netlink message; the kernel
// documents how it is split (linux/wireguard.h) and both directions follow
// it: device attributes in the first message only, later messages carry the
// interface name and the peers that follow; a peer whose allowed IPs do not
// fit continues in the next message with only its public key, its allowed
// IPs and (on set) WGPEER_F_UPDATE_ONLY, so a continuation never creates a
// peer the first fragment chose not to create. REPLACE_PEERS and
// REPLACE_ALLOWEDIPS are sent in the first fragment only.
//
// Thread-safe (no shared state). Buffers that held the private key or a
// preshared key are the caller's to wipe (EncodeWgSet's result).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"
#include "tpmesh/wg/device.h"

namespace tpmesh::wg::nl {

// Largest message EncodeWgSet builds by default: what wireguard-tools and
// libmnl use (MNL_SOCKET_BUFFER_SIZE on 4 KiB pages); the kernel accepts it.
inline constexpr size_t kDefaultMaxMessage = 4096;

// One received netlink message, classified. `payload` views the bytes after
// the nlmsghdr (for kData) inside the buffer given to SplitMessages.
struct Received {
  enum class Kind { kData, kAck, kError, kDone };
  Kind kind = Kind::kData;
  uint16_t type = 0;   // nlmsg_type
  uint16_t flags = 0;  // nlmsg_flags
  uint32_t seq = 0;
  int error = 0;     // kError: the positive errno; kDone: the dump's errno (0 = ok)
  ByteView message;  // the whole message, header included
};

// Splits one datagram into its messages. Errors (reason "netlink_malformed"):
// a length shorter than a header or past the end of the buffer, an
// NLMSG_ERROR or NLMSG_DONE too short for its payload.
[[nodiscard]] Result<std::vector<Received>> SplitMessages(ByteView datagram);

// --- generic netlink controller ---

// CTRL_CMD_GETFAMILY for `name` (NLM_F_REQUEST | NLM_F_ACK).
Bytes EncodeGetFamily(std::string_view name, uint32_t seq);
// The CTRL_ATTR_FAMILY_ID of a CTRL_CMD_NEWFAMILY reply (a kData message).
[[nodiscard]] Result<uint16_t> DecodeFamilyId(ByteView message);

// --- WireGuard ---

// WG_CMD_GET_DEVICE for `ifname` (NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP).
Bytes EncodeWgGet(uint16_t family, std::string_view ifname, uint32_t seq);

// WG_CMD_SET_DEVICE messages for `config` (NLM_F_REQUEST | NLM_F_ACK), seq
// numbers first_seq, first_seq + 1, ...; each at most max_message bytes.
// Always at least one message (the first carries the device attributes).
// Validates like FormatUapiSet: reason "wg_config_invalid" naming the peer
// and field (key lengths, endpoints, CIDRs, a remove peer with other
// fields), and "wg_config_invalid" if a single peer's fixed attributes do
// not fit in max_message. Endpoint zones: numeric, or an interface name
// resolved with if_nametoindex.
[[nodiscard]] Result<std::vector<Bytes>> EncodeWgSet(uint16_t family, std::string_view ifname,
                                                     const WgDeviceConfig& config,
                                                     uint32_t first_seq,
                                                     size_t max_message = kDefaultMaxMessage);

// Coalesces the kData messages of one WG_CMD_GET_DEVICE dump into the
// device state, the same WgDeviceConfig ParseUapiGet gives for a
// wireguard-go device: an all-zero private or preshared key is nullopt,
// listen_port and persistent_keepalive always set, fwmark nullopt when 0,
// allowed IPs canonical, adjacent fragments of one peer merged. Unknown
// attributes are skipped (newer kernels add some); known ones with a wrong
// length, a peer without a public key, an allowed IP with a bad family,
// address length or prefix, an endpoint of another family: reason
// "netlink_malformed" naming the attribute. Not thread-safe per object.
class WgDumpDecoder {
 public:
  [[nodiscard]] Status Add(ByteView message);
  // The state so far; the decoder is left empty.
  WgDeviceConfig Take();

 private:
  WgDeviceConfig config_;
};

// libFuzzer-compatible entry point: splits the bytes into messages and feeds
// every kData one to a WgDumpDecoder; if that succeeds, re-encodes the
// result with EncodeWgSet (which must accept it). Always returns 0.
int FuzzDecodeWgDump(const uint8_t* data, size_t size);

// --- rtnetlink ---

// RTM_GETLINK for `ifname` (NLM_F_REQUEST | NLM_F_ACK).
Bytes EncodeGetLink(std::string_view ifname, uint32_t seq);
// RTM_NEWLINK creating `ifname` of kind `kind` (NLM_F_REQUEST | NLM_F_ACK |
// NLM_F_CREATE | NLM_F_EXCL).
Bytes EncodeNewLink(std::string_view ifname, std::string_view kind, uint32_t seq);

struct LinkInfo {
  int ifindex = 0;
  std::string ifname;
  std::string kind;  // IFLA_INFO_KIND ("wireguard", "tun", ...); "" if the link has none
};
// An RTM_NEWLINK message (the answer to RTM_GETLINK). Reason "netlink_malformed".
[[nodiscard]] Result<LinkInfo> DecodeLink(ByteView message);

}  // namespace tpmesh::wg::nl
