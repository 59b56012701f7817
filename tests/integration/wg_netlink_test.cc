// The kernel WireGuard seam against the real kernel: netlink sockets
// (libmnl), the generic netlink controller, rtnetlink links, the backend
// choice with a real wireguard-go interface, and, where the kernel has
// WireGuard, a full set/get round trip with more peers than one message
// holds, checked against `wg show dump`. Where it has none (this project's
// CI machine), the test that needs it says so and skips.
//
// Each test runs in a network namespace of its own (unshare(CLONE_NEWNET)
// on the test's thread; ctest runs every test in its own process), so
// whatever it creates dies with the process. Needs root (skips otherwise).
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <sodium.h>

#include <chrono>
#include <thread>

#include "tests/support/swtpm.h"  // RunCommand
#include "tpmesh/wg/diff.h"
#include "tpmesh/wg/kernel_device.h"

namespace tpmesh::wg {
namespace {

using tpmesh::testing::RunCommand;

class RealNetlink : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET) failed";
    ASSERT_GE(sodium_init(), 0);
  }
  std::unique_ptr<NetlinkSocket> Open(int bus) {
    auto s = OpenNetlinkSocket(bus);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().ToString());
    return s.ok() ? std::move(*s) : nullptr;
  }
  static bool KernelHasWireGuard() {
    auto genl = OpenNetlinkSocket(NETLINK_GENERIC);
    if (!genl.ok()) return false;
    auto f = ResolveGenlFamily(**genl, "wireguard");
    if (f.ok() && *f) return true;
    // Not loaded: creating a link loads the module where there is one.
    auto rtnl = OpenNetlinkSocket(NETLINK_ROUTE);
    if (!rtnl.ok() || !CreateWireguardLink(**rtnl, "tpmprobe0").ok()) return false;
    return RunCommand({"ip", "link", "del", "tpmprobe0"}).exit_code == 0;
  }
};

TEST_F(RealNetlink, ResolvesTheControllerFamilyAndSaysWhenOneIsMissing) {
  auto genl = Open(NETLINK_GENERIC);
  ASSERT_TRUE(genl);
  auto ctrl = ResolveGenlFamily(*genl, "nlctrl");
  ASSERT_TRUE(ctrl.ok()) << ctrl.error().ToString();
  ASSERT_TRUE(ctrl->has_value());
  EXPECT_EQ(**ctrl, GENL_ID_CTRL);
  auto none = ResolveGenlFamily(*genl, "tpmnosuchfam");
  ASSERT_TRUE(none.ok()) << none.error().ToString();
  EXPECT_FALSE(none->has_value());
}

TEST_F(RealNetlink, QueriesLinksByName) {
  auto rtnl = Open(NETLINK_ROUTE);
  ASSERT_TRUE(rtnl);
  auto lo = QueryLink(*rtnl, "lo");
  ASSERT_TRUE(lo.ok()) << lo.error().ToString();
  ASSERT_TRUE(lo->has_value());
  EXPECT_EQ((*lo)->ifname, "lo");
  EXPECT_EQ((*lo)->ifindex, 1);
  EXPECT_EQ((*lo)->kind, "");
  auto none = QueryLink(*rtnl, "tpmnosuch0");
  ASSERT_TRUE(none.ok()) << none.error().ToString();
  EXPECT_FALSE(none->has_value());
}

TEST_F(RealNetlink, AutoTakesTheKernelWhenItHasWireGuardAndSaysWhyNotOtherwise) {
  auto rtnl = Open(NETLINK_ROUTE);
  ASSERT_TRUE(rtnl);
  const bool kernel = KernelHasWireGuard();
  auto c = ChooseBackend(Backend::kAuto, "tpmk0", *rtnl);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  auto forced = ChooseBackend(Backend::kKernel, "tpmk1", *rtnl);
  if (kernel) {
    EXPECT_EQ(c->backend, Backend::kKernel) << c->reason;
    auto link = QueryLink(*rtnl, "tpmk0");
    ASSERT_TRUE(link.ok() && link->has_value());
    EXPECT_EQ((*link)->kind, "wireguard");
    EXPECT_TRUE(forced.ok());
  } else {
    std::printf("this kernel has no WireGuard: checked that auto falls back and kernel refuses\n");
    EXPECT_EQ(c->backend, Backend::kUserspace);
    EXPECT_NE(c->reason.find("no WireGuard"), std::string::npos) << c->reason;
    EXPECT_FALSE(c->link_exists);
    ASSERT_FALSE(forced.ok());
    EXPECT_EQ(forced.error().reason, "wg_kernel_unavailable");
    auto kernel_dev = OpenKernelDevice("tpmk1");
    ASSERT_FALSE(kernel_dev.ok());
    EXPECT_EQ(kernel_dev.error().reason, "wg_kernel_unavailable");
  }
}

TEST_F(RealNetlink, AnExistingWireguardGoInterfaceIsLeftToUserspace) {
  // The UAPI socket path is global: a name of our own.
  const std::string ifname = "tpmg" + std::to_string(getpid() % 100000);
  ASSERT_EQ(RunCommand({"wireguard-go", ifname}).exit_code, 0) << "wireguard-go did not start";
  const std::string sock = "/var/run/wireguard/" + ifname + ".sock";
  struct stat st {};
  for (int i = 0; i < 100 && stat(sock.c_str(), &st) != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto rtnl = Open(NETLINK_ROUTE);
  ASSERT_TRUE(rtnl);
  auto c = ChooseBackend(Backend::kAuto, ifname, *rtnl);
  auto forced = ChooseBackend(Backend::kKernel, ifname, *rtnl);
  auto dev = OpenAnyDevice(ifname, "/var/run/wireguard");
  auto got = dev.ok() ? (*dev)->Get() : Result<WgDeviceConfig>(dev.error());
  RunCommand({"ip", "link", "del", ifname});  // wireguard-go exits with it
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->backend, Backend::kUserspace);
  EXPECT_TRUE(c->link_exists);
  EXPECT_NE(c->reason.find("kind 'tun'"), std::string::npos) << c->reason;
  ASSERT_FALSE(forced.ok());
  EXPECT_EQ(forced.error().reason, "interface_name_in_use");
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_TRUE(got->peers.empty());
}

WgPeer PeerN(int i, int ips) {
  WgPeer p;
  p.public_key = Bytes(kKeyLen);
  randombytes_buf(p.public_key.data(), kKeyLen);
  p.persistent_keepalive = static_cast<uint16_t>(i % 2 ? 25 : 0);
  p.endpoint = "[2001:db8::" + std::to_string(i % 9000 + 1) + "]:51820";
  for (int k = 0; k < ips; ++k) {
    p.allowed_ips.push_back("fd00:" + std::to_string(i % 9999) + ":" + std::to_string(k) + "::/64");
  }
  return p;
}

TEST_F(RealNetlink, KernelDeviceRoundTripsThousandsOfPeers) {
  if (!KernelHasWireGuard()) {
    GTEST_SKIP() << "this kernel has no WireGuard module: the kernel backend's round trip "
                    "against a real device did not run here";
  }
  auto rtnl = Open(NETLINK_ROUTE);
  ASSERT_TRUE(rtnl);
  ASSERT_TRUE(CreateWireguardLink(*rtnl, "tpmk2").ok());
  auto dev = OpenKernelDevice("tpmk2");
  ASSERT_TRUE(dev.ok()) << dev.error().ToString();
  WgDeviceConfig set;
  set.private_key = SecretBytes(kKeyLen);
  randombytes_buf(set.private_key->data(), kKeyLen);
  set.listen_port = 51999;
  for (int i = 0; i < 3000; ++i) set.peers.push_back(PeerN(i, i == 7 ? 600 : 2));
  ASSERT_TRUE((*dev)->Set(set).ok());
  auto got = (*dev)->Get();
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  ASSERT_EQ(got->peers.size(), 3000u);
  EXPECT_EQ(got->listen_port, 51999);
  size_t allowed = 0;
  for (const auto& p : got->peers) allowed += p.allowed_ips.size();
  EXPECT_EQ(allowed, 2999u * 2 + 600);
  auto dump = RunCommand({"wg", "show", "tpmk2", "dump"});
  EXPECT_EQ(dump.exit_code, 0);
  EXPECT_EQ(std::count(dump.output.begin(), dump.output.end(), '\n'), 3001);
  // The diff from the kernel's state to the same desired set is empty.
  DesiredDevice desired;
  for (const auto& p : set.peers)
    desired.peers.push_back({p.public_key, p.endpoint, *p.persistent_keepalive, p.allowed_ips});
  EXPECT_TRUE(IsNoop(ComputeApply(*got, desired, desired)));
}

}  // namespace
}  // namespace tpmesh::wg
