#include "tpmesh/common/parse.h"

#include <arpa/inet.h>

#include <optional>

namespace tpmesh {
namespace {

Error Bad(const std::string& reason, const std::string& why) {
  return MakeError(Code::kInvalidArgument, reason, why);
}

// Decimal digits only, at most `max_digits`, no leading zero (except "0"),
// value <= max.
std::optional<uint64_t> Decimal(std::string_view s, size_t max_digits, uint64_t max) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  if (s.size() > 1 && s[0] == '0') return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

// Address literal of `family` in canonical inet_ntop form; nullopt if invalid.
std::optional<std::string> Canonical(int family, std::string_view text) {
  std::string s(text);
  if (s.find('\0') != std::string::npos) return std::nullopt;
  uint8_t buf[16];
  if (inet_pton(family, s.c_str(), buf) != 1) return std::nullopt;
  char out[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, buf, out, sizeof out);
  return std::string(out);
}

bool IsZoneChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

// LDH labels of 1..63 characters, at most 253 in all; lower-cased.
std::optional<std::string> DnsName(std::string_view s) {
  if (s.empty() || s.size() > 253) return std::nullopt;
  std::string out;
  size_t label = 0;
  for (char c : s) {
    if (c == '.') {
      if (label == 0) return std::nullopt;
      label = 0;
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
      if (++label > 63) return std::nullopt;
    } else if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
      if (++label > 63) return std::nullopt;
    } else {
      return std::nullopt;
    }
    out += c;
  }
  if (label == 0) return std::nullopt;
  return out;
}

Result<std::string> BracketedHost(std::string_view inner, const HostPortRules& rules,
                                  const std::string& reason) {
  std::string zone;
  if (size_t pct = inner.find('%'); pct != std::string_view::npos) {
    if (!rules.zone) return Bad(reason, "an IPv6 zone (%...) is not allowed here");
    zone = std::string(inner.substr(pct + 1));
    inner = inner.substr(0, pct);
    if (zone.empty() || zone.size() > 15) return Bad(reason, "zone must be 1..15 chars");
    for (char c : zone) {
      if (!IsZoneChar(c)) return Bad(reason, "bad character in zone");
    }
  }
  auto v6 = Canonical(AF_INET6, inner);
  if (!v6) return Bad(reason, "bracketed address is not IPv6");
  return zone.empty() ? *v6 : *v6 + "%" + zone;
}

}  // namespace

Result<HostPort> ParseHostPort(std::string_view text, const HostPortRules& rules,
                               const std::string& reason) {
  if (text.empty()) return Bad(reason, "empty");
  if (text.size() > 300) return Bad(reason, "longer than 300 characters");
  HostPort hp;
  std::string_view port;
  if (text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return Bad(reason, "missing ']' after the IPv6 address");
    TPMESH_ASSIGN_OR_RETURN(hp.host, BracketedHost(text.substr(1, close - 1), rules, reason));
    hp.kind = HostPort::Kind::kIpv6;
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return Bad(reason, "expected ':port' after ']'");
      port = rest.substr(1);
      hp.has_port = true;
    }
  } else {
    size_t colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      return Bad(reason, "IPv6 addresses must be bracketed: [addr]:port");
    }
    std::string_view host = text.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = text.substr(colon + 1);
      hp.has_port = true;
    }
    if (auto v4 = Canonical(AF_INET, host)) {
      hp.host = *v4;
    } else if (auto name = rules.names ? DnsName(host) : std::nullopt) {
      hp.kind = HostPort::Kind::kName;
      hp.host = *name;
    } else {
      return Bad(reason, rules.names ? "not an IPv4 address or a DNS name"
                                     : "not an IPv4 address (names must be resolved first)");
    }
  }
  if (!hp.has_port) {
    if (!rules.port_optional) return Bad(reason, "no :port");
    return hp;
  }
  const uint64_t min = rules.port_zero ? 0 : 1;
  std::optional<uint64_t> p = Decimal(port, 5, 65535);
  if (!p || *p < min)
    return Bad(reason, rules.port_zero ? "port must be 0..65535" : "port must be 1..65535");
  hp.port = static_cast<uint16_t>(*p);
  return hp;
}

std::string FormatHostPort(const HostPort& hp) {
  std::string host = hp.kind == HostPort::Kind::kIpv6 ? "[" + hp.host + "]" : hp.host;
  return hp.has_port ? host + ":" + std::to_string(hp.port) : host;
}

std::string Cidr::ToString() const {
  char out[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, address, out, sizeof out);
  return std::string(out) + "/" + std::to_string(prefix_len);
}

Result<Cidr> ParseCidr(std::string_view text, const std::string& reason) {
  if (text.size() > 64) return Bad(reason, "longer than 64 characters");
  size_t slash = text.rfind('/');
  if (slash == std::string_view::npos) return Bad(reason, "no /prefix-length");
  Cidr c;
  std::string addr(text.substr(0, slash));
  c.family = addr.find(':') == std::string::npos ? AF_INET : AF_INET6;
  if (addr.find('\0') != std::string::npos || inet_pton(c.family, addr.c_str(), c.address) != 1) {
    return Bad(reason, "not an IPv4 or IPv6 address");
  }
  const unsigned max_len = c.family == AF_INET ? 32 : 128;
  std::optional<uint64_t> len = Decimal(text.substr(slash + 1), 3, max_len);
  if (!len) return Bad(reason, "prefix length must be a number 0.." + std::to_string(max_len));
  c.prefix_len = static_cast<unsigned>(*len);
  for (unsigned bit = c.prefix_len; bit < max_len; ++bit) {
    const auto mask = static_cast<uint8_t>(0x80u >> (bit % 8));
    if (c.address[bit / 8] & mask) c.had_host_bits = true;
    c.address[bit / 8] &= static_cast<uint8_t>(~mask);
  }
  return c;
}

Result<int64_t> ParseDurationSeconds(std::string_view text, const std::string& reason) {
  const std::string usage =
      "a duration is a whole number with an s, m, h or d suffix (e.g. 90s, 15m, 1h, 7d)";
  if (text.empty()) return Bad(reason, usage);
  int64_t unit = 1;
  std::string_view digits = text;
  switch (text.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: unit = 0; break;
  }
  if (unit != 0)
    digits.remove_suffix(1);
  else
    unit = 1;
  if (digits.empty() || digits.size() > 12) return Bad(reason, usage);
  uint64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return Bad(reason, usage);
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return static_cast<int64_t>(n) * unit;  // < 10^12 * 86400 < 2^63
}

}  // namespace tpmesh
