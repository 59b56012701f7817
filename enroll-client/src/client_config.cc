// client.toml and `tpmesh-client config check` (client_config.h).
#include "tpmesh/client/client_config.h"

#include <linux/netlink.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "tpmesh/client/node_state.h"
#include "tpmesh/client/renew.h"
#include "tpmesh/proto/enroll.h"
#include "tpmesh/tomlcfg/reader.h"
#include "tpmesh/wg/kernel_device.h"

namespace tpmesh::client {
namespace {

using tomlcfg::Finding;
using Level = tomlcfg::Finding::Level;

Status ReadEnroll(const tomlcfg::ConfigReader& r, const toml::node& n, ClientConfig& c) {
  const auto* t = n.as_table();
  if (t == nullptr) return r.Fail("enroll must be a table");
  TPMESH_RETURN_IF_ERROR(r.KnownKeys(
      *t, {"authority", "ca_fingerprint", "hostname", "endpoints", "token_file"}, "enroll."));
  TPMESH_RETURN_IF_ERROR(r.Str(*t, "authority", c.enroll.authority_url));
  TPMESH_RETURN_IF_ERROR(r.Str(*t, "ca_fingerprint", c.enroll.ca_fingerprint));
  TPMESH_RETURN_IF_ERROR(r.Str(*t, "hostname", c.enroll.hostname));
  TPMESH_RETURN_IF_ERROR(r.StrList(*t, "endpoints", c.enroll.endpoints, 8));
  return r.Str(*t, "token_file", c.token_file);
}

bool OnPath(const std::string& program);

// What serves the interface under `backend`, without creating anything:
// kernel WireGuard when its generic netlink family exists (loaded module or
// built in), else wireguard-go on PATH.
Finding CheckWireGuard(wg::Backend backend) {
  std::string kernel = "kernel WireGuard not loaded";
  if (auto genl = wg::OpenNetlinkSocket(NETLINK_GENERIC); genl.ok()) {
    auto family = wg::ResolveGenlFamily(**genl, "wireguard");
    if (family.ok() && *family) kernel = "";
    if (!family.ok()) kernel = family.error().message;
  }
  const bool go = OnPath("wireguard-go");
  if (backend != wg::Backend::kUserspace && kernel.empty())
    return {Level::kOk, "WireGuard", "kernel WireGuard (generic netlink family present)"};
  if (backend == wg::Backend::kKernel) {
    return {Level::kWarn, "WireGuard",
            "wg_backend = kernel, but " + kernel + " (run loads the module when it exists)"};
  }
  if (go) {
    return {Level::kOk, "WireGuard",
            "wireguard-go found (userspace backend" +
                (backend == wg::Backend::kAuto ? "; " + kernel : std::string()) + ")"};
  }
  return {Level::kFail, "WireGuard", "wireguard-go is not on PATH and " + kernel};
}

bool OnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!dir.empty() && access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

void CheckTpm(const std::string& tcti, const NodeFiles* node, std::vector<Finding>& out) {
  if (tcti.empty()) {
    out.push_back({Level::kWarn, "TPM",
                   "tcti = \"none\": no renewal; the daemon stops once the certificate expires"});
    return;
  }
  auto tpm = attest::OpenTpm(tcti);
  if (!tpm.ok()) {
    out.push_back({Level::kFail, "TPM", tcti + ": " + tpm.error().ToString()});
    return;
  }
  if (node == nullptr) {
    out.push_back({Level::kOk, "TPM", tcti + " answers"});
    return;
  }
  auto ek = EkOfNode(node->enrolled.node_id, **tpm);
  out.push_back(ek.ok() ? Finding{Level::kOk, "TPM",
                                  tcti + ": its " + attest::KeyAlgName(ek->alg) +
                                      " EK names node " + node->enrolled.node_id}
                        : Finding{Level::kFail, "TPM", tcti + ": " + ek.error().ToString()});
}

void CheckUrls(const ClientConfig& c, const std::vector<std::string>& enrolled,
               std::vector<Finding>& out) {
  std::vector<std::string> urls = enrolled;
  urls.insert(urls.end(), c.daemon.extra_authority_urls.begin(),
              c.daemon.extra_authority_urls.end());
  for (const auto& u : urls) {
    if (u.rfind("https://", 0) != 0 || u.size() <= 8) {
      out.push_back({Level::kFail, "authority URL", "'" + u + "' is not an https:// URL"});
      return;
    }
  }
  out.push_back({Level::kOk, "authority URLs", std::to_string(urls.size()) + " to try"});
}

}  // namespace

Result<ClientConfig> LoadClientConfig(const std::string& path, bool required) {
  ClientConfig c;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (!required) return c;
    return tomlcfg::ConfigError(path, "no such file");
  }
  TPMESH_ASSIGN_OR_RETURN(toml::table t, tomlcfg::ParseFile(path));
  const tomlcfg::ConfigReader r(path);
  TPMESH_RETURN_IF_ERROR(
      r.KnownKeys(t,
                  {"state_dir", "interface", "listen_port", "uapi_dir", "tcti", "wg_backend",
                   "poll_wait", "authorities", "endpoints", "enroll"},
                  ""));
  DaemonOptions& d = c.daemon;
  TPMESH_RETURN_IF_ERROR(r.Str(t, "state_dir", d.state_dir));
  TPMESH_RETURN_IF_ERROR(r.Str(t, "interface", d.ifname));
  int port = d.listen_port;
  TPMESH_RETURN_IF_ERROR(r.Integer(t, "listen_port", port, 1, 65535));
  d.listen_port = static_cast<uint16_t>(port);
  TPMESH_RETURN_IF_ERROR(r.Str(t, "uapi_dir", d.uapi_dir));
  if (t.get("wg_backend")) {
    std::string name;
    TPMESH_RETURN_IF_ERROR(r.Str(t, "wg_backend", name));
    auto b = wg::ParseBackend(name);
    if (!b.ok()) return tomlcfg::ConfigError(path, "wg_backend: " + b.error().message);
    d.wg_backend = *b;
  }
  if (t.get("tcti")) {
    std::string tcti;
    TPMESH_RETURN_IF_ERROR(r.Str(t, "tcti", tcti));
    c.tcti = tcti;
  }
  std::chrono::seconds wait(d.poll_wait_seconds);
  TPMESH_RETURN_IF_ERROR(r.Duration(t, "", "poll_wait", wait, 1, 300));
  d.poll_wait_seconds = static_cast<int>(wait.count());
  TPMESH_RETURN_IF_ERROR(r.StrList(t, "authorities", d.extra_authority_urls, 8));
  TPMESH_RETURN_IF_ERROR(r.StrList(t, "endpoints", d.endpoints, 8));
  for (const auto& e : d.endpoints) {
    if (Status st = proto::ValidateEndpoint(e); !st.ok())
      return tomlcfg::ConfigError(path, "endpoints: " + st.error().message);
  }
  c.enroll.endpoints = d.endpoints;  // [enroll] endpoints, if given, win for enroll
  c.enroll.state_dir = d.state_dir;
  if (auto n = t.get("enroll")) TPMESH_RETURN_IF_ERROR(ReadEnroll(r, *n, c));
  return c;
}

std::vector<Finding> CheckClientConfig(const ClientConfig& c, const std::string& tcti) {
  std::vector<Finding> out;
  auto node = LoadNodeFiles(c.daemon.state_dir, c.daemon.extra_authority_urls);
  if (node.ok()) {
    const auto& e = (*node)->enrolled;
    out.push_back({Level::kOk, "state directory",
                   c.daemon.state_dir + ": node " + e.node_id + ", " + e.overlay_address});
    if (Status st = CheckNotExpired((*node)->node_cert, SystemClock::Instance().Now()); !st.ok()) {
      out.push_back(
          {tcti.empty() ? Level::kFail : Level::kWarn, "node certificate", st.error().message});
    } else {
      out.push_back({Level::kOk, "node certificate", "valid"});
    }
    CheckUrls(c, {(*node)->authority_urls.front()}, out);
  } else if (node.error().reason == "not_enrolled") {
    const auto& e = c.enroll;
    const bool complete =
        !e.authority_url.empty() && !e.ca_fingerprint.empty() && !e.hostname.empty();
    out.push_back({complete ? Level::kOk : Level::kWarn, "state directory",
                   c.daemon.state_dir + ": not enrolled yet" +
                       (complete ? std::string("; [enroll] names the authority, fingerprint and "
                                               "hostname")
                                 : std::string("; [enroll] lacks authority, ca_fingerprint or "
                                               "hostname: enroll needs them as flags"))});
    std::vector<std::string> first;
    if (!e.authority_url.empty()) first.push_back(e.authority_url);
    CheckUrls(c, first, out);
  } else {
    out.push_back({Level::kFail, "state directory", node.error().ToString()});
  }
  CheckTpm(tcti, node.ok() ? node->get() : nullptr, out);
  out.push_back(CheckWireGuard(c.daemon.wg_backend));
  return out;
}

}  // namespace tpmesh::client
