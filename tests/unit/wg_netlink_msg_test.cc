// Netlink framing and the small decoders (wg/include/tpmesh/wg/netlink.h):
// SplitMessages, DecodeFamilyId, DecodeLink, over messages built by
// netlink_builder.h.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <set>

#include "netlink_builder.h"
#include "netlink_wg.h"
#include "tpmesh/wg/netlink.h"

namespace tpmesh::wg {
namespace {

using nltest::Msg;
using Kind = nl::Received::Kind;

constexpr uint16_t kFamily = 0x1d;

Bytes Request(uint16_t type, uint32_t seq) {
  return Msg(type, NLM_F_REQUEST | NLM_F_ACK, seq).Genl(1).Str(1, "wg0").Done();
}

TEST(NetlinkSplitMessages, ClassifiesEachKind) {
  Bytes data = Msg(kFamily, NLM_F_MULTI, 5, nltest::kKernelPid).Genl(0).U32(1, 7).Done();
  std::vector<Bytes> msgs = {data, nltest::ErrorMsg(Request(kFamily, 6), 0),
                             nltest::ErrorMsg(Request(kFamily, 7), -ENOENT), nltest::DoneMsg(8, 0),
                             nltest::DoneMsg(9, -ENODEV)};
  Bytes dgram = nltest::Join(msgs);
  auto r = nl::SplitMessages(dgram);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ASSERT_EQ(r->size(), 5u);
  const auto& v = *r;
  EXPECT_EQ(v[0].kind, Kind::kData);
  EXPECT_EQ(v[0].type, kFamily);
  EXPECT_EQ(v[0].flags, NLM_F_MULTI);
  EXPECT_EQ(v[0].seq, 5u);
  EXPECT_EQ(v[0].message.data(), dgram.data());
  EXPECT_EQ(v[0].message.size(), data.size());
  EXPECT_EQ(v[1].kind, Kind::kAck);
  EXPECT_EQ(v[1].seq, 6u);
  EXPECT_EQ(v[1].type, NLMSG_ERROR);
  EXPECT_EQ(v[2].kind, Kind::kError);
  EXPECT_EQ(v[2].seq, 7u);
  EXPECT_EQ(v[2].error, ENOENT);
  EXPECT_EQ(v[3].kind, Kind::kDone);
  EXPECT_EQ(v[3].seq, 8u);
  EXPECT_EQ(v[3].error, 0);
  EXPECT_EQ(v[4].kind, Kind::kDone);
  EXPECT_EQ(v[4].error, ENODEV);
  size_t off = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(v[i].message.data(), dgram.data() + off) << i;
    EXPECT_EQ(v[i].message.size(), msgs[i].size()) << i;
    off += msgs[i].size();
  }
}

TEST(NetlinkSplitMessages, TruncatedDatagramsAreMalformed) {
  auto dump = nltest::BuildDump(kFamily, "wg0", WgDeviceConfig{}, {});
  std::vector<Bytes> msgs = {dump[0], nltest::ErrorMsg(Request(kFamily, 2), -EINVAL),
                             nltest::DoneMsg(1, 0)};
  Bytes dgram = nltest::Join(msgs);
  std::set<size_t> boundaries = {0};
  size_t off = 0;
  for (const Bytes& m : msgs) boundaries.insert(off += m.size());
  for (size_t cut = 1; cut < dgram.size(); ++cut) {
    Bytes part(dgram.begin(), dgram.begin() + static_cast<long>(cut));
    auto r = nl::SplitMessages(part);
    if (boundaries.count(cut)) {
      EXPECT_TRUE(r.ok()) << "cut at a message boundary " << cut;
      continue;
    }
    ASSERT_FALSE(r.ok()) << "cut at " << cut;
    EXPECT_EQ(r.error().reason, "netlink_malformed") << cut;
  }
}

TEST(NetlinkSplitMessages, BadLengthsAreMalformed) {
  auto with_len = [](Bytes m, uint32_t len) {
    std::memcpy(m.data(), &len, sizeof len);
    return m;
  };
  Bytes done = nltest::DoneMsg(1, 0);
  Bytes error = nltest::ErrorMsg(Request(kFamily, 1), -EINVAL);
  std::vector<std::pair<std::string, Bytes>> cases = {
      {"nlmsg_len 0", with_len(done, 0)},
      {"nlmsg_len below the header", with_len(done, 8)},
      {"nlmsg_len past the end", with_len(done, 64)},
      {"nlmsg_len above INT_MAX", with_len(done, 0x80000014)},
      {"nlmsg_len 0xffffffff", with_len(done, 0xffffffff)},
      {"short header", Bytes(done.begin(), done.begin() + 10)},
      {"NLMSG_DONE without its int", with_len(Bytes(done.begin(), done.begin() + 16), 16)},
      {"NLMSG_ERROR without its int", with_len(Bytes(error.begin(), error.begin() + 16), 16)},
      {"NLMSG_ERROR with half an int", with_len(Bytes(error.begin(), error.begin() + 18), 18)},
  };
  for (const auto& [name, bytes] : cases) {
    auto r = nl::SplitMessages(bytes);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.error().reason, "netlink_malformed") << name;
  }
}

// An error field the kernel never sends (positive, or INT_MIN, whose
// negation overflows): rejected, or at least never a negative errno.
TEST(NetlinkSplitMessages, ErrorCodesOutOfRange) {
  for (int32_t bad : {INT32_MIN, 5}) {
    for (bool done : {false, true}) {
      Bytes m = done ? nltest::DoneMsg(1, bad) : nltest::ErrorMsg(Request(kFamily, 1), bad);
      auto r = nl::SplitMessages(m);
      std::string what = std::string(done ? "NLMSG_DONE " : "NLMSG_ERROR ") + std::to_string(bad);
      if (!r.ok()) {
        EXPECT_EQ(r.error().reason, "netlink_malformed") << what;
        continue;
      }
      ASSERT_EQ(r->size(), 1u) << what;
      EXPECT_NE(r->front().kind, nl::Received::Kind::kAck) << what;
      EXPECT_GT(r->front().error, 0) << what << ": not a positive errno";
    }
  }
}

Bytes NewFamily(std::optional<uint16_t> id, bool id_as_u32 = false) {
  Msg m(GENL_ID_CTRL, 0, 3, nltest::kKernelPid);
  m.Genl(CTRL_CMD_NEWFAMILY, 2).Str(CTRL_ATTR_FAMILY_NAME, "wireguard");
  if (id && id_as_u32) m.U32(CTRL_ATTR_FAMILY_ID, *id);
  if (id && !id_as_u32) m.U16(CTRL_ATTR_FAMILY_ID, *id);
  m.U32(CTRL_ATTR_VERSION, 1).U32(CTRL_ATTR_HDRSIZE, 0).U32(CTRL_ATTR_MAXATTR, WGDEVICE_A_MAX);
  size_t ops = m.Nest(CTRL_ATTR_OPS);
  for (uint32_t cmd : {WG_CMD_GET_DEVICE, WG_CMD_SET_DEVICE}) {
    size_t op = m.Nest(static_cast<uint16_t>(cmd + 1));
    m.U32(CTRL_ATTR_OP_ID, cmd).U32(CTRL_ATTR_OP_FLAGS, 0).End(op);
  }
  m.End(ops);
  return m.Done();
}

TEST(NetlinkDecode, FamilyId) {
  auto id = nl::DecodeFamilyId(NewFamily(0x22));
  ASSERT_TRUE(id.ok()) << id.error().ToString();
  EXPECT_EQ(*id, 0x22);
  EXPECT_FALSE(nl::DecodeFamilyId(NewFamily(std::nullopt)).ok()) << "no CTRL_ATTR_FAMILY_ID";
  EXPECT_FALSE(nl::DecodeFamilyId(NewFamily(0x22, true)).ok()) << "a 4-byte family id";
  Bytes cut = NewFamily(0x22);
  cut.resize(NLMSG_HDRLEN + 2);
  auto len = static_cast<uint32_t>(cut.size());
  std::memcpy(cut.data(), &len, sizeof len);
  EXPECT_FALSE(nl::DecodeFamilyId(cut).ok()) << "no genlmsghdr";
}

Bytes NewLink(int index, std::string_view name, std::optional<std::string> kind,
              bool nested_flag = true) {
  Msg m(RTM_NEWLINK, 0, 4, nltest::kKernelPid);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_type = 65534;  // ARPHRD_NONE
  ifi.ifi_index = index;
  ifi.ifi_flags = 0x1 | 0x40;  // IFF_UP | IFF_RUNNING
  m.Put(&ifi, sizeof ifi).Str(IFLA_IFNAME, name).U32(IFLA_MTU, 1420);
  m.U32(IFLA_TXQLEN, 1000).Str(IFLA_QDISC, "noqueue");
  if (kind) {
    size_t info = m.Nest(IFLA_LINKINFO, nested_flag);
    m.Str(IFLA_INFO_KIND, *kind).End(info);
  }
  m.U32(IFLA_GROUP, 0);
  return m.Done();
}

TEST(NetlinkDecode, Link) {
  auto wg = nl::DecodeLink(NewLink(12, "wg0", "wireguard"));
  ASSERT_TRUE(wg.ok()) << wg.error().ToString();
  EXPECT_EQ(wg->ifindex, 12);
  EXPECT_EQ(wg->ifname, "wg0");
  EXPECT_EQ(wg->kind, "wireguard");

  auto tun = nl::DecodeLink(NewLink(3, "tpmesh0", "tun", false));  // rtnetlink: no NLA_F_NESTED
  ASSERT_TRUE(tun.ok()) << tun.error().ToString();
  EXPECT_EQ(tun->ifindex, 3);
  EXPECT_EQ(tun->ifname, "tpmesh0");
  EXPECT_EQ(tun->kind, "tun");

  auto plain = nl::DecodeLink(NewLink(1, "eth0", std::nullopt));
  ASSERT_TRUE(plain.ok()) << plain.error().ToString();
  EXPECT_EQ(plain->kind, "");
  EXPECT_EQ(plain->ifname, "eth0");
}

TEST(NetlinkDecode, MalformedLink) {
  Bytes whole = NewLink(12, "wg0", "wireguard");
  Bytes short_ifi(whole.begin(), whole.begin() + NLMSG_HDRLEN + 8);
  auto len = static_cast<uint32_t>(short_ifi.size());
  std::memcpy(short_ifi.data(), &len, sizeof len);
  auto r = nl::DecodeLink(short_ifi);
  ASSERT_FALSE(r.ok()) << "message shorter than ifinfomsg";
  EXPECT_EQ(r.error().reason, "netlink_malformed");

  ifinfomsg ifi{};
  uint16_t v = 0;
  Bytes past = Msg(RTM_NEWLINK, 0, 4).Put(&ifi, sizeof ifi).AttrLen(IFLA_IFNAME, 99, &v, 2).Done();
  r = nl::DecodeLink(past);
  ASSERT_FALSE(r.ok()) << "attribute past the end";
  EXPECT_EQ(r.error().reason, "netlink_malformed");
}

}  // namespace
}  // namespace tpmesh::wg
