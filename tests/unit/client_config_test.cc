// client.toml (client_config.h): every key, the defaults when the default
// file is absent, and an error naming the file and key for everything wrong;
// `config check` on a state directory that is not enrolled yet.
#include "tpmesh/client/client_config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/temp_dir.h"

namespace tpmesh::client {
namespace {

class ClientConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    const std::string path = dir_.File("client.toml");
    std::ofstream(path) << text;
    return path;
  }
  std::string ErrorFor(const std::string& text) {
    auto c = LoadClientConfig(Write(text), true);
    if (c.ok()) return "";
    EXPECT_EQ(c.error().reason, "invalid_config");
    return c.error().message;
  }
  testing::TempDir dir_{"tpmesh-client-config"};
};

TEST_F(ClientConfigTest, EveryKeyIsRead) {
  auto c = LoadClientConfig(Write(R"(
state_dir = "/srv/tpmesh"
interface = "mesh0"
listen_port = 51999
uapi_dir = "/run/wg"
tcti = "swtpm:port=2321"
wg_backend = "kernel"
poll_wait = "40s"
authorities = ["https://[fd00::2]:8443", "https://[fd00::3]:8443"]
[enroll]
authority = "https://[fd00::1]:8443"
ca_fingerprint = "ab"
hostname = "web-1"
endpoints = ["[2001:db8::21]:51820", "192.0.2.21:51820"]
token_file = "/etc/tpmesh/enroll-token"
)"),
                            true);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->daemon.state_dir, "/srv/tpmesh");
  EXPECT_EQ(c->enroll.state_dir, "/srv/tpmesh");
  EXPECT_EQ(c->daemon.ifname, "mesh0");
  EXPECT_EQ(c->daemon.listen_port, 51999);
  EXPECT_EQ(c->daemon.uapi_dir, "/run/wg");
  EXPECT_EQ(c->tcti, "swtpm:port=2321");
  EXPECT_EQ(c->daemon.wg_backend, wg::Backend::kKernel);
  EXPECT_EQ(c->daemon.poll_wait_seconds, 40);
  EXPECT_EQ(c->daemon.extra_authority_urls.size(), 2u);
  EXPECT_EQ(c->enroll.authority_url, "https://[fd00::1]:8443");
  EXPECT_EQ(c->enroll.hostname, "web-1");
  EXPECT_EQ(c->enroll.endpoints.size(), 2u);
  EXPECT_EQ(c->token_file, "/etc/tpmesh/enroll-token");
}

TEST_F(ClientConfigTest, AnAbsentDefaultFileGivesTheDefaults) {
  auto c = LoadClientConfig(dir_.File("absent.toml"), false);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->daemon.state_dir, "/var/lib/tpmesh");
  EXPECT_EQ(c->daemon.ifname, "tpmesh0");
  EXPECT_FALSE(c->tcti.has_value());
  EXPECT_EQ(c->daemon.wg_backend, wg::Backend::kAuto);
  auto named = LoadClientConfig(dir_.File("absent.toml"), true);
  ASSERT_FALSE(named.ok());
  EXPECT_NE(named.error().message.find("absent.toml: no such file"), std::string::npos);
}

TEST_F(ClientConfigTest, MistakesAreNamed) {
  EXPECT_NE(ErrorFor("statedir = \"/x\"").find("unknown key 'statedir'"), std::string::npos);
  EXPECT_NE(ErrorFor("wg_backend = \"boringtun\"").find("wg_backend: WireGuard backend must be"),
            std::string::npos);
  EXPECT_NE(ErrorFor("[enroll]\ntoken = \"x\"").find("unknown key 'enroll.token'"),
            std::string::npos);
  EXPECT_NE(ErrorFor("listen_port = 70000").find("listen_port must be an integer in [1, 65535]"),
            std::string::npos);
  EXPECT_NE(ErrorFor("listen_port = \"51820\"").find("listen_port"), std::string::npos);
  EXPECT_NE(ErrorFor("poll_wait = \"forever\"").find("poll_wait must be a duration"),
            std::string::npos);
  EXPECT_NE(ErrorFor("authorities = \"https://x\"").find("authorities must be an array"),
            std::string::npos);
  EXPECT_NE(ErrorFor("enroll = 3").find("enroll must be a table"), std::string::npos);
  const std::string syntax = ErrorFor("state_dir = ");
  EXPECT_NE(syntax.find("client.toml: line 1"), std::string::npos) << syntax;
}

TEST_F(ClientConfigTest, CheckNamesWhatEnrollStillNeeds) {
  ClientConfig c;
  c.daemon.state_dir = dir_.File("state");
  auto findings = CheckClientConfig(c, "");
  bool failed = false;
  const std::string text = tomlcfg::RenderFindings(findings, failed);
  EXPECT_NE(text.find("WARN  state directory: " + c.daemon.state_dir + ": not enrolled yet"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("WARN  TPM: tcti = \"none\""), std::string::npos) << text;
  c.daemon.extra_authority_urls = {"http://plain:8443"};
  const std::string bad = tomlcfg::RenderFindings(CheckClientConfig(c, ""), failed);
  EXPECT_TRUE(failed);
  EXPECT_NE(bad.find("FAIL  authority URL: 'http://plain:8443' is not an https:// URL"),
            std::string::npos)
      << bad;
}

}  // namespace
}  // namespace tpmesh::client
