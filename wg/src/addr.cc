// CIDR and endpoint validation / canonical forms (common/parse.h).
#include "tpmesh/common/parse.h"
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
  auto c = ParseCidr(cidr);
  if (!c.ok()) return BadCidr(cidr, c.error().message);
  return c->ToString();
}

Result<std::string> CanonicalEndpoint(std::string_view ep) {
  auto hp = ParseHostPort(ep, {.zone = true});
  if (!hp.ok()) return BadEndpoint(ep, hp.error().message);
  return FormatHostPort(*hp);
}

}  // namespace tpmesh::wg
