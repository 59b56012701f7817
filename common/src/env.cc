#include "tpmesh/common/env.h"

#include <sodium.h>

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
TimePoint FromUnixSeconds(int64_t s) { return TimePoint(std::chrono::seconds(s)); }

}  // namespace tpmesh
