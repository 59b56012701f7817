// proto/: the enrollment requests' hostname rules (issue 11: hostnames were
// compared case-sensitively, so `NODE-B` was admitted beside `node-b`).
#include <gtest/gtest.h>

#include <string>

#include "tpmesh/proto/enroll.h"

namespace tpmesh::proto {
namespace {

EnrollStartRequest Start(const std::string& hostname) {
  EnrollStartRequest r;
  r.hostname = hostname;
  r.ek_alg = attest::KeyAlg::kEccP256;
  r.ek_public = Bytes(40, 1);
  r.ak_public = Bytes(40, 2);
  return r;
}

EnrollFinishRequest Finish(const std::string& hostname) {
  EnrollFinishRequest r;
  r.challenge_id = "c1";
  r.secret = SecretBytes(Bytes(32, 3));
  r.quote.attest = Bytes(50, 4);
  r.quote.signature = Bytes(50, 5);
  r.quote.pcr_values[7] = Bytes(32, 6);
  r.wg_public_key = Bytes(32, 7);
  r.hostname = hostname;
  r.csr_pem = "csr";
  return r;
}

// The hostname both parsers return for `hostname`, or "<reason>: <message>".
std::string Parsed(const std::string& hostname) {
  auto start = ParseEnrollStartRequest(ToJson(Start(hostname)));
  auto finish = ParseEnrollFinishRequest(ToJson(Finish(hostname)));
  if (start.ok() != finish.ok()) return "<parsers disagree>";
  if (!start.ok()) return start.error().ToString();
  if (start->hostname != finish->hostname) return "<parsers disagree>";
  return start->hostname;
}

bool Refused(const std::string& hostname, const std::string& says) {
  const std::string got = Parsed(hostname);
  return got.rfind("invalid_hostname: ", 0) == 0 && got.find(says) != std::string::npos;
}

TEST(ProtoHostname, RequestsCarryTheLowerCaseName) {
  EXPECT_EQ(Parsed("NODE-B"), "node-b");
  EXPECT_EQ(Parsed("Web-1.Example.ORG"), "web-1.example.org");
  EXPECT_EQ(Parsed("node-b"), "node-b");
}

TEST(ProtoHostname, RefusesWhatIsNotADnsHostname) {
  EXPECT_TRUE(Refused("", "1-253 characters"));
  EXPECT_TRUE(Refused(std::string(254, 'a'), "1-253 characters"));
  EXPECT_TRUE(Refused(std::string(64, 'a'), "longer than 63"));
  EXPECT_TRUE(Refused("node-b.", "trailing dot"));
  EXPECT_TRUE(Refused("a..b", "empty label"));
  EXPECT_TRUE(Refused(".a", "empty label"));
  EXPECT_TRUE(Refused("-a", "start with '-'"));
  EXPECT_TRUE(Refused("a-.b", "end with '-'"));
  EXPECT_TRUE(Refused("a-", "end with '-'"));
  EXPECT_TRUE(Refused("under_score", "only letters"));
  EXPECT_TRUE(Refused("a b", "only letters"));
  EXPECT_TRUE(Refused(std::string("a\0b", 3), "only letters"));
  EXPECT_TRUE(Refused("caf\xc3\xa9", "only letters"));
  EXPECT_TRUE(Refused("192.0.2.1", "IPv4"));
  EXPECT_TRUE(Refused("0123456789ABCDEF0123", "node id"));
  // The limits themselves are fine.
  const std::string label63(63, 'a');
  const std::string name253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  ASSERT_EQ(name253.size(), 253u);
  EXPECT_EQ(Parsed(name253), name253);
  EXPECT_EQ(Parsed("1a"), "1a");
  EXPECT_EQ(Parsed("0123456789abcdef012"), "0123456789abcdef012");  // 19 hex digits
}

TEST(ProtoHostname, CanonicalHostnameIsWhatTheParsersApply) {
  auto c = CanonicalHostname("Host-7.LAN");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, "host-7.lan");
  EXPECT_TRUE(ValidateHostname("Host-7.LAN").ok());
  auto bad = CanonicalHostname("bad\x1b[31mhost");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().reason, "invalid_hostname");
  // The message quotes the name without its control characters.
  EXPECT_EQ(bad.error().message.find('\x1b'), std::string::npos);
  EXPECT_FALSE(ValidateHostname("bad host").ok());
}

}  // namespace
}  // namespace tpmesh::proto
