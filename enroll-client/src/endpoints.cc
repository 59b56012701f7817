// Endpoints derived from the host's addresses (contract in endpoints.h).
#include "tpmesh/client/endpoints.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_addr.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/parse.h"

namespace tpmesh::client {
namespace {

constexpr size_t kMaxEndpoints = 8;

// The IPv6 mesh prefix; nullopt (filters nothing) if `cidr` is not one.
std::optional<Cidr> MeshPrefix(std::string_view cidr) {
  auto c = ParseCidr(cidr);
  if (!c.ok() || c->family != AF_INET6) return std::nullopt;
  return *c;
}

bool InPrefix(const in6_addr& a, const Cidr& p) {
  for (unsigned bit = 0; bit < p.prefix_len; ++bit) {
    const unsigned byte = bit / 8, mask = 0x80u >> (bit % 8);
    if ((a.s6_addr[byte] & mask) != (p.address[byte] & mask)) return false;
  }
  return true;
}

// The address as an endpoint, or nullopt when the rule leaves it out.
std::optional<std::string> Candidate(const HostAddress& h, const std::optional<Cidr>& mesh,
                                     uint16_t port) {
  const std::string p = std::to_string(port);
  if (h.family == AF_INET6) {
    in6_addr a{};
    if (inet_pton(AF_INET6, h.address.c_str(), &a) != 1) return std::nullopt;
    if (IN6_IS_ADDR_LINKLOCAL(&a) || IN6_IS_ADDR_MULTICAST(&a) || IN6_IS_ADDR_LOOPBACK(&a) ||
        IN6_IS_ADDR_UNSPECIFIED(&a) || IN6_IS_ADDR_V4MAPPED(&a))
      return std::nullopt;
    if (mesh && InPrefix(a, *mesh)) return std::nullopt;
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, &a, text, sizeof text);
    return "[" + std::string(text) + "]:" + p;
  }
  if (h.family == AF_INET) {
    in_addr a{};
    if (inet_pton(AF_INET, h.address.c_str(), &a) != 1) return std::nullopt;
    const uint32_t v = ntohl(a.s_addr);
    if ((v >> 24) == 127 || (v >> 16) == 0xa9fe || (v >> 28) == 0xe || v == 0) return std::nullopt;
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &a, text, sizeof text);
    return std::string(text) + ":" + p;
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::string> DeriveEndpoints(const std::vector<HostAddress>& addrs,
                                         std::string_view overlay_ifname,
                                         std::string_view mesh_prefix, uint16_t port) {
  const std::optional<Cidr> mesh = MeshPrefix(mesh_prefix);
  std::vector<std::string> out;
  for (int family : {AF_INET6, AF_INET}) {
    for (const auto& h : addrs) {
      if (h.family != family || !h.up || h.loopback || h.temporary || h.unusable ||
          h.ifname == overlay_ifname)
        continue;
      auto e = Candidate(h, mesh, port);
      if (!e || std::find(out.begin(), out.end(), *e) != out.end()) continue;
      if (out.size() == kMaxEndpoints) return out;
      out.push_back(std::move(*e));
    }
  }
  return out;
}

namespace {

// "20010db8000000000000000000000021 02 40 00 01 eth0": address, ifindex,
// prefix length, scope, flags (all hex), name; in interface order.
std::vector<HostAddress> ProcIfInet6(const std::map<std::string, unsigned>& if_flags) {
  std::vector<std::pair<unsigned long, HostAddress>> found;
  std::ifstream in("/proc/net/if_inet6");
  std::string hex, ifindex, plen, scope, flags, name;
  while (in >> hex >> ifindex >> plen >> scope >> flags >> name) {
    auto raw = HexDecode(hex);
    char* end = nullptr;
    const unsigned long f = std::strtoul(flags.c_str(), &end, 16);
    char text[INET6_ADDRSTRLEN] = {};
    if (!raw.ok() || raw->size() != 16 || *end != '\0' ||
        !inet_ntop(AF_INET6, raw->data(), text, sizeof text))
      continue;
    auto it = if_flags.find(name);
    const unsigned iff = it == if_flags.end() ? 0 : it->second;
    found.push_back({std::strtoul(ifindex.c_str(), nullptr, 16),
                     {name, AF_INET6, text, (iff & IFF_UP) != 0, (iff & IFF_LOOPBACK) != 0,
                      (f & IFA_F_TEMPORARY) != 0,
                      (f & (IFA_F_DEPRECATED | IFA_F_TENTATIVE | IFA_F_DADFAILED)) != 0}});
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<HostAddress> out;
  for (auto& [index, a] : found) out.push_back(std::move(a));
  return out;
}

}  // namespace

std::vector<HostAddress> SystemHostAddresses() {
  std::vector<HostAddress> out, v6;
  std::map<std::string, unsigned> if_flags;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_name != nullptr) if_flags[i->ifa_name] |= i->ifa_flags;
    if (i->ifa_addr == nullptr) continue;
    const int family = i->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    char text[INET6_ADDRSTRLEN] = {};
    const void* a =
        family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr)
            : static_cast<const void*>(
                  &reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr);
    if (inet_ntop(family, a, text, sizeof text) == nullptr) continue;
    (family == AF_INET ? out : v6)
        .push_back({i->ifa_name ? i->ifa_name : "", family, text, (i->ifa_flags & IFF_UP) != 0,
                    (i->ifa_flags & IFF_LOOPBACK) != 0});
  }
  freeifaddrs(list);
  // IPv6 with its flags where /proc has them (it always does on Linux).
  std::vector<HostAddress> proc = ProcIfInet6(if_flags);
  auto& chosen = proc.empty() ? v6 : proc;
  out.insert(out.end(), chosen.begin(), chosen.end());
  return out;
}

}  // namespace tpmesh::client
