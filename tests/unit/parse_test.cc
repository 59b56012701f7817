// common/parse.h: host:port, CIDR and duration parsing, the one
// implementation every layer uses.
#include "tpmesh/common/parse.h"

#include <gtest/gtest.h>

namespace tpmesh {
namespace {

std::string Problem(const Result<HostPort>& r) { return r.ok() ? "<ok>" : r.error().message; }

TEST(ParseHostPort, AcceptsAddressLiteralsInCanonicalForm) {
  auto v4 = ParseHostPort("192.0.2.1:51820");
  ASSERT_TRUE(v4.ok()) << Problem(v4);
  EXPECT_EQ(v4->kind, HostPort::Kind::kIpv4);
  EXPECT_EQ(v4->host, "192.0.2.1");
  EXPECT_EQ(v4->port, 51820);
  auto v6 = ParseHostPort("[2001:DB8:0::1]:443");
  ASSERT_TRUE(v6.ok()) << Problem(v6);
  EXPECT_EQ(v6->kind, HostPort::Kind::kIpv6);
  EXPECT_EQ(v6->host, "2001:db8::1");
  EXPECT_EQ(FormatHostPort(*v6), "[2001:db8::1]:443");
  EXPECT_EQ(FormatHostPort(*v4), "192.0.2.1:51820");
}

TEST(ParseHostPort, RefusesWhatTheRulesDoNotAllow) {
  struct Case {
    const char* text;
    HostPortRules rules;
    const char* want;
  };
  const Case cases[] = {
      {"", {}, "empty"},
      {"2001:db8::1:80", {}, "must be bracketed"},
      {"[2001:db8::1]", {}, "no :port"},
      {"[2001:db8::1", {}, "missing ']'"},
      {"[2001:db8::1]x80", {}, "expected ':port'"},
      {"[192.0.2.1]:80", {}, "not IPv6"},
      {"host.example:80", {}, "names must be resolved"},
      {"10.0.0.1:0", {}, "port must be 1..65535"},
      {"10.0.0.1:65536", {}, "port must be 1..65535"},
      {"10.0.0.1:080", {}, "port must be"},
      {"10.0.0.1:+80", {}, "port must be"},
      {"10.0.0.1:", {}, "port must be"},
      {"[fe80::1%eth0]:80", {}, "zone"},
      {"[fe80::1%]:80", {.zone = true}, "zone must be 1..15"},
      {"[fe80::1%e/0]:80", {.zone = true}, "bad character in zone"},
      {"bad_name:80", {.names = true}, "not an IPv4 address or a DNS name"},
      {"a..b:80", {.names = true}, "DNS name"},
  };
  for (const Case& c : cases) {
    auto r = ParseHostPort(c.text, c.rules, "my_reason");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().reason, "my_reason");
    EXPECT_NE(r.error().message.find(c.want), std::string::npos)
        << c.text << " -> " << r.error().message;
    EXPECT_EQ(r.error().message.find(c.text[0] ? c.text : "\x01"), std::string::npos)
        << "the message must not quote the input: " << r.error().message;
  }
  EXPECT_FALSE(ParseHostPort(std::string(301, '1')).ok());
}

TEST(ParseHostPort, OptionalPortsZonesNamesAndPortZero) {
  auto name = ParseHostPort("Authority.Example", {.names = true, .port_optional = true});
  ASSERT_TRUE(name.ok()) << Problem(name);
  EXPECT_EQ(name->kind, HostPort::Kind::kName);
  EXPECT_EQ(name->host, "authority.example");
  EXPECT_FALSE(name->has_port);
  auto zoned = ParseHostPort("[fe80::1%eth0]:51820", {.zone = true});
  ASSERT_TRUE(zoned.ok()) << Problem(zoned);
  EXPECT_EQ(zoned->host, "fe80::1%eth0");
  auto any = ParseHostPort("[::]:0", {.port_zero = true});
  ASSERT_TRUE(any.ok()) << Problem(any);
  EXPECT_EQ(any->port, 0);
  EXPECT_TRUE(any->has_port);
}

TEST(ParseCidr, CanonicalFormAndHostBits) {
  auto c = ParseCidr("2001:DB8::1/64");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->ToString(), "2001:db8::/64");
  EXPECT_TRUE(c->had_host_bits);
  auto v4 = ParseCidr("10.1.0.0/16");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->ToString(), "10.1.0.0/16");
  EXPECT_FALSE(v4->had_host_bits);
  for (const char* bad : {"10.0.0.0", "10.0.0.0/33", "::/129", "10.0.0.0/08", "10.0.0.0/", "x/8",
                          "fe80::1%eth0/64", "10.0.0.0/-1"}) {
    auto r = ParseCidr(bad, "bad_cidr");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().reason, "bad_cidr");
  }
  EXPECT_FALSE(ParseCidr(std::string(65, '1')).ok());
}

TEST(ParseDurationSeconds, UnitsAndRefusals) {
  EXPECT_EQ(*ParseDurationSeconds("90"), 90);
  EXPECT_EQ(*ParseDurationSeconds("90s"), 90);
  EXPECT_EQ(*ParseDurationSeconds("15m"), 900);
  EXPECT_EQ(*ParseDurationSeconds("1h"), 3600);
  EXPECT_EQ(*ParseDurationSeconds("7d"), 7 * 86400);
  EXPECT_EQ(*ParseDurationSeconds("0s"), 0);
  EXPECT_EQ(*ParseDurationSeconds("999999999999d"), 999999999999LL * 86400);
  for (const char* bad : {"", "s", "1w", "-1s", "1.5h", "1 h", "1hh", "9999999999999", "+5m"}) {
    auto r = ParseDurationSeconds(bad, "invalid_ttl");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().reason, "invalid_ttl");
    EXPECT_NE(r.error().message.find("90s, 15m, 1h, 7d"), std::string::npos);
  }
}

}  // namespace
}  // namespace tpmesh
