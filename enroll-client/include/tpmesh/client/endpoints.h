// The node's underlay endpoints as they are now, reported in every
// acknowledgement (docs/protocol.md, "Acknowledgement"), so that peers follow
// a host whose addresses change without re-enrolling.
//
// Configured endpoints (run --endpoint, client.toml `endpoints`) are reported
// as given; otherwise they are derived from the host's interface addresses:
// every address of an interface that is up, except loopback, the overlay
// interface, link-local (fe80::/10, 169.254.0.0/16), multicast, the mesh
// prefix, and IPv6 addresses that are temporary (privacy addresses, which
// rotate), deprecated, tentative or failed DAD; IPv6 first, each with the
// WireGuard listen port, at most 8.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tpmesh/common/result.h"

namespace tpmesh::client {

struct HostAddress {
  std::string ifname;
  int family = 0;       // AF_INET or AF_INET6
  std::string address;  // inet_ntop form, no zone
  bool up = false;
  bool loopback = false;
  bool temporary = false;  // IPv6 IFA_F_TEMPORARY
  bool unusable = false;   // IPv6 deprecated, tentative or DAD failed
};

// Pure: the endpoints for `addrs` by the rule above ("[v6]:port",
// "v4:port"), in interface order within each family, duplicates dropped.
// `mesh_prefix` is "addr/len" (an unparsable one filters nothing).
std::vector<std::string> DeriveEndpoints(const std::vector<HostAddress>& addrs,
                                         std::string_view overlay_ifname,
                                         std::string_view mesh_prefix, uint16_t port);

// This host's addresses: IPv4 from getifaddrs, IPv6 with their flags from
// /proc/net/if_inet6 (of this network namespace), interfaces' up/loopback
// flags from getifaddrs. Empty on failure.
std::vector<HostAddress> SystemHostAddresses();

// Calls on_change from a thread of its own when the host's addresses change
// (rtnetlink RTM_NEWADDR / RTM_DELADDR), a burst coalesced into one call at
// most every `min_interval_ms`. Destroying the watch stops the thread
// (joins it). Errors: kUnavailable "netlink_unavailable".
class AddressWatch {
 public:
  virtual ~AddressWatch() = default;
};
[[nodiscard]] Result<std::unique_ptr<AddressWatch>> WatchAddresses(std::function<void()> on_change,
                                                                   int min_interval_ms = 1000);

}  // namespace tpmesh::client
