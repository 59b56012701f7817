#include "tests/support/fake_env.h"

namespace tpmesh::testing {

void FakeRandom::Fill(std::span<uint8_t> out) {
  for (auto& b : out) {
    // splitmix64 step
    state_ += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    b = static_cast<uint8_t>(z ^ (z >> 31));
  }
}

MonotonicClock::Instant FakeMonotonicClock::Now() const {
  std::lock_guard<std::mutex> lock(mu_);
  // An arbitrary, fixed origin: only differences mean anything.
  return Instant(std::chrono::hours(1000) + elapsed_);
}

void FakeMonotonicClock::SleepFor(std::chrono::nanoseconds d, Wakeup& wake) {
  if (wake.notified()) return;
  std::lock_guard<std::mutex> lock(mu_);
  sleeps_.push_back(d);
  AdvanceLocked(d);
}

void FakeMonotonicClock::Advance(std::chrono::nanoseconds d) {
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceLocked(d);
}

void FakeMonotonicClock::AdvanceLocked(std::chrono::nanoseconds d) {
  if (d.count() <= 0) return;
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  const int64_t before = duration_cast<seconds>(elapsed_).count();
  elapsed_ += d;
  if (wall_ != nullptr) wall_->Advance(duration_cast<seconds>(elapsed_).count() - before);
}

std::vector<std::chrono::nanoseconds> FakeMonotonicClock::sleeps() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sleeps_;
}

void FakeMonotonicClock::ClearSleeps() {
  std::lock_guard<std::mutex> lock(mu_);
  sleeps_.clear();
}

}  // namespace tpmesh::testing
