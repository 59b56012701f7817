// tpmeshctl status: mesh convergence and per-node WireGuard status from the
// nodes' acknowledgements.
#include <ostream>

#include "ctl/common.h"

namespace tpmesh::ctl {
namespace {

void RenderStatus(const json& r, View& v) {
  const int64_t gen = JInt(r, "generation");
  v.out << "generation " << gen << ": " << JInt(r, "converged") << " of " << JInt(r, "active")
        << " active nodes applied it; " << JInt(r, "waiting") << " long polls waiting\n\n";
  Table t({"NODE ID", "HOSTNAME", "APPLIED", "LAST SEEN", "PEERS", "HANDSHAKES (age)"});
  for (const auto& n : JArr(r, "nodes")) {
    std::string applied = n.contains("applied_generation")
                              ? JStr(n, "applied_generation") +
                                    (JInt(n, "applied_generation") == gen ? "" : " (behind)")
                              : "never";
    std::string handshakes;
    size_t peers = 0;
    for (const auto& p : JArr(n, "peers")) {
      ++peers;
      const int64_t hs = JInt(p, "last_handshake");
      std::string name = JStr(p, "hostname");
      if (name.empty()) name = JStr(p, "public_key").substr(0, 8);
      handshakes += (handshakes.empty() ? "" : ", ") + name + " " +
                    (hs == 0 ? std::string("never") : FormatAge(hs, v.now));
    }
    t.AddRow({JStr(n, "node_id"), JStr(n, "hostname"), applied,
              n.contains("reported_at") ? FormatAge(JInt(n, "reported_at"), v.now) : "never",
              std::to_string(peers), handshakes.empty() ? "-" : handshakes});
  }
  if (t.rows() == 0) {
    v.out << "no active nodes\n";
    return;
  }
  v.out << t.Render();
}

}  // namespace

void AddStatusCommands(CLI::App& root, Registry& reg) {
  auto* status = root.add_subcommand("status", "mesh convergence and per-node handshake ages");
  reg.Add(status, {[] { return Result<Request>(Request{"GET", "/v1/admin/status", {}}); },
                   RenderStatus});
}

}  // namespace tpmesh::ctl
