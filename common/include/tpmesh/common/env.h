// Injected environment: time and randomness.
//
// Logic that depends on time or randomness takes these interfaces so tests can
// run on simulated time with deterministic bytes and no sleeps (leveldb Env,
// Envoy TimeSource). Implementations must be thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
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

// Unix seconds of a time point, and back (saturating at the representable
// range, about years 1678-2262).
int64_t ToUnixSeconds(TimePoint t);
TimePoint FromUnixSeconds(int64_t s);

}  // namespace tpmesh
