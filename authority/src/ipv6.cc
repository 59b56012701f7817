#include "tpmesh/authority/ipv6.h"

#include <arpa/inet.h>

#include <cstring>

#include "tpmesh/common/parse.h"

namespace tpmesh::authority {
namespace {

std::string Format(const uint8_t (&addr)[16]) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, addr, buf, sizeof buf);
  return buf;
}

void Fill(const MeshPrefix& mesh, uint32_t subnet, uint8_t (&addr)[16]) {
  std::memset(addr, 0, sizeof addr);
  std::memcpy(addr, mesh.bytes.data(), 6);
  addr[6] = static_cast<uint8_t>(subnet >> 8);
  addr[7] = static_cast<uint8_t>(subnet);
}

}  // namespace

std::string MeshPrefix::ToString() const {
  uint8_t addr[16] = {};
  std::memcpy(addr, bytes.data(), 6);
  return Format(addr) + "/48";
}

MeshPrefix RandomUlaPrefix(Random& rng) {
  MeshPrefix p;
  p.bytes[0] = 0xfd;
  rng.Fill(std::span<uint8_t>(p.bytes.data() + 1, 5));
  return p;
}

Result<MeshPrefix> ParseMeshPrefix(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return MakeError(Code::kInvalidArgument, "invalid_mesh_prefix",
                     "mesh prefix '" + std::string(text.substr(0, 64)) + "': " + why);
  };
  auto cidr = ParseCidr(text);
  if (!cidr.ok() || cidr->prefix_len != 48)
    return bad("must be an IPv6 /48, e.g. fd12:3456:789a::/48");
  if (cidr->family != AF_INET6) return bad("not an IPv6 address");
  if (cidr->had_host_bits) return bad("host bits beyond /48 must be zero");
  MeshPrefix p;
  std::memcpy(p.bytes.data(), cidr->address, 6);
  return p;
}

std::string SubnetPrefix(const MeshPrefix& mesh, uint32_t subnet) {
  uint8_t addr[16];
  Fill(mesh, subnet, addr);
  return Format(addr) + "/64";
}

std::string NodeAddress(const MeshPrefix& mesh, uint32_t subnet) {
  uint8_t addr[16];
  Fill(mesh, subnet, addr);
  addr[15] = 1;
  return Format(addr);
}

}  // namespace tpmesh::authority
