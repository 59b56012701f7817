// Deterministic Clock and Random for unit tests.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <vector>

#include "tpmesh/common/env.h"

namespace tpmesh::testing {

// A clock that only moves when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t unix_seconds = 1'800'000'000) : now_s_(unix_seconds) {}
  TimePoint Now() const override { return FromUnixSeconds(now_s_.load()); }
  void Advance(int64_t seconds) { now_s_ += seconds; }
  void Set(int64_t unix_seconds) { now_s_ = unix_seconds; }

 private:
  std::atomic<int64_t> now_s_;
};

// A monotonic clock on simulated time: SleepFor advances it by the duration
// and returns at once, recording the duration (a notified Wakeup returns at
// once without advancing or recording). With `wall`, every advance also
// moves that FakeClock by the whole seconds crossed, so wall and monotonic
// time pass together. Thread-safe; `wall` must outlive this clock.
class FakeMonotonicClock final : public MonotonicClock {
 public:
  explicit FakeMonotonicClock(FakeClock* wall = nullptr) : wall_(wall) {}
  Instant Now() const override;
  void SleepFor(std::chrono::nanoseconds d, Wakeup& wake) override;
  // Time passing outside a sleep (a long poll waiting out, a test's pause).
  void Advance(std::chrono::nanoseconds d);
  // Every sleep so far, in order.
  std::vector<std::chrono::nanoseconds> sleeps() const;
  void ClearSleeps();

 private:
  void AdvanceLocked(std::chrono::nanoseconds d);

  mutable std::mutex mu_;
  FakeClock* wall_;
  std::chrono::nanoseconds elapsed_{0};
  std::vector<std::chrono::nanoseconds> sleeps_;
};

// Deterministic byte stream (a counter through SHA-256 would be overkill:
// tests only need reproducible, distinct bytes). Not for production.
class FakeRandom final : public Random {
 public:
  explicit FakeRandom(uint64_t seed = 1) : state_(seed) {}
  void Fill(std::span<uint8_t> out) override;

 private:
  uint64_t state_;
};

}  // namespace tpmesh::testing
