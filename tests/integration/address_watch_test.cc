// WatchAddresses (endpoints.h) against the real kernel: in a network
// namespace of its own (unshare on the test's thread; ctest runs each test
// in its own process), adding and removing an address calls the callback,
// a burst is coalesced, and destroying the watch stops its thread at once.
// Also SystemHostAddresses there: lo's addresses, the new one, its flags.
// Needs root (skips otherwise).
#include <sched.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/support/swtpm.h"  // RunCommand
#include "tpmesh/client/endpoints.h"

namespace tpmesh::client {
namespace {

using tpmesh::testing::RunCommand;

class AddressWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    ASSERT_EQ(unshare(CLONE_NEWNET), 0);
    ASSERT_EQ(RunCommand({"ip", "link", "set", "lo", "up"}).exit_code, 0);
  }
  static bool WaitFor(const std::atomic<int>& n, int want) {
    for (int i = 0; i < 100 && n < want; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return n >= want;
  }
};

TEST_F(AddressWatchTest, AnAddressChangeCallsBackOncePerBurst) {
  std::atomic<int> calls{0};
  auto w = WatchAddresses([&] { ++calls; }, 1000);
  ASSERT_TRUE(w.ok()) << w.error().ToString();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(calls, 0) << "no change, no call";
  ASSERT_EQ(RunCommand({"ip", "address", "add", "192.0.2.7/32", "dev", "lo"}).exit_code, 0);
  ASSERT_EQ(RunCommand({"ip", "address", "add", "2001:db8::7/128", "dev", "lo"}).exit_code, 0);
  ASSERT_TRUE(WaitFor(calls, 1)) << "no callback 5 s after two addresses were added";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(calls, 1) << "the burst of two additions is one call";
  ASSERT_EQ(RunCommand({"ip", "address", "del", "192.0.2.7/32", "dev", "lo"}).exit_code, 0);
  EXPECT_TRUE(WaitFor(calls, 2)) << "no callback after a removal";
  const auto t0 = std::chrono::steady_clock::now();
  w->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
}

TEST_F(AddressWatchTest, SystemAddressesListThisNamespacesAddressesWithFlags) {
  ASSERT_EQ(RunCommand({"ip", "address", "add", "2001:db8::8/128", "dev", "lo"}).exit_code, 0);
  ASSERT_EQ(
      RunCommand({"ip", "address", "add", "2001:db8::9/128", "dev", "lo", "preferred_lft", "0"})
          .exit_code,
      0);
  bool found = false, deprecated = false, v4_loopback = false;
  for (const auto& a : SystemHostAddresses()) {
    if (a.address == "2001:db8::8") found = a.up && a.loopback && !a.unusable;
    if (a.address == "2001:db8::9") deprecated = a.unusable;
    if (a.address == "127.0.0.1") v4_loopback = a.loopback;
  }
  EXPECT_TRUE(found);
  EXPECT_TRUE(deprecated) << "preferred_lft 0 makes an address deprecated";
  EXPECT_TRUE(v4_loopback);
}

}  // namespace
}  // namespace tpmesh::client
