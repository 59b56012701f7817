// Deterministic Clock and Random for unit tests.
#pragma once

#include <atomic>
#include <cstdint>

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
