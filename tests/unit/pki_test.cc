// pki/: CA, issued certificates, identities, CSRs, private files.
#include "tpmesh/pki/pki.h"

#include <sys/stat.h>

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

namespace tpmesh::pki {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

const TimePoint kNow = FromUnixSeconds(1'800'000'000);
constexpr char kNodeId[] = "0123456789abcdef0123";

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr ParseCert(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return X509Ptr(x);
}

EVP_PKEY* ParseKey(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return k;
}

// X509_verify_cert of `leaf` against `ca` alone, at kNow.
int VerifyAgainst(X509* leaf, X509* ca) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_time(ctx, 0, static_cast<time_t>(ToUnixSeconds(kNow)));
  int ok = X509_verify_cert(ctx);
  int err = X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
}

// A unique temporary directory, removed with everything in it.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tpmesh-pki-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

class PkiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto ca = AuthorityCa::Create("tpmesh test CA", kNow, hours(24 * 365));
    ASSERT_TRUE(ca.ok()) << ca.error().ToString();
    ca_ = new AuthorityCa(std::move(ca).value());
  }
  static void TearDownTestSuite() {
    delete ca_;
    ca_ = nullptr;
  }
  static std::string NodeCsr() {
    auto key = GenerateKeyPem();
    EXPECT_TRUE(key.ok());
    auto csr = MakeCsr(*key, "node-1");
    EXPECT_TRUE(csr.ok()) << csr.error().ToString();
    return csr.ok() ? *csr : "";
  }
  static AuthorityCa* ca_;
};
AuthorityCa* PkiTest::ca_ = nullptr;

TEST_F(PkiTest, CaIsSelfSignedCaWithBackdatedValidity) {
  X509Ptr cert = ParseCert(ca_->cert_pem());
  ASSERT_TRUE(cert);
  EXPECT_EQ(X509_check_ca(cert.get()), 1);
  EXPECT_EQ(VerifyAgainst(cert.get(), cert.get()), X509_V_OK);
  int days = 0, secs = 0;
  ASSERT_EQ(
      ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert.get()), X509_get0_notAfter(cert.get())),
      1);
  EXPECT_EQ(days * 86400 + secs, 365 * 86400 + 3600);
  EVP_PKEY* pub = X509_get0_pubkey(cert.get());
  EXPECT_EQ(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
}

// Backdating for clock skew is a tenth of the lifetime, at most an hour, so
// renewal at half life comes after issue even for 60 s certificates.
TEST_F(PkiTest, IssuedCertsAreBackdatedInProportionToTheirLifetime) {
  struct Case {
    std::chrono::seconds lifetime;
    long backdate;
  };
  for (const Case& c :
       {Case{std::chrono::seconds(60), 6}, Case{hours(2), 720}, Case{hours(24), 3600}}) {
    auto pem = ca_->IssueNodeCert(NodeCsr(), kNodeId, kNow, c.lifetime);
    ASSERT_TRUE(pem.ok()) << pem.error().ToString();
    X509Ptr cert = ParseCert(*pem);
    ASSERT_TRUE(cert);
    int days = 0, secs = 0;
    ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert.get()),
                             X509_get0_notAfter(cert.get())),
              1);
    EXPECT_EQ(days * 86400L + secs, c.lifetime.count() + c.backdate) << c.lifetime.count();
  }
}

TEST_F(PkiTest, ServerCertNamesReadsTheSan) {
  auto server = ca_->IssueServerCert({"authority.example", "localhost"},
                                     {"fd00:77::1", "127.0.0.1"}, kNow, hours(1));
  ASSERT_TRUE(server.ok()) << server.error().ToString();
  auto names = ServerCertNames(server->cert_pem);
  ASSERT_TRUE(names.ok()) << names.error().ToString();
  EXPECT_EQ(names->dns_names, (std::vector<std::string>{"authority.example", "localhost"}));
  EXPECT_EQ(names->ip_addresses, (std::vector<std::string>{"fd00:77::1", "127.0.0.1"}));
  EXPECT_EQ(ServerCertNames("not a certificate").error().reason, "invalid_certificate");
}

TEST_F(PkiTest, FingerprintIsStableAndMatchesBundleFingerprint) {
  std::string fp = ca_->Fingerprint();
  EXPECT_EQ(fp.size(), 64u);
  EXPECT_EQ(fp, ca_->Fingerprint());
  auto bundle = BundleFingerprints(ca_->cert_pem());
  ASSERT_TRUE(bundle.ok()) << bundle.error().ToString();
  ASSERT_EQ(bundle->size(), 1u);
  EXPECT_EQ(bundle->front(), fp);

  std::string key = ca_->key_pem();
  auto loaded = AuthorityCa::Load(ca_->cert_pem(), key);
  ASSERT_TRUE(loaded.ok()) << loaded.error().ToString();
  EXPECT_EQ(loaded->Fingerprint(), fp);
  EXPECT_EQ(loaded->cert_pem(), ca_->cert_pem());
}

TEST_F(PkiTest, LoadRejectsMismatchedKeyAndGarbage) {
  auto other = AuthorityCa::Create("other CA", kNow, hours(24));
  ASSERT_TRUE(other.ok());
  auto mixed = AuthorityCa::Load(ca_->cert_pem(), other->key_pem());
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.error().reason, "key_mismatch");
  EXPECT_EQ(mixed.error().code, Code::kInvalidArgument);

  auto garbage = AuthorityCa::Load("not pem", ca_->key_pem());
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().reason, "invalid_certificate");
  auto nokey = AuthorityCa::Load(ca_->cert_pem(),
                                 "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  ASSERT_FALSE(nokey.ok());
  EXPECT_EQ(nokey.error().reason, "invalid_key");

  // A leaf certificate is not a CA.
  auto admin = ca_->IssueAdminCert("alice", kNow, hours(1));
  ASSERT_TRUE(admin.ok());
  auto leaf = AuthorityCa::Load(admin->cert_pem, admin->key_pem);
  ASSERT_FALSE(leaf.ok());
  EXPECT_EQ(leaf.error().reason, "invalid_certificate");
}

TEST_F(PkiTest, NodeCertCarriesIdentityAndChains) {
  auto pem = ca_->IssueNodeCert(NodeCsr(), kNodeId, kNow, hours(24));
  ASSERT_TRUE(pem.ok()) << pem.error().ToString();
  X509Ptr cert = ParseCert(*pem);
  X509Ptr ca = ParseCert(ca_->cert_pem());
  ASSERT_TRUE(cert && ca);
  EXPECT_EQ(VerifyAgainst(cert.get(), ca.get()), X509_V_OK);
  EXPECT_EQ(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_CLIENT, 0), 1);
  EXPECT_EQ(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0), 0);
  EXPECT_EQ(X509_check_ca(cert.get()), 0);

  auto id = IdentityFromCertPem(*pem);
  ASSERT_TRUE(id.ok()) << id.error().ToString();
  EXPECT_EQ(id->kind, PeerKind::kNode);
  EXPECT_EQ(id->id, kNodeId);
  EXPECT_EQ(id->not_after, kNow + hours(24));
  EXPECT_EQ(id->serial.size(), 32u);  // 16 bytes, no leading zero
  EXPECT_EQ(id->serial.find_first_not_of("0123456789abcdef"), std::string::npos);

  std::string serial;
  auto again = ca_->IssueNodeCert(NodeCsr(), kNodeId, kNow, hours(24), &serial);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(IdentityFromCertPem(*again)->serial, id->serial);
  EXPECT_EQ(serial, IdentityFromCertPem(*again)->serial)
      << "the issuer's serial is the one TLS callers see";
}

TEST_F(PkiTest, IssuedCertsNeverOutliveTheCa) {
  auto pem = ca_->IssueNodeCert(NodeCsr(), kNodeId, kNow, hours(24 * 365 * 5));
  ASSERT_TRUE(pem.ok());
  X509Ptr cert = ParseCert(*pem);
  X509Ptr ca = ParseCert(ca_->cert_pem());
  EXPECT_EQ(ASN1_TIME_compare(X509_get0_notAfter(cert.get()), X509_get0_notAfter(ca.get())), 0);
}

TEST_F(PkiTest, NodeIdCharsetEnforced) {
  std::string csr = NodeCsr();
  for (const char* bad : {"", "0123456789abcdef012", "0123456789ABCDEF0123", "0123456789abcdef012g",
                          "0123456789abcdef01234", "../../etc/passwd/xx"}) {
    auto r = ca_->IssueNodeCert(csr, bad, kNow, hours(1));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().reason, "invalid_node_id") << bad;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  }
}

TEST_F(PkiTest, BadCsrPemIsInvalidCsr) {
  for (const char* bad :
       {"", "hello",
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}) {
    auto r = ca_->IssueNodeCert(bad, kNodeId, kNow, hours(1));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().reason, "invalid_csr");
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  }
}

// A CSR carrying key A but signed by key B.
TEST_F(PkiTest, CsrSignedByAnotherKeyIsRefused) {
  EVP_PKEY* a = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  EVP_PKEY* b = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  X509_REQ* req = X509_REQ_new();
  X509_REQ_set_pubkey(req, a);
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("x"), -1, -1, 0);
  ASSERT_GT(X509_REQ_sign(req, b, EVP_sha256()), 0);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(bio, req);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  X509_REQ_free(req);
  EVP_PKEY_free(a);
  EVP_PKEY_free(b);

  auto r = ca_->IssueNodeCert(pem, kNodeId, kNow, hours(1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "invalid_csr");
  EXPECT_NE(r.error().message.find("signature"), std::string::npos) << r.error().message;
}

TEST_F(PkiTest, RsaCsrIsRefused) {
  EVP_PKEY* rsa = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  ASSERT_NE(rsa, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, rsa, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string key(data, static_cast<size_t>(n));
  BIO_free(bio);
  EVP_PKEY_free(rsa);
  // MakeCsr itself refuses RSA keys ...
  auto own = MakeCsr(key, "x");
  ASSERT_FALSE(own.ok());
  EXPECT_EQ(own.error().reason, "invalid_key");

  // ... and so does the CA for a CSR made elsewhere.
  EVP_PKEY* k = ParseKey(key);
  X509_REQ* req = X509_REQ_new();
  X509_REQ_set_pubkey(req, k);
  ASSERT_GT(X509_REQ_sign(req, k, EVP_sha256()), 0);
  bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(bio, req);
  n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  X509_REQ_free(req);
  EVP_PKEY_free(k);
  auto r = ca_->IssueNodeCert(pem, kNodeId, kNow, hours(1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "invalid_csr");
  EXPECT_NE(r.error().message.find("RSA"), std::string::npos) << r.error().message;
}

TEST_F(PkiTest, AdminCertCarriesNameAndMatchingKey) {
  auto admin = ca_->IssueAdminCert("alice.ops-1", kNow, hours(12));
  ASSERT_TRUE(admin.ok()) << admin.error().ToString();
  auto id = IdentityFromCertPem(admin->cert_pem);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->kind, PeerKind::kAdmin);
  EXPECT_EQ(id->id, "alice.ops-1");
  X509Ptr cert = ParseCert(admin->cert_pem);
  EVP_PKEY* key = ParseKey(admin->key_pem);
  ASSERT_TRUE(cert && key);
  EXPECT_EQ(X509_check_private_key(cert.get(), key), 1);
  EVP_PKEY_free(key);

  for (const char* bad : {"", "Alice", "-alice", "a b", "a/b", "tpmesh://node/x"}) {
    auto r = ca_->IssueAdminCert(bad, kNow, hours(1));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().reason, "invalid_admin_name");
  }
  EXPECT_FALSE(ca_->IssueAdminCert(std::string(49, 'a'), kNow, hours(1)).ok());
  EXPECT_TRUE(ca_->IssueAdminCert(std::string(48, 'a'), kNow, hours(1)).ok());
}

TEST_F(PkiTest, ServerCertNamesHostsAndHasNoIdentity) {
  auto srv = ca_->IssueServerCert({"authority.example"}, {"127.0.0.1", "::1"}, kNow, hours(1));
  ASSERT_TRUE(srv.ok()) << srv.error().ToString();
  X509Ptr cert = ParseCert(srv->cert_pem);
  X509Ptr ca = ParseCert(ca_->cert_pem());
  EXPECT_EQ(VerifyAgainst(cert.get(), ca.get()), X509_V_OK);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.2", 0), 0);
  EXPECT_EQ(X509_check_host(cert.get(), "authority.example", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
  EXPECT_EQ(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_CLIENT, 0), 0);

  auto id = IdentityFromCertPem(srv->cert_pem);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.error().code, Code::kUnauthenticated);

  EXPECT_EQ(ca_->IssueServerCert({}, {"[::1]"}, kNow, hours(1)).error().reason,
            "invalid_server_name");
  EXPECT_EQ(ca_->IssueServerCert({"a b"}, {}, kNow, hours(1)).error().reason,
            "invalid_server_name");
  EXPECT_EQ(ca_->IssueServerCert({}, {}, kNow, hours(1)).error().reason, "invalid_server_name");
}

TEST_F(PkiTest, IdentityFromGarbageIsUnauthenticated) {
  const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
  auto r = IdentityFromCertDer(junk, sizeof junk);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnauthenticated);
  EXPECT_EQ(IdentityFromCertPem("nope").error().code, Code::kUnauthenticated);
}

TEST_F(PkiTest, BundleFingerprintsInOrderAndRejectsJunk) {
  auto other = AuthorityCa::Create("other", kNow, hours(1));
  ASSERT_TRUE(other.ok());
  auto fps = BundleFingerprints(ca_->cert_pem() + other->cert_pem());
  ASSERT_TRUE(fps.ok());
  ASSERT_EQ(fps->size(), 2u);
  EXPECT_EQ((*fps)[0], ca_->Fingerprint());
  EXPECT_EQ((*fps)[1], other->Fingerprint());
  EXPECT_FALSE(BundleFingerprints("").ok());
  EXPECT_FALSE(BundleFingerprints(ca_->cert_pem() +
                                  "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")
                   .ok());
}

TEST(PkiFiles, WritePrivateFileIs0600AtomicAndLeavesNoTemp) {
  TempDir dir;
  std::string path = (dir.path / "key.pem").string();
  ASSERT_TRUE(WritePrivateFile(path, "secret-1").ok());
  ASSERT_TRUE(WritePrivateFile(path, "secret-2").ok());  // replaces
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  auto read = ReadFile(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, "secret-2");
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path)) {
    ++entries;
    EXPECT_EQ(e.path().filename(), "key.pem");
  }
  EXPECT_EQ(entries, 1);

  auto missing = WritePrivateFile((dir.path / "no" / "key.pem").string(), "x");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("no"), std::string::npos);
  EXPECT_EQ(ReadFile((dir.path / "absent").string()).error().code, Code::kNotFound);
}

TEST(PkiFiles, EnsurePrivateDirCreatesAndRefusesOpenModes) {
  TempDir dir;
  std::string nested = (dir.path / "a" / "b" / "c").string();
  ASSERT_TRUE(EnsurePrivateDir(nested).ok());
  struct stat st {};
  ASSERT_EQ(stat(nested.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(stat((dir.path / "a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_TRUE(EnsurePrivateDir(nested).ok());  // idempotent

  std::string open_dir = (dir.path / "open").string();
  ASSERT_EQ(mkdir(open_dir.c_str(), 0700), 0);
  ASSERT_EQ(chmod(open_dir.c_str(), 0755), 0);
  auto r = EnsurePrivateDir(open_dir);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition);
  EXPECT_NE(r.error().message.find(open_dir), std::string::npos);
  EXPECT_NE(r.error().message.find("chmod 700"), std::string::npos);
  EXPECT_NE(r.error().message.find("0755"), std::string::npos);

  std::string file = (dir.path / "file").string();
  ASSERT_TRUE(WritePrivateFile(file, "x").ok());
  EXPECT_EQ(EnsurePrivateDir(file).error().reason, "not_a_directory");
}

}  // namespace
}  // namespace tpmesh::pki
