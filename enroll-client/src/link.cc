// LinkConfigurators over ip(8) and wireguard-go, or ip(8) and kernel
// WireGuard (links created over rtnetlink), and the choice between them.
#include <linux/netlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "tpmesh/client/daemon.h"
#include "tpmesh/wg/kernel_device.h"

namespace tpmesh::client {
namespace {

// Runs argv (no shell), returns exit status; output goes to `out`.
int Run(const std::vector<std::string>& argv, std::string* out) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) {
    if (out) out->append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// False only when nothing listens on the unix socket `path` (a stale file).
bool SocketListening(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return true;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;
  int rc = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  int err = errno;
  close(fd);
  return rc == 0 || (err != ECONNREFUSED && err != ENOENT);
}

Status Ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  if (int rc = Run(argv, &out); rc != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    return MakeError(Code::kUnavailable, "link_setup_failed", "'" + cmd + "' failed: " + out);
  }
  return OkStatus();
}

// Address, MTU, route and teardown are the same for both backends.
class IpLink : public LinkConfigurator {
 public:
  Status Configure(const std::string& ifname, const std::string& address,
                   const std::string& mesh_prefix, int mtu) override {
    TPMESH_RETURN_IF_ERROR(Ip({"link", "set", "dev", ifname, "mtu", std::to_string(mtu)}));
    TPMESH_RETURN_IF_ERROR(
        Ip({"-6", "address", "replace", address + "/64", "dev", ifname, "nodad"}));
    TPMESH_RETURN_IF_ERROR(Ip({"link", "set", "dev", ifname, "up"}));
    return Ip({"-6", "route", "replace", mesh_prefix, "dev", ifname});
  }

  Status TearDown(const std::string& ifname) override {
    return Ip({"link", "del", "dev", ifname});  // wireguard-go exits with it
  }
};

// Kernel WireGuard: the link is created over rtnetlink when missing (again
// after a teardown), and an existing one of kind wireguard is taken over.
class KernelLink final : public IpLink {
 public:
  explicit KernelLink(std::string uapi_dir) : uapi_dir_(std::move(uapi_dir)) {}

  Status Ensure(const std::string& ifname) override {
    // A socket left by an earlier wireguard-go would make readers of the
    // interface (OpenAnyDevice) look for a userspace device.
    const std::string sock = uapi_dir_ + "/" + ifname + ".sock";
    if (!SocketListening(sock)) unlink(sock.c_str());
    TPMESH_ASSIGN_OR_RETURN(auto rtnl, wg::OpenNetlinkSocket(NETLINK_ROUTE));
    TPMESH_ASSIGN_OR_RETURN(auto link, wg::QueryLink(*rtnl, ifname));
    if (!link) return wg::CreateWireguardLink(*rtnl, ifname);
    if (link->kind != "wireguard") {
      return MakeError(Code::kFailedPrecondition, "interface_name_in_use",
                       ifname + " exists and is not kernel WireGuard (kind '" + link->kind + "')");
    }
    return OkStatus();
  }

 private:
  std::string uapi_dir_;
};

class UserspaceLink final : public IpLink {
 public:
  explicit UserspaceLink(std::string uapi_dir) : uapi_dir_(std::move(uapi_dir)) {}

  Status Ensure(const std::string& ifname) override {
    const std::string sock = uapi_dir_ + "/" + ifname + ".sock";
    struct stat sb {};
    if (stat(sock.c_str(), &sb) == 0) {
      if (SocketListening(sock)) {
        if (if_nametoindex(ifname.c_str()) != 0) return OkStatus();
        return MakeError(Code::kFailedPrecondition, "interface_name_in_use",
                         sock + " belongs to a WireGuard interface " + ifname +
                             " in another network namespace (the socket path is global); "
                             "choose another --interface");
      }
      // Left by a wireguard-go that was killed (its interface died with it).
      unlink(sock.c_str());
    }
    std::string out;
    // wireguard-go daemonizes: the interface outlives this process, so the
    // mesh keeps forwarding while the client restarts.
    if (int rc = Run({"wireguard-go", ifname}, &out); rc != 0) {
      return MakeError(Code::kUnavailable, "wireguard_unavailable",
                       "wireguard-go " + ifname + " failed (" + std::to_string(rc) + "): " + out);
    }
    for (int i = 0; i < 100; ++i) {
      if (stat(sock.c_str(), &sb) == 0) return OkStatus();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return MakeError(Code::kUnavailable, "wireguard_unavailable",
                     "wireguard-go started but " + sock + " did not appear");
  }

 private:
  std::string uapi_dir_;
};

// Chooses the backend at the first Ensure (once the daemon has loaded its
// state: an unenrolled node creates no interface), logs the choice, then
// delegates.
class ChoosingLink final : public IpLink {
 public:
  ChoosingLink(const DaemonOptions& o, LogFn log) : o_(o), log_(std::move(log)) {}

  Status Ensure(const std::string& ifname) override {
    if (!chosen_) {
      TPMESH_ASSIGN_OR_RETURN(auto rtnl, wg::OpenNetlinkSocket(NETLINK_ROUTE));
      TPMESH_ASSIGN_OR_RETURN(wg::BackendChoice c, wg::ChooseBackend(o_.wg_backend, ifname, *rtnl));
      if (log_) {
        log_("WireGuard backend: " + std::string(wg::BackendName(c.backend)) + " (" + c.reason +
             ")");
      }
      if (c.backend == wg::Backend::kKernel) {
        chosen_ = std::make_unique<KernelLink>(o_.uapi_dir);
      } else {
        chosen_ = std::make_unique<UserspaceLink>(o_.uapi_dir);
      }
    }
    return chosen_->Ensure(ifname);
  }

 private:
  DaemonOptions o_;
  LogFn log_;
  std::unique_ptr<LinkConfigurator> chosen_;
};

}  // namespace

std::unique_ptr<LinkConfigurator> MakeLink(const DaemonOptions& o, const LogFn& log) {
  return std::make_unique<ChoosingLink>(o, log);
}

}  // namespace tpmesh::client
