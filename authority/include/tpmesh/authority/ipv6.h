// IPv6 address plan: one mesh /48 (a ULA per RFC 4193 unless configured),
// one /64 per node (subnet index 1..65535 in bits 48-63), the node's overlay
// address is <its /64>::1. Pure functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "tpmesh/common/env.h"
#include "tpmesh/common/result.h"

namespace tpmesh::authority {

inline constexpr uint32_t kMaxSubnet = 65535;

struct MeshPrefix {
  std::array<uint8_t, 6> bytes{};  // the first 48 bits
  std::string ToString() const;    // "fd12:3456:789a::/48"
};

// RFC 4193: fd00::/8 + 40-bit random global ID.
MeshPrefix RandomUlaPrefix(Random& rng);
// Accepts "x:y:z::/48" (low 80 bits must be zero; prefix length exactly 48).
[[nodiscard]] Result<MeshPrefix> ParseMeshPrefix(std::string_view text);

std::string SubnetPrefix(const MeshPrefix& mesh, uint32_t subnet);  // "fd..:0001::/64"
std::string NodeAddress(const MeshPrefix& mesh, uint32_t subnet);   // "fd..:1::1"

}  // namespace tpmesh::authority
