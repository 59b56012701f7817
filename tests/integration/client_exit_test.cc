// Exit codes of tpmesh-client and tpmeshctl when the authority drops the
// connection (docs/operations.md, "Exit codes"): real processes against a
// local TLS listener on 127.0.0.1 that accepts and then drops every
// connection, either at once (RST before the TLS handshake) or after the
// handshake, mid-request. A program killed by SIGPIPE (exit 141, no message)
// fails these tests; each must exit with its documented code and say on
// stderr what failed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "tests/support/authority_proc.h"
#include "tests/support/swtpm.h"
#include "tpmesh/attest/tpm.h"
#include "tpmesh/pki/pki.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::testing {
namespace {

// Documented exit codes (docs/operations.md, "Exit codes").
constexpr int kClientUnreachable = 5;
constexpr int kClientNotEnrolled = 6;
constexpr int kClientCertInvalid = 7;
constexpr int kClientUsage = 2;
constexpr int kCtlFailed = 1;

enum class Drop { kAtOnce, kMidRequest };

// Accepts TCP connections on 127.0.0.1 and drops each with a RST: at once,
// or after the TLS handshake and the first bytes of the request.
class DroppingListener {
 public:
  DroppingListener(Drop mode, const pki::CertAndKey& server) : mode_(mode) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    BIO* cb = BIO_new_mem_buf(server.cert_pem.data(), static_cast<int>(server.cert_pem.size()));
    X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    BIO_free(cb);
    BIO* kb = BIO_new_mem_buf(server.key_pem.data(), static_cast<int>(server.key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    BIO_free(kb);
    EXPECT_EQ(SSL_CTX_use_certificate(ctx_, cert), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx_, key), 1);
    X509_free(cert);
    EVP_PKEY_free(key);
    // Ask for a client certificate (as the authority does) but accept any.
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof addr;
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }

  ~DroppingListener() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    close(fd_);
    SSL_CTX_free(ctx_);
  }

  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_.load(); }

 private:
  static void Reset(int c) {
    linger l{1, 0};  // close() sends RST
    setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(c);
  }

  void Serve() {
    while (!stop_) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      accepted_.fetch_add(1);
      if (mode_ == Drop::kMidRequest) {
        timeval tv{5, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        SSL* ssl = SSL_new(ctx_);
        SSL_set_fd(ssl, c);
        if (SSL_accept(ssl) == 1) {
          char buf[16];
          (void)SSL_read(ssl, buf, sizeof buf);  // the request has begun
        }
        SSL_free(ssl);
        ERR_clear_error();
      }
      Reset(c);
    }
  }

  Drop mode_;
  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

// Runs a program with stderr captured apart from stdout.
Outcome RunProgram(const std::string& err_path, const std::vector<std::string>& argv,
                   const std::vector<std::pair<std::string, std::string>>& env = {}) {
  std::vector<std::string> sh = {"sh", "-c", "exec \"$0\" \"$@\" 2>\"$TPMESH_TEST_ERR\""};
  sh.insert(sh.end(), argv.begin(), argv.end());
  auto full_env = env;
  full_env.emplace_back("TPMESH_TEST_ERR", err_path);
  CommandResult r = RunCommand(sh, full_env);
  auto err = ReadFileBytes(err_path);
  return Outcome{r.exit_code, r.output, err.ok() ? std::string(err->begin(), err->end()) : ""};
}

std::string Describe(const Outcome& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

class ClientExitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(BinDir().empty()) << "TPMESH_BIN_DIR must point at the build's bin dir";
    auto d = ScopedTempDir::Make("tpmesh-exit-test.");
    ASSERT_TRUE(d.ok()) << d.error().ToString();
    work_ = std::move(*d);
    const TimePoint now = SystemClock::Instance().Now();
    auto ca = pki::AuthorityCa::Create("exit-test CA", now, std::chrono::hours(24));
    ASSERT_TRUE(ca.ok()) << ca.error().ToString();
    ca_ = std::make_unique<pki::AuthorityCa>(std::move(*ca));
    auto server = ca_->IssueServerCert({}, {"127.0.0.1"}, now, std::chrono::hours(24));
    ASSERT_TRUE(server.ok()) << server.error().ToString();
    server_ = *server;
  }

  std::string Path(const std::string& name) const { return work_->path() + "/" + name; }
  std::string Bin(const std::string& name) const { return BinDir() + "/" + name; }

  static void Write(const std::string& path, const std::string& text) {
    Status st = pki::WritePrivateFile(path, text);
    ASSERT_TRUE(st.ok()) << st.error().ToString();
  }

  // A state dir as enrollment leaves it, pointing at `url`; the node
  // certificate was issued `age` ago for `lifetime`.
  void MakeNodeState(const std::string& dir, const std::string& url,
                     std::chrono::seconds age = std::chrono::seconds(0),
                     std::chrono::seconds lifetime = std::chrono::hours(24)) {
    ASSERT_TRUE(pki::EnsurePrivateDir(dir).ok());
    auto key = pki::GenerateKeyPem();
    ASSERT_TRUE(key.ok());
    auto csr = pki::MakeCsr(*key, "0123456789abcdef0123");
    ASSERT_TRUE(csr.ok());
    auto cert = ca_->IssueNodeCert(*csr, "0123456789abcdef0123",
                                   SystemClock::Instance().Now() - age, lifetime);
    ASSERT_TRUE(cert.ok()) << cert.error().ToString();
    proto::EnrollFinishResponse nj;
    nj.status = "active";
    nj.node_id = "0123456789abcdef0123";
    nj.overlay_address = "fd00:1:2:3::1";
    nj.overlay_prefix = "fd00:1:2:3::/64";
    nj.mesh_prefix = "fd00:1:2::/48";
    nj.node_cert_pem = *cert;
    nj.ca_bundle_pem = ca_->cert_pem();
    nj.config_signing_key = Bytes(32, 7);
    ASSERT_NO_FATAL_FAILURE(Write(dir + "/node.json", proto::ToJson(nj)));
    ASSERT_NO_FATAL_FAILURE(Write(dir + "/authority", url + "\n"));
    ASSERT_NO_FATAL_FAILURE(Write(dir + "/wg.key", Base64Encode(Bytes(32, 9)) + "\n"));
    ASSERT_NO_FATAL_FAILURE(Write(dir + "/node.crt", *cert));
    ASSERT_NO_FATAL_FAILURE(Write(dir + "/node.key", *key));
    ASSERT_NO_FATAL_FAILURE(Write(dir + "/ca.crt", ca_->cert_pem()));
  }

  void MakeAdminDir(const std::string& dir) {
    ASSERT_TRUE(pki::EnsurePrivateDir(dir).ok());
    auto admin = ca_->IssueAdminCert("ops", SystemClock::Instance().Now(), std::chrono::hours(24));
    ASSERT_TRUE(admin.ok()) << admin.error().ToString();
    ASSERT_NO_FATAL_FAILURE(Write(dir + "/ca.crt", ca_->cert_pem()));
    ASSERT_NO_FATAL_FAILURE(Write(dir + "/admin.crt", admin->cert_pem));
    ASSERT_NO_FATAL_FAILURE(Write(dir + "/admin.key", admin->key_pem));
  }

  // A swtpm and an AK made on it (ak.blob in `dir`), for renew and enroll.
  void StartTpm(const std::string& dir) {
    auto t = Swtpm::Start();
    ASSERT_TRUE(t.ok()) << t.error().ToString();
    tpm_ = std::move(*t);
    auto tpm = attest::OpenTpm(tpm_->tcti());
    ASSERT_TRUE(tpm.ok()) << tpm.error().ToString();
    auto ak = (*tpm)->CreateAk(attest::KeyAlg::kEccP256);
    ASSERT_TRUE(ak.ok()) << ak.error().ToString();
    Bytes blob = ak->Serialize();
    ASSERT_NO_FATAL_FAILURE(Write(dir + "/ak.blob", std::string(blob.begin(), blob.end())));
  }

  Outcome ClientStatus(const std::string& dir) {
    return RunProgram(Path("status.err"), {Bin("tpmesh-client"), "status", "--state-dir", dir,
                                           "--interface", "tpmxt0", "--uapi-dir", Path("no-uapi")});
  }
  Outcome ClientRenew(const std::string& dir) {
    return RunProgram(Path("renew.err"), {Bin("tpmesh-client"), "renew", "--force", "--state-dir",
                                          dir, "--tcti", tpm_->tcti()});
  }
  Outcome ClientEnroll(const std::string& url, const std::string& dir) {
    return RunProgram(
        Path("enroll.err"),
        {Bin("tpmesh-client"), "enroll", "--authority", url, "--ca-fingerprint", ca_->Fingerprint(),
         "--hostname", "node-x", "--tcti", tpm_->tcti(), "--state-dir", dir},
        {{"TPMESH_TOKEN", "not-a-real-token"}});
  }
  Outcome Ctl(const std::string& url, const std::string& admin_dir) {
    return RunProgram(Path("ctl.err"), {Bin("tpmeshctl"), "--authority", url, "--admin-dir",
                                        admin_dir, "nodes", "list"});
  }

  std::unique_ptr<ScopedTempDir> work_;
  std::unique_ptr<pki::AuthorityCa> ca_;
  pki::CertAndKey server_;
  std::unique_ptr<Swtpm> tpm_;
};

#define EXPECT_UNREACHABLE(r, prog)                                                     \
  do {                                                                                  \
    EXPECT_EQ((r).exit_code, kClientUnreachable) << Describe(r);                        \
    EXPECT_NE((r).err.find(prog ": "), std::string::npos) << Describe(r);               \
    EXPECT_NE((r).err.find("authority_unreachable"), std::string::npos) << Describe(r); \
  } while (0)

class DroppedConnections : public ClientExitTest, public ::testing::WithParamInterface<Drop> {};

TEST_P(DroppedConnections, ClientStatusRenewEnrollExitUnreachable) {
  DroppingListener listener(GetParam(), server_);
  const std::string dir = Path("node");
  ASSERT_NO_FATAL_FAILURE(MakeNodeState(dir, listener.url()));
  ASSERT_NO_FATAL_FAILURE(StartTpm(dir));
  // Several rounds: a drop races with the client's writes.
  for (int round = 0; round < 3; ++round) {
    Outcome status = ClientStatus(dir);
    EXPECT_UNREACHABLE(status, "tpmesh-client");
    Outcome renew = ClientRenew(dir);
    EXPECT_UNREACHABLE(renew, "tpmesh-client");
    EXPECT_NE(renew.err.find("renewal failed"), std::string::npos) << Describe(renew);
    Outcome enroll = ClientEnroll(listener.url(), Path("fresh"));
    EXPECT_UNREACHABLE(enroll, "tpmesh-client");
    EXPECT_NE(enroll.err.find("enrollment failed"), std::string::npos) << Describe(enroll);
  }
  EXPECT_GE(listener.accepted(), 9) << "the programs never reached the listener";
  EXPECT_FALSE(std::filesystem::exists(Path("fresh/node.json")));
}

TEST_P(DroppedConnections, CtlExitsOneNamingTheFailure) {
  DroppingListener listener(GetParam(), server_);
  ASSERT_NO_FATAL_FAILURE(MakeAdminDir(Path("admin")));
  for (int round = 0; round < 3; ++round) {
    Outcome r = Ctl(listener.url(), Path("admin"));
    EXPECT_EQ(r.exit_code, kCtlFailed) << Describe(r);
    EXPECT_NE(r.err.find("tpmeshctl: authority_unreachable"), std::string::npos) << Describe(r);
  }
  EXPECT_GE(listener.accepted(), 3);
}

INSTANTIATE_TEST_SUITE_P(Drops, DroppedConnections,
                         ::testing::Values(Drop::kAtOnce, Drop::kMidRequest),
                         [](const ::testing::TestParamInfo<Drop>& i) {
                           return i.param == Drop::kAtOnce ? std::string("AtOnce")
                                                           : std::string("MidRequest");
                         });

// An expired node certificate is reported as such, without a connection
// the authority's TLS layer would drop anyway.
TEST_F(ClientExitTest, ExpiredCertificateHasItsOwnExitCode) {
  DroppingListener listener(Drop::kMidRequest, server_);
  const std::string dir = Path("node");
  ASSERT_NO_FATAL_FAILURE(
      MakeNodeState(dir, listener.url(), std::chrono::hours(48), std::chrono::hours(24)));
  ASSERT_NO_FATAL_FAILURE(StartTpm(dir));
  Outcome status = ClientStatus(dir);
  EXPECT_EQ(status.exit_code, kClientCertInvalid) << Describe(status);
  EXPECT_NE(status.err.find("node_cert_expired"), std::string::npos) << Describe(status);
  EXPECT_NE(status.err.find("enroll --force"), std::string::npos) << Describe(status);
  Outcome renew = ClientRenew(dir);
  EXPECT_EQ(renew.exit_code, kClientCertInvalid) << Describe(renew);
  EXPECT_NE(renew.err.find("node_cert_expired"), std::string::npos) << Describe(renew);
  EXPECT_EQ(listener.accepted(), 0) << "an expired certificate was sent to the authority";
}

TEST_F(ClientExitTest, NotEnrolledAndCorruptStateHaveTheirExitCode) {
  const std::string empty = Path("empty");
  ASSERT_TRUE(pki::EnsurePrivateDir(empty).ok());
  Outcome r = ClientStatus(empty);
  EXPECT_EQ(r.exit_code, kClientNotEnrolled) << Describe(r);
  EXPECT_NE(r.err.find("not_enrolled"), std::string::npos) << Describe(r);

  const std::string dir = Path("node");
  ASSERT_NO_FATAL_FAILURE(MakeNodeState(dir, "https://127.0.0.1:1"));
  ASSERT_NO_FATAL_FAILURE(Write(dir + "/wg.key", "not base64!\n"));
  r = ClientStatus(dir);
  EXPECT_EQ(r.exit_code, kClientNotEnrolled) << Describe(r);
  EXPECT_NE(r.err.find("state_corrupt"), std::string::npos) << Describe(r);
  EXPECT_NE(r.err.find("wg.key"), std::string::npos) << Describe(r);
  ASSERT_NO_FATAL_FAILURE(Write(dir + "/node.json", "{\"status\": 5}"));
  r = ClientStatus(dir);
  EXPECT_EQ(r.exit_code, kClientNotEnrolled) << Describe(r);
  EXPECT_NE(r.err.find("node.json"), std::string::npos) << Describe(r);
}

TEST_F(ClientExitTest, UsageErrorsExitTwo) {
  Outcome missing =
      RunProgram(Path("usage.err"), {Bin("tpmesh-client"), "enroll", "--hostname", "x"});
  EXPECT_EQ(missing.exit_code, kClientUsage) << Describe(missing);
  EXPECT_NE(missing.err.find("--authority"), std::string::npos) << Describe(missing);
  Outcome unknown = RunProgram(Path("usage.err"), {Bin("tpmesh-client"), "frobnicate"});
  EXPECT_EQ(unknown.exit_code, kClientUsage) << Describe(unknown);
  Outcome help = RunProgram(Path("usage.err"), {Bin("tpmesh-client"), "--help"});
  EXPECT_EQ(help.exit_code, 0) << Describe(help);
  EXPECT_NE(help.out.find("Exit codes"), std::string::npos) << Describe(help);
  EXPECT_NE(help.out.find("authority unreachable"), std::string::npos) << Describe(help);
  Outcome ctl_help = RunProgram(Path("usage.err"), {Bin("tpmeshctl"), "--help"});
  EXPECT_EQ(ctl_help.exit_code, 0) << Describe(ctl_help);
  EXPECT_NE(ctl_help.out.find("Exit codes"), std::string::npos) << Describe(ctl_help);
}

// Two token sources are a usage error naming both; nothing is contacted.
TEST_F(ClientExitTest, TwoTokenSourcesAreAUsageError) {
  ASSERT_NO_FATAL_FAILURE(Write(Path("token"), "tok-from-file\n"));
  Outcome r =
      RunProgram(Path("tok.err"),
                 {Bin("tpmesh-client"), "enroll", "--authority", "https://127.0.0.1:1",
                  "--ca-fingerprint", "00", "--hostname", "node-x", "--tcti", "swtpm:port=1",
                  "--state-dir", Path("tokdir"), "--token-file", Path("token")},
                 {{"TPMESH_TOKEN", "tok-from-env"}});
  EXPECT_EQ(r.exit_code, kClientUsage) << Describe(r);
  EXPECT_NE(r.err.find("--token-file"), std::string::npos) << Describe(r);
  EXPECT_NE(r.err.find("TPMESH_TOKEN"), std::string::npos) << Describe(r);
  EXPECT_EQ(r.err.find("tok-from"), std::string::npos) << "a token was printed: " << Describe(r);
  EXPECT_FALSE(std::filesystem::exists(Path("tokdir")));
}

}  // namespace
}  // namespace tpmesh::testing
