#include "tpmesh/common/env.h"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>

namespace tpmesh {

TimePoint SystemClock::Now() const { return std::chrono::system_clock::now(); }
SystemClock& SystemClock::Instance() {
  static SystemClock clock;
  return clock;
}

void SystemRandom::Fill(std::span<uint8_t> out) { randombytes_buf(out.data(), out.size()); }
SystemRandom& SystemRandom::Instance() {
  static SystemRandom* rng = [] {
    if (sodium_init() < 0) std::abort();  // no usable entropy source: nothing safe to do
    return new SystemRandom();
  }();
  return *rng;
}

void Wakeup::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
  }
  cv_.notify_all();
}

bool Wakeup::notified() const {
  std::lock_guard<std::mutex> lock(mu_);
  return notified_;
}

bool Wakeup::WaitFor(std::chrono::nanoseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, d, [this] { return notified_; });
}

MonotonicClock::Instant SystemMonotonicClock::Now() const {
  return std::chrono::steady_clock::now();
}
void SystemMonotonicClock::SleepFor(std::chrono::nanoseconds d, Wakeup& wake) {
  (void)wake.WaitFor(d);
}
SystemMonotonicClock& SystemMonotonicClock::Instance() {
  static SystemMonotonicClock clock;
  return clock;
}

uint32_t UniformBelow(Random& rng, uint32_t n) {
  if (n <= 1) return 0;
  // Values at or above the largest multiple of n would favour small results.
  const uint32_t limit = static_cast<uint32_t>(0x100000000ULL - (0x100000000ULL % n));
  for (;;) {
    uint8_t b[4];
    rng.Fill(b);
    const uint32_t v = static_cast<uint32_t>(b[0]) | static_cast<uint32_t>(b[1]) << 8 |
                       static_cast<uint32_t>(b[2]) << 16 | static_cast<uint32_t>(b[3]) << 24;
    if (limit == 0 || v < limit) return v % n;
  }
}

int64_t ToUnixSeconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
TimePoint FromUnixSeconds(int64_t s) {
  // system_clock counts nanoseconds in 64 bits (until year 2262); certificates
  // may say 9999-12-31. Saturate instead of overflowing.
  using Dur = TimePoint::duration;
  constexpr int64_t kMax = std::chrono::duration_cast<std::chrono::seconds>(Dur::max()).count() - 1;
  constexpr int64_t kMin = std::chrono::duration_cast<std::chrono::seconds>(Dur::min()).count() + 1;
  return TimePoint(
      std::chrono::duration_cast<Dur>(std::chrono::seconds(std::clamp(s, kMin, kMax))));
}

}  // namespace tpmesh
