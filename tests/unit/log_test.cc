// log/: one line per event, bounded and escaped, levels filtered.
#include "tpmesh/log/log.h"

#include <gtest/gtest.h>

namespace tpmesh::log {
namespace {

TEST(Log, FormatsLevelMessageAndFields) {
  EXPECT_EQ(
      FormatLine(Level::kInfo, "enrollment admitted", {{"node", "ab12"}, {"source", "[::1]:443"}}),
      "info enrollment admitted node=ab12 source=[::1]:443");
  EXPECT_EQ(FormatLine(Level::kWarn, "x", {{"reason", "two words"}, {"empty", ""}, {"eq", "a=b"}}),
            "warn x reason=\"two words\" empty=\"\" eq=\"a=b\"");
}

TEST(Log, UntrustedInputCannotForgeLinesOrGrowThem) {
  const std::string evil = "ok\nerror forged line\x1b[31m\"\\";
  const std::string line = FormatLine(Level::kError, evil, {{"host", evil}});
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
  EXPECT_NE(line.find("ok\\x0aerror forged line\\x1b[31m"), std::string::npos) << line;
  EXPECT_NE(line.find("host=\"ok\\x0aerror"), std::string::npos) << line;
  const std::string huge(100000, 'a');
  const std::string bounded = FormatLine(Level::kInfo, huge, {{"v", huge}});
  EXPECT_LT(bounded.size(), kMaxMessage + kMaxValue + 64);
  EXPECT_NE(bounded.find("a... v=a"), std::string::npos);
}

TEST(Log, MemoryLoggerAndLogFnAndLevels) {
  auto mem = std::make_shared<MemoryLogger>();
  mem->Info("started", {{"port", "8443"}});
  AsLogFn(mem, Level::kWarn)("disk almost full");
  ASSERT_EQ(mem->lines().size(), 2u);
  EXPECT_EQ(mem->lines()[0], "info started port=8443");
  EXPECT_EQ(mem->lines()[1], "warn disk almost full");
  Level l = Level::kInfo;
  EXPECT_TRUE(ParseLevel("debug", l));
  EXPECT_EQ(l, Level::kDebug);
  EXPECT_FALSE(ParseLevel("verbose", l));
  auto err_only = StderrLogger("log-test", Level::kError);
  EXPECT_FALSE(err_only->Enabled(Level::kWarn));
  EXPECT_TRUE(err_only->Enabled(Level::kError));
}

}  // namespace
}  // namespace tpmesh::log
