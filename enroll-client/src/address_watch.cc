// WatchAddresses (contract in endpoints.h): an rtnetlink socket subscribed
// to the IPv4 and IPv6 address groups, read by a thread that also waits on
// an eventfd for its shutdown.
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "tpmesh/client/endpoints.h"

namespace tpmesh::client {
namespace {

class NetlinkAddressWatch final : public AddressWatch {
 public:
  NetlinkAddressWatch(mnl_socket* nl, int stop_fd, std::function<void()> on_change, int min_ms)
      : nl_(nl), stop_fd_(stop_fd), on_change_(std::move(on_change)), min_ms_(min_ms) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~NetlinkAddressWatch() override {
    const uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof one);
    thread_.join();
    close(stop_fd_);
    mnl_socket_close(nl_);
  }

 private:
  // Waits up to `ms` (-1: forever) for an event; false when told to stop.
  bool Wait(int ms, bool& event) {
    pollfd fds[2] = {{mnl_socket_get_fd(nl_), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    event = false;
    int n = poll(fds, 2, ms);
    if (n < 0 && errno != EINTR) return false;
    if (n > 0 && (fds[1].revents & POLLIN)) return false;
    if (n > 0 && (fds[0].revents & POLLIN)) {
      event = true;
      char buf[8192];
      // Drain: the contents do not matter, only that something changed (a
      // lost message, ENOBUFS, counts as a change too).
      while (recv(mnl_socket_get_fd(nl_), buf, sizeof buf, MSG_DONTWAIT) > 0 || errno == ENOBUFS) {
      }
    }
    return true;
  }

  void Loop() {
    for (;;) {
      bool event = false;
      if (!Wait(-1, event)) return;
      if (!event) continue;
      // Coalesce the burst (an address change is a delete and an add, often
      // with route and DAD events after it), then report once.
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(min_ms_);
      for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              until - std::chrono::steady_clock::now())
                              .count();
        if (left <= 0) break;
        if (!Wait(static_cast<int>(left), event)) return;
      }
      on_change_();
    }
  }

  mnl_socket* nl_;
  int stop_fd_;
  std::function<void()> on_change_;
  int min_ms_;
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<AddressWatch>> WatchAddresses(std::function<void()> on_change,
                                                     int min_interval_ms) {
  mnl_socket* nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (nl == nullptr) {
    return MakeError(Code::kUnavailable, "netlink_unavailable",
                     std::string("rtnetlink socket: ") + std::strerror(errno));
  }
  if (mnl_socket_bind(nl, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, MNL_SOCKET_AUTOPID) < 0) {
    int err = errno;
    mnl_socket_close(nl);
    return MakeError(Code::kUnavailable, "netlink_unavailable",
                     std::string("rtnetlink address groups: ") + std::strerror(err));
  }
  int stop_fd = eventfd(0, EFD_CLOEXEC);
  if (stop_fd < 0) {
    int err = errno;
    mnl_socket_close(nl);
    return MakeError(Code::kUnavailable, "netlink_unavailable",
                     std::string("eventfd: ") + std::strerror(err));
  }
  return std::unique_ptr<AddressWatch>(
      new NetlinkAddressWatch(nl, stop_fd, std::move(on_change), min_interval_ms));
}

}  // namespace tpmesh::client
