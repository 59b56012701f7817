// OpenUapiDevice's protocol handling against a fake UAPI server on a unix
// socket in a temp dir (no root, no wireguard-go).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "tpmesh/wg/device.h"
#include "tpmesh/wg/uapi.h"

namespace tpmesh::wg {
namespace {

// Serves one connection: reads the request up to its blank line, records
// it, writes `response`, closes.
class FakeUapiServer {
 public:
  FakeUapiServer() {
    char tmpl[] = "/tmp/tpmesh-wgsock-XXXXXX";
    dir_ = mkdtemp(tmpl);
    fd_ = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = dir_ + "/wgfake0.sock";
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 4), 0);
  }
  ~FakeUapiServer() {
    if (thread_.joinable()) thread_.join();
    close(fd_);
    std::filesystem::remove_all(dir_);
  }
  void ServeOnce(std::string response) {
    if (thread_.joinable()) thread_.join();
    thread_ = std::thread([this, response] {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[512];
      while (req.find("\n\n") == std::string::npos) {
        ssize_t n = read(c, buf, sizeof(buf));
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      request_ = req;
      (void)!write(c, response.data(), response.size());
      close(c);
    });
  }
  std::string request() {
    if (thread_.joinable()) thread_.join();
    return request_;
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int fd_ = -1;
  std::thread thread_;
  std::string request_;
};

Bytes Key(uint8_t n) { return Bytes(kKeyLen, n); }

TEST(WgUapiSocket, GetAndSetSpeakTheProtocol) {
  FakeUapiServer server;
  auto dev = OpenUapiDevice("wgfake0", server.dir());
  ASSERT_TRUE(dev.ok()) << dev.error().ToString();
  EXPECT_EQ((*dev)->name(), "wgfake0");

  WgDeviceConfig state;
  state.listen_port = 4242;
  WgPeer p;
  p.public_key = Key(3);
  p.allowed_ips = {"10.0.0.0/8"};
  p.persistent_keepalive = 0;
  state.peers.push_back(std::move(p));
  server.ServeOnce(FormatUapiGet(state));
  auto got = (*dev)->Get();
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_EQ(server.request(), "get=1\n\n");
  EXPECT_TRUE(Equal(*got, state)) << ToString(*got);

  server.ServeOnce("errno=0\n\n");
  Status s = (*dev)->Set(state);
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(server.request(), *FormatUapiSet(state));
}

TEST(WgUapiSocket, ErrorAnswers) {
  FakeUapiServer server;
  auto dev = OpenUapiDevice("wgfake0", server.dir());
  ASSERT_TRUE(dev.ok());

  server.ServeOnce("errno=-98\n\n");
  Status s = (*dev)->Set(WgDeviceConfig{});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().reason, "wg_errno");
  EXPECT_NE(s.error().message.find("errno=-98"), std::string::npos) << s.error().message;

  server.ServeOnce("listen_port=1\nerrno=0\n\n");  // set answers only errno
  s = (*dev)->Set(WgDeviceConfig{});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().reason, "uapi_malformed");

  server.ServeOnce("listen_port=1\n");  // connection closed mid-response
  auto got = (*dev)->Get();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().reason, "wg_unavailable");
  EXPECT_NE(got.error().message.find("before the end of its response"), std::string::npos);

  server.ServeOnce("errno=0\n\nextra");
  got = (*dev)->Get();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().reason, "uapi_malformed");

  server.ServeOnce("bogus=1\nerrno=0\n\n");
  got = (*dev)->Get();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().reason, "uapi_malformed");
  EXPECT_NE(got.error().message.find("line 1 (bogus)"), std::string::npos);

  // A config that cannot be formatted never reaches the socket.
  WgDeviceConfig bad;
  bad.private_key = SecretBytes(Bytes(5, 1));
  s = (*dev)->Set(bad);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().reason, "wg_config_invalid");
}

TEST(WgUapiSocket, OpenValidatesNameAndSocket) {
  FakeUapiServer server;
  for (const char* bad : {"", "a/b", "..", "0123456789abcdef"}) {
    auto dev = OpenUapiDevice(bad, server.dir());
    ASSERT_FALSE(dev.ok()) << bad;
    EXPECT_EQ(dev.error().reason, "invalid_ifname") << bad;
  }
  auto missing = OpenUapiDevice("wgnone0", server.dir());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Code::kUnavailable);
  EXPECT_NE(missing.error().message.find(server.dir() + "/wgnone0.sock"), std::string::npos);
  auto not_socket = OpenUapiDevice("x", "/dev/null/..");
  EXPECT_FALSE(not_socket.ok());
}

}  // namespace
}  // namespace tpmesh::wg
