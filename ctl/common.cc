#include "ctl/common.h"

#include <sodium.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <fstream>

#include "tpmesh/common/parse.h"

namespace tpmesh::ctl {

// ---- connection ---------------------------------------------------------------

Connection::~Connection() { sodium_memzero(key_pem.data(), key_pem.size()); }

namespace {

// Reads a PEM file into one buffer (no intermediate copies: it may be a key).
Result<std::string> ReadCredential(const std::string& path, const std::string& what,
                                   const std::string& origin) {
  constexpr std::streamoff kMaxBytes = 1024 * 1024;
  const std::string where = what + " " + path + " (" + origin + ")";
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    return MakeError(Code::kFailedPrecondition, "cannot_read_file",
                     "cannot read " + where + ": " + std::strerror(errno));
  }
  const std::streamoff size = in.tellg();
  if (size <= 0 || size > kMaxBytes) {
    return MakeError(
        Code::kFailedPrecondition, "cannot_read_file",
        where + (size <= 0 ? " is empty or not a regular file" : " is larger than 1 MiB"));
  }
  std::string data(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(data.data(), size)) {
    sodium_memzero(data.data(), data.size());
    return MakeError(Code::kFailedPrecondition, "cannot_read_file", "cannot read " + where);
  }
  return data;
}

// The explicit file if given, else <admin_dir>/<name>; "" when neither.
struct Source {
  std::string path, origin;
};
Source Pick(const std::string& explicit_path, const char* flag, const std::string& dir,
            const char* name) {
  if (!explicit_path.empty()) return {explicit_path, std::string("from ") + flag};
  if (!dir.empty()) return {dir + "/" + name, "from --admin-dir/TPMESH_ADMIN_DIR"};
  return {};
}

}  // namespace

Result<std::unique_ptr<Connection>> ResolveConnection(const GlobalOptions& o) {
  if (o.authority.empty()) {
    return MakeError(
        Code::kInvalidArgument, "missing_authority",
        "no authority URL: pass --authority https://HOST:PORT or set TPMESH_AUTHORITY");
  }
  if (o.authority.rfind("https://", 0) != 0 || o.authority.size() <= 8) {
    return MakeError(Code::kInvalidArgument, "invalid_authority",
                     "--authority: '" + Sanitize(o.authority.substr(0, 128)) +
                         "' is not an https:// URL (e.g. https://[fd00::1]:8443)");
  }
  const Source ca = Pick(o.ca, "--ca", o.admin_dir, "ca.crt");
  const Source cert = Pick(o.cert, "--cert", o.admin_dir, "admin.crt");
  const Source key = Pick(o.key, "--key", o.admin_dir, "admin.key");
  const char* kHow =
      "pass --admin-dir DIR (or set TPMESH_ADMIN_DIR) to use DIR/ca.crt, "
      "DIR/admin.crt and DIR/admin.key from the authority's state directory, or ";
  if (ca.path.empty()) {
    return MakeError(
        Code::kInvalidArgument, "missing_credentials",
        std::string("no CA certificate to verify the authority: ") + kHow + "--ca FILE");
  }
  if (cert.path.empty() || key.path.empty()) {
    return MakeError(
        Code::kInvalidArgument, "missing_credentials",
        std::string("no admin client certificate and key: ") + kHow + "--cert FILE and --key FILE");
  }
  auto c = std::make_unique<Connection>();
  c->base_url = o.authority;
  while (c->base_url.size() > 8 && c->base_url.back() == '/') c->base_url.pop_back();
  TPMESH_ASSIGN_OR_RETURN(c->ca_pem, ReadCredential(ca.path, "CA certificate", ca.origin));
  TPMESH_ASSIGN_OR_RETURN(c->cert_pem, ReadCredential(cert.path, "admin certificate", cert.origin));
  TPMESH_ASSIGN_OR_RETURN(c->key_pem, ReadCredential(key.path, "admin key", key.origin));
  return c;
}

// ---- registry -----------------------------------------------------------------

void Registry::Add(CLI::App* leaf, Command command) {
  commands_.emplace_back(leaf, std::move(command));
}

const Command* Registry::Selected() const {
  for (const auto& [app, cmd] : commands_) {
    if (app->parsed()) return &cmd;
  }
  return nullptr;
}

// ---- argument parsing ---------------------------------------------------------------

Error Invalid(std::string reason, std::string message) {
  return MakeError(Code::kInvalidArgument, std::move(reason), std::move(message));
}

namespace {

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// For messages: the input, shortened and made printable.
std::string Quote(std::string_view s) {
  std::string q = Sanitize(s.substr(0, 80));
  if (s.size() > 80) q += "...";
  return "'" + q + "'";
}

}  // namespace

Result<int64_t> ParseDuration(std::string_view text) {
  auto secs = ParseDurationSeconds(text.substr(0, 13), "invalid_ttl");
  if (!secs.ok() || text.size() > 13) {
    return Invalid("invalid_ttl", "ttl: " + Quote(text) +
                                      " is not a duration; use a whole number with an s, m, h or d "
                                      "suffix (e.g. 90s, 15m, 1h, 7d)");
  }
  if (*secs == 0) return Invalid("invalid_ttl", "ttl: must be greater than zero");
  return *secs;
}

Result<PcrArg> ParsePcrArg(std::string_view text) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos) {
    return Invalid("invalid_pcr",
                   "--pcr " + Quote(text) + ": expected INDEX=HEX, e.g. 7=<64 hex digits>");
  }
  const std::string_view idx = text.substr(0, eq);
  std::string_view hex = text.substr(eq + 1);
  PcrArg out;
  auto [end, ec] = std::from_chars(idx.data(), idx.data() + idx.size(), out.index);
  if (idx.empty() || ec != std::errc() || end != idx.data() + idx.size() || out.index > 23) {
    return Invalid("invalid_pcr", "--pcr " + Quote(text) + ": PCR index must be 0-23");
  }
  if (hex.rfind("0x", 0) == 0) hex.remove_prefix(2);
  for (char c : hex) {
    if (!IsHex(c)) {
      return Invalid("invalid_pcr", "--pcr " + std::to_string(out.index) + ": value " + Quote(hex) +
                                        " is not hex");
    }
  }
  if (hex.size() != 64) {
    return Invalid("invalid_pcr", "--pcr " + std::to_string(out.index) + ": value has " +
                                      std::to_string(hex.size()) +
                                      " hex digits; a SHA-256 PCR value has 64");
  }
  out.hex = Lower(hex);
  return out;
}

Result<std::string> NormalizeSha256(std::string_view text) {
  std::string_view t = text;
  if (t.size() > 7 && Lower(t.substr(0, 7)) == "sha256:") t.remove_prefix(7);
  std::string hex;
  for (char c : t) {
    if (c == ':') continue;
    if (!IsHex(c)) {
      return Invalid("invalid_ek_sha256", "EK fingerprint " + Quote(text) +
                                              " is not hex (expected 64 hex digits, ':' allowed)");
    }
    hex.push_back(c);
  }
  if (hex.size() != 64) {
    return Invalid("invalid_ek_sha256", "EK fingerprint has " + std::to_string(hex.size()) +
                                            " hex digits; a SHA-256 fingerprint has 64");
  }
  return Lower(hex);
}

Result<std::string> CheckPathName(std::string_view text, const std::string& what) {
  const std::string reason = "invalid_" + what;
  if (text.empty()) return Invalid(reason, what + ": must not be empty");
  if (text.size() > 253) return Invalid(reason, what + ": longer than 253 characters");
  for (unsigned char c : text) {
    if (c == '/') return Invalid(reason, what + " " + Quote(text) + ": must not contain '/'");
    if (c < 0x20 || c == 0x7f)
      return Invalid(reason, what + " " + Quote(text) + ": contains control characters");
  }
  return std::string(text);
}

Result<std::string> CheckText(const std::string& text, const std::string& what) {
  if (text.size() > 1000)
    return Invalid("invalid_" + what, "--" + what + ": longer than 1000 characters");
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      return Invalid("invalid_" + what,
                     "--" + what + ": must not contain control characters (newlines, tabs)");
    }
  }
  return text;
}

bool HasText(std::string_view s) { return s.find_first_not_of(" \t") != std::string_view::npos; }

std::string EncodePathSegment(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

// ---- output -------------------------------------------------------------------

std::string Sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      out.push_back('?');
    } else if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(s[i + 1]) <= 0x9f) {
      out.push_back('?');  // U+0080-U+009F (C1 controls, e.g. 8-bit CSI)
      ++i;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

namespace {

size_t DisplayWidth(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;  // count code points, not bytes
  return n;
}

}  // namespace

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  for (auto& c : cells) c = c.empty() ? "-" : Sanitize(c);
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> width(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) width[i] = DisplayWidth(headers_[i]);
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], DisplayWidth(row[i]));
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out.append(width[i] - DisplayWidth(cells[i]) + 3, ' ');
    }
    out += '\n';
  };
  line(headers_);
  for (const auto& row : rows_) line(row);
  return out;
}

std::string RenderFields(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& [k, v] : fields) width = std::max(width, DisplayWidth(k) + 1);
  std::string out;
  for (const auto& [k, v] : fields) {
    out += k + ":";
    out.append(width - DisplayWidth(k) - 1 + 2, ' ');
    out += v.empty() ? "-" : Sanitize(v);
    out += '\n';
  }
  return out;
}

std::string FormatSpan(int64_t s) {
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m";
  if (s < 86400) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

std::string FormatAge(int64_t t, int64_t now) {
  if (t <= 0) return "never";
  if (t == now) return "now";
  if (t < now) return FormatSpan(now - t) + " ago";
  return "in " + FormatSpan(t - now);
}

std::string FormatUntil(int64_t t, int64_t now) {
  if (t <= 0) return "-";
  if (t <= now) return "due";
  return "in " + FormatSpan(t - now);
}

std::string FormatTime(int64_t t) {
  if (t <= 0) return "never";
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  if (gmtime_r(&tt, &tm) == nullptr) return std::to_string(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string JStr(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number() || it->is_boolean()) return it->dump();
  return "";
}

int64_t JInt(const json& j, const char* key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return 0;
  return it->get<int64_t>();
}

const json& JArr(const json& j, const char* key) {
  static const json kEmpty = json::array();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : kEmpty;
}

std::string Join(const json& arr, const char* sep) {
  std::string out;
  if (!arr.is_array()) return out;
  for (const auto& v : arr) {
    if (!v.is_string()) continue;
    if (!out.empty()) out += sep;
    out += v.get<std::string>();
  }
  return out;
}

}  // namespace tpmesh::ctl
