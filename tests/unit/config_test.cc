// authority.toml: every key, and a clear error naming the file and the key
// for everything wrong.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

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
  EXPECT_EQ(c->http_workers, 4);
  EXPECT_EQ(c->http_limits.max_connections, 16384u);
  EXPECT_EQ(c->http_limits.max_anonymous_per_source, 256u);
  EXPECT_TRUE(c->rotation.scheduled);
  EXPECT_EQ(c->rotation.policy.period, std::chrono::hours(24 * 30));
  EXPECT_TRUE(c->rotation.policy.Validate().ok());
}

TEST_F(ConfigTest, RotationDurationsAndLifetimes) {
  auto c = Load(R"(
node_cert_lifetime = "90s"
http_workers = 8
max_connections = 30000
max_anonymous_connections = 2000
max_anonymous_per_source = 50
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
  EXPECT_EQ(c->http_workers, 8);
  EXPECT_EQ(c->http_limits.max_connections, 30000u);
  EXPECT_EQ(c->http_limits.max_anonymous, 2000u);
  EXPECT_EQ(c->http_limits.max_anonymous_per_source, 50u);
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
           Case{"[rotation]\nperiod = \"1h\"\n",
                "rotation:"},  // jitter/lead no longer fit the period
           Case{"[rotation]\nperod = \"1h\"\n", "unknown key 'rotation.perod'"},
           Case{"[rotation]\nscheduled = \"yes\"\n", "scheduled must be true or false"},
           Case{"rotation = 5\n", "rotation must be a table"},
           Case{"node_cert_lifetime = \"30s\"\n", "node_cert_lifetime must be a duration"},
           Case{"http_workers = 0\n", "http_workers must be an integer in [1, 256]"},
           Case{"max_connections = 2\n", "max_connections must be an integer in [16, 1000000]"},
           Case{"max_anonymous_per_source = 0\n",
                "max_anonymous_per_source must be an integer in [1, 1000000]"},
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
    EXPECT_NE(second.error().message.find("authority.lock"), std::string::npos)
        << second.error().message;
  }
  auto again = LoadState(o.state_dir);
  EXPECT_TRUE(again.ok()) << again.error().ToString();
}

// Only `init` creates a database: serve on a directory whose authority.db is
// missing or empty refuses, says to run init, and creates nothing.
class LoadStateTest : public ConfigTest {
 protected:
  void SetUp() override {
    InitOptions o;
    o.state_dir = dir_.File("state");
    auto init = InitState(o, SystemClock::Instance(), SystemRandom::Instance());
    ASSERT_TRUE(init.ok()) << init.error().ToString();
  }
  std::string State(const std::string& name = "") const {
    return dir_.File("state") + (name.empty() ? "" : "/" + name);
  }
  std::vector<std::string> Listing() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(State()))
      names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
};

TEST_F(LoadStateTest, MissingDatabaseIsRefusedAndNotCreated) {
  ASSERT_TRUE(std::filesystem::remove(State("authority.db")));
  const auto before = Listing();
  auto s = LoadState(State());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().reason, "store_missing");
  EXPECT_NE(s.error().message.find("tpmesh-authority init"), std::string::npos)
      << s.error().message;
  EXPECT_NE(s.error().message.find("backup"), std::string::npos)
      << s.error().message;      // keys are there
  EXPECT_EQ(Listing(), before);  // no database, no -wal, no lock file
}

TEST_F(LoadStateTest, EmptyDatabaseIsRefusedAndLeftEmpty) {
  std::filesystem::resize_file(State("authority.db"), 0);
  const auto before = Listing();
  auto s = LoadState(State());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().reason, "store_empty");
  EXPECT_NE(s.error().message.find("tpmesh-authority init"), std::string::npos)
      << s.error().message;
  EXPECT_EQ(std::filesystem::file_size(State("authority.db")), 0u);
  EXPECT_EQ(Listing(), before);
}

TEST_F(LoadStateTest, EmptyDirectoryIsNotInitialized) {
  const std::string empty = dir_.File("empty");
  ASSERT_EQ(::mkdir(empty.c_str(), 0700), 0);
  auto s = LoadState(empty);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().reason, "store_missing");
  EXPECT_NE(s.error().message.find("tpmesh-authority init --state-dir " + empty), std::string::npos)
      << s.error().message;
  EXPECT_TRUE(std::filesystem::is_empty(empty));
}

// Every secret in the state directory must be 0600 (as the directory must be
// 0700): a key file group or others can read is refused by name, with the
// chmod that fixes it; once fixed the authority starts.
class SecretFileModeTest : public LoadStateTest {
 protected:
  void ExpectEachRefused(std::initializer_list<const char*> names) {
    for (const char* name : names) {
      const std::string path = State(name);
      for (mode_t mode : {0640, 0604, 0660, 0620}) {
        ASSERT_EQ(::chmod(path.c_str(), mode), 0);
        auto s = LoadState(State());
        ASSERT_FALSE(s.ok()) << name << " mode " << std::oct << mode;
        EXPECT_EQ(s.error().reason, "key_file_permissions") << name << ": " << s.error().ToString();
        EXPECT_NE(s.error().message.find("chmod 600 " + path), std::string::npos)
            << s.error().message;
        ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
      }
    }
    auto s = LoadState(State());
    EXPECT_TRUE(s.ok()) << s.error().ToString();
  }
};

TEST_F(SecretFileModeTest, KeysAndDatabaseOfInit) {
  ExpectEachRefused({"ca.key", "server.key", "admin.key", "config-signing.key", "authority.db"});
}

// The files a CA or config-signing-key rotation under way leaves.
TEST_F(SecretFileModeTest, RotationKeys) {
  std::filesystem::copy_file(State("ca.key"), State("ca.next.key"));  // no ca.next.crt: unused
  std::filesystem::copy_file(State("config-signing.key"), State("config-signing.old.key"));
  std::ofstream(State("config-signing.next.key"), std::ios::binary) << std::string(64, '\x42');
  for (const char* f : {"ca.next.key", "config-signing.old.key", "config-signing.next.key"}) {
    ASSERT_EQ(::chmod(State(f).c_str(), 0600), 0);
  }
  ExpectEachRefused({"ca.next.key", "config-signing.old.key", "config-signing.next.key"});
}

TEST_F(LoadStateTest, PublicFilesWritableByOthersAreRefused) {
  for (const char* name : {"ca.crt", "server.crt", "admin.crt", "config-signing.pub"}) {
    const std::string path = State(name);
    struct stat sb {};
    ASSERT_EQ(::stat(path.c_str(), &sb), 0);
    ASSERT_EQ(::chmod(path.c_str(), 0666), 0);
    auto s = LoadState(State());
    ASSERT_FALSE(s.ok()) << name;
    EXPECT_EQ(s.error().reason, "state_file_permissions") << name;
    EXPECT_NE(s.error().message.find("chmod go-w " + path), std::string::npos) << s.error().message;
    ASSERT_EQ(::chmod(path.c_str(), sb.st_mode & 07777), 0);
  }
  EXPECT_TRUE(LoadState(State()).ok());  // config-signing.pub is 0644 by design
}

TEST_F(LoadStateTest, SecretFileOwnedBySomeoneElseIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  const std::string path = State("ca.key");
  ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
  auto s = LoadState(State());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().reason, "key_file_owner");
  EXPECT_NE(s.error().message.find("chown 0 " + path), std::string::npos) << s.error().message;
  ASSERT_EQ(::chown(path.c_str(), 0, 0), 0);
  EXPECT_TRUE(LoadState(State()).ok());
}

}  // namespace
}  // namespace tpmesh::authority
