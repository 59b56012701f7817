// tpmesh-authority config check (config_check.h): a real state directory
// made by InitState, checked as `serve` would load it, and what it finds
// wrong named with the setting or file.
#include "tpmesh/authority/config_check.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/temp_dir.h"
#include "tpmesh/authority/state.h"

namespace tpmesh::authority {
namespace {

using Level = ConfigFinding::Level;

class ConfigCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitOptions o;
    o.state_dir = dir_.File("state");
    auto r = InitState(o, SystemClock::Instance(), SystemRandom::Instance());
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    std::filesystem::create_directory(dir_.File("trust"));
    cfg_.state_dir = o.state_dir;
    cfg_.ek_trust_dir = dir_.File("trust");
    now_ = ToUnixSeconds(SystemClock::Instance().Now());
  }
  // The finding about `what` (level kOk with detail "missing" if none).
  ConfigFinding Find(const std::vector<ConfigFinding>& all, const std::string& what) {
    for (const auto& f : all)
      if (f.what == what) return f;
    ADD_FAILURE() << "no finding about " << what;
    return {};
  }
  testing::TempDir dir_{"tpmesh-config-check"};
  AuthorityConfig cfg_;
  int64_t now_ = 0;
};

TEST_F(ConfigCheckTest, AFreshStateDirectoryPasses) {
  auto all = CheckConfig(cfg_, now_);
  bool failed = true;
  const std::string text = RenderFindings(all, failed);
  EXPECT_FALSE(failed) << text;
  EXPECT_EQ(Find(all, "state directory").level, Level::kOk);
  EXPECT_EQ(Find(all, "server certificate").level, Level::kOk) << text;
  // An empty trust directory is legal (allowlist only) but worth a warning.
  EXPECT_EQ(Find(all, "EK trust directory").level, Level::kWarn) << text;
  EXPECT_NE(text.find("WARN  EK trust directory: "), std::string::npos) << text;
}

TEST_F(ConfigCheckTest, AMissingDefaultPolicyFailsNamingIt) {
  cfg_.default_policy = "golden";
  auto all = CheckConfig(cfg_, now_);
  const ConfigFinding f = Find(all, "default policy");
  EXPECT_EQ(f.level, Level::kFail);
  EXPECT_NE(f.detail.find("'golden' is not in the store"), std::string::npos) << f.detail;
  bool failed = false;
  RenderFindings(all, failed);
  EXPECT_TRUE(failed);
}

TEST_F(ConfigCheckTest, CertificatesNearTheirEndWarnAndEndedOnesFail) {
  // The server and admin certificates live one year, the CA ten.
  auto soon = CheckConfig(cfg_, now_ + 350 * 86400);
  EXPECT_EQ(Find(soon, "server certificate").level, Level::kWarn);
  EXPECT_EQ(Find(soon, "CA certificate").level, Level::kOk);
  auto late = CheckConfig(cfg_, now_ + 400 * 86400);
  const ConfigFinding f = Find(late, "server certificate");
  EXPECT_EQ(f.level, Level::kFail);
  EXPECT_NE(f.detail.find("expired"), std::string::npos) << f.detail;
  EXPECT_EQ(Find(late, "admin certificate (admin.crt)").level, Level::kFail);
}

TEST_F(ConfigCheckTest, WhatServeWouldRefuseFails) {
  ASSERT_EQ(chmod(cfg_.state_dir.c_str(), 0755), 0);
  cfg_.ek_trust_dir = dir_.File("no-such-dir");
  auto all = CheckConfig(cfg_, now_);
  EXPECT_EQ(Find(all, "state directory").level, Level::kFail);
  EXPECT_NE(Find(all, "state directory").detail.find("private_dir_permissions"), std::string::npos)
      << Find(all, "state directory").detail;
  EXPECT_EQ(Find(all, "EK trust directory").level, Level::kFail);
  ASSERT_EQ(chmod(cfg_.state_dir.c_str(), 0700), 0);
}

TEST_F(ConfigCheckTest, AStateDirectoryInUseByARunningAuthorityIsNoFailure) {
  auto held = LoadState(cfg_.state_dir);  // as a running authority holds it
  ASSERT_TRUE(held.ok()) << held.error().ToString();
  auto all = CheckConfig(cfg_, now_);
  const ConfigFinding f = Find(all, "state directory");
  EXPECT_EQ(f.level, Level::kOk);
  EXPECT_NE(f.detail.find("in use by a running authority"), std::string::npos) << f.detail;
}

}  // namespace
}  // namespace tpmesh::authority
