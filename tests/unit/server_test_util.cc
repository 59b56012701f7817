#include "tests/unit/server_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>

namespace tpmesh::net::testing {
namespace {

using std::chrono::hours;

const bool kIgnoreSigpipe = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();

void SetTimeout(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

int Dial(int port, const std::string& source) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  if (!source.empty()) {
    inet_pton(AF_INET, source.c_str(), &a.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close(fd);
      return -1;
    }
  }
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

const TestPki& SharedPki() {
  static const TestPki* pki = [] {
    const TimePoint now = SystemClock::Instance().Now();
    auto* p = new TestPki{*pki::AuthorityCa::Create("server test CA", now, hours(24)), {}, {}, {}};
    p->server = *p->ca.IssueServerCert({"localhost"}, {"127.0.0.1", "::1"}, now, hours(24));
    p->admin = *p->ca.IssueAdminCert("alice", now, hours(24));
    p->node.key_pem = *pki::GenerateKeyPem();
    p->node.cert_pem =
        *p->ca.IssueNodeCert(*pki::MakeCsr(p->node.key_pem, "n"), kTestNodeId, now, hours(1));
    return p;
  }();
  return *pki;
}

int RawTls::ConnectTcp(int port) { return Dial(port, ""); }

std::optional<RawResponse> RawTls::Exchange(int port, std::string_view bytes,
                                            const pki::CertAndKey* cert) {
  auto c = Connect(port, cert);
  if (!c || !c->Send(bytes)) return std::nullopt;
  return c->Read();
}

std::unique_ptr<RawTls> RawTls::Connect(int port, const pki::CertAndKey* cert,
                                        const std::string& source) {
  std::unique_ptr<RawTls> t(new RawTls());
  t->fd_ = Dial(port, source);
  if (t->fd_ < 0) return nullptr;
  SetTimeout(t->fd_, std::chrono::seconds(10));
  t->ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(t->ctx_, TLS1_3_VERSION);
  if (cert != nullptr) {
    BIO* cb = BIO_new_mem_buf(cert->cert_pem.data(), static_cast<int>(cert->cert_pem.size()));
    X509* x = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    BIO_free(cb);
    BIO* kb = BIO_new_mem_buf(cert->key_pem.data(), static_cast<int>(cert->key_pem.size()));
    EVP_PKEY* k = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    BIO_free(kb);
    SSL_CTX_use_certificate(t->ctx_, x);
    SSL_CTX_use_PrivateKey(t->ctx_, k);
    X509_free(x);
    EVP_PKEY_free(k);
  }
  t->ssl_ = SSL_new(t->ctx_);
  SSL_set_fd(t->ssl_, t->fd_);
  if (SSL_connect(t->ssl_) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  // TLS 1.3: a refused client certificate shows only at the first read;
  // the caller's first Read reports it.
  return t;
}

RawTls::~RawTls() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) close(fd_);
}

bool RawTls::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    const int n =
        SSL_write(ssl_, bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), 1 << 20)));
    if (n <= 0) {
      ERR_clear_error();
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::optional<RawResponse> RawTls::Read(std::chrono::milliseconds timeout) {
  SetTimeout(fd_, timeout);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  RawResponse r;
  size_t need = std::string::npos;
  for (;;) {
    const size_t eoh = pending_.find("\r\n\r\n");
    if (need == std::string::npos && eoh != std::string::npos) {
      r.head = pending_.substr(0, eoh);
      r.status = std::atoi(r.head.c_str() + 9);
      size_t length = 0;
      const size_t cl = r.head.find("Content-Length: ");
      if (cl != std::string::npos) length = std::strtoul(r.head.c_str() + cl + 16, nullptr, 10);
      need = eoh + 4 + length;
    }
    if (need != std::string::npos && pending_.size() >= need) {
      r.body = pending_.substr(r.head.size() + 4, need - r.head.size() - 4);
      pending_.erase(0, need);
      if (auto e = ParseErrorJson(r.body)) r.reason = e->reason;
      return r;
    }
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    char buf[16384];
    const int n = SSL_read(ssl_, buf, sizeof buf);
    if (n <= 0) {
      ERR_clear_error();
      return std::nullopt;
    }
    pending_.append(buf, static_cast<size_t>(n));
  }
}

bool RawTls::ClosedWithin(std::chrono::milliseconds timeout) {
  SetTimeout(fd_, timeout);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    char buf[4096];
    const int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) continue;
    const int err = SSL_get_error(ssl_, n);
    ERR_clear_error();
    if (err == SSL_ERROR_ZERO_RETURN) return true;
    if (err == SSL_ERROR_SYSCALL) return errno != EAGAIN && errno != EWOULDBLOCK;
    if (err == SSL_ERROR_SSL) return true;
    return false;
  }
  return false;
}

std::string Request(const std::string& method, const std::string& path, const std::string& body,
                    const std::vector<std::string>& extra) {
  std::string r = method + " " + path + " HTTP/1.1\r\nHost: test\r\n";
  for (const auto& e : extra) r += e + "\r\n";
  if (!body.empty()) r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

void ServerFixture::Start(ServerLimits limits, Handler handler, int workers) {
  const TestPki& p = SharedPki();
  ServerOptions o;
  o.listen = {"127.0.0.1:0"};
  o.cert_pem = p.server.cert_pem;
  o.key_pem = p.server.key_pem;
  o.client_ca_pem = p.ca.cert_pem();
  o.limits = limits;
  o.worker_threads = workers;
  auto s = StartServer(o, std::move(handler));
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  server_ = std::move(s).value();
}

Handler EchoKind() {
  return [](const HttpRequest& r, const Caller& c) {
    const char* kind = c.kind == Caller::Kind::kAdmin  ? "admin"
                       : c.kind == Caller::Kind::kNode ? "node"
                                                       : "anonymous";
    return HttpResponse{200, std::string(kind) + "|" + r.path + "|" + std::to_string(r.body.size()),
                        "text/plain"};
  };
}

}  // namespace tpmesh::net::testing
