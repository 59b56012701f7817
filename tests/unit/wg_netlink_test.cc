// Netlink encoding (wg/include/tpmesh/wg/netlink.h) compared byte for byte
// with messages built independently (netlink_builder.h), and the splitting
// of configurations that do not fit in one message.
#include <gtest/gtest.h>

#include <bit>
#include <map>
#include <set>

#include "netlink_builder.h"
#include "netlink_wg.h"
#include "tpmesh/wg/netlink.h"
#include "tpmesh/wg/uapi.h"

namespace tpmesh::wg {
namespace {

using nltest::Msg;

constexpr uint16_t kFamily = 0x1d;
constexpr uint16_t kReqAck = NLM_F_REQUEST | NLM_F_ACK;

Bytes Key(uint8_t n) { return Bytes(kKeyLen, n); }

std::string Hex(ByteView b) { return HexEncode(b); }

// The first difference, with both sides in hex around it.
::testing::AssertionResult SameBytes(const Bytes& got, const Bytes& want) {
  if (got == want) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  size_t from = i < 16 ? 0 : i - 16;
  auto part = [&](const Bytes& b) {
    if (from >= b.size()) return std::string("(end)");
    return Hex(ByteView(b).subspan(from, std::min<size_t>(48, b.size() - from)));
  };
  return ::testing::AssertionFailure()
         << "sizes " << got.size() << " vs " << want.size() << ", first difference at " << i
         << "\n got  @" << from << ": " << part(got) << "\n want @" << from << ": " << part(want);
}

Msg SetHead(uint32_t seq, std::string_view ifname = "wg0") {
  Msg m(kFamily, kReqAck, seq);
  m.Genl(WG_CMD_SET_DEVICE, WG_GENL_VERSION);
  m.Str(WGDEVICE_A_IFNAME, ifname);
  return m;
}

Bytes Sin4(std::array<uint8_t, 4> addr, uint16_t port) {
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_port = htons(port);
  std::memcpy(&s.sin_addr, addr.data(), 4);
  const auto* p = reinterpret_cast<const uint8_t*>(&s);
  return Bytes(p, p + sizeof s);
}

Bytes Sin6(std::array<uint8_t, 16> addr, uint16_t port, uint32_t scope = 0) {
  sockaddr_in6 s{};
  s.sin6_family = AF_INET6;
  s.sin6_port = htons(port);
  s.sin6_scope_id = scope;
  std::memcpy(&s.sin6_addr, addr.data(), 16);
  const auto* p = reinterpret_cast<const uint8_t*>(&s);
  return Bytes(p, p + sizeof s);
}

void AllowedIp(Msg& m, uint16_t family, ByteView addr, uint8_t prefix) {
  size_t n = m.Nest(0);
  m.U16(WGALLOWEDIP_A_FAMILY, family);
  m.Attr(WGALLOWEDIP_A_IPADDR, addr);
  m.U8(WGALLOWEDIP_A_CIDR_MASK, prefix);
  m.End(n);
}

Bytes One(const Result<std::vector<Bytes>>& r) {
  EXPECT_TRUE(r.ok()) << r.error().ToString();
  if (!r.ok()) return {};
  EXPECT_EQ(r->size(), 1u);
  return r->empty() ? Bytes{} : r->front();
}

TEST(NetlinkBuilder, MatchesLiteralBytes) {
  static_assert(std::endian::native == std::endian::little);
  const Bytes literal = {0x24, 0x00, 0x00, 0x00, 0x10, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00,
                         0x00, 0x00, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x0e, 0x00, 0x02, 0x00,
                         'w',  'i',  'r',  'e',  'g',  'u',  'a',  'r',  'd',  0x00, 0x00, 0x00};
  Bytes built = Msg(GENL_ID_CTRL, kReqAck, 1)
                    .Genl(CTRL_CMD_GETFAMILY, 1)
                    .Str(CTRL_ATTR_FAMILY_NAME, "wireguard")
                    .Done();
  EXPECT_TRUE(SameBytes(built, literal));
  EXPECT_TRUE(SameBytes(nl::EncodeGetFamily("wireguard", 1), literal));
}

TEST(NetlinkEncode, GetFamily) {
  Bytes want = Msg(GENL_ID_CTRL, kReqAck, 77)
                   .Genl(CTRL_CMD_GETFAMILY, 1)
                   .Str(CTRL_ATTR_FAMILY_NAME, "wireguard")
                   .Done();
  EXPECT_TRUE(SameBytes(nl::EncodeGetFamily("wireguard", 77), want));
}

TEST(NetlinkEncode, WgGet) {
  Bytes want = Msg(kFamily, kReqAck | NLM_F_DUMP, 9)
                   .Genl(WG_CMD_GET_DEVICE, WG_GENL_VERSION)
                   .Str(WGDEVICE_A_IFNAME, "wg10")
                   .Done();
  EXPECT_TRUE(SameBytes(nl::EncodeWgGet(kFamily, "wg10", 9), want));
}

TEST(NetlinkEncode, GetLinkAndNewLink) {
  ifinfomsg ifi{};
  Bytes get = Msg(RTM_GETLINK, kReqAck, 4).Put(&ifi, sizeof ifi).Str(IFLA_IFNAME, "wg0").Done();
  EXPECT_TRUE(SameBytes(nl::EncodeGetLink("wg0", 4), get));

  Msg m(RTM_NEWLINK, kReqAck | NLM_F_CREATE | NLM_F_EXCL, 5);
  m.Put(&ifi, sizeof ifi).Str(IFLA_IFNAME, "tpmesh1");
  size_t info = m.Nest(IFLA_LINKINFO);
  m.Str(IFLA_INFO_KIND, "wireguard").End(info);
  EXPECT_TRUE(SameBytes(nl::EncodeNewLink("tpmesh1", "wireguard", 5), m.Done()));
}

TEST(NetlinkEncode, EmptyConfigIsOneMessageWithTheName) {
  auto r = nl::EncodeWgSet(kFamily, "wg0", WgDeviceConfig{}, 3);
  EXPECT_TRUE(SameBytes(One(r), SetHead(3).Done()));
}

TEST(NetlinkEncode, DeviceOnly) {
  WgDeviceConfig c;
  c.private_key = SecretBytes(Key(0x11));
  c.listen_port = 51820;
  c.fwmark = 0;
  c.replace_peers = true;
  Bytes want = SetHead(7)
                   .Attr(WGDEVICE_A_PRIVATE_KEY, Key(0x11))
                   .U16(WGDEVICE_A_LISTEN_PORT, 51820)
                   .U32(WGDEVICE_A_FWMARK, 0)
                   .U32(WGDEVICE_A_FLAGS, WGDEVICE_F_REPLACE_PEERS)
                   .Done();
  EXPECT_TRUE(SameBytes(One(nl::EncodeWgSet(kFamily, "wg0", c, 7)), want));

  c.replace_peers = false;
  c.fwmark.reset();
  c.private_key.reset();
  Bytes port_only = SetHead(8).U16(WGDEVICE_A_LISTEN_PORT, 51820).Done();
  EXPECT_TRUE(SameBytes(One(nl::EncodeWgSet(kFamily, "wg0", c, 8)), port_only));
}

TEST(NetlinkEncode, PeersWithEveryField) {
  WgDeviceConfig c;
  c.fwmark = 0x51;
  WgPeer a;
  a.public_key = Key(0xa1);
  a.preshared_key = SecretBytes(Key(0x55));
  a.endpoint = "192.0.2.1:51820";
  a.persistent_keepalive = 25;
  a.allowed_ips = {"10.1.2.3/24", "fd00:1::5/64"};
  a.replace_allowed_ips = true;
  WgPeer b;
  b.public_key = Key(0xb2);
  b.endpoint = "[2001:db8::1]:4000";
  b.persistent_keepalive = 0;
  b.allowed_ips = {"fd00::b/128"};
  c.peers.push_back(std::move(a));
  c.peers.push_back(std::move(b));

  Msg m = SetHead(1, "wg10");
  m.U32(WGDEVICE_A_FWMARK, 0x51);
  size_t peers = m.Nest(WGDEVICE_A_PEERS);
  size_t p = m.Nest(0);
  m.Attr(WGPEER_A_PUBLIC_KEY, Key(0xa1)).U32(WGPEER_A_FLAGS, WGPEER_F_REPLACE_ALLOWEDIPS);
  m.Attr(WGPEER_A_PRESHARED_KEY, Key(0x55)).Attr(WGPEER_A_ENDPOINT, Sin4({192, 0, 2, 1}, 51820));
  m.U16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
  size_t ips = m.Nest(WGPEER_A_ALLOWEDIPS);
  AllowedIp(m, AF_INET, Bytes{10, 1, 2, 0}, 24);  // host bits cleared
  AllowedIp(m, AF_INET6, Bytes{0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 64);
  m.End(ips).End(p);
  p = m.Nest(0);
  m.Attr(WGPEER_A_PUBLIC_KEY, Key(0xb2));
  m.Attr(WGPEER_A_ENDPOINT,
         Sin6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 4000));
  m.U16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 0);
  ips = m.Nest(WGPEER_A_ALLOWEDIPS);
  AllowedIp(m, AF_INET6, Bytes{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b}, 128);
  m.End(ips).End(p).End(peers);
  EXPECT_TRUE(SameBytes(One(nl::EncodeWgSet(kFamily, "wg10", c, 1)), m.Done()));
}

TEST(NetlinkEncode, RemoveUpdateOnlyAndZeroValues) {
  WgDeviceConfig c;
  c.listen_port = 0;  // "choose one" is sent as 0
  WgPeer gone;
  gone.public_key = Key(0xc3);
  gone.remove = true;
  WgPeer upd;
  upd.public_key = Key(0xd4);
  upd.update_only = true;
  upd.preshared_key = SecretBytes(Bytes(kKeyLen, 0));  // all zero: remove the PSK
  upd.persistent_keepalive = 10;
  WgPeer clear;
  clear.public_key = Key(0xe5);
  clear.update_only = true;
  clear.replace_allowed_ips = true;  // and no allowed IPs: clears them
  c.peers.push_back(std::move(gone));
  c.peers.push_back(std::move(upd));
  c.peers.push_back(std::move(clear));

  Msg m = SetHead(2);
  m.U16(WGDEVICE_A_LISTEN_PORT, 0);
  size_t peers = m.Nest(WGDEVICE_A_PEERS);
  size_t p = m.Nest(0);
  m.Attr(WGPEER_A_PUBLIC_KEY, Key(0xc3)).U32(WGPEER_A_FLAGS, WGPEER_F_REMOVE_ME).End(p);
  p = m.Nest(0);
  m.Attr(WGPEER_A_PUBLIC_KEY, Key(0xd4)).U32(WGPEER_A_FLAGS, WGPEER_F_UPDATE_ONLY);
  m.Attr(WGPEER_A_PRESHARED_KEY, Bytes(kKeyLen, 0));
  m.U16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 10).End(p);
  p = m.Nest(0);
  m.Attr(WGPEER_A_PUBLIC_KEY, Key(0xe5));
  m.U32(WGPEER_A_FLAGS, WGPEER_F_REPLACE_ALLOWEDIPS | WGPEER_F_UPDATE_ONLY).End(p);
  m.End(peers);
  EXPECT_TRUE(SameBytes(One(nl::EncodeWgSet(kFamily, "wg0", c, 2)), m.Done()));
}

TEST(NetlinkEncode, NumericZoneIsTheScopeId) {
  WgDeviceConfig c;
  WgPeer p;
  p.public_key = Key(0xa1);
  p.endpoint = "[fe80::1%3]:51820";
  c.peers.push_back(std::move(p));
  Msg m = SetHead(5);
  size_t peers = m.Nest(WGDEVICE_A_PEERS);
  size_t n = m.Nest(0);
  m.Attr(WGPEER_A_PUBLIC_KEY, Key(0xa1));
  m.Attr(WGPEER_A_ENDPOINT, Sin6({0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 51820, 3));
  m.End(n).End(peers);
  EXPECT_TRUE(SameBytes(One(nl::EncodeWgSet(kFamily, "wg0", c, 5)), m.Done()));
}

TEST(NetlinkEncode, RejectsInvalidConfigs) {
  auto with_peer = [](auto edit) {
    WgDeviceConfig c;
    WgPeer p;
    p.public_key = Key(0xa1);
    p.allowed_ips = {"10.0.0.0/24"};
    edit(c, p);
    c.peers.push_back(std::move(p));
    return c;
  };
  std::vector<std::pair<std::string, WgDeviceConfig>> cases;
  cases.emplace_back("short private key", with_peer([](WgDeviceConfig& c, WgPeer&) {
                       c.private_key = SecretBytes(Bytes(31, 1));
                     }));
  cases.emplace_back("short public key",
                     with_peer([](WgDeviceConfig&, WgPeer& p) { p.public_key = Bytes(31, 1); }));
  cases.emplace_back("long psk", with_peer([](WgDeviceConfig&, WgPeer& p) {
                       p.preshared_key = SecretBytes(Bytes(33, 1));
                     }));
  for (std::string cidr : {"10.0.0.0/33", "10.0.0.0", "fd00::/129", "garbage/8", "10.0.0.0/-1"}) {
    cases.emplace_back("cidr " + cidr, with_peer([cidr](WgDeviceConfig&, WgPeer& p) {
                         p.allowed_ips.push_back(cidr);
                       }));
  }
  for (std::string ep : {"nonsense", "192.0.2.1", "192.0.2.1:99999", "[fd00::1]", "fd00::1:80"}) {
    cases.emplace_back("endpoint " + ep,
                       with_peer([ep](WgDeviceConfig&, WgPeer& p) { p.endpoint = ep; }));
  }
  cases.emplace_back("remove with allowed IPs",
                     with_peer([](WgDeviceConfig&, WgPeer& p) { p.remove = true; }));
  cases.emplace_back("remove with endpoint", with_peer([](WgDeviceConfig&, WgPeer& p) {
                       p.allowed_ips.clear();
                       p.remove = true;
                       p.endpoint = "192.0.2.1:1";
                     }));
  for (const auto& [name, config] : cases) {
    auto r = nl::EncodeWgSet(kFamily, "wg0", config, 1);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.error().reason, "wg_config_invalid") << name << ": " << r.error().ToString();
  }
  auto tiny = nl::EncodeWgSet(kFamily, "wg0", with_peer([](WgDeviceConfig&, WgPeer&) {}), 1, 64);
  ASSERT_FALSE(tiny.ok()) << "a peer's fixed attributes cannot fit in 64 bytes";
  EXPECT_EQ(tiny.error().reason, "wg_config_invalid");
}

// --- splitting ---

Bytes KeyN(uint32_t i) {
  Bytes k(kKeyLen, 0x5a);
  for (int b = 0; b < 4; ++b) k[b] = static_cast<uint8_t>(i >> (8 * b));
  return k;
}

std::string Fmt(const char* pattern, unsigned a, unsigned b) {
  char buf[64];
  std::snprintf(buf, sizeof buf, pattern, a, b);
  return buf;
}

constexpr uint32_t kBigPeer = 900000;

// 3000 peers with 3 allowed IPs, and in the middle one with 2000 (replacing).
WgDeviceConfig BigConfig() {
  WgDeviceConfig c;
  c.private_key = SecretBytes(Key(0x11));
  c.listen_port = 51820;
  c.replace_peers = true;
  for (uint32_t i = 0; i < 3000; ++i) {
    WgPeer p;
    p.public_key = KeyN(i);
    if (i % 3 == 0) p.endpoint = Fmt("[fd00:9::%x]:%u", i, 51820);
    if (i % 3 == 1) p.endpoint = Fmt("192.0.%u.%u:4000", i / 256 % 256, i % 256);
    if (i % 2 == 0) p.persistent_keepalive = 25;
    if (i % 7 == 0) p.preshared_key = SecretBytes(Key(0x44));
    p.allowed_ips = {Fmt("fd10::%x:%x/128", i, 1), Fmt("10.%u.%u.0/24", i / 256, i % 256),
                     Fmt("fd20:%x:%x::/64", i, 2)};
    c.peers.push_back(std::move(p));
    if (i == 1500) {
      WgPeer big;
      big.public_key = KeyN(kBigPeer);
      big.replace_allowed_ips = true;
      big.preshared_key = SecretBytes(Key(0x66));
      big.endpoint = "198.51.100.7:51820";
      for (unsigned j = 0; j < 2000; ++j)
        big.allowed_ips.push_back(Fmt("172.16.%u.%u/32", j / 256, j % 256));
      c.peers.push_back(std::move(big));
    }
  }
  return c;
}

void CheckMessageHeaders(const std::vector<Bytes>& msgs, const std::vector<nltest::WalkedSet>& w,
                         size_t max) {
  for (size_t i = 0; i < w.size(); ++i) {
    SCOPED_TRACE("message " + std::to_string(i));
    EXPECT_LE(msgs[i].size(), max);
    if (i + 1 < w.size()) {
      EXPECT_GT(msgs[i].size(), max - 256) << "not greedy";
    }
    EXPECT_EQ(w[i].nl.nlmsg_seq, 100 + i);
    EXPECT_EQ(w[i].nl.nlmsg_type, kFamily);
    EXPECT_EQ(w[i].nl.nlmsg_flags, kReqAck);
    EXPECT_EQ(w[i].nl.nlmsg_pid, 0u);
    EXPECT_EQ(w[i].genl.cmd, WG_CMD_SET_DEVICE);
    EXPECT_EQ(w[i].genl.version, WG_GENL_VERSION);
    EXPECT_EQ(w[i].ifname, "wg0");
    if (i == 0) {
      EXPECT_EQ(w[i].order, (std::vector<uint16_t>{WGDEVICE_A_IFNAME, WGDEVICE_A_PRIVATE_KEY,
                                                   WGDEVICE_A_LISTEN_PORT, WGDEVICE_A_FLAGS,
                                                   WGDEVICE_A_PEERS}));
      EXPECT_EQ(w[i].flags, WGDEVICE_F_REPLACE_PEERS);
    } else {
      EXPECT_EQ(w[i].order, (std::vector<uint16_t>{WGDEVICE_A_IFNAME, WGDEVICE_A_PEERS}));
    }
    EXPECT_FALSE(w[i].peers.empty());
  }
}

// Continuations only where a message starts with the previous one's last
// peer; REPLACE_ALLOWEDIPS only on a peer's first fragment.
void CheckFragments(const std::vector<nltest::WalkedSet>& w) {
  std::set<Bytes> started;
  int big_fragments = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    for (size_t j = 0; j < w[i].peers.size(); ++j) {
      const nltest::WalkedPeer& p = w[i].peers[j];
      bool cont = i > 0 && j == 0 && w[i - 1].peers.back().public_key == p.public_key;
      if (p.public_key == KeyN(kBigPeer)) ++big_fragments;
      if (cont) {
        EXPECT_TRUE(nltest::IsContinuation(p)) << "message " << i << " continuation";
        EXPECT_FALSE(p.allowed_ips.empty());
        continue;
      }
      EXPECT_TRUE(started.insert(p.public_key).second) << "peer started twice, message " << i;
      bool replace = p.flags && (*p.flags & WGPEER_F_REPLACE_ALLOWEDIPS);
      EXPECT_EQ(replace, p.public_key == KeyN(kBigPeer)) << "message " << i;
    }
  }
  EXPECT_EQ(started.size(), 3001u);
  EXPECT_GT(big_fragments, 1) << "the 2000 allowed IPs must not fit in one message";
}

void CheckReassembled(const WgDeviceConfig& got, const WgDeviceConfig& want) {
  ASSERT_EQ(got.peers.size(), want.peers.size());
  EXPECT_TRUE(got.replace_peers);
  ASSERT_TRUE(got.private_key.has_value());
  EXPECT_TRUE(ConstantTimeEqual(got.private_key->view(), want.private_key->view()));
  EXPECT_EQ(got.listen_port, want.listen_port);
  for (size_t i = 0; i < want.peers.size(); ++i) {
    const WgPeer& g = got.peers[i];
    const WgPeer& x = want.peers[i];
    ASSERT_EQ(g.public_key, x.public_key) << "peer " << i;
    std::vector<std::string> canon;
    for (const auto& ip : x.allowed_ips) canon.push_back(*CanonicalCidr(ip));
    EXPECT_EQ(g.allowed_ips, canon) << "peer " << i;
    EXPECT_EQ(g.endpoint.has_value(), x.endpoint.has_value()) << "peer " << i;
    if (x.endpoint) {
      EXPECT_EQ(g.endpoint, *CanonicalEndpoint(*x.endpoint)) << "peer " << i;
    }
    EXPECT_EQ(g.persistent_keepalive, x.persistent_keepalive) << "peer " << i;
    EXPECT_EQ(g.preshared_key.has_value(), x.preshared_key.has_value()) << "peer " << i;
    EXPECT_EQ(g.replace_allowed_ips, x.replace_allowed_ips) << "peer " << i;
    EXPECT_FALSE(g.update_only || g.remove) << "peer " << i;
  }
}

void CheckSplit(size_t max) {
  const WgDeviceConfig c = BigConfig();
  auto msgs = nl::EncodeWgSet(kFamily, "wg0", c, 100, max);
  ASSERT_TRUE(msgs.ok()) << msgs.error().ToString();
  ASSERT_GT(msgs->size(), 1u);
  auto walked = nltest::WalkSets(*msgs);
  ASSERT_TRUE(walked.ok()) << walked.error().ToString();
  CheckMessageHeaders(*msgs, *walked, max);
  CheckFragments(*walked);
  CheckReassembled(nltest::Coalesce(*walked), c);
}

TEST(NetlinkSplit, LargeConfigDefaultMax) { CheckSplit(nl::kDefaultMaxMessage); }
TEST(NetlinkSplit, LargeConfigSmallMax) { CheckSplit(1024); }

}  // namespace
}  // namespace tpmesh::wg
