// `tpmesh-client run` after an `enroll --force` replaced the state files
// under it: the authority answers the old certificate "node_cert_superseded";
// the daemon reads the state directory again, sets the new WireGuard private
// key on the interface, reconnects with the new certificate and goes on. With
// the same files it says so and backs off instead. In-process RunDaemon
// against a fake authority (net::StartServer on 127.0.0.1, which accepts
// only the newest certificate) and a fake UAPI socket; real TLS and threads.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"
#include "tpmesh/client/daemon.h"
#include "tpmesh/client/enroll.h"
#include "tpmesh/net/http.h"
#include "tpmesh/pki/pki.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::client {
namespace {

using namespace std::chrono_literals;

constexpr auto kDeadline = 30s;  // for events that come within a few seconds

// Lines seen, with a wait for one containing a text.
class Events {
 public:
  void Add(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.push_back(line);
    cv_.notify_all();
  }
  bool WaitFor(const std::string& text) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kDeadline, [&] { return CountLocked(text) > 0; });
  }
  int Count(const std::string& text) {
    std::lock_guard<std::mutex> lock(mu_);
    return CountLocked(text);
  }
  std::vector<std::string> Lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }
  std::string Dump() {
    std::string out;
    for (const auto& l : Lines()) out += l + "\n";
    return out;
  }

 private:
  int CountLocked(const std::string& text) const {
    return static_cast<int>(std::count_if(lines_.begin(), lines_.end(), [&](const std::string& l) {
      return l.find(text) != std::string::npos;
    }));
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
};

// A UAPI socket that answers every get with an empty device and every set
// with errno=0, recording the set requests.
class FakeUapi {
 public:
  FakeUapi(const std::string& dir, const std::string& ifname, Events& sets) : sets_(sets) {
    fd_ = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = dir + "/" + ifname + ".sock";
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd_, 8), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeUapi() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }

 private:
  void Serve() {
    for (;;) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[512];
      while (req.find("\n\n") == std::string::npos) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      if (req.rfind("set=1", 0) == 0) sets_.Add(req);
      const std::string answer = "errno=0\n\n";
      (void)!write(c, answer.data(), answer.size());
      close(c);
    }
  }
  Events& sets_;
  int fd_ = -1;
  std::thread thread_;
};

class FakeLink : public LinkConfigurator {
 public:
  Status Ensure(const std::string&) override { return OkStatus(); }
  Status Configure(const std::string&, const std::string&, const std::string&, int) override {
    return OkStatus();
  }
  Status TearDown(const std::string&) override { return OkStatus(); }
};

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class DaemonReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const TimePoint now = SystemClock::Instance().Now();
    auto ca = pki::AuthorityCa::Create("reload CA", now, std::chrono::hours(24));
    ASSERT_TRUE(ca.ok()) << ca.error().ToString();
    ca_ = std::make_unique<pki::AuthorityCa>(std::move(*ca));
    auto server_cert = ca_->IssueServerCert({}, {"127.0.0.1"}, now, std::chrono::hours(24));
    ASSERT_TRUE(server_cert.ok()) << server_cert.error().ToString();
    net::ServerOptions so;
    so.listen = {"127.0.0.1:0"};
    so.cert_pem = server_cert->cert_pem;
    so.key_pem = server_cert->key_pem;
    so.client_ca_pem = ca_->cert_pem();
    so.worker_threads = 4;
    auto server = net::StartServer(
        so, [this](const net::HttpRequest& r, const net::Caller& c) { return Answer(r, c); });
    ASSERT_TRUE(server.ok()) << server.error().ToString();
    server_ = std::move(*server);
    state_ = tmp_.path() + "/state";
    ASSERT_TRUE(pki::EnsurePrivateDir(state_).ok());
  }

  void TearDown() override {
    Release();
    if (server_) server_->Stop();
  }

  // The fake authority: the newest certificate long-polls (until Release),
  // every other one is superseded.
  net::HttpResponse Answer(const net::HttpRequest&, const net::Caller& caller) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!valid_serial_.empty() && Lower(caller.serial) == valid_serial_) {
      served_new_ = true;
      cv_.notify_all();
      cv_.wait_for(lock, kDeadline, [this] { return released_; });
      return net::HttpResponse{204, "", "application/json"};
    }
    return net::ErrorResponse(MakeError(Code::kUnauthenticated, "node_cert_superseded",
                                        "this certificate was superseded"));
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

  void Write(const std::string& name, const std::string& content) {
    ASSERT_TRUE(pki::WritePrivateFile(state_ + "/" + name, content).ok());
  }

  // node.key, node.crt and wg.key of one enrollment; returns the serial.
  std::string WriteIdentity(const WgKeyPair& wg) {
    auto key = pki::GenerateKeyPem();
    auto csr = pki::MakeCsr(*key, "node-1");
    auto cert = ca_->IssueNodeCert(*csr, kId, SystemClock::Instance().Now(), std::chrono::hours(1));
    EXPECT_TRUE(cert.ok());
    if (!cert.ok()) return "";
    Write("node.key", *key);
    Write("wg.key", Base64Encode(wg.private_key.view()) + "\n");
    Write("node.crt", *cert);
    auto id = pki::IdentityFromCertPem(*cert);
    return id.ok() ? Lower(id->serial) : "";
  }

  void WriteEnrollment(int port) {
    proto::EnrollFinishResponse nj;
    nj.status = "active";
    nj.node_id = kId;
    nj.overlay_address = "fd00:1:2:3::1";
    nj.overlay_prefix = "fd00:1:2:3::/64";
    nj.mesh_prefix = "fd00:1:2::/48";
    nj.config_signing_key = Bytes(32, 7);
    Write("node.json", proto::ToJson(nj));
    Write("authority", "https://127.0.0.1:" + std::to_string(port) + "\n");
    Write("ca.crt", ca_->cert_pem());
  }

  static constexpr const char* kId = "0123456789abcdef0123";
  tpmesh::testing::TempDir tmp_;
  std::string state_;
  std::unique_ptr<pki::AuthorityCa> ca_;
  std::unique_ptr<net::Server> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string valid_serial_;
  bool served_new_ = false;
  bool released_ = false;
};

TEST_F(DaemonReloadTest, SupersededCertificateReloadsTheReenrolledState) {
  ASSERT_NO_FATAL_FAILURE(WriteEnrollment(server_->ports().at(0)));
  const WgKeyPair old_wg = GenerateWgKeyPair(SystemRandom::Instance());
  const WgKeyPair new_wg = GenerateWgKeyPair(SystemRandom::Instance());
  ASSERT_FALSE(WriteIdentity(old_wg).empty());
  {
    std::lock_guard<std::mutex> lock(mu_);
    valid_serial_ = "none yet";
  }
  Events log, sets;
  FakeUapi uapi(tmp_.path(), "tpmrl0", sets);
  FakeLink link;
  DaemonOptions o;
  o.state_dir = state_;
  o.ifname = "tpmrl0";
  o.uapi_dir = tmp_.path();
  o.poll_wait_seconds = 1;
  o.max_backoff_seconds = 2;
  StopSignal stop;
  Status result = OkStatus();
  std::thread daemon(
      [&] { result = RunDaemon(o, link, stop, [&](const std::string& l) { log.Add(l); }); });

  // The same files: said so, and backed off (no reload loop).
  const bool same_seen = log.WaitFor("holds the same node certificate");
  EXPECT_TRUE(same_seen) << log.Dump();
  EXPECT_EQ(sets.Count("private_key="), 0) << "a key was set without new files";

  // enroll --force replaces the files; the authority accepts only the new certificate.
  const std::string serial = WriteIdentity(new_wg);
  {
    std::lock_guard<std::mutex> lock(mu_);
    valid_serial_ = serial;
  }
  bool served = false;
  {
    std::unique_lock<std::mutex> lock(mu_);
    served = cv_.wait_for(lock, kDeadline, [this] { return served_new_; });
  }
  EXPECT_TRUE(served) << "the daemon never used the new certificate:\n" << log.Dump();
  EXPECT_GE(sets.Count("private_key=" + HexEncode(new_wg.private_key.view())), 1) << sets.Dump();
  EXPECT_EQ(sets.Count("private_key=" + HexEncode(old_wg.private_key.view())), 0) << sets.Dump();
  EXPECT_GE(log.Count("set the new WireGuard key " + Base64Encode(new_wg.public_key)), 1)
      << log.Dump();
  EXPECT_GE(log.Count("reconnecting"), 1) << log.Dump();
  // Every "same files" round was followed by a backoff, not an instant retry.
  const auto lines = log.Lines();
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find("holds the same node certificate") == std::string::npos) continue;
    ASSERT_LT(i + 1, lines.size()) << log.Dump();
    EXPECT_NE(lines[i + 1].find("retrying in ~"), std::string::npos) << log.Dump();
  }

  stop.Stop();
  Release();
  daemon.join();
  EXPECT_TRUE(result.ok()) << result.error().ToString();
}

}  // namespace
}  // namespace tpmesh::client
