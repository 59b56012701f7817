// Kernel WireGuard: the generic-netlink backend of WgDevice, the rtnetlink
// calls that find and create a WireGuard link, and the run-time choice
// between it and the userspace (UAPI) backend.
//
// Everything talks to the kernel through NetlinkSocket, so the logic is
// tested over a fake socket (tests/unit/wg_kernel_test.cc) and the real one
// (OpenNetlinkSocket, libmnl) only moves datagrams.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"
#include "tpmesh/wg/device.h"
#include "tpmesh/wg/netlink.h"

namespace tpmesh::wg {

// One netlink socket bound to one bus. Not thread-safe; one request at a
// time (send, then receive until its ack or NLMSG_DONE).
class NetlinkSocket {
 public:
  virtual ~NetlinkSocket() = default;
  // Sends one message (its nlmsg_pid is left 0: the kernel fills it in).
  [[nodiscard]] virtual Status Send(ByteView message) = 0;
  // Receives one datagram (one or more messages). kUnavailable
  // "netlink_unavailable" on error or after the socket's timeout.
  [[nodiscard]] virtual Result<Bytes> Receive() = 0;
  // A sequence number not used before on this socket.
  virtual uint32_t NextSeq() = 0;
};

// A real socket: `bus` is NETLINK_GENERIC or NETLINK_ROUTE; receive timeout
// 10 s, buffers wiped after use. Errors: kUnavailable "netlink_unavailable".
[[nodiscard]] Result<std::unique_ptr<NetlinkSocket>> OpenNetlinkSocket(int bus);

// The id of generic netlink family `name`; nullopt if the kernel has no
// such family (for "wireguard": the module is not loaded).
[[nodiscard]] Result<std::optional<uint16_t>> ResolveGenlFamily(NetlinkSocket& genl,
                                                                std::string_view name);

// Link `ifname`, or nullopt if there is none in this network namespace.
[[nodiscard]] Result<std::optional<nl::LinkInfo>> QueryLink(NetlinkSocket& rtnl,
                                                            std::string_view ifname);
// Creates link `ifname` of kind "wireguard" (which loads the module where
// it is built as one). Errors: kUnavailable "wg_kernel_unavailable" when the
// kernel has no WireGuard (EOPNOTSUPP), kFailedPrecondition
// "interface_name_in_use" when the name exists, kUnavailable
// "link_setup_failed" for other errnos.
[[nodiscard]] Status CreateWireguardLink(NetlinkSocket& rtnl, std::string_view ifname);

// The kernel backend over `genl`, family id `family` (ResolveGenlFamily).
// Get runs one WG_CMD_GET_DEVICE dump; Set sends EncodeWgSet's messages one
// by one, each acknowledged before the next (not transactional, device.h).
// Errors: "wg_errno" (the kernel refused; ENODEV names the interface),
// "netlink_malformed", "netlink_unavailable". Messages and replies that
// held keys are wiped.
std::unique_ptr<WgDevice> MakeKernelDevice(std::string ifname, uint16_t family,
                                           std::unique_ptr<NetlinkSocket> genl);
// The same over a real socket; kUnavailable "wg_kernel_unavailable" when the
// "wireguard" family does not exist.
[[nodiscard]] Result<std::unique_ptr<WgDevice>> OpenKernelDevice(const std::string& ifname);

enum class Backend { kAuto, kKernel, kUserspace };
// "auto", "kernel", "userspace"; reason "invalid_wg_backend" otherwise.
[[nodiscard]] Result<Backend> ParseBackend(std::string_view name);
std::string_view BackendName(Backend b);

struct BackendChoice {
  Backend backend = Backend::kUserspace;  // never kAuto
  bool link_exists = false;               // ifname exists (kernel: ready to take over)
  std::string reason;                     // one line for the log
};

// Which backend serves `ifname`:
// - an existing link of kind "wireguard" is kernel WireGuard: taken over by
//   kAuto and kKernel; kUserspace refuses it ("interface_name_in_use");
// - an existing link of another kind (wireguard-go's tun) is userspace;
//   kKernel refuses it ("interface_name_in_use");
// - no link: kKernel and kAuto create one of kind "wireguard"; when the
//   kernel has none, kAuto chooses userspace and says why, kKernel fails
//   "wg_kernel_unavailable".
// Creates nothing for kUserspace (wireguard-go creates its own).
[[nodiscard]] Result<BackendChoice> ChooseBackend(Backend requested, std::string_view ifname,
                                                  NetlinkSocket& rtnl);

// The device for an existing interface, whichever backend serves it: the
// UAPI socket in `uapi_dir` if there is one, kernel WireGuard otherwise
// (for status and other read-only callers).
[[nodiscard]] Result<std::unique_ptr<WgDevice>> OpenAnyDevice(const std::string& ifname,
                                                              const std::string& uapi_dir);

}  // namespace tpmesh::wg
