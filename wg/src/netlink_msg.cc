// Netlink framing, the generic netlink controller and rtnetlink links
// (contract in netlink.h), over libmnl.
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <cstring>

#include "netlink_internal.h"
#include "tpmesh/wg/netlink.h"

namespace tpmesh::wg::nl {

Error Malformed(std::string msg) {
  return MakeError(Code::kInvalidArgument, "netlink_malformed", std::move(msg));
}

Status ForEachAttr(const void* data, size_t len, std::string_view where,
                   const std::function<Status(const nlattr*)>& fn) {
  const auto* p = static_cast<const char*>(data);
  const char* end = p + len;
  const auto* a = reinterpret_cast<const nlattr*>(p);
  while (end - reinterpret_cast<const char*>(a) >= static_cast<ptrdiff_t>(sizeof(nlattr))) {
    if (!mnl_attr_ok(a, static_cast<int>(end - reinterpret_cast<const char*>(a)))) {
      return Malformed(std::string(where) + ": attribute of type " +
                       std::to_string(mnl_attr_get_type(a)) + " runs past the end");
    }
    TPMESH_RETURN_IF_ERROR(fn(a));
    a = mnl_attr_next(a);
  }
  const ptrdiff_t left = end - reinterpret_cast<const char*>(a);
  // A last attribute may come without its padding; anything else left over
  // is a truncated attribute header.
  if (left > 0) {
    return Malformed(std::string(where) + ": " + std::to_string(left) +
                     " bytes after the last attribute");
  }
  return OkStatus();
}

Status ForEachMessageAttr(ByteView message, size_t extra, std::string_view where,
                          const std::function<Status(const nlattr*)>& fn) {
  if (message.size() < MNL_NLMSG_HDRLEN + MNL_ALIGN(extra)) {
    return Malformed(std::string(where) + ": message too short for its headers");
  }
  const size_t off = MNL_NLMSG_HDRLEN + MNL_ALIGN(extra);
  return ForEachAttr(message.data() + off, message.size() - off, where, fn);
}

Status ForEachNestedAttr(const nlattr* attr, std::string_view where,
                         const std::function<Status(const nlattr*)>& fn) {
  return ForEachAttr(mnl_attr_get_payload(attr), mnl_attr_get_payload_len(attr), where, fn);
}

Status ExpectLen(const nlattr* attr, size_t len, std::string_view name) {
  if (mnl_attr_get_payload_len(attr) != len) {
    return Malformed(std::string(name) + " has " + std::to_string(mnl_attr_get_payload_len(attr)) +
                     " bytes, expected " + std::to_string(len));
  }
  return OkStatus();
}

Result<std::string> GetString(const nlattr* attr, size_t max, std::string_view name) {
  const size_t n = mnl_attr_get_payload_len(attr);
  const auto* s = static_cast<const char*>(mnl_attr_get_payload(attr));
  const void* nul = n == 0 ? nullptr : std::memchr(s, '\0', n);
  if (nul == nullptr) return Malformed(std::string(name) + " is not NUL-terminated");
  const size_t len = static_cast<size_t>(static_cast<const char*>(nul) - s);
  if (len > max) return Malformed(std::string(name) + " is longer than " + std::to_string(max));
  return std::string(s, len);
}

MessageBuffer::MessageBuffer(size_t size, uint16_t type, uint16_t flags, uint32_t seq, size_t extra)
    : bytes(size, 0) {
  nlh = mnl_nlmsg_put_header(bytes.data());
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = flags;
  nlh->nlmsg_seq = seq;
  if (extra > 0) mnl_nlmsg_put_extra_header(nlh, extra);
}

void* MessageBuffer::extra_header() const { return mnl_nlmsg_get_payload(nlh); }

Bytes MessageBuffer::Take() {
  bytes.resize(nlh->nlmsg_len);
  nlh = nullptr;
  return std::move(bytes);
}

Result<std::vector<Received>> SplitMessages(ByteView datagram) {
  // Lengths checked here in size_t: libmnl's mnl_nlmsg_ok casts nlmsg_len
  // to int, so a length above INT_MAX would pass it.
  std::vector<Received> out;
  size_t off = 0;
  while (off < datagram.size()) {
    const size_t left = datagram.size() - off;
    nlmsghdr h{};
    if (left < sizeof h) {
      return Malformed(std::to_string(left) + " bytes after the last netlink message");
    }
    std::memcpy(&h, datagram.data() + off, sizeof h);
    if (h.nlmsg_len < sizeof h || h.nlmsg_len > left) {
      return Malformed("netlink message length " + std::to_string(h.nlmsg_len) + " with " +
                       std::to_string(left) + " bytes left");
    }
    Received r;
    r.type = h.nlmsg_type;
    r.flags = h.nlmsg_flags;
    r.seq = h.nlmsg_seq;
    r.message = datagram.subspan(off, h.nlmsg_len);
    const size_t payload = h.nlmsg_len - MNL_NLMSG_HDRLEN;
    const uint8_t* body = datagram.data() + off + MNL_NLMSG_HDRLEN;
    if (h.nlmsg_type == NLMSG_ERROR || h.nlmsg_type == NLMSG_DONE) {
      const size_t need = h.nlmsg_type == NLMSG_ERROR ? sizeof(nlmsgerr) : sizeof(int);
      if (payload < need) {
        return Malformed(std::string(h.nlmsg_type == NLMSG_ERROR ? "NLMSG_ERROR" : "NLMSG_DONE") +
                         " too short");
      }
      int err = 0;
      std::memcpy(&err, body, sizeof err);
      // The kernel sends 0 or -errno; anything else is not an answer.
      if (err > 0 || err < -4095) {
        return Malformed("netlink error code " + std::to_string(err) + " is not 0 or -errno");
      }
      r.kind = h.nlmsg_type == NLMSG_DONE ? Received::Kind::kDone
               : err == 0                 ? Received::Kind::kAck
                                          : Received::Kind::kError;
      r.error = -err;
    } else if (h.nlmsg_type == NLMSG_NOOP || h.nlmsg_type == NLMSG_OVERRUN) {
      return Malformed("unexpected netlink control message " + std::to_string(h.nlmsg_type));
    }
    out.push_back(r);
    off += std::min<size_t>(MNL_ALIGN(h.nlmsg_len), left);
  }
  return out;
}

Bytes EncodeGetFamily(std::string_view name, uint32_t seq) {
  MessageBuffer m(MNL_SOCKET_BUFFER_SIZE, GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, seq,
                  sizeof(genlmsghdr));
  auto* g = static_cast<genlmsghdr*>(m.extra_header());
  g->cmd = CTRL_CMD_GETFAMILY;
  g->version = 1;
  mnl_attr_put_strz(m.nlh, CTRL_ATTR_FAMILY_NAME, std::string(name).c_str());
  return m.Take();
}

Result<uint16_t> DecodeFamilyId(ByteView message) {
  std::optional<uint16_t> id;
  TPMESH_RETURN_IF_ERROR(ForEachMessageAttr(
      message, sizeof(genlmsghdr), "CTRL_CMD_NEWFAMILY", [&](const nlattr* a) -> Status {
        if (mnl_attr_get_type(a) != CTRL_ATTR_FAMILY_ID) return OkStatus();
        TPMESH_RETURN_IF_ERROR(ExpectLen(a, sizeof(uint16_t), "CTRL_ATTR_FAMILY_ID"));
        id = mnl_attr_get_u16(a);
        return OkStatus();
      }));
  if (!id) return Malformed("CTRL_CMD_NEWFAMILY without CTRL_ATTR_FAMILY_ID");
  return *id;
}

Bytes EncodeGetLink(std::string_view ifname, uint32_t seq) {
  MessageBuffer m(MNL_SOCKET_BUFFER_SIZE, RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, seq,
                  sizeof(ifinfomsg));
  mnl_attr_put_strz(m.nlh, IFLA_IFNAME, std::string(ifname).c_str());
  return m.Take();
}

Bytes EncodeNewLink(std::string_view ifname, std::string_view kind, uint32_t seq) {
  MessageBuffer m(MNL_SOCKET_BUFFER_SIZE, RTM_NEWLINK,
                  NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, sizeof(ifinfomsg));
  mnl_attr_put_strz(m.nlh, IFLA_IFNAME, std::string(ifname).c_str());
  nlattr* info = mnl_attr_nest_start(m.nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(m.nlh, IFLA_INFO_KIND, std::string(kind).c_str());
  mnl_attr_nest_end(m.nlh, info);
  return m.Take();
}

Result<LinkInfo> DecodeLink(ByteView message) {
  if (message.size() < MNL_NLMSG_HDRLEN + sizeof(ifinfomsg)) {
    return Malformed("RTM_NEWLINK too short for its ifinfomsg");
  }
  ifinfomsg ifi{};
  std::memcpy(&ifi, message.data() + MNL_NLMSG_HDRLEN, sizeof ifi);
  LinkInfo info;
  info.ifindex = ifi.ifi_index;
  TPMESH_RETURN_IF_ERROR(
      ForEachMessageAttr(message, sizeof(ifinfomsg), "RTM_NEWLINK", [&](const nlattr* a) -> Status {
        switch (mnl_attr_get_type(a)) {
          case IFLA_IFNAME: {
            TPMESH_ASSIGN_OR_RETURN(info.ifname, GetString(a, IFNAMSIZ - 1, "IFLA_IFNAME"));
            return OkStatus();
          }
          case IFLA_LINKINFO:
            return ForEachNestedAttr(a, "IFLA_LINKINFO", [&](const nlattr* b) -> Status {
              if (mnl_attr_get_type(b) != IFLA_INFO_KIND) return OkStatus();
              TPMESH_ASSIGN_OR_RETURN(info.kind, GetString(b, 64, "IFLA_INFO_KIND"));
              return OkStatus();
            });
          default: return OkStatus();
        }
      }));
  return info;
}

}  // namespace tpmesh::wg::nl
