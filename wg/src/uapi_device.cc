// The UAPI unix-socket backend of WgDevice (contract in device.h).
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "tpmesh/wg/device.h"
#include "tpmesh/wg/uapi.h"

namespace tpmesh::wg {
namespace {

constexpr size_t kMaxResponse = 64u << 20;  // a get for ~100k peers fits
constexpr int kIoTimeoutSec = 10;

Error Unavailable(std::string msg) {
  return MakeError(Code::kUnavailable, "wg_unavailable", std::move(msg));
}

// A growable byte buffer whose old and final storage is wiped: responses
// and requests carry the private key.
class WipedBuffer {
 public:
  WipedBuffer() : buf_(4096) {}
  ~WipedBuffer() { sodium_memzero(buf_.data(), buf_.size()); }
  WipedBuffer(const WipedBuffer&) = delete;
  WipedBuffer& operator=(const WipedBuffer&) = delete;

  char* tail() { return buf_.data() + len_; }
  size_t room() {
    if (len_ == buf_.size()) {
      std::vector<char> bigger(buf_.size() * 2);
      std::memcpy(bigger.data(), buf_.data(), len_);
      sodium_memzero(buf_.data(), buf_.size());
      buf_.swap(bigger);
    }
    return buf_.size() - len_;
  }
  void grow(size_t n) { len_ += n; }
  std::string_view view() const { return std::string_view(buf_.data(), len_); }

 private:
  std::vector<char> buf_;
  size_t len_ = 0;
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

class UapiDevice : public WgDevice {
 public:
  UapiDevice(std::string ifname, std::string path)
      : ifname_(std::move(ifname)), path_(std::move(path)) {}

  Result<WgDeviceConfig> Get() override {
    WipedBuffer response;
    TPMESH_RETURN_IF_ERROR(Transact("get=1\n\n", response));
    return ParseUapiGet(response.view());
  }

  Status Set(const WgDeviceConfig& config) override {
    auto request = FormatUapiSet(config);
    if (!request.ok()) return request.take_error();
    WipedBuffer response;
    Status sent = Transact(*request, response);
    sodium_memzero(request->data(), request->size());
    TPMESH_RETURN_IF_ERROR(sent);
    std::string_view r = response.view();
    // A set answers exactly "errno=N\n\n".
    if (r.size() < 8 || r.substr(0, 6) != "errno=" || r.find('\n') != r.size() - 2) {
      return MakeError(Code::kInvalidArgument, "uapi_malformed",
                       "uapi set response is not a single errno line");
    }
    auto parsed = ParseUapiGet(r);  // turns errno != 0 into a "wg_errno" error
    if (!parsed.ok()) return parsed.take_error();
    return OkStatus();
  }

  std::string name() const override { return ifname_; }

 private:
  // Sends `request` on a fresh connection and reads up to the first blank
  // line (UAPI responses contain no other blank line).
  Status Transact(std::string_view request, WipedBuffer& response) {
    Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return Unavailable(std::string("socket: ") + std::strerror(errno));
    timeval tv{kIoTimeoutSec, 0};
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return Unavailable("connect " + path_ + ": " + std::strerror(errno) +
                         " (is the userspace WireGuard daemon for " + ifname_ + " running?)");
    }
    for (size_t off = 0; off < request.size();) {
      ssize_t n = send(fd.get(), request.data() + off, request.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Unavailable("write to " + path_ + ": " + std::strerror(errno));
      off += static_cast<size_t>(n);
    }
    while (response.view().find("\n\n") == std::string_view::npos) {
      if (response.view().size() >= kMaxResponse) {
        return MakeError(Code::kInvalidArgument, "uapi_malformed",
                         "uapi response exceeds " + std::to_string(kMaxResponse) + " bytes");
      }
      size_t room = response.room();
      ssize_t n = recv(fd.get(), response.tail(), room, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Unavailable("read from " + path_ + ": " + std::strerror(errno));
      if (n == 0) {
        return Unavailable("device closed " + path_ + " before the end of its response (" +
                           std::to_string(response.view().size()) + " bytes read)");
      }
      response.grow(static_cast<size_t>(n));
    }
    std::string_view v = response.view();
    if (v.find("\n\n") + 2 != v.size()) {
      return MakeError(Code::kInvalidArgument, "uapi_malformed",
                       "uapi response has data after its terminating blank line");
    }
    return OkStatus();
  }

  std::string ifname_;
  std::string path_;
};

}  // namespace

Result<std::unique_ptr<WgDevice>> OpenUapiDevice(const std::string& ifname,
                                                 const std::string& socket_dir) {
  if (ifname.empty() || ifname.size() > 15 || ifname.find('/') != std::string::npos ||
      ifname == "." || ifname == ".." || ifname.find('\0') != std::string::npos) {
    return MakeError(Code::kInvalidArgument, "invalid_ifname",
                     "interface name must be 1..15 characters without '/'");
  }
  std::string path = socket_dir + "/" + ifname + ".sock";
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return MakeError(Code::kInvalidArgument, "invalid_ifname",
                     "socket path " + path + " is too long for a unix socket");
  }
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return Unavailable("no UAPI socket " + path + ": " + std::strerror(errno) +
                       " (is the userspace WireGuard daemon for " + ifname + " running?)");
  }
  if (!S_ISSOCK(st.st_mode)) return Unavailable(path + " is not a unix socket");
  return std::unique_ptr<WgDevice>(new UapiDevice(ifname, path));
}

}  // namespace tpmesh::wg
