// authority.toml: every key, and a clear error naming the file and the key
// for everything wrong.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/temp_dir.h"
#include "tpmesh/authority/state.h"

namespace tpmesh::authority {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  Result<AuthorityConfig> Load(const std::string& text) {
    const std::string path = dir_.File("authority.toml");
    std::ofstream(path) << text;
    return LoadConfig(path);
  }
  // The error message for `text`; "" when it loads.
  std::string ErrorFor(const std::string& text) {
    auto c = Load(text);
    if (c.ok()) return "";
    EXPECT_EQ(c.error().reason, "invalid_config");
    return c.error().message;
  }
  testing::TempDir dir_{"tpmesh-config"};
};

TEST_F(ConfigTest, DefaultsWhenEmpty) {
  auto c = Load("");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->node_cert_lifetime, std::chrono::hours(24));
  EXPECT_EQ(c->http_workers, 1024);
  EXPECT_TRUE(c->rotation.scheduled);
  EXPECT_EQ(c->rotation.policy.period, std::chrono::hours(24 * 30));
  EXPECT_TRUE(c->rotation.policy.Validate().ok());
}

TEST_F(ConfigTest, RotationDurationsAndLifetimes) {
  auto c = Load(R"(
node_cert_lifetime = "90s"
http_workers = 6000
[rotation]
period = "7d"
lead_time = "1h"
overlap = "15m"
jitter = "1d"
confirm_deadline = 300
retry_after = "10m"
live_window = "45s"
scheduled = false
)");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->node_cert_lifetime, std::chrono::seconds(90));
  EXPECT_EQ(c->http_workers, 6000);
  const auto& p = c->rotation.policy;
  EXPECT_EQ(p.period, std::chrono::hours(24 * 7));
  EXPECT_EQ(p.lead_time, std::chrono::hours(1));
  EXPECT_EQ(p.overlap, std::chrono::minutes(15));
  EXPECT_EQ(p.jitter, std::chrono::hours(24));
  EXPECT_EQ(p.confirm_deadline, std::chrono::minutes(5));
  EXPECT_EQ(p.retry_after, std::chrono::minutes(10));
  EXPECT_EQ(c->rotation.live_window, std::chrono::seconds(45));
  EXPECT_FALSE(c->rotation.scheduled);
}

TEST_F(ConfigTest, WrongValuesAreNamed) {
  struct Case {
    std::string text, needle;
  };
  for (const Case& k : {
           Case{"[rotation]\nperiod = \"7x\"\n", "rotation.period must be a duration"},
           Case{"[rotation]\nperiod = \"\"\n", "rotation.period must be a duration"},
           Case{"[rotation]\nperiod = -5\n", "rotation.period must be a duration"},
           Case{"[rotation]\nperiod = true\n", "rotation.period must be a duration"},
           Case{"[rotation]\nlive_window = \"2d\"\n", "rotation.live_window"},
           Case{"[rotation]\nperiod = \"1h\"\n", "rotation:"},  // jitter/lead no longer fit the period
           Case{"[rotation]\nperod = \"1h\"\n", "unknown key 'rotation.perod'"},
           Case{"[rotation]\nscheduled = \"yes\"\n", "scheduled must be true or false"},
           Case{"rotation = 5\n", "rotation must be a table"},
           Case{"node_cert_lifetime = \"30s\"\n", "node_cert_lifetime must be a duration"},
           Case{"http_workers = 2\n", "http_workers must be an integer in [16, 65536]"},
           Case{"[rotation\n", "line 1"},
       }) {
    const std::string e = ErrorFor(k.text);
    EXPECT_NE(e.find(k.needle), std::string::npos) << k.text << " -> " << e;
    EXPECT_NE(e.find("authority.toml"), std::string::npos) << e;
  }
}

// One authority process per state directory: the second load is refused
// while the first holds it, and allowed once it is gone.
TEST_F(ConfigTest, StateDirectoryIsLockedWhileLoaded) {
  InitOptions o;
  o.state_dir = dir_.File("state");
  auto init = InitState(o, SystemClock::Instance(), SystemRandom::Instance());
  ASSERT_TRUE(init.ok()) << init.error().ToString();
  {
    auto first = LoadState(o.state_dir);
    ASSERT_TRUE(first.ok()) << first.error().ToString();
    auto second = LoadState(o.state_dir);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().reason, "state_dir_in_use");
    EXPECT_NE(second.error().message.find("authority.lock"), std::string::npos) << second.error().message;
  }
  auto again = LoadState(o.state_dir);
  EXPECT_TRUE(again.ok()) << again.error().ToString();
}

}  // namespace
}  // namespace tpmesh::authority
