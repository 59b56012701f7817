// Endpoints derived from the host's addresses (endpoints.h): what is left
// out (loopback, down, the overlay interface and mesh prefix, link-local,
// multicast), IPv6 first, duplicates dropped, at most 8; and the ack that
// carries them (proto/node.h).
#include <arpa/inet.h>

#include <gtest/gtest.h>

#include "tpmesh/client/endpoints.h"
#include "tpmesh/proto/node.h"

namespace tpmesh::client {
namespace {

HostAddress V6(const std::string& ifname, const std::string& a, bool up = true) {
  return {ifname, AF_INET6, a, up, ifname == "lo"};
}
HostAddress V4(const std::string& ifname, const std::string& a, bool up = true) {
  return {ifname, AF_INET, a, up, ifname == "lo"};
}

TEST(DeriveEndpoints, KeepsUnderlayAddressesIpv6First) {
  std::vector<HostAddress> addrs = {
      V4("lo", "127.0.0.1"),
      V6("lo", "::1"),
      V4("eth0", "192.0.2.21"),
      V6("eth0", "2001:db8::21"),
      V6("eth0", "fe80::1"),
      V6("eth0", "2001:db8::21"),  // again (another label)
      V4("eth1", "169.254.1.1"),
      V6("eth1", "fd00:77::121"),
      V4("down0", "198.51.100.1", false),
      V6("tpmesh0", "fd7a:1:2:3::1"),  // the overlay interface
      V6("other0", "fd7a:1:2:9::1"),   // inside the mesh prefix on another link
      V6("eth0", "ff02::1"),
      V4("eth0", "224.0.0.1"),
  };
  EXPECT_EQ(DeriveEndpoints(addrs, "tpmesh0", "fd7a:1::/32", 51820),
            (std::vector<std::string>{"[2001:db8::21]:51820", "[fd00:77::121]:51820",
                                      "192.0.2.21:51820"}));
  // No usable address: nothing (the daemon then reports none).
  EXPECT_TRUE(DeriveEndpoints({V4("lo", "127.0.0.1")}, "tpmesh0", "fd7a:1::/32", 51820).empty());
}

TEST(DeriveEndpoints, AtMostEight) {
  std::vector<HostAddress> addrs;
  for (int i = 1; i <= 12; ++i) addrs.push_back(V4("eth0", "192.0.2." + std::to_string(i)));
  auto e = DeriveEndpoints(addrs, "tpmesh0", "", 7);
  ASSERT_EQ(e.size(), 8u);
  EXPECT_EQ(e.front(), "192.0.2.1:7");
}

TEST(DeriveEndpoints, TheSystemListHasLoopbackAndNeverFails) {
  auto addrs = SystemHostAddresses();
  bool loopback = false;
  for (const auto& a : addrs) loopback |= a.loopback;
  EXPECT_TRUE(loopback) << "getifaddrs listed no loopback address";
  for (const auto& e : DeriveEndpoints(addrs, "tpmesh0", "fd00::/8", 51820)) {
    EXPECT_EQ(e.find("127."), std::string::npos) << e;
    EXPECT_EQ(e.find("[::1]"), std::string::npos) << e;
  }
}

TEST(AckEndpoints, RoundTripAndStrictParsing) {
  proto::AckRequest a;
  a.generation = 3;
  a.endpoints = std::vector<std::string>{"[2001:db8::1]:51820", "192.0.2.1:51820"};
  auto back = proto::ParseAckRequest(proto::ToJson(a));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->endpoints, a.endpoints);
  auto none = proto::ParseAckRequest(R"({"generation": 3, "peers": []})");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->endpoints.has_value());
  auto null = proto::ParseAckRequest(R"({"generation": 3, "endpoints": null})");
  ASSERT_TRUE(null.ok());
  EXPECT_FALSE(null->endpoints.has_value());
  auto bad = proto::ParseAckRequest(R"({"generation": 3, "endpoints": ["[::1]:99999"]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("endpoint '[::1]:99999'"), std::string::npos)
      << bad.error().message;
}

}  // namespace
}  // namespace tpmesh::client
