// idle_thread_rss_kb: resident memory of one thread parked on a condition
// variable, as each long-polling client costs one cpp-httplib worker thread
// blocked in ConfigPublisher::WaitNewer (docs/benchmarks.md). Measured as the
// VmRSS growth over 1,000 such threads. Excludes the TLS connection state
// (SSL object, buffers) each of those clients also holds.
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/bench.h"

namespace tpmesh::bench {

Status RunThreadCost(const BenchConfig& cfg, Reporter& out) {
  const int n = cfg.selftest ? 50 : 1000;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  int parked = 0;
  const long before = RssKb();
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&] {
      // A little stack, like a handler frame deep in httplib + our handler.
      volatile char frame[16 * 1024];
      for (size_t k = 0; k < sizeof frame; k += 4096) frame[k] = 1;
      std::unique_lock<std::mutex> lock(mu);
      ++parked;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return parked == n; });
  }
  const long after = RssKb();
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();
  if (after <= 0 || before <= 0) return BenchError("VmRSS unreadable");
  out.Emit("idle_thread_rss_kb", static_cast<double>(after - before) / n, "KiB");
  return OkStatus();
}

}  // namespace tpmesh::bench
