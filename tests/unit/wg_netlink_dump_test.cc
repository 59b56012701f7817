// Netlink decoding (wg/include/tpmesh/wg/netlink.h): SplitMessages, the
// WG_CMD_GET_DEVICE dump as a kernel sends it (built by netlink_wg.h),
// malformed and fuzzed input, DecodeFamilyId / DecodeLink, and the round
// trip set -> in-memory device -> dump -> decoded state.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <functional>
#include <random>

#include "netlink_builder.h"
#include "netlink_wg.h"
#include "tpmesh/wg/memory_device.h"
#include "tpmesh/wg/netlink.h"

namespace tpmesh::wg {
namespace {

using nltest::DumpShape;
using nltest::Msg;

constexpr uint16_t kFamily = 0x1d;

Bytes Key(uint8_t n) { return Bytes(kKeyLen, n); }

// A device state in decoded form (what WgDumpDecoder must give back).
WgDeviceConfig Sample() {
  WgDeviceConfig c;
  c.private_key = SecretBytes(Key(0x11));
  c.listen_port = 51820;
  c.fwmark = 7;
  WgPeer a;
  a.public_key = Key(0xa1);
  a.preshared_key = SecretBytes(Key(0x55));
  a.endpoint = "[fd00::1]:51820";
  a.persistent_keepalive = 25;
  a.allowed_ips = {"fd00:1::/64", "10.0.0.2/32"};
  a.last_handshake_sec = 1700000000;
  a.last_handshake_nsec = 123456789;
  a.rx_bytes = 1000;
  a.tx_bytes = (uint64_t{1} << 40) + 5;
  a.protocol_version = 1;
  WgPeer b;
  b.public_key = Key(0xb2);
  b.endpoint = "192.0.2.1:4000";
  b.persistent_keepalive = 0;
  b.protocol_version = 1;
  WgPeer big;
  big.public_key = Key(0xc3);
  big.persistent_keepalive = 0;
  big.protocol_version = 1;
  for (int i = 0; i < 8; ++i) big.allowed_ips.push_back("10.9." + std::to_string(i) + ".0/24");
  c.peers.push_back(std::move(a));
  c.peers.push_back(std::move(b));
  c.peers.push_back(std::move(big));
  return c;
}

Result<WgDeviceConfig> Decode(const std::vector<Bytes>& msgs) {
  nl::WgDumpDecoder d;
  for (const Bytes& m : msgs) TPMESH_RETURN_IF_ERROR(d.Add(m));
  return d.Take();
}

::testing::AssertionResult DecodesTo(const std::vector<Bytes>& msgs, const WgDeviceConfig& want) {
  auto got = Decode(msgs);
  if (!got.ok()) return ::testing::AssertionFailure() << got.error().ToString();
  if (!Equal(*got, want)) {
    return ::testing::AssertionFailure() << "got\n" << ToString(*got) << "want\n" << ToString(want);
  }
  return ::testing::AssertionSuccess();
}

TEST(NetlinkDump, SingleMessage) {
  auto msgs = nltest::BuildDump(kFamily, "wg0", Sample(), {});
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_TRUE(DecodesTo(msgs, Sample()));
}

TEST(NetlinkDump, ThroughSplitMessages) {
  auto msgs = nltest::BuildDump(kFamily, "wg0", Sample(), {.peers_per_message = 1, .seq = 9});
  msgs.push_back(nltest::DoneMsg(9, 0));
  Bytes dgram = nltest::Join(msgs);
  auto split = nl::SplitMessages(dgram);
  ASSERT_TRUE(split.ok()) << split.error().ToString();
  ASSERT_EQ(split->size(), msgs.size());
  nl::WgDumpDecoder d;
  for (size_t i = 0; i + 1 < split->size(); ++i) {
    const nl::Received& r = (*split)[i];
    EXPECT_EQ(r.kind, nl::Received::Kind::kData);
    EXPECT_EQ(r.type, kFamily);
    EXPECT_EQ(r.flags, NLM_F_MULTI);
    EXPECT_EQ(r.seq, 9u);
    ASSERT_EQ(r.message.size(), msgs[i].size());
    ASSERT_TRUE(d.Add(r.message).ok());
  }
  EXPECT_EQ(split->back().kind, nl::Received::Kind::kDone);
  EXPECT_EQ(split->back().error, 0);
  WgDeviceConfig got = d.Take();
  EXPECT_TRUE(Equal(got, Sample())) << ToString(got);
  EXPECT_TRUE(d.Take().peers.empty()) << "Take leaves the decoder empty";
}

TEST(NetlinkDump, PeersAcrossMessages) {
  auto msgs = nltest::BuildDump(kFamily, "wg0", Sample(), {.peers_per_message = 1});
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_TRUE(DecodesTo(msgs, Sample()));
}

TEST(NetlinkDump, AllowedIpsOfOnePeerOverThreeMessages) {
  // Peer c3's 8 allowed IPs as 3 + 3 + 2: three messages for that peer.
  auto msgs = nltest::BuildDump(kFamily, "wg0", Sample(), {.ips_per_fragment = 3});
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_TRUE(DecodesTo(msgs, Sample()));
}

TEST(NetlinkDump, LaterMessagesWithoutIfname) {
  // What the kernel's dump code actually writes after the first message.
  auto msgs =
      nltest::BuildDump(kFamily, "wg0", Sample(),
                        {.peers_per_message = 1, .ips_per_fragment = 3, .ifname_in_later = false});
  ASSERT_GT(msgs.size(), 3u);
  EXPECT_TRUE(DecodesTo(msgs, Sample()));
}

TEST(NetlinkDump, NestsWithoutTheNestedFlag) {
  // Kernels before 5.2 (nla_nest_start without NLA_F_NESTED).
  auto msgs =
      nltest::BuildDump(kFamily, "wg0", Sample(), {.peers_per_message = 2, .nested_flag = false});
  EXPECT_TRUE(DecodesTo(msgs, Sample()));
}

TEST(NetlinkDump, ZeroKeysAndZeroValues) {
  WgDeviceConfig state = Sample();
  state.private_key = SecretBytes(Bytes(kKeyLen, 0));
  state.fwmark.reset();  // sent as 0
  state.listen_port.reset();
  state.peers[0].preshared_key = SecretBytes(Bytes(kKeyLen, 0));
  state.peers[1].persistent_keepalive.reset();  // sent as 0
  auto msgs = nltest::BuildDump(kFamily, "wg0", state, {});
  WgDeviceConfig want = Sample();
  want.private_key.reset();
  want.fwmark.reset();
  want.listen_port = 0;
  want.peers[0].preshared_key.reset();
  want.peers[1].persistent_keepalive = 0;
  EXPECT_TRUE(DecodesTo(msgs, want));

  WgDeviceConfig no_key = Sample();  // no identity: the attributes are absent
  no_key.private_key.reset();
  EXPECT_TRUE(DecodesTo(nltest::BuildDump(kFamily, "wg0", no_key, {}), no_key));
}

// A dump message by hand: device header, then `peers` (one peer nest each).
Msg Head() {
  Msg m(kFamily, NLM_F_MULTI, 1, nltest::kKernelPid);
  m.Genl(WG_CMD_GET_DEVICE, WG_GENL_VERSION);
  m.U32(WGDEVICE_A_IFINDEX, 7).Str(WGDEVICE_A_IFNAME, "wg0");
  m.U16(WGDEVICE_A_LISTEN_PORT, 51820).U32(WGDEVICE_A_FWMARK, 0);
  return m;
}

Bytes OnePeer(const std::function<void(Msg&)>& peer_body) {
  Msg m = Head();
  size_t peers = m.Nest(WGDEVICE_A_PEERS);
  size_t p = m.Nest(0);
  peer_body(m);
  m.End(p).End(peers);
  return m.Done();
}

void V4Ip(Msg& m, std::array<uint8_t, 4> a, uint8_t prefix, uint16_t family = AF_INET) {
  size_t n = m.Nest(0);
  m.U16(WGALLOWEDIP_A_FAMILY, family).Attr(WGALLOWEDIP_A_IPADDR, a.data(), 4);
  m.U8(WGALLOWEDIP_A_CIDR_MASK, prefix).End(n);
}

TEST(NetlinkDump, UnknownAttributesAreSkipped) {
  Msg m = Head();
  m.U32(200, 0xdeadbeef);
  size_t peers = m.Nest(WGDEVICE_A_PEERS);
  size_t p = m.Nest(0);
  m.Attr(WGPEER_A_PUBLIC_KEY, Key(0xa1));
  m.Attr(WGPEER_A_PROTOCOL_VERSION + 7, Bytes(13, 0xee));
  m.U16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 5);
  size_t ips = m.Nest(WGPEER_A_ALLOWEDIPS);
  size_t ip = m.Nest(0);
  m.U16(WGALLOWEDIP_A_FAMILY, AF_INET).U8(WGALLOWEDIP_A_CIDR_MASK, 8);
  m.U32(WGALLOWEDIP_A_CIDR_MASK + 4, 1);  // unknown, between known ones
  m.Attr(WGALLOWEDIP_A_IPADDR, Bytes{10, 0, 0, 0});
  m.End(ip).End(ips).End(p).End(peers);
  m.Str(201, "trailing unknown");

  WgDeviceConfig want;
  want.listen_port = 51820;
  WgPeer a;
  a.public_key = Key(0xa1);
  a.persistent_keepalive = 5;
  a.allowed_ips = {"10.0.0.0/8"};
  want.peers.push_back(std::move(a));
  EXPECT_TRUE(DecodesTo({m.Done()}, want));
}

TEST(NetlinkDump, MalformedIsRejected) {
  std::vector<std::pair<std::string, Bytes>> cases;
  uint16_t port = 1;
  cases.emplace_back("attr past end", Head().AttrLen(WGDEVICE_A_LISTEN_PORT, 200, &port, 2).Done());
  cases.emplace_back("attr shorter than header",
                     Head().AttrLen(WGDEVICE_A_FWMARK, 2, &port, 2).Done());
  {
    Bytes whole = OnePeer([](Msg& m) { m.Attr(WGPEER_A_PUBLIC_KEY, Key(0xa1)); });
    Bytes cut(whole.begin(), whole.end() - 12);  // inside the peers nest
    auto len = static_cast<uint32_t>(cut.size());
    std::memcpy(cut.data(), &len, sizeof len);
    cases.emplace_back("truncated nest", cut);
  }
  cases.emplace_back("inner attr past its nest", OnePeer([](Msg& m) {
                       m.AttrLen(WGPEER_A_PUBLIC_KEY, 100, Key(0xa1).data(), kKeyLen);
                     }));
  cases.emplace_back("31-byte public key",
                     OnePeer([](Msg& m) { m.Attr(WGPEER_A_PUBLIC_KEY, Bytes(31, 0xa1)); }));
  cases.emplace_back("33-byte preshared key", OnePeer([](Msg& m) {
                       m.Attr(WGPEER_A_PUBLIC_KEY, Key(0xa1));
                       m.Attr(WGPEER_A_PRESHARED_KEY, Bytes(33, 1));
                     }));
  cases.emplace_back("4-byte listen port", Msg(Head()).U32(WGDEVICE_A_LISTEN_PORT, 1).Done());
  cases.emplace_back("8-byte handshake time", OnePeer([](Msg& m) {
                       m.Attr(WGPEER_A_PUBLIC_KEY, Key(0xa1)).U64(WGPEER_A_LAST_HANDSHAKE_TIME, 1);
                     }));
  cases.emplace_back("peer without public key",
                     OnePeer([](Msg& m) { m.U16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25); }));
  auto with_ip = [](std::array<uint8_t, 4> a, uint8_t prefix, uint16_t family) {
    return OnePeer([=](Msg& m) {
      m.Attr(WGPEER_A_PUBLIC_KEY, Key(0xa1));
      size_t ips = m.Nest(WGPEER_A_ALLOWEDIPS);
      V4Ip(m, a, prefix, family);
      m.End(ips);
    });
  };
  cases.emplace_back("allowed IP family 99", with_ip({10, 0, 0, 0}, 8, 99));
  cases.emplace_back("v4 prefix 33", with_ip({10, 0, 0, 0}, 33, AF_INET));
  cases.emplace_back("v6 family, 4-byte address", with_ip({10, 0, 0, 0}, 8, AF_INET6));
  cases.emplace_back("endpoint of another family", OnePeer([](Msg& m) {
                       sockaddr_in s{};
                       s.sin_family = AF_INET6;  // 16 bytes: not a sockaddr_in6
                       s.sin_port = htons(1);
                       m.Attr(WGPEER_A_PUBLIC_KEY, Key(0xa1)).Attr(WGPEER_A_ENDPOINT, &s, sizeof s);
                     }));
  cases.emplace_back("10-byte endpoint", OnePeer([](Msg& m) {
                       m.Attr(WGPEER_A_PUBLIC_KEY, Key(0xa1));
                       m.Attr(WGPEER_A_ENDPOINT, Bytes(10, 2));
                     }));
  for (const auto& [name, msg] : cases) {
    nl::WgDumpDecoder d;
    Status s = d.Add(msg);
    ASSERT_FALSE(s.ok()) << name << "\n" << ToString(d.Take());
    EXPECT_EQ(s.error().reason, "netlink_malformed") << name << ": " << s.error().ToString();
  }
}

void Mutate(Bytes& b, std::mt19937& rng) {
  if (b.empty()) return;
  size_t at = rng() % b.size();
  size_t len = std::min<size_t>(1 + rng() % 16, b.size() - at);
  switch (rng() % 7) {
    case 0: b[at] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
    case 1: b[at] = static_cast<uint8_t>(rng()); break;
    case 2: {
      static const uint8_t kInteresting[] = {0, 1, 2, 3, 4, 8, 16, 0x7f, 0x80, 0xff};
      b[at] = kInteresting[rng() % sizeof kInteresting];
      break;
    }
    case 3: b.resize(at); break;
    case 4: {
      Bytes copy(b.begin() + static_cast<long>(at), b.begin() + static_cast<long>(at + len));
      b.insert(b.begin() + static_cast<long>(rng() % b.size()), copy.begin(), copy.end());
      break;
    }
    case 5:
      b.erase(b.begin() + static_cast<long>(at), b.begin() + static_cast<long>(at + len));
      break;
    default: {  // a small value where a length field may be
      size_t aligned = at & ~size_t{3};
      if (aligned + 2 <= b.size()) {
        auto v = static_cast<uint16_t>(rng() % 72);
        std::memcpy(b.data() + aligned, &v, sizeof v);
      }
    }
  }
}

TEST(NetlinkDump, FuzzedMutationsDoNotCrash) {
  auto msgs =
      nltest::BuildDump(kFamily, "wg0", Sample(), {.peers_per_message = 2, .ips_per_fragment = 3});
  msgs.push_back(nltest::DoneMsg(1, 0));
  const Bytes seed = nltest::Join(msgs);
  EXPECT_EQ(nl::FuzzDecodeWgDump(seed.data(), seed.size()), 0);
  EXPECT_EQ(nl::FuzzDecodeWgDump(nullptr, 0), 0);
  std::mt19937 rng(20240611);
  int decoded = 0, rejected = 0;
  for (int iter = 0; iter < 5000; ++iter) {
    Bytes b = seed;
    for (int k = 1 + static_cast<int>(rng() % 4); k > 0; --k) Mutate(b, rng);
    ASSERT_EQ(nl::FuzzDecodeWgDump(b.data(), b.size()), 0);
    auto split = nl::SplitMessages(b);
    bool ok = split.ok();
    nl::WgDumpDecoder d;
    for (size_t i = 0; ok && i < split->size(); ++i) {
      const nl::Received& r = (*split)[i];
      if (r.kind != nl::Received::Kind::kData) continue;
      ok = d.Add(r.message).ok();
      (void)nl::DecodeFamilyId(r.message);
      (void)nl::DecodeLink(r.message);
    }
    if (ok) (void)nl::EncodeWgSet(kFamily, "wg0", d.Take(), 1);
    ++(ok ? decoded : rejected);
  }
  EXPECT_GT(decoded, 100) << "mutations that keep the dump valid still decode";
  EXPECT_GT(rejected, 100) << "mutations that break it are rejected";
}

// --- round trip ---

Bytes KeyN(uint32_t i) {
  Bytes k(kKeyLen, 0x3c);
  for (int b = 0; b < 4; ++b) k[b] = static_cast<uint8_t>(i >> (8 * b));
  return k;
}

std::string Hexn(unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%x", v);
  return buf;
}

// Canonical throughout, so the walked set compares Equal to it.
WgDeviceConfig RoundTripConfig() {
  WgDeviceConfig c;
  c.private_key = SecretBytes(Key(0x21));
  c.listen_port = 51821;
  c.fwmark = 3;
  c.replace_peers = true;
  for (unsigned i = 0; i < 120; ++i) {
    WgPeer p;
    p.public_key = KeyN(i);
    if (i % 5 == 0) p.preshared_key = SecretBytes(Key(static_cast<uint8_t>(i + 1)));
    if (i % 3 == 0) p.endpoint = "[fd00:7::" + Hexn(i + 1) + "]:51820";
    if (i % 3 == 1) p.endpoint = "203.0.113." + std::to_string(i) + ":" + std::to_string(1000 + i);
    if (i % 4 != 3) p.persistent_keepalive = static_cast<uint16_t>(i % 2 ? 25 : 0);
    p.replace_allowed_ips = i % 4 == 0;
    unsigned n = i == 50 ? 60 : i % 20 + 1;
    for (unsigned j = 0; j < n; ++j) {
      p.allowed_ips.push_back(j % 3 == 2
                                  ? "fd00:" + Hexn(i + 1) + ":" + Hexn(j + 1) + "::/64"
                                  : "10." + std::to_string(i) + "." + std::to_string(j) + ".0/24");
    }
    c.peers.push_back(std::move(p));
  }
  return c;
}

TEST(NetlinkRoundTrip, SetThroughMemoryDeviceAndDumpBack) {
  const WgDeviceConfig c = RoundTripConfig();
  auto msgs = nl::EncodeWgSet(kFamily, "wg0", c, 1, 1024);
  ASSERT_TRUE(msgs.ok()) << msgs.error().ToString();
  ASSERT_GT(msgs->size(), 5u);
  auto walked = nltest::WalkSets(*msgs);
  ASSERT_TRUE(walked.ok()) << walked.error().ToString();
  WgDeviceConfig sent = nltest::Coalesce(*walked);
  EXPECT_TRUE(Equal(sent, c)) << ToString(sent);

  MemoryWgDevice dev;
  ASSERT_TRUE(dev.Set(sent).ok());
  MemoryWgDevice per_message;  // what the kernel does: one message at a time
  for (const nltest::WalkedSet& w : *walked) ASSERT_TRUE(per_message.Set(nltest::ToConfig(w)).ok());
  auto state = dev.Get();
  auto state2 = per_message.Get();
  ASSERT_TRUE(state.ok() && state2.ok());
  ASSERT_EQ(state->peers.size(), 120u);
  EXPECT_TRUE(Equal(*state, *state2));

  auto dump =
      nltest::BuildDump(kFamily, "wg0", *state, {.peers_per_message = 50, .ips_per_fragment = 7});
  ASSERT_GT(dump.size(), 10u);
  EXPECT_TRUE(DecodesTo(dump, *state));
}

}  // namespace
}  // namespace tpmesh::wg
