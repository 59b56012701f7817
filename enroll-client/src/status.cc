// `tpmesh-client status` (daemon.h).
#include <map>

#include "tpmesh/client/daemon.h"
#include "tpmesh/client/node_state.h"
#include "tpmesh/client/renew.h"
#include "tpmesh/keyrotate/rotation.h"
#include "tpmesh/net/http.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::client {
namespace {

// "reachable" or what went wrong; sets `problem` unless the authority
// answered 200 to GET /v1/node/self.
std::string Reachability(const NodeFiles& f, std::optional<Error>& problem) {
  if (Status st = CheckNotExpired(f.node_cert, SystemClock::Instance().Now()); !st.ok()) {
    problem = st.error();
    return "not contacted (" + st.error().message + ")";
  }
  auto client =
      net::MakeClient(net::ClientOptions{f.authority_urls[0], f.ca, f.node_cert, f.node_key, 5});
  if (!client.ok()) {
    problem = client.error();
    return "not contacted (" + client.error().message + ")";
  }
  auto r = (*client)->Get("/v1/node/self");
  if (!r.ok()) {
    problem = r.error();
    return "unreachable (" + r.error().message + ")";
  }
  if (r->status == 200) return "reachable";
  problem = net::ErrorFromResponse(*r);
  return "reachable, says: " + problem->ToString();
}

// "valid until T (renewal due from U)" or "EXPIRED at T (...)".
std::string CertificateLine(const std::string& pem) {
  auto w = ReadCertWindow(pem);
  if (!w.ok()) return "unreadable (" + w.error().message + ")";
  if (SystemClock::Instance().Now() > w->not_after) {
    return "EXPIRED at " + FormatUtc(w->not_after) +
           " (the node enrolls again: 'tpmesh-client renew', or 'run' with its TPM)";
  }
  return "valid until " + FormatUtc(w->not_after) + " (renewal due from " +
         FormatUtc(keyrotate::RenewAt(w->not_before, w->not_after)) + ")";
}

std::string Interface(const DaemonOptions& o, const std::map<std::string, std::string>& host_of) {
  auto dev = wg::OpenAnyDevice(o.ifname, o.uapi_dir);
  if (!dev.ok()) return "interface " + o.ifname + ": " + dev.error().message + "\n";
  auto cfg = (*dev)->Get();
  if (!cfg.ok()) return "interface " + o.ifname + ": " + cfg.error().message + "\n";
  std::string out = "\ninterface: " + o.ifname + "\n";
  if (cfg->listen_port) out += "  listening port: " + std::to_string(*cfg->listen_port) + "\n";
  const int64_t now = ToUnixSeconds(SystemClock::Instance().Now());
  for (const auto& p : cfg->peers) {
    std::string key = Base64Encode(p.public_key);
    auto host = host_of.find(key);
    out += "\npeer: " + key + (host != host_of.end() ? "  (" + host->second + ")" : "") + "\n";
    if (p.endpoint) out += "  endpoint: " + *p.endpoint + "\n";
    std::string ips;
    for (const auto& a : p.allowed_ips) ips += (ips.empty() ? "" : ", ") + a;
    out += "  allowed ips: " + ips + "\n";
    out += "  latest handshake: " +
           (p.last_handshake_sec == 0 ? std::string("never")
                                      : std::to_string(now - p.last_handshake_sec) + " s ago") +
           "\n";
    out += "  transfer: " + std::to_string(p.rx_bytes) + " B received, " +
           std::to_string(p.tx_bytes) + " B sent\n";
  }
  return out;
}

}  // namespace

Result<NodeStatus> StatusReport(const DaemonOptions& o) {
  TPMESH_ASSIGN_OR_RETURN(auto f, LoadNodeFiles(o.state_dir, o.extra_authority_urls));
  NodeStatus s;
  s.report = "node " + f->enrolled.node_id + "  " + f->enrolled.overlay_address + "  (" +
             f->enrolled.overlay_prefix + " in " + f->enrolled.mesh_prefix + ")\n";
  int64_t applied = -1;
  std::map<std::string, std::string> host_of;
  if (auto raw = pki::ReadFile(o.state_dir + "/mesh.json"); raw.ok()) {
    if (auto signed_state = meshcfg::ParseSignedState(*raw); signed_state.ok()) {
      applied = signed_state->state.generation;
      for (const auto& m : signed_state->state.members)
        host_of[Base64Encode(m.wg_public_key)] = m.hostname;
    }
  }
  s.report +=
      "applied generation: " + (applied < 0 ? std::string("none") : std::to_string(applied)) + "\n";
  s.report += "certificate: " + CertificateLine(f->node_cert) + "\n";
  s.report +=
      "authority " + f->authority_urls[0] + ": " + Reachability(*f, s.authority_error) + "\n";
  s.report += Interface(o, host_of);
  return s;
}

}  // namespace tpmesh::client
