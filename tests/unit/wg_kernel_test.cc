// Kernel WireGuard (kernel_device.h) over a fake kernel (fake_kernel.h):
// family lookup, link query and creation, the kernel WgDevice (Set split
// over many acknowledged messages, Get as a multi-part dump) and the
// backend choice.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>

#include "fake_kernel.h"
#include "tpmesh/wg/diff.h"
#include "tpmesh/wg/kernel_device.h"
#include "tpmesh/wg/uapi.h"

namespace tpmesh::wg {
namespace {

using nltest::FakeKernel;
using nltest::KernelState;

std::shared_ptr<KernelState> NewState() { return std::make_shared<KernelState>(); }

::testing::AssertionResult Clean(const KernelState& s, const FakeKernel& k) {
  if (s.problems.empty() && k.unread() == 0) return ::testing::AssertionSuccess();
  auto f = ::testing::AssertionFailure() << k.unread() << " replies unread";
  for (const auto& p : s.problems) f << "\n  fake kernel saw: " << p;
  return f;
}

Bytes KeyN(uint32_t i) {
  Bytes k(kKeyLen, 0x6b);
  for (int b = 0; b < 4; ++b) k[b] = static_cast<uint8_t>(i >> (8 * b));
  return k;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

TEST(KernelFamily, ResolvesWireguard) {
  for (bool one_datagram : {false, true}) {
    SCOPED_TRACE(one_datagram ? "reply and ack in one datagram" : "reply, then ack");
    auto s = NewState();
    s->wg_family = 0x27;
    s->reply_then_ack_in_one_datagram = one_datagram;
    FakeKernel k(s, NETLINK_GENERIC);
    for (int round = 0; round < 2; ++round) {  // the socket is left ready for the next request
      auto r = ResolveGenlFamily(k, "wireguard");
      ASSERT_TRUE(r.ok()) << r.error().ToString();
      ASSERT_TRUE(r->has_value());
      EXPECT_EQ(**r, 0x27);
      EXPECT_TRUE(Clean(*s, k));
    }
  }
}

TEST(KernelFamily, MissingFamilyIsNullopt) {
  auto s = NewState();
  s->genl_wireguard = false;
  FakeKernel k(s, NETLINK_GENERIC);
  auto r = ResolveGenlFamily(k, "wireguard");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_FALSE(r->has_value());
  s->genl_wireguard = true;
  auto other = ResolveGenlFamily(k, "nosuchfamily");
  ASSERT_TRUE(other.ok()) << other.error().ToString();
  EXPECT_FALSE(other->has_value());
  EXPECT_TRUE(Clean(*s, k));
}

TEST(KernelLink, Query) {
  auto s = NewState();
  s->links = {{"eth0", ""}, {"wg0", "wireguard"}};
  FakeKernel k(s, NETLINK_ROUTE);
  auto wg = QueryLink(k, "wg0");
  ASSERT_TRUE(wg.ok()) << wg.error().ToString();
  ASSERT_TRUE(wg->has_value());
  EXPECT_EQ((*wg)->ifname, "wg0");
  EXPECT_EQ((*wg)->kind, "wireguard");
  EXPECT_EQ((*wg)->ifindex, 41);
  auto none = QueryLink(k, "wg7");
  ASSERT_TRUE(none.ok()) << none.error().ToString();
  EXPECT_FALSE(none->has_value());
  EXPECT_TRUE(Clean(*s, k));
}

TEST(KernelLink, Create) {
  auto s = NewState();
  FakeKernel k(s, NETLINK_ROUTE);
  ASSERT_TRUE(CreateWireguardLink(k, "wg1").ok());
  EXPECT_EQ(s->links["wg1"], "wireguard");
  Status exists = CreateWireguardLink(k, "wg0");
  ASSERT_FALSE(exists.ok());
  EXPECT_EQ(exists.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(exists.error().reason, "interface_name_in_use");
  s->module_available = false;
  Status no_module = CreateWireguardLink(k, "wg2");
  ASSERT_FALSE(no_module.ok());
  EXPECT_EQ(no_module.error().code, Code::kUnavailable);
  EXPECT_EQ(no_module.error().reason, "wg_kernel_unavailable");
  s->newlink_errno = EPERM;
  Status perm = CreateWireguardLink(k, "wg3");
  ASSERT_FALSE(perm.ok());
  EXPECT_EQ(perm.error().code, Code::kUnavailable);
  EXPECT_EQ(perm.error().reason, "link_setup_failed");
  EXPECT_EQ(s->newlinks.size(), 4u);
  EXPECT_EQ(s->links.count("wg2") + s->links.count("wg3"), 0u);
  EXPECT_TRUE(Clean(*s, k));
}

DesiredDevice ManyPeers(uint32_t n) {
  DesiredDevice d;
  d.private_key = SecretBytes(Bytes(kKeyLen, 0x11));
  d.listen_port = 51820;
  for (uint32_t i = 0; i < n; ++i) {
    DesiredPeer p;
    p.public_key = KeyN(i);
    if (i % 2 == 0)
      p.endpoint = "192.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":51820";
    if (i % 5 == 0) p.endpoint = "[fd00:1::" + std::to_string(i + 1) + "]:51820";
    p.persistent_keepalive = i % 3 == 0 ? 25 : 0;
    p.allowed_ips = {"10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24",
                     "fd00:2::" + std::to_string(i + 1) + "/128"};
    if (i % 100 == 0) {
      for (int j = 0; j < 40; ++j)
        p.allowed_ips.push_back("fd01:" + std::to_string(i + 1) + "::" + std::to_string(j + 1) +
                                "/128");
    }
    d.peers.push_back(std::move(p));
  }
  return d;
}

// `got` realises `want`, peer for peer in order.
void ExpectRealises(const WgDeviceConfig& got, const DesiredDevice& want) {
  ASSERT_EQ(got.peers.size(), want.peers.size());
  ASSERT_TRUE(got.private_key.has_value());
  EXPECT_TRUE(ConstantTimeEqual(got.private_key->view(), want.private_key->view()));
  EXPECT_EQ(got.listen_port, want.listen_port);
  for (size_t i = 0; i < want.peers.size(); ++i) {
    const WgPeer& g = got.peers[i];
    const DesiredPeer& w = want.peers[i];
    ASSERT_EQ(g.public_key, w.public_key) << i;
    std::vector<std::string> canon;
    for (const auto& ip : w.allowed_ips) canon.push_back(*CanonicalCidr(ip));
    EXPECT_EQ(g.allowed_ips, canon) << i;
    EXPECT_EQ(g.persistent_keepalive, w.persistent_keepalive) << i;
    if (w.endpoint) {
      EXPECT_EQ(g.endpoint, *CanonicalEndpoint(*w.endpoint)) << i;
    }
  }
}

TEST(KernelDevice, FromEmptyToTwoThousandPeers) {
  auto s = NewState();
  auto owned = std::make_unique<FakeKernel>(s, NETLINK_GENERIC);
  FakeKernel* k = owned.get();
  auto dev = MakeKernelDevice("wg0", s->wg_family, std::move(owned));
  EXPECT_EQ(dev->name(), "wg0");
  auto empty = dev->Get();
  ASSERT_TRUE(empty.ok()) << empty.error().ToString();
  EXPECT_TRUE(empty->peers.empty());
  EXPECT_FALSE(empty->private_key.has_value());

  const DesiredDevice want = ManyPeers(2000);
  WgDeviceConfig op = ComputeApply(*empty, want, {});
  Status set = dev->Set(op);
  ASSERT_TRUE(set.ok()) << set.error().ToString();
  EXPECT_GT(s->set_messages, 20) << "2000 peers do not fit in one message";
  EXPECT_TRUE(Clean(*s, *k));

  auto got = dev->Get();
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  auto model = s->dev.Get();
  EXPECT_TRUE(Equal(*got, *model));
  ExpectRealises(*got, want);
  WgDeviceConfig again = ComputeApply(*got, want, want);
  EXPECT_TRUE(IsNoop(again)) << ToString(again);
  EXPECT_TRUE(Clean(*s, *k));
}

TEST(KernelDevice, SetRefusedMidwayIsWgErrno) {
  auto s = NewState();
  s->fail_set_message = 2;
  s->fail_errno = EINVAL;
  auto owned = std::make_unique<FakeKernel>(s, NETLINK_GENERIC);
  FakeKernel* k = owned.get();
  auto dev = MakeKernelDevice("wg0", s->wg_family, std::move(owned));
  WgDeviceConfig op = ComputeApply(WgDeviceConfig{}, ManyPeers(500), {});
  Status set = dev->Set(op);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().reason, "wg_errno") << set.error().ToString();
  EXPECT_EQ(s->set_messages, 2) << "no message after the refused one";
  auto model = s->dev.Get();
  EXPECT_GT(model->peers.size(), 0u) << "the first message was applied (not transactional)";
  EXPECT_LT(model->peers.size(), 500u);
  EXPECT_TRUE(Clean(*s, *k));
}

TEST(KernelDevice, MissingInterfaceIsNamed) {
  for (bool as_done : {false, true}) {
    SCOPED_TRACE(as_done ? "NLMSG_DONE -ENODEV" : "NLMSG_ERROR -ENODEV");
    auto s = NewState();
    s->enodev_as_done = as_done;
    auto owned = std::make_unique<FakeKernel>(s, NETLINK_GENERIC);
    FakeKernel* k = owned.get();
    auto dev = MakeKernelDevice("wg9", s->wg_family, std::move(owned));
    auto got = dev->Get();
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().reason, "wg_errno");
    EXPECT_NE(got.error().message.find("wg9"), std::string::npos) << got.error().message;
    Status set = dev->Set(ComputeApply(WgDeviceConfig{}, ManyPeers(1), {}));
    ASSERT_FALSE(set.ok());
    EXPECT_EQ(set.error().reason, "wg_errno");
    EXPECT_NE(set.error().message.find("wg9"), std::string::npos) << set.error().message;
    EXPECT_TRUE(Clean(*s, *k));
  }
}

TEST(KernelDevice, DumpEndingInAnErrorIsWgErrno) {
  auto s = NewState();
  ASSERT_TRUE(s->dev.Set(ComputeApply(WgDeviceConfig{}, ManyPeers(300), {})).ok());
  s->dump_done_errno = EINTR;
  auto owned = std::make_unique<FakeKernel>(s, NETLINK_GENERIC);
  FakeKernel* k = owned.get();
  auto dev = MakeKernelDevice("wg0", s->wg_family, std::move(owned));
  auto got = dev->Get();
  ASSERT_FALSE(got.ok()) << "NLMSG_DONE carried -EINTR";
  EXPECT_EQ(got.error().reason, "wg_errno");
  EXPECT_TRUE(Clean(*s, *k));
}

TEST(KernelDevice, MalformedDumpIsReportedAndTheSocketStaysUsable) {
  auto s = NewState();
  ASSERT_TRUE(s->dev.Set(ComputeApply(WgDeviceConfig{}, ManyPeers(600), {})).ok());
  s->corrupt_dump_message = 2;  // of about 12, in the first of several datagrams
  auto owned = std::make_unique<FakeKernel>(s, NETLINK_GENERIC);
  FakeKernel* k = owned.get();
  auto dev = MakeKernelDevice("wg0", s->wg_family, std::move(owned));
  auto bad = dev->Get();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().reason, "netlink_malformed");
  // The rest of that dump must not be taken for the answer to the next request.
  s->corrupt_dump_message = -1;
  auto good = dev->Get();
  ASSERT_TRUE(good.ok()) << good.error().ToString();
  auto model = s->dev.Get();
  EXPECT_TRUE(Equal(*good, *model));
  EXPECT_EQ(k->unread(), 0u);
}

TEST(KernelDevice, NoReplyIsNetlinkUnavailable) {
  auto s = NewState();
  s->drop_replies = true;
  auto dev =
      MakeKernelDevice("wg0", s->wg_family, std::make_unique<FakeKernel>(s, NETLINK_GENERIC));
  auto got = dev->Get();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().reason, "netlink_unavailable");
  Status set = dev->Set(ComputeApply(WgDeviceConfig{}, ManyPeers(3), {}));
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().reason, "netlink_unavailable");
}

TEST(KernelBackend, ParseBackend) {
  EXPECT_EQ(*ParseBackend("auto"), Backend::kAuto);
  EXPECT_EQ(*ParseBackend("kernel"), Backend::kKernel);
  EXPECT_EQ(*ParseBackend("userspace"), Backend::kUserspace);
  for (std::string_view bad : {"bogus", "", "Kernel", "auto "}) {
    auto r = ParseBackend(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().reason, "invalid_wg_backend");
  }
  for (Backend b : {Backend::kAuto, Backend::kKernel, Backend::kUserspace}) {
    EXPECT_EQ(*ParseBackend(BackendName(b)), b);
  }
}

struct Chosen {
  Result<BackendChoice> choice;
  std::shared_ptr<KernelState> state;
};

Chosen Choose(Backend requested, std::map<std::string, std::string> links, bool module = true) {
  auto s = NewState();
  s->links = std::move(links);
  s->module_available = module;
  s->genl_wireguard = module;
  FakeKernel k(s, NETLINK_ROUTE);
  Chosen c{ChooseBackend(requested, "wg0", k), s};
  EXPECT_TRUE(Clean(*s, k));
  return c;
}

TEST(KernelBackend, ExistingWireguardLinkIsTakenOver) {
  for (Backend b : {Backend::kAuto, Backend::kKernel}) {
    Chosen c = Choose(b, {{"wg0", "wireguard"}});
    ASSERT_TRUE(c.choice.ok()) << c.choice.error().ToString();
    EXPECT_EQ(c.choice->backend, Backend::kKernel);
    EXPECT_TRUE(c.choice->link_exists);
    EXPECT_TRUE(c.state->newlinks.empty());
  }
  Chosen u = Choose(Backend::kUserspace, {{"wg0", "wireguard"}});
  ASSERT_FALSE(u.choice.ok());
  EXPECT_EQ(u.choice.error().reason, "interface_name_in_use");
}

TEST(KernelBackend, ExistingTunIsUserspace) {
  for (Backend b : {Backend::kAuto, Backend::kUserspace}) {
    Chosen c = Choose(b, {{"wg0", "tun"}});
    ASSERT_TRUE(c.choice.ok()) << c.choice.error().ToString();
    EXPECT_EQ(c.choice->backend, Backend::kUserspace);
    EXPECT_TRUE(c.choice->link_exists);
    EXPECT_TRUE(c.state->newlinks.empty());
  }
  Chosen k = Choose(Backend::kKernel, {{"wg0", "tun"}});
  ASSERT_FALSE(k.choice.ok());
  EXPECT_EQ(k.choice.error().reason, "interface_name_in_use");
  EXPECT_TRUE(k.state->newlinks.empty());
}

TEST(KernelBackend, NoLinkNoModule) {
  Chosen a = Choose(Backend::kAuto, {{"eth0", ""}}, false);
  ASSERT_TRUE(a.choice.ok()) << a.choice.error().ToString();
  EXPECT_EQ(a.choice->backend, Backend::kUserspace);
  EXPECT_FALSE(a.choice->link_exists);
  std::string why = Lower(a.choice->reason);
  EXPECT_NE(why.find("kernel"), std::string::npos) << a.choice->reason;
  EXPECT_NE(why.find("wireguard"), std::string::npos) << a.choice->reason;
  EXPECT_EQ(a.state->links.count("wg0"), 0u);

  Chosen k = Choose(Backend::kKernel, {{"eth0", ""}}, false);
  ASSERT_FALSE(k.choice.ok());
  EXPECT_EQ(k.choice.error().reason, "wg_kernel_unavailable");
}

TEST(KernelBackend, NoLinkWithModuleCreatesOne) {
  for (Backend b : {Backend::kAuto, Backend::kKernel}) {
    Chosen c = Choose(b, {});
    ASSERT_TRUE(c.choice.ok()) << c.choice.error().ToString();
    EXPECT_EQ(c.choice->backend, Backend::kKernel);
    ASSERT_EQ(c.state->newlinks.size(), 1u);
    EXPECT_EQ(c.state->newlinks[0], std::make_pair(std::string("wg0"), std::string("wireguard")));
    EXPECT_EQ(c.state->links["wg0"], "wireguard");
  }
}

TEST(KernelBackend, UserspaceCreatesNothing) {
  Chosen c = Choose(Backend::kUserspace, {});
  ASSERT_TRUE(c.choice.ok()) << c.choice.error().ToString();
  EXPECT_EQ(c.choice->backend, Backend::kUserspace);
  EXPECT_FALSE(c.choice->link_exists);
  EXPECT_TRUE(c.state->newlinks.empty());
}

}  // namespace
}  // namespace tpmesh::wg
