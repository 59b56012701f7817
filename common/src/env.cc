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

int64_t ToUnixSeconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
TimePoint FromUnixSeconds(int64_t s) {
  // system_clock counts nanoseconds in 64 bits (until year 2262); certificates
  // may say 9999-12-31. Saturate instead of overflowing.
  using Dur = TimePoint::duration;
  constexpr int64_t kMax =
      std::chrono::duration_cast<std::chrono::seconds>(Dur::max()).count() - 1;
  constexpr int64_t kMin =
      std::chrono::duration_cast<std::chrono::seconds>(Dur::min()).count() + 1;
  return TimePoint(std::chrono::duration_cast<Dur>(std::chrono::seconds(std::clamp(s, kMin, kMax))));
}

}  // namespace tpmesh
