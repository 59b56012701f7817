#include "request_target.h"

namespace tpmesh::net::internal {
namespace {

Error Bad(const std::string& what) {
  return MakeError(Code::kInvalidArgument, "bad_request", "request target: " + what);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `in`; `plus_is_space` for the query. `what` names the part.
Result<std::string> Decode(std::string_view in, bool plus_is_space, const char* what) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return Bad(std::string("incomplete percent escape in the ") + what);
      const int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return Bad(std::string("invalid percent escape in the ") + what);
      const char d = static_cast<char>(hi * 16 + lo);
      if (d == '\0') return Bad(std::string("encoded NUL in the ") + what);
      if (d == '/' && !plus_is_space) return Bad("encoded '/' in the path");
      out += d;
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

Result<RequestTarget> ParseRequestTarget(std::string_view target) {
  if (target.empty() || target[0] != '/') return Bad("must start with '/' (origin form)");
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return Bad("bytes outside printable ASCII");
  }
  const size_t q = target.find('?');
  const std::string_view raw_path = target.substr(0, q);
  if (raw_path.find('#') != std::string_view::npos) return Bad("fragment ('#') not allowed");
  RequestTarget out;
  TPMESH_ASSIGN_OR_RETURN(out.path, Decode(raw_path, false, "path"));
  if (q == std::string_view::npos) return out;
  std::string_view rest = target.substr(q + 1);
  if (rest.find('#') != std::string_view::npos) return Bad("fragment ('#') not allowed");
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    TPMESH_ASSIGN_OR_RETURN(std::string key, Decode(pair.substr(0, eq), true, "query"));
    std::string value;
    if (eq != std::string_view::npos) {
      TPMESH_ASSIGN_OR_RETURN(value, Decode(pair.substr(eq + 1), true, "query"));
    }
    out.query.emplace(std::move(key), std::move(value));
  }
  return out;
}

}  // namespace tpmesh::net::internal
