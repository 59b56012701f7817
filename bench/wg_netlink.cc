// Kernel WireGuard messages for a large mesh: encoding the full config of a
// node with N peers into WG_CMD_SET_DEVICE messages, and decoding as many
// messages back (the cost a node pays per full apply and per device read).
#include <sodium.h>

#include "bench/bench.h"
#include "tpmesh/wg/netlink.h"

namespace tpmesh::bench {

Status RunWgNetlink(const BenchConfig& cfg, Reporter& out) {
  const int n = cfg.selftest ? 200 : 10000;
  wg::WgDeviceConfig c;
  c.private_key = SecretBytes(wg::kKeyLen);
  randombytes_buf(c.private_key->data(), wg::kKeyLen);
  c.listen_port = 51820;
  for (int i = 0; i < n; ++i) {
    wg::WgPeer p;
    p.public_key = DerivedBytes(static_cast<uint32_t>(i), 2, 32);
    char v6[64];
    std::snprintf(v6, sizeof v6, "fd00:0:%x:%x::/64", (i + 1) >> 16, (i + 1) & 0xffff);
    p.allowed_ips = {v6};
    std::snprintf(v6, sizeof v6, "[2001:db8::%x:%x]:51820", (i + 1) >> 16, (i + 1) & 0xffff);
    p.endpoint = v6;
    p.persistent_keepalive = 25;
    c.peers.push_back(std::move(p));
  }
  const int rounds = cfg.selftest ? 1 : 5;
  double encode = 1e9, decode = 1e9;
  size_t messages = 0, bytes = 0;
  for (int r = 0; r < rounds; ++r) {
    double t0 = Now();
    auto msgs = wg::nl::EncodeWgSet(0x20, "tpmesh0", c, 1);
    encode = std::min(encode, Now() - t0);
    if (!msgs.ok()) return msgs.take_error();
    messages = msgs->size();
    bytes = 0;
    t0 = Now();
    // A set message holds a subset of a dump's attributes: decoding the
    // same bytes costs what a dump of this device would.
    wg::nl::WgDumpDecoder d;
    for (const auto& m : *msgs) {
      bytes += m.size();
      TPMESH_RETURN_IF_ERROR(d.Add(m));
    }
    wg::WgDeviceConfig back = d.Take();
    decode = std::min(decode, Now() - t0);
    if (back.peers.size() != c.peers.size()) return BenchError("decoded peer count differs");
  }
  const std::string sfx = "_n" + std::to_string(n);
  out.Emit("wg_netlink_encode_ms" + sfx, encode * 1e3, "ms");
  out.Emit("wg_netlink_decode_ms" + sfx, decode * 1e3, "ms");
  out.Emit("wg_netlink_messages" + sfx, static_cast<double>(messages), "messages");
  out.Emit("wg_netlink_bytes" + sfx, static_cast<double>(bytes), "bytes");
  return OkStatus();
}

}  // namespace tpmesh::bench
