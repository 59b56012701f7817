// A fake kernel behind wg::NetlinkSocket (kernel_device.h) for unit tests:
// the generic netlink controller, the WireGuard family (applied to a
// MemoryWgDevice) and the rtnetlink link calls, answering as Linux does
// (acks echo the seq, errors carry -errno and the request, dumps are
// NLM_F_MULTI parts then NLMSG_DONE, several messages per datagram). Parses
// requests with netlink_builder.h, independently of wg/src. Anything a real
// kernel would refuse or that breaks the one-request-at-a-time contract is
// recorded in problems().
#pragma once

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/wireguard.h>

#include <cerrno>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "netlink_builder.h"
#include "netlink_wg.h"
#include "tpmesh/wg/kernel_device.h"
#include "tpmesh/wg/memory_device.h"

namespace tpmesh::wg::nltest {

struct KernelState {
  uint16_t wg_family = 0x1d;
  bool genl_wireguard = true;    // the "wireguard" genl family is registered
  bool module_available = true;  // creating a link of kind "wireguard" works
  int newlink_errno = 0;         // non-zero: RTM_NEWLINK fails with it
  std::map<std::string, std::string> links = {{"wg0", "wireguard"}};  // name -> kind
  std::string wg_ifname = "wg0";  // the device MemoryWgDevice models
  MemoryWgDevice dev{"wg0"};
  int fail_set_message = 0;  // 1-based WG_CMD_SET_DEVICE message to refuse
  int fail_errno = EINVAL;
  bool enodev_as_done = false;  // a missing device: NLMSG_DONE -ENODEV, not NLMSG_ERROR
  bool reply_then_ack_in_one_datagram = false;
  DumpShape dump_shape{.peers_per_message = 50, .ips_per_fragment = 7};
  size_t messages_per_datagram = 3;
  int corrupt_dump_message = -1;  // >= 0: that dump message has an attribute past its end
  int dump_done_errno = 0;        // the dump's NLMSG_DONE carries -this
  bool drop_replies = false;      // nothing comes back (Receive times out)
  // Observed.
  int set_messages = 0;
  std::vector<std::pair<std::string, std::string>> newlinks;  // attempted (name, kind)
  int getlinks = 0;
  std::vector<std::string> problems;
};

class FakeKernel : public NetlinkSocket {
 public:
  FakeKernel(std::shared_ptr<KernelState> s, int bus) : s_(std::move(s)), bus_(bus) {}

  // Replies queue up behind unread ones, as on a real socket.
  Status Send(ByteView m) override {
    if (!replies_.empty()) Problem("sent with " + std::to_string(replies_.size()) + " unread");
    auto h = Header(m);
    if (!h.ok()) {
      Problem(h.error().message);
      return OkStatus();
    }
    if (!(h->nlmsg_flags & NLM_F_REQUEST) || !(h->nlmsg_flags & NLM_F_ACK)) Problem("flags");
    if (h->nlmsg_pid != 0) Problem("nlmsg_pid not 0");
    if (m.size() > 32768) Problem("message larger than the kernel accepts");
    if (bus_ == NETLINK_ROUTE) {
      Route(m, *h);
    } else if (h->nlmsg_type == GENL_ID_CTRL) {
      Ctrl(m);
    } else if (s_->genl_wireguard && h->nlmsg_type == s_->wg_family) {
      Wg(m, *h);
    } else {
      Reply({ErrorMsg(m, -ENOENT)});
    }
    if (s_->drop_replies) replies_.clear();
    return OkStatus();
  }

  Result<Bytes> Receive() override {
    if (replies_.empty()) {
      Problem("Receive with nothing to receive");
      return MakeError(Code::kUnavailable, "netlink_unavailable", "fake: timed out");
    }
    Bytes d = std::move(replies_.front());
    replies_.pop_front();
    return d;
  }

  uint32_t NextSeq() override { return ++seq_; }
  size_t unread() const { return replies_.size(); }

 private:
  void Problem(std::string what) { s_->problems.push_back(std::move(what)); }

  // One datagram per entry of `msgs`, or all in one.
  void Reply(std::vector<Bytes> msgs, bool one_datagram = false) {
    if (one_datagram) {
      replies_.push_back(Join(msgs));
      return;
    }
    for (Bytes& m : msgs) replies_.push_back(std::move(m));
  }

  void ReplyThenAck(ByteView req, Bytes reply) {
    Reply({std::move(reply), ErrorMsg(req, 0)}, s_->reply_then_ack_in_one_datagram);
  }

  // The attributes after a fixed header of `fixed` bytes.
  std::optional<std::vector<Attr>> Body(ByteView m, size_t fixed) {
    if (m.size() < NLMSG_HDRLEN + fixed) return std::nullopt;
    return Attrs(m.subspan(NLMSG_HDRLEN + fixed));
  }

  static std::optional<std::string> Find(const std::vector<Attr>& attrs, uint16_t type) {
    for (const Attr& a : attrs) {
      if (a.type == type) return AsStrz(a);
    }
    return std::nullopt;
  }

  void Ctrl(ByteView m) {
    auto attrs = Body(m, GENL_HDRLEN);
    genlmsghdr g{};
    std::memcpy(&g, m.data() + NLMSG_HDRLEN, std::min(m.size() - NLMSG_HDRLEN, sizeof g));
    auto name = attrs ? Find(*attrs, CTRL_ATTR_FAMILY_NAME) : std::nullopt;
    if (g.cmd != CTRL_CMD_GETFAMILY || !name) {
      Problem("bad CTRL_CMD_GETFAMILY");
      return Reply({ErrorMsg(m, -EINVAL)});
    }
    if (*name != WG_GENL_NAME || !s_->genl_wireguard) return Reply({ErrorMsg(m, -ENOENT)});
    nlmsghdr h = *Header(m);
    Msg r(GENL_ID_CTRL, 0, h.nlmsg_seq, kKernelPid);
    r.Genl(CTRL_CMD_NEWFAMILY, 2).Str(CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
    r.U16(CTRL_ATTR_FAMILY_ID, s_->wg_family).U32(CTRL_ATTR_VERSION, WG_GENL_VERSION);
    r.U32(CTRL_ATTR_HDRSIZE, 0).U32(CTRL_ATTR_MAXATTR, WGDEVICE_A_MAX);
    ReplyThenAck(m, r.Done());
  }

  void Wg(ByteView m, const nlmsghdr& h) {
    genlmsghdr g{};
    if (m.size() >= NLMSG_HDRLEN + GENL_HDRLEN) std::memcpy(&g, m.data() + NLMSG_HDRLEN, sizeof g);
    if (g.cmd == WG_CMD_GET_DEVICE) return WgGet(m, h);
    if (g.cmd != WG_CMD_SET_DEVICE || (h.nlmsg_flags & NLM_F_DUMP)) {
      Problem("bad WireGuard command");
      return Reply({ErrorMsg(m, -EOPNOTSUPP)});
    }
    auto w = WalkSet(m);
    if (!w.ok()) {
      Problem("set: " + w.error().message);
      return Reply({ErrorMsg(m, -EINVAL)});
    }
    if (w->ifname != s_->wg_ifname) return Reply({ErrorMsg(m, -ENODEV)});
    if (++s_->set_messages == s_->fail_set_message) return Reply({ErrorMsg(m, -s_->fail_errno)});
    Status st = s_->dev.Set(ToConfig(*w));
    if (!st.ok()) Problem("set rejected by the model: " + st.error().ToString());
    Reply({ErrorMsg(m, st.ok() ? 0 : -EINVAL)});
  }

  void WgGet(ByteView m, const nlmsghdr& h) {
    auto attrs = Body(m, GENL_HDRLEN);
    auto name = attrs ? Find(*attrs, WGDEVICE_A_IFNAME) : std::nullopt;
    if (!(h.nlmsg_flags & NLM_F_DUMP) || !name) {
      Problem("bad WG_CMD_GET_DEVICE");
      return Reply({ErrorMsg(m, -EINVAL)});
    }
    if (*name != s_->wg_ifname) {
      if (s_->enodev_as_done) return Reply({DoneMsg(h.nlmsg_seq, -ENODEV)});
      return Reply({ErrorMsg(m, -ENODEV)});
    }
    auto state = s_->dev.Get();
    DumpShape shape = s_->dump_shape;
    shape.seq = h.nlmsg_seq;
    std::vector<Bytes> msgs = BuildDump(s_->wg_family, *name, *state, shape);
    if (s_->corrupt_dump_message >= 0 &&
        static_cast<size_t>(s_->corrupt_dump_message) < msgs.size()) {
      uint8_t zeros[8] = {};
      msgs[static_cast<size_t>(s_->corrupt_dump_message)] =
          Msg(s_->wg_family, NLM_F_MULTI, h.nlmsg_seq, kKernelPid)
              .Genl(WG_CMD_GET_DEVICE, WG_GENL_VERSION)
              .Str(WGDEVICE_A_IFNAME, *name)
              .AttrLen(WGDEVICE_A_PEERS | NLA_F_NESTED, 400, zeros, sizeof zeros)
              .Done();
    }
    msgs.push_back(DoneMsg(h.nlmsg_seq, -s_->dump_done_errno));
    for (size_t i = 0; i < msgs.size(); i += s_->messages_per_datagram) {
      size_t end = std::min(msgs.size(), i + s_->messages_per_datagram);
      Reply(std::vector<Bytes>(msgs.begin() + static_cast<long>(i),
                               msgs.begin() + static_cast<long>(end)),
            true);
    }
  }

  void Route(ByteView m, const nlmsghdr& h) {
    auto attrs = Body(m, sizeof(ifinfomsg));
    auto name = attrs ? Find(*attrs, IFLA_IFNAME) : std::nullopt;
    if (!name) {
      Problem("rtnetlink request without IFLA_IFNAME");
      return Reply({ErrorMsg(m, -EINVAL)});
    }
    auto it = s_->links.find(*name);
    if (h.nlmsg_type == RTM_GETLINK) {
      ++s_->getlinks;
      if (it == s_->links.end()) return Reply({ErrorMsg(m, -ENODEV)});
      Msg r(RTM_NEWLINK, 0, h.nlmsg_seq, kKernelPid);
      ifinfomsg ifi{};
      ifi.ifi_type = 65534;
      ifi.ifi_index = 40 + static_cast<int>(std::distance(s_->links.begin(), it));
      r.Put(&ifi, sizeof ifi).Str(IFLA_IFNAME, *name).U32(IFLA_MTU, 1420);
      size_t info = r.Nest(IFLA_LINKINFO, false);  // rtnetlink: nla_nest_start_noflag
      r.Str(IFLA_INFO_KIND, it->second).End(info);
      return ReplyThenAck(m, r.Done());
    }
    if (h.nlmsg_type != RTM_NEWLINK) {
      Problem("unexpected rtnetlink type " + std::to_string(h.nlmsg_type));
      return Reply({ErrorMsg(m, -EOPNOTSUPP)});
    }
    std::string kind;
    for (const Attr& a : *attrs) {
      if (a.type != IFLA_LINKINFO) continue;
      if (auto inner = Attrs(a.data)) kind = Find(*inner, IFLA_INFO_KIND).value_or("");
    }
    s_->newlinks.emplace_back(*name, kind);
    const uint16_t create = NLM_F_CREATE | NLM_F_EXCL;
    if ((h.nlmsg_flags & create) != create) Problem("RTM_NEWLINK without CREATE|EXCL");
    if (it != s_->links.end()) return Reply({ErrorMsg(m, -EEXIST)});
    if (s_->newlink_errno) return Reply({ErrorMsg(m, -s_->newlink_errno)});
    if (kind == "wireguard" && !s_->module_available) return Reply({ErrorMsg(m, -EOPNOTSUPP)});
    s_->links[*name] = kind;
    if (kind == "wireguard") s_->genl_wireguard = true;  // the module loaded
    Reply({ErrorMsg(m, 0)});
  }

  std::shared_ptr<KernelState> s_;
  int bus_;
  std::deque<Bytes> replies_;
  uint32_t seq_ = 1000;
};

}  // namespace tpmesh::wg::nltest
