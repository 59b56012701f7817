// The WireGuard device seam: plain configuration data and the device
// interface the client daemon programs.
//
// Data model (after wireguard-tools' containers.h): an optional / a flag
// that is unset means "not mentioned" (leave as is); set to zero means "set
// to zero". The same structs carry a `set` operation (FormatUapiSet) and the
// result of a `get` (ParseUapiGet; then the stats fields are filled too).
//
// Keys are 32 raw bytes (Curve25519); the wire forms are lowercase hex (UAPI)
// and base64 (wg(8), config files). The private key and preshared keys are
// SecretBytes: never logged; ToString prints "(hidden)" for them.
//
// Allowed IPs are CIDR strings "addr/len". Everything this library returns
// holds them canonical: host bits cleared, address as inet_ntop prints it
// ("10.0.0.0/24", "fd00::/64"), which is also how wireguard-go prints them.
// Endpoints are "a.b.c.d:port" or "[v6]:port" ("[fe80::1%eth0]:port" allowed).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

namespace tpmesh::wg {

inline constexpr size_t kKeyLen = 32;

struct WgPeer {
  Bytes public_key;                              // 32 bytes; required
  std::optional<SecretBytes> preshared_key;      // 32 bytes; all zero = remove the PSK
  std::optional<std::string> endpoint;           // "[v6]:port" / "v4:port"
  std::optional<uint16_t> persistent_keepalive;  // seconds; 0 = off
  std::vector<std::string> allowed_ips;          // CIDR; added to the peer's set
  bool replace_allowed_ips = false;              // set: drop the peer's prefixes first
  bool remove = false;                           // set: delete this peer (no other fields)
  bool update_only = false;                      // set: do not create the peer if absent

  // Filled by get only (ignored by set).
  int64_t last_handshake_sec = 0;  // 0 = never
  int64_t last_handshake_nsec = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  uint32_t protocol_version = 0;  // 0 = not reported
};

struct WgDeviceConfig {
  std::optional<SecretBytes> private_key;  // 32 bytes; all zero = clear the key
  std::optional<uint16_t> listen_port;     // 0 = let the device choose
  std::optional<uint32_t> fwmark;          // 0 = clear
  bool replace_peers = false;              // set: remove every peer first
  std::vector<WgPeer> peers;
};

// Human-readable multi-line dump for logs and test failures. Public keys in
// base64 (as wg(8) prints them); private and preshared keys never printed.
std::string ToString(const WgPeer& peer);
std::string ToString(const WgDeviceConfig& config);

// Field-by-field equality, stats included; peer order and allowed-IP order
// matter (sort first to compare sets). Secrets compared in constant time.
bool Equal(const WgPeer& a, const WgPeer& b);
bool Equal(const WgDeviceConfig& a, const WgDeviceConfig& b);

// Deep copies (the structs are move-only because of SecretBytes).
WgPeer Clone(const WgPeer& peer);
WgDeviceConfig Clone(const WgDeviceConfig& config);

// Appends to `config` the peer operations that make the device send a
// keepalive to `public_key` while the set is applied, which starts a
// handshake when the peer has no session that can send: persistent
// keepalive off, then on (both wireguard-go and the kernel send one on that
// transition, shared/reference/wireguard.md fact 5), then `keepalive` again
// (0 = off). update_only: a peer not on the device is not created. The
// device applies a handshake initiation at most every 5 s per peer
// (REKEY_TIMEOUT): one started less than 5 s ago is not repeated.
void AppendKeepaliveNow(WgDeviceConfig& config, const Bytes& public_key, uint16_t keepalive);

// One WireGuard interface. Implementations: the cross-platform UAPI unix
// socket (OpenUapiDevice: wireguard-go, boringtun); kernel WireGuard over
// generic netlink (kernel_device.h: WG_CMD_GET_DEVICE / WG_CMD_SET_DEVICE,
// same semantics); tests use an in-memory fake (memory_device.h).
//
// Set applies the operations in order (see uapi.h and diff.h for what the
// order means). It is NOT transactional: when it fails part of the
// operation may have been applied; callers Get and recompute. Not
// thread-safe per object; the device itself serialises concurrent clients.
class WgDevice {
 public:
  virtual ~WgDevice() = default;
  [[nodiscard]] virtual Result<WgDeviceConfig> Get() = 0;
  [[nodiscard]] virtual Status Set(const WgDeviceConfig& config) = 0;
  virtual std::string name() const = 0;
};

// The UAPI backend: one connection to <socket_dir>/<ifname>.sock per call,
// "get=1\n\n" / FormatUapiSet(config), response read up to the "errno=N"
// line and its blank line, with a 10 s I/O timeout. Fails with kUnavailable
// (reason "wg_unavailable") if the socket does not exist or refuses the
// connection, kInvalidArgument for a bad ifname (1..15 chars, no '/').
// Errors: "wg_errno" (the device answered errno != 0; for set, part of the
// operation may be applied), "uapi_malformed" (unparseable response),
// "wg_config_invalid" (Set given a config that cannot be formatted).
// Buffers that held key material are wiped after use.
[[nodiscard]] Result<std::unique_ptr<WgDevice>> OpenUapiDevice(
    const std::string& ifname, const std::string& socket_dir = "/var/run/wireguard");

}  // namespace tpmesh::wg
