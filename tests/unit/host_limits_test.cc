// The start-up check of http_workers against what the host allows: every
// limit refuses by name, with its value and the setting to change; and the
// real limits of this host refuse an absurd worker count.
#include <gtest/gtest.h>

#include <string>

#include "tpmesh/authority/state.h"

namespace tpmesh::authority {
namespace {

// A roomy host: 1,024 workers fit.
HostLimits Roomy() {
  HostLimits h;
  h.threads_self = 3;
  h.nproc = 100000;
  h.threads_max = 1000000;
  h.pid_max = 4194304;
  h.threads_host = 500;
  h.pids_max = 100000;
  h.pids_current = 10;
  h.pids_file = "/sys/fs/cgroup/system.slice/tpmesh-authority.service/pids.max";
  h.max_map_count = 65530;
  h.maps_self = 300;
  h.address_space = 1ull << 46;
  h.address_space_self = 1ull << 30;
  h.commit_free = 1ull << 40;
  h.stack_bytes = (8u << 20) + 4096;
  return h;
}

std::string ErrorFor(const HostLimits& h, int workers) {
  Status st = CheckWorkerThreads(h, workers);
  if (st.ok()) return "";
  EXPECT_EQ(st.error().reason, "host_limit");
  EXPECT_EQ(st.error().code, Code::kFailedPrecondition);
  return st.error().message;
}

void ExpectMentions(const std::string& message, std::initializer_list<const char*> needles) {
  EXPECT_FALSE(message.empty());
  for (const char* n : needles)
    EXPECT_NE(message.find(n), std::string::npos) << n << " in: " << message;
}

TEST(HostLimitsTest, RoomyHostAndNoLimitsAccept) {
  EXPECT_EQ(ErrorFor(Roomy(), 1024), "");
  EXPECT_EQ(ErrorFor(HostLimits{}, 65536), "");  // nothing readable: nothing to refuse
}

TEST(HostLimitsTest, MaxMapCountIsTheLimitOf32000Workers) {
  // The issue: 32,000 workers need 64,000 maps; the default vm.max_map_count is 65,530.
  const std::string m = ErrorFor(Roomy(), 32000);
  ExpectMentions(
      m, {"http_workers = 32000", "vm.max_map_count", "65530", "sysctl", "lower http_workers"});
  EXPECT_EQ(ErrorFor(Roomy(), 30000), "");
}

TEST(HostLimitsTest, EachLimitIsNamedWithItsValueAndSetting) {
  HostLimits h = Roomy();
  h.nproc = 2000;
  ExpectMentions(ErrorFor(h, 4000), {"RLIMIT_NPROC", "2000", "LimitNPROC="});

  h = Roomy();
  h.threads_max = 3000;
  ExpectMentions(ErrorFor(h, 4000), {"kernel.threads-max", "3000", "500 in use"});

  h = Roomy();
  h.pid_max = 32768;
  h.threads_host = 29000;
  ExpectMentions(ErrorFor(h, 4000), {"kernel.pid_max", "32768", "29000 in use"});

  h = Roomy();
  h.pids_max = 4915;
  ExpectMentions(ErrorFor(h, 8000), {"pids.max", "4915", h.pids_file.c_str(), "TasksMax="});

  h = Roomy();
  h.address_space = 4ull << 30;
  ExpectMentions(ErrorFor(h, 1000), {"RLIMIT_AS", "LimitAS="});

  h = Roomy();
  h.commit_free = 1ull << 30;
  ExpectMentions(ErrorFor(h, 1000), {"vm.overcommit_memory", "CommitLimit"});
}

// The real limits of this host: an absurd worker count is refused (one of
// threads-max, pid_max or max_map_count is always finite), a small one fits.
TEST(HostLimitsTest, RealHostRefusesAnAbsurdWorkerCount) {
  const HostLimits h = ReadHostLimits();
  EXPECT_GT(h.threads_self, 0u);
  EXPECT_GT(h.maps_self, 0u);
  Status absurd = CheckWorkerThreads(h, 2000000000);
  ASSERT_FALSE(absurd.ok());
  EXPECT_EQ(absurd.error().reason, "host_limit");
  EXPECT_NE(absurd.error().message.find("http_workers = 2000000000"), std::string::npos)
      << absurd.error().message;
  Status small = CheckWorkerThreads(h, 16);
  EXPECT_TRUE(small.ok()) << small.error().ToString();
}

}  // namespace
}  // namespace tpmesh::authority
