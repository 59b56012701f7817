// CIDR and endpoint validation / canonical forms (inet_pton / inet_ntop).
#include <arpa/inet.h>

#include <array>
#include <cstring>

#include "tpmesh/wg/uapi.h"
#include "wg_internal.h"

namespace tpmesh::wg {
namespace {

Error BadCidr(std::string_view cidr, const std::string& why) {
  return MakeError(Code::kInvalidArgument, "invalid_cidr",
                   "invalid CIDR \"" + Printable(cidr) + "\": " + why);
}

Error BadEndpoint(std::string_view ep, const std::string& why) {
  return MakeError(Code::kInvalidArgument, "invalid_endpoint",
                   "invalid endpoint \"" + Printable(ep) + "\": " + why);
}

// Parses a v4 (no ':') or v6 address; returns the family or 0.
int ParseAddr(std::string_view text, std::array<uint8_t, 16>& out) {
  std::string s(text);
  if (s.find('\0') != std::string::npos) return 0;
  int family = s.find(':') == std::string::npos ? AF_INET : AF_INET6;
  return inet_pton(family, s.c_str(), out.data()) == 1 ? family : 0;
}

std::string FormatAddr(int family, const std::array<uint8_t, 16>& addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, addr.data(), buf, sizeof(buf));
  return buf;
}

}  // namespace

std::optional<uint64_t> ParseDecimal(std::string_view s, uint64_t max, bool allow_leading_zero) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  if (!allow_leading_zero && s.size() > 1 && s[0] == '0') return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (max - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::string Printable(std::string_view s, size_t max) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == max) {
      out += "...";
      break;
    }
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

Result<std::string> CanonicalCidr(std::string_view cidr) {
  size_t slash = cidr.rfind('/');
  if (slash == std::string_view::npos) return BadCidr(cidr, "no /prefix-length");
  std::array<uint8_t, 16> addr{};
  int family = ParseAddr(cidr.substr(0, slash), addr);
  if (family == 0) return BadCidr(cidr, "not an IPv4 or IPv6 address");
  const unsigned max_len = family == AF_INET ? 32 : 128;
  std::optional<uint64_t> len = ParseDecimal(cidr.substr(slash + 1), max_len, false);
  if (!len) {
    return BadCidr(cidr, "prefix length must be a number 0.." + std::to_string(max_len));
  }
  for (unsigned bit = static_cast<unsigned>(*len); bit < max_len; ++bit) {
    addr[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  return FormatAddr(family, addr) + "/" + std::to_string(*len);
}

Result<std::string> CanonicalEndpoint(std::string_view ep) {
  std::string_view host, port;
  std::string zone;
  int family = 0;
  std::array<uint8_t, 16> addr{};
  if (!ep.empty() && ep[0] == '[') {
    size_t close = ep.find("]:");
    if (close == std::string_view::npos) return BadEndpoint(ep, "expected [address]:port");
    host = ep.substr(1, close - 1);
    port = ep.substr(close + 2);
    size_t pct = host.find('%');
    if (pct != std::string_view::npos) {
      zone = std::string(host.substr(pct + 1));
      host = host.substr(0, pct);
      if (zone.empty() || zone.size() > 15) return BadEndpoint(ep, "zone must be 1..15 chars");
      for (char c : zone) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok) return BadEndpoint(ep, "bad character in zone");
      }
    }
    family = ParseAddr(host, addr);
    if (family != AF_INET6) return BadEndpoint(ep, "bracketed address is not IPv6");
  } else {
    size_t colon = ep.rfind(':');
    if (colon == std::string_view::npos) return BadEndpoint(ep, "no :port");
    host = ep.substr(0, colon);
    port = ep.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return BadEndpoint(ep, "IPv6 addresses must be bracketed: [addr]:port");
    }
    family = ParseAddr(host, addr);
    if (family != AF_INET) return BadEndpoint(ep, "not an IPv4 address (names must be resolved first)");
  }
  std::optional<uint64_t> p = ParseDecimal(port, 65535, false);
  if (!p || *p == 0) return BadEndpoint(ep, "port must be 1..65535");
  std::string a = FormatAddr(family, addr);
  if (family == AF_INET6) {
    return "[" + a + (zone.empty() ? "" : "%" + zone) + "]:" + std::to_string(*p);
  }
  return a + ":" + std::to_string(*p);
}

}  // namespace tpmesh::wg
