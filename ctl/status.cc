// tpmeshctl status: mesh convergence and per-node WireGuard status from the
// nodes' acknowledgements.
#include <map>
#include <ostream>

#include "ctl/common.h"
#include "tpmesh/proto/admin.h"

namespace tpmesh::ctl {
namespace {

void RenderStatus(const proto::StatusResponse& r, View& v) {
  v.out << "generation " << r.generation << ": " << r.converged << " of " << r.active
        << " active nodes applied it; " << r.waiting << " long polls waiting\n";
  if (r.expired > 0) {
    v.out << r.expired
          << " expired (certificate ended: the node must enroll again; its client does so "
             "with its TPM when it runs)\n";
  }
  v.out << "\n";
  Table t({"NODE ID", "HOSTNAME", "STATUS", "APPLIED", "LAST SEEN", "PEERS", "HANDSHAKES (age)"});
  for (const auto& n : r.nodes) {
    std::string applied = n.applied_generation
                              ? std::to_string(*n.applied_generation) +
                                    (*n.applied_generation == r.generation ? "" : " (behind)")
                              : "never";
    std::string handshakes;
    const size_t peers = n.peers ? n.peers->size() : 0;
    for (const auto& p : n.peers.value_or(std::vector<proto::StatusPeer>{})) {
      std::string name = p.hostname.empty() ? p.public_key.substr(0, 8) : p.hostname;
      handshakes +=
          (handshakes.empty() ? "" : ", ") + name + " " +
          (p.last_handshake == 0 ? std::string("never") : FormatAge(p.last_handshake, v.now));
    }
    t.AddRow({n.node_id, n.hostname, n.status, applied,
              n.reported_at ? FormatAge(*n.reported_at, v.now) : "never", std::to_string(peers),
              handshakes.empty() ? "-" : handshakes});
  }
  if (t.rows() == 0) {
    v.out << "no active nodes\n";
    return;
  }
  v.out << t.Render();
  if (r.unreachable_pairs == 0) return;
  std::map<std::string, std::string> host;
  for (const auto& n : r.nodes) host[n.node_id] = n.hostname;
  v.out << "\n"
        << r.unreachable_pairs
        << " unreachable pair(s): their endpoints share no address family, so WireGuard cannot "
           "connect them\n";
  for (const auto& p : r.unreachable) {
    v.out << "  unreachable  " << host[p.a] << " (" << p.a << ") <-> " << host[p.b] << " (" << p.b
          << ")\n";
  }
  if (static_cast<int64_t>(r.unreachable.size()) < r.unreachable_pairs) {
    v.out << "  ... and " << r.unreachable_pairs - static_cast<int64_t>(r.unreachable.size())
          << " more (-o json lists the first " << r.unreachable.size() << ")\n";
  }
}

}  // namespace

void AddStatusCommands(CLI::App& root, Registry& reg) {
  auto* status = root.add_subcommand("status", "mesh convergence and per-node handshake ages");
  reg.Add(status, {[] {
                     return Result<Request>(Request{"GET", "/v1/admin/status", {}});
                   },
                   Typed<proto::StatusResponse>(proto::ParseStatusResponse, RenderStatus)});
}

}  // namespace tpmesh::ctl
