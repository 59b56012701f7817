// net/: HTTPS server adapter and client over loopback (IPv4 and IPv6).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <csignal>
#include <stdexcept>

#include "tpmesh/net/http.h"
#include "tpmesh/pki/pki.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::net {
namespace {

using std::chrono::hours;

// A peer closing mid-write must not kill the test process.
const bool kIgnoreSigpipe = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();

const char* KindName(Caller::Kind k) {
  switch (k) {
    case Caller::Kind::kAnonymous: return "anonymous";
    case Caller::Kind::kNode: return "node";
    case Caller::Kind::kAdmin: return "admin";
  }
  return "?";
}

// Echoes "<kind>|<id>|<method>|<path>|<query q>|<body>"; /v1/ca serves the
// bundle; /throw throws.
Handler EchoHandler(std::string ca_bundle) {
  return [ca_bundle](const HttpRequest& r, const Caller& c) -> HttpResponse {
    if (r.path == "/throw") throw std::runtime_error("boom");
    if (r.path == "/v1/ca") {
      return HttpResponse{200,
                          "{\"ca_bundle\": " + std::string("\"") +
                              [&] {
                                std::string esc;
                                for (char ch : ca_bundle)
                                  esc += ch == '\n' ? std::string("\\n") : std::string(1, ch);
                                return esc;
                              }() +
                              "\"}",
                          "application/json"};
    }
    auto q = r.query.find("q");
    return HttpResponse{200,
                        std::string(KindName(c.kind)) + "|" + c.id + "|" + r.method + "|" + r.path +
                            "|" + (q == r.query.end() ? "" : q->second) + "|" + r.body,
                        "text/plain"};
  };
}

struct Pki {
  pki::AuthorityCa ca;
  pki::AuthorityCa other_ca;
  pki::CertAndKey server;        // 127.0.0.1, ::1, localhost
  pki::CertAndKey admin;         // "alice"
  pki::CertAndKey node;          // kNodeId
  pki::CertAndKey foreign_node;  // same id, issued by other_ca
};
constexpr char kNodeId[] = "00112233445566778899";

pki::CertAndKey NodeCert(const pki::AuthorityCa& ca) {
  pki::CertAndKey out;
  out.key_pem = *pki::GenerateKeyPem();
  out.cert_pem = *ca.IssueNodeCert(*pki::MakeCsr(out.key_pem, "n"), kNodeId,
                                   SystemClock::Instance().Now(), hours(1));
  return out;
}

class NetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    TimePoint now = SystemClock::Instance().Now();
    pki_ = new Pki{*pki::AuthorityCa::Create("test CA", now, hours(24)),
                   *pki::AuthorityCa::Create("other CA", now, hours(24)),
                   {},
                   {},
                   {},
                   {}};
    pki_->server = *pki_->ca.IssueServerCert({"localhost"}, {"127.0.0.1", "::1"}, now, hours(24));
    pki_->admin = *pki_->ca.IssueAdminCert("alice", now, hours(24));
    pki_->node = NodeCert(pki_->ca);
    pki_->foreign_node = NodeCert(pki_->other_ca);
    auto srv = StartServer(Options(pki_->server), EchoHandler(pki_->ca.cert_pem()));
    ASSERT_TRUE(srv.ok()) << srv.error().ToString();
    server_ = std::move(srv).value().release();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete pki_;
  }

  static ServerOptions Options(const pki::CertAndKey& cert,
                               std::vector<std::string> listen = {"127.0.0.1:0", "[::1]:0"}) {
    ServerOptions o;
    o.listen = std::move(listen);
    o.cert_pem = cert.cert_pem;
    o.key_pem = cert.key_pem;
    o.client_ca_pem = pki_->ca.cert_pem();
    o.limits.max_body_bytes = 1024;
    o.worker_threads = 4;
    return o;
  }
  static std::string V4() { return "https://127.0.0.1:" + std::to_string(server_->ports()[0]); }
  static std::string V6() { return "https://[::1]:" + std::to_string(server_->ports()[1]); }

  static std::unique_ptr<Client> Connect(const std::string& url,
                                         const pki::CertAndKey* cert = nullptr,
                                         const std::string* ca = nullptr) {
    ClientOptions o;
    o.base_url = url;
    o.ca_pem = ca ? *ca : pki_->ca.cert_pem();
    o.timeout_seconds = 5;
    if (cert) {
      o.client_cert_pem = cert->cert_pem;
      o.client_key_pem = cert->key_pem;
    }
    auto c = MakeClient(o);
    EXPECT_TRUE(c.ok()) << c.error().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  static Pki* pki_;
  static Server* server_;
};
Pki* NetTest::pki_ = nullptr;
Server* NetTest::server_ = nullptr;

TEST_F(NetTest, ListensOnIpv4AndIpv6WithOsChosenPorts) {
  auto ports = server_->ports();
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_GT(ports[0], 0);
  EXPECT_GT(ports[1], 0);
}

TEST_F(NetTest, AnonymousCallerOverBothFamilies) {
  for (const std::string& url : {V4(), V6()}) {
    auto c = Connect(url);
    ASSERT_TRUE(c);
    auto r = c->Get("/v1/thing?q=hello%20world");
    ASSERT_TRUE(r.ok()) << url << ": " << r.error().ToString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "anonymous||GET|/v1/thing|hello world|");
    auto p = c->Post("/v1/post", "{\"a\":1}");
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->body, "anonymous||POST|/v1/post||{\"a\":1}");
    auto d = c->Delete("/v1/x");
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->body, "anonymous||DELETE|/v1/x||");
  }
}

TEST_F(NetTest, NodeAndAdminCertificatesIdentifyTheCaller) {
  auto node = Connect(V6(), &pki_->node);
  ASSERT_TRUE(node);
  auto r = node->Get("/who");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->body, std::string("node|") + kNodeId + "|GET|/who||");

  auto admin = Connect(V4(), &pki_->admin);
  ASSERT_TRUE(admin);
  r = admin->Get("/who");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->body, "admin|alice|GET|/who||");
}

TEST_F(NetTest, CertificateFromAnotherCaIsRefusedAtHandshake) {
  auto c = Connect(V4(), &pki_->foreign_node);
  ASSERT_TRUE(c);
  auto r = c->Get("/who");
  ASSERT_FALSE(r.ok()) << "got " << r->status << " " << r->body;
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_EQ(r.error().reason, "authority_unreachable");
}

TEST_F(NetTest, ClientRefusesServerFromAnotherCa) {
  std::string wrong = pki_->other_ca.cert_pem();
  auto c = Connect(V4(), nullptr, &wrong);
  ASSERT_TRUE(c);
  auto r = c->Get("/who");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_NE(r.error().message.find("certificate verify failed"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find(V4()), std::string::npos) << r.error().message;
}

// CA rotation: a running server switches its certificate and client CAs
// for new handshakes, without a restart.
TEST_F(NetTest, UpdateTlsSwitchesCertificateAndClientCasHot) {
  TimePoint now = SystemClock::Instance().Now();
  auto srv = StartServer(Options(pki_->server, {"127.0.0.1:0"}), EchoHandler(pki_->ca.cert_pem()));
  ASSERT_TRUE(srv.ok()) << srv.error().ToString();
  const std::string url = "https://127.0.0.1:" + std::to_string((*srv)->ports()[0]);
  auto other_server = pki_->other_ca.IssueServerCert({"localhost"}, {"127.0.0.1"}, now, hours(1));
  ASSERT_TRUE(other_server.ok());
  const std::string other_ca = pki_->other_ca.cert_pem();
  const std::string both = pki_->ca.cert_pem() + other_ca;

  // Bad material is refused and changes nothing.
  EXPECT_EQ((*srv)->UpdateTls(other_server->cert_pem, pki_->server.key_pem, both).error().reason,
            "key_mismatch");
  EXPECT_EQ((*srv)->UpdateTls("junk", other_server->key_pem, both).error().reason,
            "invalid_certificate");
  auto still = Connect(url, &pki_->node);
  ASSERT_TRUE(still);
  ASSERT_TRUE(still->Get("/who").ok());

  // Overlap: the server presents the new CA's certificate and accepts
  // client certificates from both CAs.
  ASSERT_TRUE((*srv)->UpdateTls(other_server->cert_pem, other_server->key_pem, both).ok());
  auto old_trust = Connect(url, &pki_->node);
  ASSERT_TRUE(old_trust);
  EXPECT_FALSE(old_trust->Get("/who").ok())
      << "a client trusting only the old CA refuses the new server cert";
  for (const auto* cert : {&pki_->node, &pki_->foreign_node}) {
    auto c = Connect(url, cert, &both);
    ASSERT_TRUE(c);
    auto r = c->Get("/who");
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_EQ(r->body, std::string("node|") + kNodeId + "|GET|/who||");
  }
  // Retired: only the new CA's client certificates.
  ASSERT_TRUE((*srv)->UpdateTls(other_server->cert_pem, other_server->key_pem, other_ca).ok());
  auto retired = Connect(url, &pki_->node, &both);
  ASSERT_TRUE(retired);
  EXPECT_FALSE(retired->Get("/who").ok()) << "a client certificate from the retired CA is refused";
  auto fresh = Connect(url, &pki_->foreign_node, &other_ca);
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(fresh->Get("/who").ok());
}

TEST_F(NetTest, ClientChecksServerNameAgainstSan) {
  auto cert = pki_->ca.IssueServerCert({}, {"10.9.8.7"}, SystemClock::Instance().Now(), hours(1));
  ASSERT_TRUE(cert.ok());
  auto srv = StartServer(Options(*cert, {"127.0.0.1:0"}), EchoHandler(""));
  ASSERT_TRUE(srv.ok()) << srv.error().ToString();
  auto c = Connect("https://127.0.0.1:" + std::to_string((*srv)->ports()[0]));
  ASSERT_TRUE(c);
  auto r = c->Get("/who");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("certificate verify failed"), std::string::npos)
      << r.error().message;
  // Nor by a DNS name the certificate does not carry.
  auto by_name = Connect("https://localhost:" + std::to_string((*srv)->ports()[0]));
  ASSERT_TRUE(by_name);
  EXPECT_FALSE(by_name->Get("/who").ok());
}

TEST_F(NetTest, ServerNameByDnsWorks) {
  auto c = Connect("https://localhost:" + std::to_string(server_->ports()[0]));
  ASSERT_TRUE(c);
  auto r = c->Get("/who");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->status, 200);
}

TEST_F(NetTest, FetchPinnedCaWithRightFingerprint) {
  std::string fp = pki_->ca.Fingerprint();
  // Operators paste "AB:CD:..." too.
  std::string pretty;
  for (size_t i = 0; i < fp.size(); i += 2) pretty += (i ? ":" : "") + fp.substr(i, 2);
  for (char& ch : pretty) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  for (const std::string& url : {V4(), V6()}) {
    auto bundle = FetchPinnedCa(url, pretty, 5);
    ASSERT_TRUE(bundle.ok()) << bundle.error().ToString();
    EXPECT_EQ(*bundle, pki_->ca.cert_pem());
  }
}

TEST_F(NetTest, FetchPinnedCaWithWrongFingerprint) {
  auto r = FetchPinnedCa(V4(), pki_->other_ca.Fingerprint(), 5);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kPermissionDenied);
  EXPECT_EQ(r.error().reason, "ca_fingerprint_mismatch");
  EXPECT_NE(r.error().message.find(pki_->ca.Fingerprint()),
            std::string::npos);  // names what was served

  EXPECT_EQ(FetchPinnedCa(V4(), "abc", 5).error().reason, "invalid_fingerprint");
}

// A server that serves the right CA bundle but holds a certificate from
// another CA (what a man in the middle would do) is refused.
TEST_F(NetTest, FetchPinnedCaRefusesServerNotChainingToThePin) {
  auto cert =
      pki_->other_ca.IssueServerCert({}, {"127.0.0.1"}, SystemClock::Instance().Now(), hours(1));
  ASSERT_TRUE(cert.ok());
  auto srv = StartServer(Options(*cert, {"127.0.0.1:0"}), EchoHandler(pki_->ca.cert_pem()));
  ASSERT_TRUE(srv.ok()) << srv.error().ToString();
  auto r = FetchPinnedCa("https://127.0.0.1:" + std::to_string((*srv)->ports()[0]),
                         pki_->ca.Fingerprint(), 5);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kPermissionDenied);
  EXPECT_EQ(r.error().reason, "ca_fingerprint_mismatch");
  EXPECT_NE(r.error().message.find("does not chain"), std::string::npos) << r.error().message;
}

TEST_F(NetTest, BodyOverTheLimitIs413WithJsonError) {
  auto c = Connect(V4());
  ASSERT_TRUE(c);
  auto ok = c->Post("/p", std::string(1024, 'x'));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
  auto r = c->Post("/p", std::string(1025, 'x'));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->status, 413);
  Error e = ErrorFromResponse(*r);
  EXPECT_EQ(e.reason, "body_too_large");
}

TEST_F(NetTest, HandlerExceptionIs500JsonError) {
  auto c = Connect(V6());
  ASSERT_TRUE(c);
  auto r = c->Get("/throw");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);
  Error e = ErrorFromResponse(*r);
  EXPECT_EQ(e.code, Code::kInternal);
  EXPECT_EQ(e.reason, "internal_error");
  EXPECT_EQ(r->body.find("boom"), std::string::npos);  // exception text stays inside
}

// Raw OpenSSL handshake with the protocol range [min, max].
bool Handshake(int port, int max_version) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return false;
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  bool ok = SSL_connect(ssl) == 1;
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
  return ok;
}

TEST_F(NetTest, Tls12ClientIsRefused) {
  EXPECT_TRUE(Handshake(server_->ports()[0], TLS1_3_VERSION));  // control
  EXPECT_FALSE(Handshake(server_->ports()[0], TLS1_2_VERSION));
}

TEST_F(NetTest, PortInUseIsAnError) {
  auto r = StartServer(Options(pki_->server, {"127.0.0.1:" + std::to_string(server_->ports()[0])}),
                       EchoHandler(""));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "listen_failed");
  EXPECT_NE(r.error().message.find("127.0.0.1:"), std::string::npos);
}

TEST_F(NetTest, BadOptionsAreNamed) {
  for (const char* bad : {"127.0.0.1", "localhost:80", "[::1:80", "::1:80", "1.2.3.4:99999"}) {
    auto r = StartServer(Options(pki_->server, {bad}), EchoHandler(""));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().reason, "invalid_listen_address") << bad;
  }
  ServerOptions o = Options(pki_->server, {"127.0.0.1:0"});
  o.key_pem = pki_->admin.key_pem;
  auto mismatch = StartServer(o, EchoHandler(""));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().reason, "key_mismatch");

  for (const char* bad :
       {"http://127.0.0.1:1", "https://[::1", "https://h/path", "https://h:0", "https://a b"}) {
    ClientOptions co;
    co.base_url = bad;
    co.ca_pem = pki_->ca.cert_pem();
    auto c = MakeClient(co);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.error().reason, "invalid_url") << bad;
  }
  ClientOptions no_ca;
  no_ca.base_url = V4();
  EXPECT_FALSE(MakeClient(no_ca).ok());
}

TEST_F(NetTest, UnreachableAuthorityIsUnavailable) {
  // A port nobody listens on: bind one, learn it, close it.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  std::string url = "https://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  auto c = Connect(url);
  ASSERT_TRUE(c);
  auto r = c->Get("/v1/ca");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_EQ(r.error().reason, "authority_unreachable");
  EXPECT_NE(r.error().message.find(url + "/v1/ca"), std::string::npos) << r.error().message;
}

TEST(NetErrors, StatusTableFollowsProtocolDoc) {
  EXPECT_EQ(HttpStatusFor(Code::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(Code::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(Code::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(Code::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(Code::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(Code::kAborted), 409);
  EXPECT_EQ(HttpStatusFor(Code::kFailedPrecondition), 409);
  EXPECT_EQ(HttpStatusFor(Code::kResourceExhausted), 507);
  EXPECT_EQ(HttpStatusFor(Code::kInternal), 500);
  EXPECT_EQ(HttpStatusFor(Code::kUnavailable), 503);
}

TEST(NetErrors, ErrorResponseRoundTrips) {
  Error in = MakeError(Code::kPermissionDenied, "pcr_policy_mismatch", "PCR 7 differs");
  HttpResponse r = ErrorResponse(in);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.content_type, "application/json");
  Error out = ErrorFromResponse(ClientResponse{r.status, r.body});
  EXPECT_EQ(out.code, in.code);
  EXPECT_EQ(out.reason, in.reason);
  EXPECT_EQ(out.message, in.message);

  Error generic = ErrorFromResponse(ClientResponse{502, "<html>bad gateway</html>"});
  EXPECT_EQ(generic.code, Code::kInternal);
  EXPECT_EQ(generic.reason, "http_502");
}

}  // namespace
}  // namespace tpmesh::net
