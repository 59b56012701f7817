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

}  // namespace tpmesh::testing
