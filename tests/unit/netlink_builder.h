// Test-side netlink, independent of wg/src: builds messages byte by byte
// (struct nlmsghdr / genlmsghdr / nlattr, NLA_ALIGN padding, constants from
// the linux uapi headers; no libmnl) and walks them back into plain structs.
// Used as the reference the netlink encoder and decoder are compared with,
// and by the fake kernel (fake_kernel.h).
#pragma once

#include <arpa/inet.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/wireguard.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"
#include "tpmesh/wg/device.h"

namespace tpmesh::wg::nltest {

inline constexpr uint32_t kKernelPid = 4242;  // the port id replies carry

// One message, appended to attribute by attribute. Every Put pads to 4.
class Msg {
 public:
  Msg(uint16_t type, uint16_t flags, uint32_t seq, uint32_t pid = 0) {
    nlmsghdr h{};
    h.nlmsg_type = type;
    h.nlmsg_flags = flags;
    h.nlmsg_seq = seq;
    h.nlmsg_pid = pid;
    Put(&h, sizeof h);
  }
  Msg& Genl(uint8_t cmd, uint8_t version = 1) {
    genlmsghdr g{};
    g.cmd = cmd;
    g.version = version;
    return Put(&g, sizeof g);
  }
  Msg& Put(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
    buf_.resize(NLA_ALIGN(buf_.size()), 0);
    return *this;
  }
  // An attribute whose nla_len may lie (for malformed input).
  Msg& AttrLen(uint16_t type, uint16_t nla_len, const void* p, size_t n) {
    nlattr a{};
    a.nla_len = nla_len;
    a.nla_type = type;
    Put(&a, sizeof a);
    return Put(p, n);
  }
  Msg& Attr(uint16_t type, const void* p, size_t n) {
    return AttrLen(type, static_cast<uint16_t>(NLA_HDRLEN + n), p, n);
  }
  Msg& Attr(uint16_t type, ByteView v) { return Attr(type, v.data(), v.size()); }
  Msg& U8(uint16_t type, uint8_t v) { return Attr(type, &v, 1); }
  Msg& U16(uint16_t type, uint16_t v) { return Attr(type, &v, 2); }
  Msg& U32(uint16_t type, uint32_t v) { return Attr(type, &v, 4); }
  Msg& U64(uint16_t type, uint64_t v) { return Attr(type, &v, 8); }
  Msg& Str(uint16_t type, std::string_view s) {
    std::string z(s);
    return Attr(type, z.c_str(), z.size() + 1);
  }
  // Opens a nest; End(offset) closes it.
  size_t Nest(uint16_t type, bool nested_flag = true) {
    size_t at = buf_.size();
    nlattr a{};
    a.nla_type = static_cast<uint16_t>(type | (nested_flag ? NLA_F_NESTED : 0));
    Put(&a, sizeof a);
    return at;
  }
  Msg& End(size_t at) {
    auto len = static_cast<uint16_t>(buf_.size() - at);
    std::memcpy(buf_.data() + at, &len, sizeof len);
    return *this;
  }
  Bytes Done() {
    auto len = static_cast<uint32_t>(buf_.size());
    std::memcpy(buf_.data(), &len, sizeof len);
    return buf_;
  }

 private:
  Bytes buf_;
};

inline Bytes Join(const std::vector<Bytes>& msgs) {
  Bytes out;
  for (const Bytes& m : msgs) out.insert(out.end(), m.begin(), m.end());
  return out;
}

// NLMSG_ERROR answering `request` (error 0 = ack, capped to its header).
inline Bytes ErrorMsg(ByteView request, int error) {
  nlmsghdr req{};
  std::memcpy(&req, request.data(), std::min(request.size(), sizeof req));
  Msg m(NLMSG_ERROR, error == 0 ? NLM_F_CAPPED : 0, req.nlmsg_seq, kKernelPid);
  int32_t e = error;
  Bytes body(reinterpret_cast<const uint8_t*>(&e), reinterpret_cast<const uint8_t*>(&e) + 4);
  size_t echo = error == 0 ? std::min(request.size(), sizeof req) : request.size();
  body.insert(body.end(), request.begin(), request.begin() + static_cast<long>(echo));
  return m.Put(body.data(), body.size()).Done();
}

inline Bytes DoneMsg(uint32_t seq, int32_t error) {
  return Msg(NLMSG_DONE, NLM_F_MULTI, seq, kKernelPid).Put(&error, sizeof error).Done();
}

// --- walking ---

struct Attr {
  uint16_t type = 0;  // without the flag bits
  bool nested = false;
  ByteView data;
};

// The attributes tiling `data`; nullopt if a length is < 4 or runs past the
// end (the last attribute's padding may be missing).
inline std::optional<std::vector<Attr>> Attrs(ByteView data) {
  std::vector<Attr> out;
  size_t off = 0;
  while (off < data.size()) {
    if (data.size() - off < NLA_HDRLEN) return std::nullopt;
    nlattr a{};
    std::memcpy(&a, data.data() + off, sizeof a);
    if (a.nla_len < NLA_HDRLEN || a.nla_len > data.size() - off) return std::nullopt;
    out.push_back(Attr{static_cast<uint16_t>(a.nla_type & NLA_TYPE_MASK),
                       (a.nla_type & NLA_F_NESTED) != 0,
                       data.subspan(off + NLA_HDRLEN, a.nla_len - NLA_HDRLEN)});
    off += NLA_ALIGN(a.nla_len);
  }
  return out;
}

template <typename T>
std::optional<T> As(const Attr& a) {
  if (a.data.size() != sizeof(T)) return std::nullopt;
  T v;
  std::memcpy(&v, a.data.data(), sizeof v);
  return v;
}

inline std::optional<std::string> AsStrz(const Attr& a) {
  if (a.data.empty() || a.data.back() != 0) return std::nullopt;
  return std::string(a.data.begin(), a.data.end() - 1);
}

inline Error Bad(std::string what) {
  return MakeError(Code::kInvalidArgument, "test_walk", std::move(what));
}

// The nlmsghdr of `msg` (nlmsg_len must equal msg.size()) and what follows.
inline Result<nlmsghdr> Header(ByteView msg) {
  nlmsghdr h{};
  if (msg.size() < sizeof h) return Bad("message shorter than nlmsghdr");
  std::memcpy(&h, msg.data(), sizeof h);
  if (h.nlmsg_len != msg.size()) return Bad("nlmsg_len != message size");
  return h;
}

// Splits a datagram at nlmsg_len (aligned); nullopt on a bad length.
inline std::optional<std::vector<ByteView>> Messages(ByteView dgram) {
  std::vector<ByteView> out;
  size_t off = 0;
  while (off < dgram.size()) {
    nlmsghdr h{};
    if (dgram.size() - off < sizeof h) return std::nullopt;
    std::memcpy(&h, dgram.data() + off, sizeof h);
    if (h.nlmsg_len < sizeof h || h.nlmsg_len > dgram.size() - off) return std::nullopt;
    out.push_back(dgram.subspan(off, h.nlmsg_len));
    off += NLMSG_ALIGN(h.nlmsg_len);
  }
  return out;
}

// --- addresses ---

inline std::string Ntop(int family, const void* addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, addr, buf, sizeof buf);
  return buf;
}

// WGPEER_A_ENDPOINT bytes -> "a.b.c.d:port" / "[v6%scope]:port".
inline std::optional<std::string> EndpointString(ByteView b) {
  if (b.size() == sizeof(sockaddr_in)) {
    sockaddr_in s{};
    std::memcpy(&s, b.data(), sizeof s);
    if (s.sin_family != AF_INET) return std::nullopt;
    return Ntop(AF_INET, &s.sin_addr) + ":" + std::to_string(ntohs(s.sin_port));
  }
  if (b.size() == sizeof(sockaddr_in6)) {
    sockaddr_in6 s{};
    std::memcpy(&s, b.data(), sizeof s);
    if (s.sin6_family != AF_INET6) return std::nullopt;
    std::string zone = s.sin6_scope_id ? "%" + std::to_string(s.sin6_scope_id) : "";
    return "[" + Ntop(AF_INET6, &s.sin6_addr) + zone + "]:" + std::to_string(ntohs(s.sin6_port));
  }
  return std::nullopt;
}

// "a.b.c.d:port" / "[v6]:port" (numeric zone) -> sockaddr bytes.
inline std::optional<Bytes> EndpointBytes(std::string_view ep) {
  size_t colon = ep.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto port = static_cast<uint16_t>(std::stoi(std::string(ep.substr(colon + 1))));
  std::string host(ep.substr(0, colon));
  if (!host.empty() && host.front() == '[') {
    sockaddr_in6 s{};
    s.sin6_family = AF_INET6;
    s.sin6_port = htons(port);
    host = host.substr(1, host.size() - 2);
    if (size_t pct = host.find('%'); pct != std::string::npos) {
      s.sin6_scope_id = static_cast<uint32_t>(std::stoul(host.substr(pct + 1)));
      host.resize(pct);
    }
    if (inet_pton(AF_INET6, host.c_str(), &s.sin6_addr) != 1) return std::nullopt;
    const auto* p = reinterpret_cast<const uint8_t*>(&s);
    return Bytes(p, p + sizeof s);
  }
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &s.sin_addr) != 1) return std::nullopt;
  const auto* p = reinterpret_cast<const uint8_t*>(&s);
  return Bytes(p, p + sizeof s);
}

struct Cidr {
  uint16_t family = 0;
  Bytes addr;  // 4 or 16 bytes, as written (host bits not touched)
  uint8_t prefix = 0;
};

inline std::optional<Cidr> ParseCidr(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string host(text.substr(0, slash));
  Cidr c;
  c.prefix = static_cast<uint8_t>(std::stoi(std::string(text.substr(slash + 1))));
  c.family = host.find(':') == std::string::npos ? AF_INET : AF_INET6;
  c.addr.resize(c.family == AF_INET ? 4 : 16);
  if (inet_pton(c.family, host.c_str(), c.addr.data()) != 1) return std::nullopt;
  return c;
}

// The same address with host bits cleared.
inline Bytes MaskHost(Bytes addr, uint8_t prefix) {
  for (size_t i = 0; i < addr.size(); ++i) {
    size_t bits = i * 8;
    if (bits >= prefix) {
      addr[i] = 0;
    } else if (prefix - bits < 8) {
      addr[i] &= static_cast<uint8_t>(0xff << (8 - (prefix - bits)));
    }
  }
  return addr;
}

}  // namespace tpmesh::wg::nltest
