// Injected environment: time and randomness.
//
// Logic that depends on time or randomness takes these interfaces so tests can
// run on simulated time with deterministic bytes and no sleeps (leveldb Env,
// Envoy TimeSource). Implementations must be thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <span>

namespace tpmesh {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

// Wall clock (std::chrono::system_clock).
class SystemClock final : public Clock {
 public:
  TimePoint Now() const override;
  static SystemClock& Instance();
};

class Random {
 public:
  virtual ~Random() = default;
  // Fills `out` with cryptographically secure random bytes. Never fails.
  virtual void Fill(std::span<uint8_t> out) = 0;
};

// libsodium randombytes_buf.
class SystemRandom final : public Random {
 public:
  void Fill(std::span<uint8_t> out) override;
  static SystemRandom& Instance();
};

// A one-way flag that wakes sleepers at once (a stop request): once
// notified it stays notified. Thread-safe.
class Wakeup {
 public:
  void Notify();
  bool notified() const;
  // Blocks (real time) until notified or `d` has passed; returns notified().
  bool WaitFor(std::chrono::nanoseconds d);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
};

// Monotonic time and sleeping (Envoy TimeSource, leveldb Env's
// SleepForMicroseconds): what timeouts, retry delays and backoff use, so a
// simulated clock can advance through a sleep instantly.
class MonotonicClock {
 public:
  using Instant = std::chrono::steady_clock::time_point;
  virtual ~MonotonicClock() = default;
  virtual Instant Now() const = 0;
  // Waits until `d` has passed on this clock, or returns early once `wake`
  // is notified (at once if it already is).
  virtual void SleepFor(std::chrono::nanoseconds d, Wakeup& wake) = 0;
};

// std::chrono::steady_clock; sleeps are Wakeup::WaitFor.
class SystemMonotonicClock final : public MonotonicClock {
 public:
  Instant Now() const override;
  void SleepFor(std::chrono::nanoseconds d, Wakeup& wake) override;
  static SystemMonotonicClock& Instance();
};

// A uniform integer in [0, n) from `rng` (n > 0), without modulo bias.
uint32_t UniformBelow(Random& rng, uint32_t n);

// Unix seconds of a time point, and back (saturating at the representable
// range, about years 1678-2262).
int64_t ToUnixSeconds(TimePoint t);
TimePoint FromUnixSeconds(int64_t s);

}  // namespace tpmesh
