// The cross-platform WireGuard configuration protocol (UAPI) as pure
// functions: no I/O, safe on untrusted input (FuzzParseUapiGet is their fuzz
// entry point: tests/unit/wg_uapi_test.cc drives it with seeded mutations of
// real dumps; the same function links into libFuzzer).
// Spec: wireguard.com/xplatform; reference implementation wireguard-go
// device/uapi.go.
//
// A request is "get=1\n\n" or "set=1\n" + key=value lines + "\n". A response
// is key=value lines, then "errno=N\n\n" (N = 0 on success, otherwise the
// device's error, wireguard-go sends negative errno values such as -22).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tpmesh/common/result.h"
#include "tpmesh/wg/device.h"

namespace tpmesh::wg {

// The complete set request, starting with "set=1\n" and ending with the
// blank line. Device lines first (private_key, listen_port, fwmark,
// replace_peers), then per peer in vector order: public_key, update_only,
// remove, preshared_key, endpoint, persistent_keepalive_interval,
// replace_allowed_ips, allowed_ip... (the device applies lines in order).
// Validates everything: key lengths, endpoints, CIDRs (sent canonical), a
// peer with remove=true must carry nothing else. Error reason
// "wg_config_invalid", naming the peer (base64 public key) and field.
// The result contains the private key in hex if one is set: wipe it after use.
[[nodiscard]] Result<std::string> FormatUapiSet(const WgDeviceConfig& config);

// Parses a complete get response (the text after "get=1\n\n" was sent, up to
// and including "errno=N", optional trailing blank line). Accepts the device
// keys private_key, listen_port, fwmark, the peer keys public_key,
// preshared_key, protocol_version, endpoint, last_handshake_time_sec,
// last_handshake_time_nsec, tx_bytes, rx_bytes,
// persistent_keepalive_interval, allowed_ip. An all-zero private_key or
// preshared_key (how devices report "none") becomes nullopt; persistent_keepalive is always set
// (0 = off). Rejects unknown keys, duplicates, bad hex / lengths / numbers /
// CIDRs / endpoints, text after the errno line, a missing errno line:
// reason "uapi_malformed", message naming the line number and key (values of
// key lines are never echoed). errno != 0: reason "wg_errno".
[[nodiscard]] Result<WgDeviceConfig> ParseUapiGet(std::string_view response);

// The get response a device in state `config` would send (errno=0), for
// fakes and tests. Stats fields are emitted; set-only flags are ignored;
// listen_port / fwmark whenever set (real devices omit zeros).
std::string FormatUapiGet(const WgDeviceConfig& config);

// libFuzzer-compatible entry point: runs ParseUapiGet on the bytes and, if
// that succeeds, checks that Format/Parse round-trip (aborts otherwise).
// Always returns 0.
int FuzzParseUapiGet(const uint8_t* data, size_t size);

// Canonical "addr/len": host bits cleared, inet_ntop form. Rejects a missing
// or out-of-range prefix length, leading zeros in it, zones, anything
// inet_pton rejects. Reason "invalid_cidr".
[[nodiscard]] Result<std::string> CanonicalCidr(std::string_view cidr);

// Canonical endpoint: "a.b.c.d:port" or "[v6%zone]:port" with inet_ntop's
// address form, port 1..65535 without leading zeros. Reason "invalid_endpoint".
[[nodiscard]] Result<std::string> CanonicalEndpoint(std::string_view endpoint);

}  // namespace tpmesh::wg
