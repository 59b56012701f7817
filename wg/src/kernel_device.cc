// Kernel WireGuard over generic netlink, links over rtnetlink, and the
// backend choice (contract in kernel_device.h).
#include "tpmesh/wg/kernel_device.h"

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/rtnetlink.h>

#include <sodium.h>

#include <cerrno>
#include <cstring>

#include "netlink_internal.h"

namespace tpmesh::wg {
namespace {

// Larger than any message the kernel sends (its dumps use up to 32 KiB);
// a longer one would be cut (MSG_TRUNC) and fail with ENOSPC.
constexpr size_t kReceiveBuffer = 64 * 1024;

Error NlUnavailable(std::string msg) {
  return MakeError(Code::kUnavailable, "netlink_unavailable", std::move(msg));
}

// Wipes a buffer that may hold keys when it goes out of scope.
struct Wipe {
  Bytes& b;
  ~Wipe() {
    if (!b.empty()) sodium_memzero(b.data(), b.size());
  }
};

// The kernel's answer to one request: its data messages, and how it ended.
struct Outcome {
  int error = 0;  // positive errno, 0 = acknowledged / dump done
};

// Sends `request` (sequence `seq`) and reads until its ack, error or (for a
// dump) NLMSG_DONE; data messages go to on_data. Replies to other sequence
// numbers (late answers to an abandoned request) are skipped.
Result<Outcome> Transact(NetlinkSocket& s, ByteView request, uint32_t seq, bool dump,
                         const std::function<Status(ByteView)>& on_data) {
  TPMESH_RETURN_IF_ERROR(s.Send(request));
  for (;;) {
    TPMESH_ASSIGN_OR_RETURN(Bytes datagram, s.Receive());
    Wipe wipe{datagram};
    TPMESH_ASSIGN_OR_RETURN(auto msgs, nl::SplitMessages(datagram));
    for (const auto& m : msgs) {
      if (m.seq != seq) continue;
      switch (m.kind) {
        case nl::Received::Kind::kData: TPMESH_RETURN_IF_ERROR(on_data(m.message)); break;
        case nl::Received::Kind::kAck:
          if (!dump) return Outcome{0};
          break;
        case nl::Received::Kind::kError: return Outcome{m.error};
        case nl::Received::Kind::kDone:
          if (dump) return Outcome{m.error};
          break;
      }
    }
  }
}

class KernelDevice final : public WgDevice {
 public:
  KernelDevice(std::string ifname, uint16_t family, std::unique_ptr<NetlinkSocket> genl)
      : ifname_(std::move(ifname)), family_(family), genl_(std::move(genl)) {}

  Result<WgDeviceConfig> Get() override {
    const uint32_t seq = genl_->NextSeq();
    Bytes req = nl::EncodeWgGet(family_, ifname_, seq);
    nl::WgDumpDecoder decoder;
    TPMESH_ASSIGN_OR_RETURN(Outcome out, Transact(*genl_, req, seq, /*dump=*/true,
                                                  [&](ByteView m) { return decoder.Add(m); }));
    if (out.error != 0) return Refused("get", out.error);
    return decoder.Take();
  }

  Status Set(const WgDeviceConfig& config) override {
    TPMESH_ASSIGN_OR_RETURN(auto msgs, nl::EncodeWgSet(family_, ifname_, config, 0));
    Status st = OkStatus();
    for (size_t i = 0; i < msgs.size() && st.ok(); ++i) {
      const uint32_t seq = genl_->NextSeq();
      reinterpret_cast<nlmsghdr*>(msgs[i].data())->nlmsg_seq = seq;
      auto out =
          Transact(*genl_, msgs[i], seq, /*dump=*/false, [](ByteView) { return OkStatus(); });
      if (!out.ok()) {
        st = out.take_error();
      } else if (out->error != 0) {
        st = Refused(
            "set (message " + std::to_string(i + 1) + " of " + std::to_string(msgs.size()) + ")",
            out->error);
      }
    }
    for (auto& m : msgs) sodium_memzero(m.data(), m.size());
    return st;
  }

  std::string name() const override { return ifname_; }

 private:
  Error Refused(const std::string& what, int err) const {
    std::string msg = "kernel WireGuard " + what + " on " + ifname_ + ": " + std::strerror(err);
    if (err == ENODEV) msg += " (no WireGuard interface " + ifname_ + ")";
    return MakeError(err == ENODEV ? Code::kUnavailable : Code::kInvalidArgument, "wg_errno", msg);
  }

  std::string ifname_;
  uint16_t family_;
  std::unique_ptr<NetlinkSocket> genl_;
};

class MnlSocket final : public NetlinkSocket {
 public:
  explicit MnlSocket(mnl_socket* s) : s_(s), seq_(static_cast<uint32_t>(time(nullptr))) {}
  ~MnlSocket() override { mnl_socket_close(s_); }

  Status Send(ByteView message) override {
    if (mnl_socket_sendto(s_, message.data(), message.size()) < 0)
      return NlUnavailable(std::string("netlink send: ") + std::strerror(errno));
    return OkStatus();
  }

  Result<Bytes> Receive() override {
    Bytes buf(kReceiveBuffer);
    for (;;) {
      ssize_t n = mnl_socket_recvfrom(s_, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        sodium_memzero(buf.data(), buf.size());
        return NlUnavailable(std::string("netlink receive: ") + std::strerror(errno));
      }
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
  }

  uint32_t NextSeq() override { return ++seq_; }

 private:
  mnl_socket* s_;
  uint32_t seq_;
};

}  // namespace

Result<std::unique_ptr<NetlinkSocket>> OpenNetlinkSocket(int bus) {
  mnl_socket* s = mnl_socket_open2(bus, SOCK_CLOEXEC);
  if (s == nullptr) return NlUnavailable(std::string("netlink socket: ") + std::strerror(errno));
  if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
    int err = errno;
    mnl_socket_close(s);
    return NlUnavailable(std::string("netlink bind: ") + std::strerror(err));
  }
  timeval tv{10, 0};
  setsockopt(mnl_socket_get_fd(s), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return std::unique_ptr<NetlinkSocket>(new MnlSocket(s));
}

Result<std::optional<uint16_t>> ResolveGenlFamily(NetlinkSocket& genl, std::string_view name) {
  const uint32_t seq = genl.NextSeq();
  std::optional<uint16_t> id;
  TPMESH_ASSIGN_OR_RETURN(
      Outcome out,
      Transact(genl, nl::EncodeGetFamily(name, seq), seq, false, [&](ByteView m) -> Status {
        TPMESH_ASSIGN_OR_RETURN(id, nl::DecodeFamilyId(m));
        return OkStatus();
      }));
  if (out.error == ENOENT) return std::optional<uint16_t>();
  if (out.error != 0) {
    return NlUnavailable("generic netlink family " + std::string(name) + ": " +
                         std::strerror(out.error));
  }
  if (!id) return nl::Malformed("CTRL_CMD_GETFAMILY acknowledged without a family");
  return id;
}

Result<std::optional<nl::LinkInfo>> QueryLink(NetlinkSocket& rtnl, std::string_view ifname) {
  const uint32_t seq = rtnl.NextSeq();
  std::optional<nl::LinkInfo> link;
  TPMESH_ASSIGN_OR_RETURN(Outcome out, Transact(rtnl, nl::EncodeGetLink(ifname, seq), seq, false,
                                                [&](ByteView m) -> Status {
                                                  TPMESH_ASSIGN_OR_RETURN(link, nl::DecodeLink(m));
                                                  return OkStatus();
                                                }));
  if (out.error == ENODEV) return std::optional<nl::LinkInfo>();
  if (out.error != 0) {
    return NlUnavailable("looking up link " + std::string(ifname) + ": " +
                         std::strerror(out.error));
  }
  if (!link) return nl::Malformed("RTM_GETLINK acknowledged without a link");
  return link;
}

Status CreateWireguardLink(NetlinkSocket& rtnl, std::string_view ifname) {
  const uint32_t seq = rtnl.NextSeq();
  TPMESH_ASSIGN_OR_RETURN(Outcome out, Transact(rtnl, nl::EncodeNewLink(ifname, "wireguard", seq),
                                                seq, false, [](ByteView) { return OkStatus(); }));
  const std::string name(ifname);
  switch (out.error) {
    case 0: return OkStatus();
    case EOPNOTSUPP:
      return MakeError(Code::kUnavailable, "wg_kernel_unavailable",
                       "this kernel has no WireGuard (creating link " + name +
                           " of type wireguard: " + std::strerror(out.error) + ")");
    case EEXIST:
      return MakeError(Code::kFailedPrecondition, "interface_name_in_use",
                       "a link named " + name + " already exists");
    default:
      return MakeError(Code::kUnavailable, "link_setup_failed",
                       "creating link " + name + " of type wireguard: " + std::strerror(out.error));
  }
}

std::unique_ptr<WgDevice> MakeKernelDevice(std::string ifname, uint16_t family,
                                           std::unique_ptr<NetlinkSocket> genl) {
  return std::make_unique<KernelDevice>(std::move(ifname), family, std::move(genl));
}

Result<std::unique_ptr<WgDevice>> OpenKernelDevice(const std::string& ifname) {
  TPMESH_ASSIGN_OR_RETURN(auto genl, OpenNetlinkSocket(NETLINK_GENERIC));
  TPMESH_ASSIGN_OR_RETURN(auto family, ResolveGenlFamily(*genl, "wireguard"));
  if (!family) {
    return MakeError(Code::kUnavailable, "wg_kernel_unavailable",
                     "the kernel has no generic netlink family 'wireguard' (module not loaded)");
  }
  return MakeKernelDevice(ifname, *family, std::move(genl));
}

}  // namespace tpmesh::wg
