// Choosing between kernel WireGuard and the userspace daemon (contract in
// kernel_device.h).
#include <linux/netlink.h>
#include <sys/stat.h>

#include "tpmesh/wg/kernel_device.h"

namespace tpmesh::wg {
namespace {

Error InUse(std::string msg) {
  return MakeError(Code::kFailedPrecondition, "interface_name_in_use", std::move(msg));
}

}  // namespace

Result<Backend> ParseBackend(std::string_view name) {
  if (name == "auto") return Backend::kAuto;
  if (name == "kernel") return Backend::kKernel;
  if (name == "userspace") return Backend::kUserspace;
  return MakeError(Code::kInvalidArgument, "invalid_wg_backend",
                   "WireGuard backend must be auto, kernel or userspace");
}

std::string_view BackendName(Backend b) {
  switch (b) {
    case Backend::kAuto: return "auto";
    case Backend::kKernel: return "kernel";
    case Backend::kUserspace: return "userspace";
  }
  return "?";
}

Result<BackendChoice> ChooseBackend(Backend requested, std::string_view ifname,
                                    NetlinkSocket& rtnl) {
  const std::string name(ifname);
  TPMESH_ASSIGN_OR_RETURN(auto link, QueryLink(rtnl, ifname));
  BackendChoice c;
  if (link) {
    c.link_exists = true;
    const bool kernel = link->kind == "wireguard";
    if (kernel && requested == Backend::kUserspace) {
      return InUse(name +
                   " is a kernel WireGuard interface; userspace WireGuard cannot take it "
                   "over (use --wg-backend kernel or auto, or delete the link)");
    }
    if (!kernel && requested == Backend::kKernel) {
      return InUse(name + " exists and is not kernel WireGuard (kind '" + link->kind +
                   "'); delete it or use --wg-backend userspace");
    }
    c.backend = kernel ? Backend::kKernel : Backend::kUserspace;
    c.reason = kernel ? "taking over the existing kernel WireGuard interface " + name
                      : "the existing interface " + name + " (kind '" + link->kind +
                            "') is served by userspace WireGuard";
    return c;
  }
  if (requested == Backend::kUserspace) {
    c.reason = "userspace WireGuard requested";
    return c;
  }
  Status created = CreateWireguardLink(rtnl, ifname);
  if (created.ok()) {
    c.backend = Backend::kKernel;
    c.link_exists = true;
    c.reason = "created kernel WireGuard interface " + name;
    return c;
  }
  if (requested == Backend::kKernel || created.error().reason != "wg_kernel_unavailable") {
    return created.take_error();
  }
  c.reason = created.error().message + "; using userspace WireGuard (wireguard-go)";
  return c;
}

Result<std::unique_ptr<WgDevice>> OpenAnyDevice(const std::string& ifname,
                                                const std::string& uapi_dir) {
  struct stat st {};
  const std::string sock = uapi_dir + "/" + ifname + ".sock";
  if (stat(sock.c_str(), &st) == 0) return OpenUapiDevice(ifname, uapi_dir);
  auto kernel = OpenKernelDevice(ifname);
  if (kernel.ok()) return kernel;
  return MakeError(Code::kUnavailable, "wg_unavailable",
                   "no WireGuard interface " + ifname + ": no UAPI socket " + sock +
                       " and kernel WireGuard: " + kernel.error().message);
}

}  // namespace tpmesh::wg
