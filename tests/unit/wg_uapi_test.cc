// UAPI text: formatting, parsing, canonical forms, round trips, fuzzing.
#include <gtest/gtest.h>

#include <random>

#include "tpmesh/wg/device.h"
#include "tpmesh/wg/uapi.h"

namespace tpmesh::wg {
namespace {

Bytes Key(uint8_t n) { return Bytes(kKeyLen, n); }
std::string Hex(uint8_t n) { return HexEncode(Key(n)); }

WgDeviceConfig SampleConfig() {
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
  WgPeer b;
  b.public_key = Key(0xb2);
  b.endpoint = "192.0.2.1:4000";
  b.persistent_keepalive = 0;
  c.peers.push_back(std::move(a));
  c.peers.push_back(std::move(b));
  return c;
}

TEST(WgUapiFormat, FullSetBodyInOrder) {
  WgDeviceConfig c = SampleConfig();
  c.replace_peers = true;
  c.peers[0].replace_allowed_ips = true;
  c.peers[1].update_only = true;
  WgPeer gone;
  gone.public_key = Key(0xc3);
  gone.remove = true;
  c.peers.push_back(std::move(gone));
  auto text = FormatUapiSet(c);
  ASSERT_TRUE(text.ok()) << text.error().ToString();
  EXPECT_EQ(*text,
            "set=1\n"
            "private_key=" +
                Hex(0x11) +
                "\n"
                "listen_port=51820\n"
                "fwmark=7\n"
                "replace_peers=true\n"
                "public_key=" +
                Hex(0xa1) +
                "\n"
                "preshared_key=" +
                Hex(0x55) +
                "\n"
                "endpoint=[fd00::1]:51820\n"
                "persistent_keepalive_interval=25\n"
                "replace_allowed_ips=true\n"
                "allowed_ip=fd00:1::/64\n"
                "allowed_ip=10.0.0.2/32\n"
                "public_key=" +
                Hex(0xb2) +
                "\n"
                "update_only=true\n"
                "endpoint=192.0.2.1:4000\n"
                "persistent_keepalive_interval=0\n"
                "public_key=" +
                Hex(0xc3) +
                "\n"
                "remove=true\n"
                "\n");
}

TEST(WgUapiFormat, EmptyConfigIsNoopRequest) {
  auto text = FormatUapiSet(WgDeviceConfig{});
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "set=1\n\n");
}

TEST(WgUapiFormat, CanonicalisesCidrsAndEndpoints) {
  WgDeviceConfig c;
  WgPeer p;
  p.public_key = Key(1);
  p.endpoint = "[FD00:0:0::0001]:080";  // leading zero in the port: rejected
  c.peers.push_back(std::move(p));
  EXPECT_FALSE(FormatUapiSet(c).ok());
  c.peers[0].endpoint = "[FD00:0:0::0001]:80";
  c.peers[0].allowed_ips = {"10.1.2.3/8", "FD00::1:2/112"};
  auto text = FormatUapiSet(c);
  ASSERT_TRUE(text.ok()) << text.error().ToString();
  EXPECT_NE(text->find("endpoint=[fd00::1]:80\n"), std::string::npos) << *text;
  EXPECT_NE(text->find("allowed_ip=10.0.0.0/8\n"), std::string::npos) << *text;
  EXPECT_NE(text->find("allowed_ip=fd00::1:0/112\n"), std::string::npos) << *text;
}

struct BadSet {
  const char* name;
  void (*mutate)(WgDeviceConfig&);
  const char* expect_in_message;
};

TEST(WgUapiFormat, RejectsInvalidConfigsNamingThePeerAndField) {
  const BadSet cases[] = {
      {"short private key", [](WgDeviceConfig& c) { c.private_key = SecretBytes(Bytes(31, 1)); },
       "private_key has 31 bytes"},
      {"long public key", [](WgDeviceConfig& c) { c.peers[0].public_key = Bytes(33, 1); },
       "peer #0: public_key has 33 bytes"},
      {"short psk", [](WgDeviceConfig& c) { c.peers[1].preshared_key = SecretBytes(Bytes(3, 1)); },
       "preshared_key has 3 bytes"},
      {"hostname endpoint", [](WgDeviceConfig& c) { c.peers[0].endpoint = "example.com:51820"; },
       "names must be resolved"},
      {"unbracketed v6", [](WgDeviceConfig& c) { c.peers[0].endpoint = "fd00::1:51820"; },
       "must be bracketed"},
      {"port 0", [](WgDeviceConfig& c) { c.peers[0].endpoint = "10.0.0.1:0"; }, "port must be"},
      {"cidr 33", [](WgDeviceConfig& c) { c.peers[1].allowed_ips = {"10.0.0.0/33"}; },
       "prefix length"},
      {"cidr no len", [](WgDeviceConfig& c) { c.peers[1].allowed_ips = {"10.0.0.1"}; },
       "no /prefix-length"},
      {"cidr bad addr", [](WgDeviceConfig& c) { c.peers[1].allowed_ips = {"10.0.0.256/32"}; },
       "not an IPv4 or IPv6"},
      {"remove with data", [](WgDeviceConfig& c) { c.peers[1].remove = true; },
       "remove=true must not carry other fields"},
  };
  for (const BadSet& bc : cases) {
    WgDeviceConfig c = SampleConfig();
    bc.mutate(c);
    auto text = FormatUapiSet(c);
    ASSERT_FALSE(text.ok()) << bc.name;
    EXPECT_EQ(text.error().reason, "wg_config_invalid") << bc.name;
    EXPECT_NE(text.error().message.find(bc.expect_in_message), std::string::npos)
        << bc.name << ": " << text.error().message;
  }
  // Peer errors name the peer by its base64 public key.
  WgDeviceConfig c = SampleConfig();
  c.peers[1].allowed_ips = {"bogus"};
  auto text = FormatUapiSet(c);
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.error().message.find("peer " + Base64Encode(Key(0xb2))), std::string::npos)
      << text.error().message;
}

// What wireguard-go 0.0.20220316 answers (field order as in device/uapi.go).
std::string RealisticGet() {
  return "private_key=" + Hex(0x11) +
         "\n"
         "listen_port=51820\n"
         "public_key=" +
         Hex(0xa1) +
         "\n"
         "preshared_key=" +
         std::string(64, '0') +
         "\n"
         "protocol_version=1\n"
         "endpoint=[fd00:a::2]:51820\n"
         "last_handshake_time_sec=1700000000\n"
         "last_handshake_time_nsec=123456789\n"
         "tx_bytes=1184\n"
         "rx_bytes=1052\n"
         "persistent_keepalive_interval=0\n"
         "allowed_ip=fd00:b::2/128\n"
         "allowed_ip=10.9.0.0/16\n"
         "public_key=" +
         Hex(0xb2) +
         "\n"
         "preshared_key=" +
         Hex(0x55) +
         "\n"
         "protocol_version=1\n"
         "last_handshake_time_sec=0\n"
         "last_handshake_time_nsec=0\n"
         "tx_bytes=0\n"
         "rx_bytes=0\n"
         "persistent_keepalive_interval=25\n"
         "errno=0\n"
         "\n";
}

TEST(WgUapiParse, RealisticResponse) {
  auto cfg = ParseUapiGet(RealisticGet());
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  ASSERT_TRUE(cfg->private_key.has_value());
  EXPECT_TRUE(ConstantTimeEqual(cfg->private_key->view(), Key(0x11)));
  EXPECT_EQ(cfg->listen_port, 51820);
  EXPECT_FALSE(cfg->fwmark.has_value());
  ASSERT_EQ(cfg->peers.size(), 2u);
  const WgPeer& a = cfg->peers[0];
  EXPECT_EQ(a.public_key, Key(0xa1));
  EXPECT_FALSE(a.preshared_key.has_value()) << "all-zero PSK means none";
  EXPECT_EQ(a.endpoint, "[fd00:a::2]:51820");
  EXPECT_EQ(a.last_handshake_sec, 1700000000);
  EXPECT_EQ(a.last_handshake_nsec, 123456789);
  EXPECT_EQ(a.tx_bytes, 1184u);
  EXPECT_EQ(a.rx_bytes, 1052u);
  EXPECT_EQ(a.protocol_version, 1u);
  EXPECT_EQ(a.persistent_keepalive, 0);
  EXPECT_EQ(a.allowed_ips, (std::vector<std::string>{"fd00:b::2/128", "10.9.0.0/16"}));
  const WgPeer& b = cfg->peers[1];
  ASSERT_TRUE(b.preshared_key.has_value());
  EXPECT_TRUE(ConstantTimeEqual(b.preshared_key->view(), Key(0x55)));
  EXPECT_FALSE(b.endpoint.has_value());
  EXPECT_EQ(b.persistent_keepalive, 25);
  EXPECT_TRUE(b.allowed_ips.empty());
}

TEST(WgUapiParse, MinimalAndVariants) {
  auto empty = ParseUapiGet("errno=0\n\n");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->peers.empty());
  EXPECT_FALSE(empty->private_key.has_value());
  EXPECT_TRUE(ParseUapiGet("errno=0\n").ok()) << "trailing blank line is optional";
  EXPECT_TRUE(ParseUapiGet("errno=0").ok());
  // Uppercase hex is tolerated; host bits are cleared; keepalive defaults to 0.
  std::string upper = Hex(0xab);
  for (char& ch : upper) ch = static_cast<char>(toupper(ch));
  auto cfg = ParseUapiGet("public_key=" + upper + "\nallowed_ip=10.1.2.3/24\nerrno=0\n\n");
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  EXPECT_EQ(cfg->peers[0].public_key, Key(0xab));
  EXPECT_EQ(cfg->peers[0].allowed_ips, std::vector<std::string>{"10.1.2.0/24"});
  EXPECT_EQ(cfg->peers[0].persistent_keepalive, 0);
}

TEST(WgUapiParse, ErrnoIsAnError) {
  auto cfg = ParseUapiGet("errno=-22\n\n");
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().reason, "wg_errno");
  EXPECT_NE(cfg.error().message.find("errno=-22"), std::string::npos) << cfg.error().message;
  EXPECT_NE(cfg.error().message.find("Invalid argument"), std::string::npos);
  auto cfg2 = ParseUapiGet("listen_port=1\nerrno=98\n\n");
  ASSERT_FALSE(cfg2.ok());
  EXPECT_EQ(cfg2.error().reason, "wg_errno");
}

struct BadGet {
  std::string input;
  std::string expect_in_message;
};

TEST(WgUapiParse, RejectsMalformedNamingTheLine) {
  const std::string pk = "public_key=" + Hex(1) + "\n";
  const BadGet cases[] = {
      {"listen_port\nerrno=0\n", "line 1: expected key=value"},
      {"bogus=1\nerrno=0\n", "line 1 (bogus): unknown device key"},
      {pk + "bogus=1\nerrno=0\n", "line 2 (bogus): unknown peer key"},
      {pk + "listen_port=1\nerrno=0\n", "line 2 (listen_port): device key after the first peer"},
      {"listen_port=65536\nerrno=0\n", "line 1 (listen_port): expected a decimal number <= 65535"},
      {"listen_port=-1\nerrno=0\n", "line 1 (listen_port)"},
      {"listen_port=\nerrno=0\n", "line 1 (listen_port)"},
      {"listen_port=1\nlisten_port=2\nerrno=0\n", "line 2 (listen_port): duplicate key"},
      {"fwmark=4294967296\nerrno=0\n", "line 1 (fwmark)"},
      {"public_key=" + Hex(1).substr(2) + "\nerrno=0\n", "key must be 64 hex digits, got 62"},
      {"public_key=" + Hex(1).substr(2) + "zz\nerrno=0\n", "key is not valid hex"},
      {pk + pk + "errno=0\n", "line 2 (public_key): peer listed twice"},
      {pk + "allowed_ip=10.0.0.0/33\nerrno=0\n", "line 2 (allowed_ip): invalid CIDR"},
      {pk + "allowed_ip=10.0.0.0\nerrno=0\n", "line 2 (allowed_ip): invalid CIDR"},
      {pk + "allowed_ip=fd00::/129\nerrno=0\n", "prefix length must be a number 0..128"},
      {pk + "allowed_ip=fd00::/064\nerrno=0\n", "line 2 (allowed_ip)"},
      {pk + "endpoint=fd00::1:5\nerrno=0\n", "line 2 (endpoint): invalid endpoint"},
      {pk + "tx_bytes=18446744073709551616\nerrno=0\n", "line 2 (tx_bytes)"},
      {pk + "last_handshake_time_nsec=1000000000\nerrno=0\n", "line 2 (last_handshake_time_nsec)"},
      {pk + "rx_bytes=1\nrx_bytes=2\nerrno=0\n", "line 3 (rx_bytes): duplicate key"},
      {"errno=0\nlisten_port=1\n", "line 2: text after the errno line"},
      {"errno=0\n\n\n", "text after the errno line"},
      {"listen_port=1\n\nerrno=0\n", "line 2: blank line before the errno line"},
      {"listen_port=1\n", "ends without an errno line"},
      {"", "ends without an errno line"},
      {"errno=x\n", "errno is not a number"},
      {"listen_port=1\r\nerrno=0\n", "line 1 (listen_port)"},
  };
  for (const BadGet& bc : cases) {
    auto cfg = ParseUapiGet(bc.input);
    ASSERT_FALSE(cfg.ok()) << bc.input;
    EXPECT_EQ(cfg.error().reason, "uapi_malformed") << bc.input;
    EXPECT_NE(cfg.error().message.find(bc.expect_in_message), std::string::npos)
        << "input: " << bc.input << "\nmessage: " << cfg.error().message;
  }
}

TEST(WgUapiParse, NeverEchoesKeyMaterial) {
  std::string secret = Hex(0x5e).substr(0, 62) + "zz";
  for (std::string key : {"private_key", "preshared_key"}) {
    std::string in = (key == "preshared_key" ? "public_key=" + Hex(1) + "\n" : std::string()) +
                     key + "=" + secret + "\nerrno=0\n";
    auto cfg = ParseUapiGet(in);
    ASSERT_FALSE(cfg.ok());
    EXPECT_EQ(cfg.error().message.find(secret.substr(0, 16)), std::string::npos)
        << cfg.error().message;
    EXPECT_NE(cfg.error().message.find(key), std::string::npos) << cfg.error().message;
  }
}

TEST(WgUapiRoundTrip, GetFormatParses) {
  WgDeviceConfig c = SampleConfig();
  c.peers[0].rx_bytes = 99;
  c.peers[0].tx_bytes = 98;
  c.peers[0].last_handshake_sec = 5;
  c.peers[0].last_handshake_nsec = 6;
  c.peers[0].protocol_version = 1;
  auto back = ParseUapiGet(FormatUapiGet(c));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_TRUE(Equal(c, *back)) << ToString(c) << "\nvs\n" << ToString(*back);
  auto again = ParseUapiGet(RealisticGet());
  ASSERT_TRUE(again.ok());
  auto twice = ParseUapiGet(FormatUapiGet(*again));
  ASSERT_TRUE(twice.ok());
  EXPECT_TRUE(Equal(*again, *twice));
}

// A set body is a get body plus set-only flags: without those, the lines of
// FormatUapiSet parse back to the same config.
TEST(WgUapiRoundTrip, SetLinesParseBack) {
  WgDeviceConfig c = SampleConfig();
  auto text = FormatUapiSet(c);
  ASSERT_TRUE(text.ok());
  ASSERT_EQ(text->substr(0, 6), "set=1\n");
  std::string as_get = text->substr(6, text->size() - 7) + "errno=0\n\n";
  auto back = ParseUapiGet(as_get);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_TRUE(Equal(c, *back)) << ToString(c) << "\nvs\n" << ToString(*back);
  c.peers[1].persistent_keepalive = 1;
  EXPECT_FALSE(Equal(c, *back)) << "Equal must see differences";
}

TEST(WgUapiToString, HidesSecrets) {
  WgDeviceConfig c = SampleConfig();
  std::string s = ToString(c);
  EXPECT_EQ(s.find(Hex(0x11)), std::string::npos);
  EXPECT_EQ(s.find(Base64Encode(Key(0x11))), std::string::npos);
  EXPECT_EQ(s.find(Base64Encode(Key(0x55))), std::string::npos);
  EXPECT_EQ(s.find(Hex(0x55)), std::string::npos);
  EXPECT_NE(s.find("(hidden)"), std::string::npos);
  EXPECT_NE(s.find(Base64Encode(Key(0xa1))), std::string::npos) << s;
  EXPECT_NE(s.find("fd00:1::/64"), std::string::npos) << s;
}

TEST(WgAddr, CanonicalCidr) {
  const std::pair<const char*, const char*> good[] = {
      {"10.0.0.1/32", "10.0.0.1/32"},
      {"10.1.2.3/0", "0.0.0.0/0"},
      {"192.168.7.255/23", "192.168.6.0/23"},
      {"FD00:0::1/64", "fd00::/64"},
      {"::/0", "::/0"},
      {"2001:db8::1/127", "2001:db8::/127"},
      {"::ffff:1.2.3.4/128", "::ffff:1.2.3.4/128"},
      {"fd00::1:2:3/128", "fd00::1:2:3/128"},
  };
  for (auto [in, want] : good) {
    auto c = CanonicalCidr(in);
    ASSERT_TRUE(c.ok()) << in << ": " << c.error().ToString();
    EXPECT_EQ(*c, want) << in;
  }
  for (const char* bad :
       {"", "/", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/ 8", "10.0.0/8", "010.0.0.0/8",
        "10.0.0.0/08", "fe80::1%eth0/64", "fd00::/129", "x/1", "10.0.0.0/8/8"}) {
    auto c = CanonicalCidr(bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.error().reason, "invalid_cidr");
  }
}

TEST(WgAddr, CanonicalEndpoint) {
  const std::pair<const char*, const char*> good[] = {
      {"1.2.3.4:5", "1.2.3.4:5"},
      {"[FD00::01]:51820", "[fd00::1]:51820"},
      {"[fe80::1%eth0]:1", "[fe80::1%eth0]:1"},
      {"[::ffff:1.2.3.4]:65535", "[::ffff:1.2.3.4]:65535"},
  };
  for (auto [in, want] : good) {
    auto c = CanonicalEndpoint(in);
    ASSERT_TRUE(c.ok()) << in << ": " << c.error().ToString();
    EXPECT_EQ(*c, want);
  }
  for (const char* bad :
       {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:0", "[1.2.3.4]:5", "[fd00::1]5",
        "[fd00::1%]:5", "[fd00::1%a/b]:5", "fd00::1:5", "host:5", "[fd00::1]:05", "1.2.3.4:+5"}) {
    auto c = CanonicalEndpoint(bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.error().reason, "invalid_endpoint");
  }
}

// Random and mutated inputs through the libFuzzer entry point (which aborts
// if something that parses does not round-trip).
TEST(WgUapiFuzz, RandomAndMutatedInputsNeverCrash) {
  std::mt19937_64 rng(0x7e57);
  const std::vector<std::string> seeds = {
      RealisticGet(), FormatUapiGet(SampleConfig()), "errno=0\n\n",
      "public_key=" + Hex(1) + "\nallowed_ip=10.0.0.0/8\nendpoint=[fe80::1%lo]:1\nerrno=0\n"};
  const std::string alphabet = "=\n0123456789abcdef:/.[]%-_xyzerrno";
  const std::vector<std::string> tokens = {"errno=0\n",
                                           "\n",
                                           "=",
                                           "allowed_ip=",
                                           "public_key=" + Hex(2) + "\n",
                                           "endpoint=",
                                           "/128",
                                           "/33",
                                           "::",
                                           "listen_port=",
                                           "99999999999999999999",
                                           "\r",
                                           std::string(1, '\0')};
  int parsed_ok = 0, parsed_bad = 0;
  for (int i = 0; i < 6000; ++i) {
    std::string s;
    if (i % 5 == 0) {  // raw random bytes
      s.resize(rng() % 200);
      for (char& ch : s) ch = static_cast<char>(rng());
    } else {
      s = seeds[rng() % seeds.size()];
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !s.empty(); ++e) {
        size_t at = rng() % s.size();
        switch (rng() % 6) {
          case 0: s[at] = alphabet[rng() % alphabet.size()]; break;
          case 1: s.erase(at, 1 + rng() % 8); break;
          case 2: s.insert(at, tokens[rng() % tokens.size()]); break;
          case 3: s[at] = static_cast<char>(rng()); break;
          case 4: {  // drop or duplicate a whole line
            size_t b = s.rfind('\n', at), en = s.find('\n', at);
            b = b == std::string::npos ? 0 : b + 1;
            en = en == std::string::npos ? s.size() : en + 1;
            std::string line = s.substr(b, en - b);
            if (rng() % 2)
              s.erase(b, en - b);
            else
              s.insert(b, line);
            break;
          }
          default: s.resize(at); break;
        }
      }
    }
    EXPECT_EQ(FuzzParseUapiGet(reinterpret_cast<const uint8_t*>(s.data()), s.size()), 0);
    (ParseUapiGet(s).ok() ? parsed_ok : parsed_bad)++;
  }
  // Both outcomes were exercised, so the round-trip check in the entry
  // point ran on real successes.
  EXPECT_GT(parsed_ok, 100);
  EXPECT_GT(parsed_bad, 1000);
}

}  // namespace
}  // namespace tpmesh::wg
