// UAPI text: set formatting, get parsing (see uapi.h for the contract).
#include "tpmesh/wg/uapi.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <set>

#include "wg_internal.h"

namespace tpmesh::wg {
namespace {

constexpr char kSetInvalid[] = "wg_config_invalid";
constexpr char kMalformed[] = "uapi_malformed";

Error ConfigError(std::string msg) {
  return MakeError(Code::kInvalidArgument, kSetInvalid, std::move(msg));
}

// Appends "key=<hex>\n" hex-encoding in place (no temporary holding a secret).
void AppendKeyLine(std::string& out, std::string_view key, ByteView bytes) {
  out += key;
  out += '=';
  size_t at = out.size();
  out.resize(at + bytes.size() * 2 + 1);
  sodium_bin2hex(out.data() + at, bytes.size() * 2 + 1, bytes.data(), bytes.size());
  out.back() = '\n';
}

void AppendLine(std::string& out, std::string_view key, std::string_view value) {
  out += key;
  out += '=';
  out += value;
  out += '\n';
}

bool AllZero(ByteView b) { return sodium_is_zero(b.data(), b.size()) == 1; }

std::string PeerName(const WgPeer& p, size_t index) {
  if (p.public_key.size() == kKeyLen) return "peer " + Base64Encode(p.public_key);
  return "peer #" + std::to_string(index);
}

// Upper bound of the formatted size, so the output never reallocates (a
// reallocation would free a buffer holding key material unwiped).
size_t SizeBound(const WgDeviceConfig& c) {
  size_t n = 256;
  for (const WgPeer& p : c.peers) {
    n += 512 + (p.endpoint ? p.endpoint->size() : 0);
    n += p.allowed_ips.size() * 80;  // canonical CIDRs are <= 43 chars
  }
  return n;
}

}  // namespace

Result<std::string> FormatUapiSet(const WgDeviceConfig& c) {
  std::string out;
  out.reserve(SizeBound(c));
  out += "set=1\n";
  if (c.private_key) {
    if (c.private_key->size() != kKeyLen) {
      return ConfigError("private_key has " + std::to_string(c.private_key->size()) +
                         " bytes, want 32");
    }
    AppendKeyLine(out, "private_key", c.private_key->view());
  }
  if (c.listen_port) AppendLine(out, "listen_port", std::to_string(*c.listen_port));
  if (c.fwmark) AppendLine(out, "fwmark", std::to_string(*c.fwmark));
  if (c.replace_peers) AppendLine(out, "replace_peers", "true");
  for (size_t i = 0; i < c.peers.size(); ++i) {
    const WgPeer& p = c.peers[i];
    const std::string name = PeerName(p, i);
    if (p.public_key.size() != kKeyLen) {
      return ConfigError(name + ": public_key has " + std::to_string(p.public_key.size()) +
                         " bytes, want 32");
    }
    AppendKeyLine(out, "public_key", p.public_key);
    if (p.update_only) AppendLine(out, "update_only", "true");
    if (p.remove) {
      if (p.preshared_key || p.endpoint || p.persistent_keepalive || !p.allowed_ips.empty() ||
          p.replace_allowed_ips) {
        return ConfigError(name + ": remove=true must not carry other fields");
      }
      AppendLine(out, "remove", "true");
      continue;
    }
    if (p.preshared_key) {
      if (p.preshared_key->size() != kKeyLen) {
        return ConfigError(name + ": preshared_key has " + std::to_string(p.preshared_key->size()) +
                           " bytes, want 32");
      }
      AppendKeyLine(out, "preshared_key", p.preshared_key->view());
    }
    if (p.endpoint) {
      auto ep = CanonicalEndpoint(*p.endpoint);
      if (!ep.ok()) return ConfigError(name + ": " + ep.error().message);
      AppendLine(out, "endpoint", *ep);
    }
    if (p.persistent_keepalive) {
      AppendLine(out, "persistent_keepalive_interval", std::to_string(*p.persistent_keepalive));
    }
    if (p.replace_allowed_ips) AppendLine(out, "replace_allowed_ips", "true");
    for (const std::string& ip : p.allowed_ips) {
      auto cidr = CanonicalCidr(ip);
      if (!cidr.ok()) return ConfigError(name + ": allowed_ip: " + cidr.error().message);
      AppendLine(out, "allowed_ip", *cidr);
    }
  }
  out += '\n';
  return out;
}

std::string FormatUapiGet(const WgDeviceConfig& c) {
  std::string out;
  out.reserve(SizeBound(c) + c.peers.size() * 256);
  if (c.private_key && c.private_key->size() == kKeyLen && !AllZero(c.private_key->view())) {
    AppendKeyLine(out, "private_key", c.private_key->view());
  }
  if (c.listen_port) AppendLine(out, "listen_port", std::to_string(*c.listen_port));
  if (c.fwmark) AppendLine(out, "fwmark", std::to_string(*c.fwmark));
  const uint8_t zero[kKeyLen] = {};
  for (const WgPeer& p : c.peers) {
    AppendKeyLine(out, "public_key", p.public_key);
    AppendKeyLine(out, "preshared_key",
                  p.preshared_key ? p.preshared_key->view() : ByteView(zero, kKeyLen));
    if (p.protocol_version) AppendLine(out, "protocol_version", std::to_string(p.protocol_version));
    if (p.endpoint) AppendLine(out, "endpoint", *p.endpoint);
    AppendLine(out, "last_handshake_time_sec", std::to_string(p.last_handshake_sec));
    AppendLine(out, "last_handshake_time_nsec", std::to_string(p.last_handshake_nsec));
    AppendLine(out, "tx_bytes", std::to_string(p.tx_bytes));
    AppendLine(out, "rx_bytes", std::to_string(p.rx_bytes));
    AppendLine(out, "persistent_keepalive_interval",
               std::to_string(p.persistent_keepalive.value_or(0)));
    for (const std::string& ip : p.allowed_ips) AppendLine(out, "allowed_ip", ip);
  }
  out += "errno=0\n\n";
  return out;
}

namespace {

// Parser state for one get response.
class GetParser {
 public:
  Result<WgDeviceConfig> Run(std::string_view in) {
    size_t pos = 0;
    bool got_errno = false;
    while (pos < in.size()) {
      size_t nl = in.find('\n', pos);
      if (nl == std::string_view::npos) nl = in.size();
      std::string_view line = in.substr(pos, nl - pos);
      pos = nl + 1;
      ++lineno_;
      key_ = {};
      if (got_errno) {
        if (line.empty() && pos >= in.size()) break;
        return Bad("text after the errno line");
      }
      if (line.empty()) return Bad("blank line before the errno line (response cut short?)");
      size_t eq = line.find('=');
      if (eq == std::string_view::npos) return Bad("expected key=value");
      key_ = line.substr(0, eq);
      std::string_view value = line.substr(eq + 1);
      if (key_ == "errno") {
        TPMESH_RETURN_IF_ERROR(Errno(value));
        got_errno = true;
        continue;
      }
      TPMESH_RETURN_IF_ERROR(peer_ ? PeerLine(value) : DeviceLine(value));
    }
    if (!got_errno) {
      return MakeError(Code::kInvalidArgument, kMalformed,
                       "uapi get response ends without an errno line");
    }
    return std::move(cfg_);
  }

 private:
  Error Bad(const std::string& why) {
    std::string where = "uapi get response line " + std::to_string(lineno_);
    if (!key_.empty()) where += " (" + Printable(key_, 40) + ")";
    return MakeError(Code::kInvalidArgument, kMalformed, where + ": " + why);
  }

  Status Seen(std::set<std::string>& seen) {
    if (!seen.insert(std::string(key_)).second) return Bad("duplicate key");
    return OkStatus();
  }

  Result<uint64_t> Number(std::string_view v, uint64_t max) {
    auto n = ParseDecimal(v, max, true);
    if (!n) return Bad("expected a decimal number <= " + std::to_string(max));
    return *n;
  }

  Result<Bytes> Key(std::string_view v) {
    if (v.size() != kKeyLen * 2) {
      return Bad("key must be 64 hex digits, got " + std::to_string(v.size()) + " characters");
    }
    Bytes out(kKeyLen);
    size_t len = 0;
    const char* end = nullptr;
    if (sodium_hex2bin(out.data(), out.size(), v.data(), v.size(), nullptr, &len, &end) != 0 ||
        len != kKeyLen || end != v.data() + v.size()) {
      return Bad("key is not valid hex");
    }
    return out;
  }

  Status Errno(std::string_view v) {
    bool neg = !v.empty() && v[0] == '-';
    auto n = ParseDecimal(neg ? v.substr(1) : v, 1u << 30, true);
    if (!n) return Bad("errno is not a number");
    if (*n == 0) return OkStatus();
    int e = static_cast<int>(*n);
    std::string text = "device returned errno=" + std::string(neg ? "-" : "") + std::to_string(e) +
                       " (" + std::strerror(e) + ")";
    return MakeError(Code::kInternal, "wg_errno", text);
  }

  Status DeviceLine(std::string_view v) {
    TPMESH_RETURN_IF_ERROR(Seen(device_seen_));
    if (key_ == "private_key") {
      TPMESH_ASSIGN_OR_RETURN(Bytes k, Key(v));
      if (!AllZero(k)) cfg_.private_key = SecretBytes(ByteView(k));  // zero = no key
      sodium_memzero(k.data(), k.size());
    } else if (key_ == "listen_port") {
      TPMESH_ASSIGN_OR_RETURN(uint64_t n, Number(v, 65535));
      cfg_.listen_port = static_cast<uint16_t>(n);
    } else if (key_ == "fwmark") {
      TPMESH_ASSIGN_OR_RETURN(uint64_t n, Number(v, 0xffffffffu));
      cfg_.fwmark = static_cast<uint32_t>(n);
    } else if (key_ == "public_key") {
      return StartPeer(v);
    } else {
      return Bad("unknown device key");
    }
    return OkStatus();
  }

  Status StartPeer(std::string_view v) {
    TPMESH_ASSIGN_OR_RETURN(Bytes k, Key(v));
    if (!peer_keys_.insert(k).second) return Bad("peer listed twice");
    cfg_.peers.emplace_back();
    peer_ = &cfg_.peers.back();
    peer_->public_key = std::move(k);
    peer_->persistent_keepalive = 0;
    peer_seen_.clear();
    peer_seen_.insert("public_key");
    return OkStatus();
  }

  Status PeerLine(std::string_view v) {
    if (key_ == "public_key") return StartPeer(v);
    if (key_ == "allowed_ip") {
      auto cidr = CanonicalCidr(v);
      if (!cidr.ok()) return Bad(cidr.error().message);
      peer_->allowed_ips.push_back(std::move(*cidr));
      return OkStatus();
    }
    TPMESH_RETURN_IF_ERROR(Seen(peer_seen_));
    if (key_ == "preshared_key") {
      TPMESH_ASSIGN_OR_RETURN(Bytes k, Key(v));
      if (!AllZero(k)) peer_->preshared_key = SecretBytes(ByteView(k));
      sodium_memzero(k.data(), k.size());
    } else if (key_ == "endpoint") {
      auto ep = CanonicalEndpoint(v);
      if (!ep.ok()) return Bad(ep.error().message);
      peer_->endpoint = std::move(*ep);
    } else if (key_ == "protocol_version") {
      TPMESH_ASSIGN_OR_RETURN(uint64_t n, Number(v, 0xffffffffu));
      peer_->protocol_version = static_cast<uint32_t>(n);
    } else if (key_ == "last_handshake_time_sec") {
      TPMESH_ASSIGN_OR_RETURN(uint64_t n, Number(v, INT64_MAX));
      peer_->last_handshake_sec = static_cast<int64_t>(n);
    } else if (key_ == "last_handshake_time_nsec") {
      TPMESH_ASSIGN_OR_RETURN(uint64_t n, Number(v, 999999999));
      peer_->last_handshake_nsec = static_cast<int64_t>(n);
    } else if (key_ == "tx_bytes") {
      TPMESH_ASSIGN_OR_RETURN(peer_->tx_bytes, Number(v, UINT64_MAX));
    } else if (key_ == "rx_bytes") {
      TPMESH_ASSIGN_OR_RETURN(peer_->rx_bytes, Number(v, UINT64_MAX));
    } else if (key_ == "persistent_keepalive_interval") {
      TPMESH_ASSIGN_OR_RETURN(uint64_t n, Number(v, 65535));
      peer_->persistent_keepalive = static_cast<uint16_t>(n);
    } else if (key_ == "private_key" || key_ == "listen_port" || key_ == "fwmark") {
      return Bad("device key after the first peer");
    } else {
      return Bad("unknown peer key");
    }
    return OkStatus();
  }

  WgDeviceConfig cfg_;
  WgPeer* peer_ = nullptr;
  std::set<std::string> device_seen_, peer_seen_;
  std::set<Bytes> peer_keys_;
  std::string_view key_;
  size_t lineno_ = 0;
};

}  // namespace

Result<WgDeviceConfig> ParseUapiGet(std::string_view response) { return GetParser().Run(response); }

int FuzzParseUapiGet(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto cfg = ParseUapiGet(in);
  if (!cfg.ok()) return 0;
  // Whatever parses must format (as set and as get) and parse back equal.
  if (!FormatUapiSet(*cfg).ok()) std::abort();
  auto again = ParseUapiGet(FormatUapiGet(*cfg));
  if (!again.ok() || !Equal(*cfg, *again)) std::abort();
  return 0;
}

}  // namespace tpmesh::wg
