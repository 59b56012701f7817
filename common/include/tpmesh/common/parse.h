// Parsers of the small text syntaxes every layer reads from untrusted input:
// "host:port" (endpoints, listen addresses, URL authorities), CIDRs, and
// durations ("90s", "15m", "1h", "7d"). The one implementation of each;
// callers add their own reason and context to the error.
//
// Errors: Code::kInvalidArgument with the given reason; the message is a
// short phrase about what is wrong ("port must be 1..65535") that never quotes
// the input, so callers can prefix their own (bounded) quote of it.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tpmesh/common/result.h"

namespace tpmesh {

struct HostPort {
  enum class Kind { kIpv4, kIpv6, kName };
  Kind kind = Kind::kIpv4;
  // Without brackets, in inet_ntop's canonical form for addresses ("::1",
  // zone kept as "fe80::1%eth0"), lower-case for names.
  std::string host;
  uint16_t port = 0;
  bool has_port = false;
};

struct HostPortRules {
  bool names = false;          // DNS names (LDH labels) besides address literals
  bool zone = false;           // IPv6 zone: "[fe80::1%eth0]:port" (1..15 chars of [A-Za-z0-9_.-])
  bool port_optional = false;  // "host" or "[v6]" alone
  bool port_zero = false;      // port 0 (a listen address: chosen by the system)
};

// "[v6]:port", "v4:port" and, as `rules` allow, names, zones, no port. IPv6
// needs brackets. The port is decimal without sign or leading '+', at most
// 5 digits. At most 300 characters.
[[nodiscard]] Result<HostPort> ParseHostPort(std::string_view text, const HostPortRules& rules = {},
                                             const std::string& reason = "invalid_host_port");
// "a.b.c.d:port" or "[v6]:port" (port omitted when !has_port).
std::string FormatHostPort(const HostPort& hp);

struct Cidr {
  int family = 0;  // AF_INET or AF_INET6
  uint8_t address[16] = {};
  unsigned prefix_len = 0;
  // Canonical "addr/len": host bits cleared, inet_ntop form.
  std::string ToString() const;
  // True when bits beyond prefix_len were set in the text.
  bool had_host_bits = false;
};

// "addr/len" with len 0..32 (IPv4) or 0..128 (IPv6) without leading zeros;
// no zone. At most 64 characters.
[[nodiscard]] Result<Cidr> ParseCidr(std::string_view text,
                                     const std::string& reason = "invalid_cidr");

// A whole number of seconds with an optional s, m, h or d suffix ("90",
// "90s", "15m", "1h", "7d"); at most 12 digits. Range checks are the
// caller's (the result is >= 0).
[[nodiscard]] Result<int64_t> ParseDurationSeconds(std::string_view text,
                                                   const std::string& reason = "invalid_duration");

}  // namespace tpmesh
