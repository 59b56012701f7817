// Minimal set operation from the device's current state to the desired one.
//
// What is sent (everything else is omitted; an unchanged peer not at all):
// - private_key when desired has one that differs (constant-time compare);
// - listen_port when desired has a non-zero port that differs (0 = "any":
//   the device already picked one, re-sending 0 would move it);
// - peers in current but not in desired: remove=true;
// - endpoint only when desired has one and (the peer is new, or the device
//   has none, or it differs from last_applied's endpoint for that peer) and
//   it differs from the device's (canonical compare). So an endpoint the
//   device learned by roaming is kept until the configuration itself changes;
// - persistent keepalive when it differs (unset on the device counts as 0);
// - allowed IPs when the canonical sets differ (see ordering);
// - for a new peer that takes a prefix over from another peer (a rotated
//   key) and has no persistent keepalive: AppendKeepaliveNow right after it,
//   so it handshakes at once (a new peer with a keepalive does so anyway).
// The result never sets replace_peers. Applying it to `current` yields
// `desired` (tested against an in-memory model of the device).
//
// Ordering, and why (reference: shared/reference/wireguard.md facts 3, 4):
// the device applies UAPI lines one by one while packets flow; AllowedIPs is
// one trie with one owner per prefix, `allowed_ip=P` on peer B moves P from
// its old owner A atomically, but `replace_allowed_ips` and `remove` first
// drop prefixes, leaving them ownerless (packets to them: no route; from
// them: dropped by the source check) until a later line claims them. So:
//   1. every new or changed peer, with only the prefixes it GAINS, no
//      replace: each moved prefix changes owner in one step, never ownerless.
//      This is how a rotated key takes over its prefix (new peer entry claims
//      P from the old-key entry, then phase 3 removes the old entry).
//   2. peers that must LOSE a prefix nobody else claims: replace_allowed_ips
//      with their full list. Claimed prefixes already moved in phase 1, so
//      only truly removed prefixes go ownerless (intended); the peer's other
//      prefixes are dropped and re-added within the same operation (a
//      microsecond window: wireguard-go's UAPI has no per-prefix removal;
//      the kernel's netlink WGALLOWEDIP_F_REMOVE_ME could close it).
//   3. removals, last, so their prefixes were already claimed in phase 1.
// A peer changed in phase 1 may thus appear again in phase 2 (UAPI allows a
// public_key to be selected several times in one operation). Phases 1 and 2
// follow desired's peer order, phase 3 current's.
//
// Answer to "A's change before B's?" when P moves from A to B: no, B (the
// gainer) first. Emitting A's replace first would leave P ownerless and drop
// A's in-flight packets from P at the source check.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/wg/device.h"

namespace tpmesh::wg {

struct DesiredPeer {
  Bytes public_key;                      // 32 bytes
  std::optional<std::string> endpoint;   // none: leave whatever the device has
  uint16_t persistent_keepalive = 0;     // seconds; 0 = off
  std::vector<std::string> allowed_ips;  // CIDR, any spelling (compared canonical)
};

struct DesiredDevice {
  std::optional<SecretBytes> private_key;  // none: leave the device's key
  std::optional<uint16_t> listen_port;     // none or 0: leave the device's port
  std::vector<DesiredPeer> peers;          // the complete peer set
};

// `current` comes from WgDevice::Get. `last_applied` is the DesiredDevice
// whose ComputeApply result was last applied successfully (empty if none;
// reset it when the device was recreated). Desired peers with a malformed
// key or CIDR are not validated here: FormatUapiSet rejects the result.
// Uncanonicalisable CIDRs/endpoints compare as raw strings.
WgDeviceConfig ComputeApply(const WgDeviceConfig& current, const DesiredDevice& desired,
                            const DesiredDevice& last_applied);

// True if the config would change nothing (no device fields, no peers).
bool IsNoop(const WgDeviceConfig& config);

}  // namespace tpmesh::wg
