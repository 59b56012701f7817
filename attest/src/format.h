// Internal: formatting of TPM values in error messages.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace tpmesh::attest {

// "0x000b": TPM algorithm ids, attributes, magic values.
inline std::string Hex4(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%04x", v);
  return buf;
}

}  // namespace tpmesh::attest
