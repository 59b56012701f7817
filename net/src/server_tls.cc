#include "server_tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include "tpmesh/pki/pki.h"

namespace tpmesh::net::internal {
namespace {

// SSL_CTX_set_cert_cb: per handshake, before the server certificate is
// chosen and before the client's certificate is verified.
int ApplyTlsMaterial(SSL* ssl, void* arg) {
  auto m = static_cast<TlsHolder*>(arg)->Get();
  if (!m) return 0;
  if (SSL_use_certificate(ssl, m->chain[0].get()) != 1 ||
      SSL_use_PrivateKey(ssl, m->key.get()) != 1)
    return 0;
  SSL_clear_chain_certs(ssl);
  for (size_t i = 1; i < m->chain.size(); ++i) {
    if (SSL_add1_chain_cert(ssl, m->chain[i].get()) != 1) return 0;
  }
  if (SSL_set1_verify_cert_store(ssl, m->verify) != 1) return 0;
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  if (names == nullptr) return 0;
  for (const auto& ca : m->client_cas) {
    X509_NAME* n = X509_NAME_dup(X509_get_subject_name(ca.get()));
    if (n == nullptr || sk_X509_NAME_push(names, n) <= 0) {
      X509_NAME_free(n);
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      return 0;
    }
  }
  SSL_set_client_CA_list(ssl, names);  // takes ownership
  return 1;
}

}  // namespace

Result<std::shared_ptr<const TlsMaterial>> MakeTlsMaterial(const std::string& cert_pem,
                                                           const std::string& key_pem,
                                                           const std::string& client_ca_pem) {
  auto m = std::make_shared<TlsMaterial>();
  TPMESH_ASSIGN_OR_RETURN(
      m->chain, ossl::ReadCertsPem(cert_pem, "server certificate", "invalid_certificate"));
  TPMESH_ASSIGN_OR_RETURN(m->key, ossl::ReadKeyPem(key_pem, "server key", "invalid_key"));
  if (X509_check_private_key(m->chain[0].get(), m->key.get()) != 1) {
    ERR_clear_error();
    return MakeError(Code::kInvalidArgument, "key_mismatch",
                     "server key does not match the server certificate");
  }
  TPMESH_ASSIGN_OR_RETURN(m->client_cas,
                          ossl::ReadCertsPem(client_ca_pem, "client CA", "invalid_certificate"));
  m->verify = X509_STORE_new();
  if (m->verify == nullptr) return ossl::CryptoError("client CA store");
  for (const auto& ca : m->client_cas) {
    if (X509_STORE_add_cert(m->verify, ca.get()) != 1) return ossl::CryptoError("client CA");
  }
  return std::shared_ptr<const TlsMaterial>(std::move(m));
}

std::shared_ptr<const TlsMaterial> TlsHolder::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

void TlsHolder::Set(std::shared_ptr<const TlsMaterial> m) {
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(m);
}

Result<SslCtxPtr> MakeServerContext(TlsHolder* holder) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return ossl::CryptoError("TLS server context");
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_cert_cb(c, ApplyTlsMaterial, holder);
  if (SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) != 1)
    return ossl::CryptoError("TLS 1.3 only");
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // Long polls idle on their connection for minutes: free the ~34 KiB of
  // record buffers between records instead of keeping them. Writes may be
  // partial and resumed from a moved buffer (a shared body is written in
  // pieces as the socket drains).
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_num_tickets(c, 0);
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  // No SSL_VERIFY_FAIL_IF_NO_PEER_CERT: anonymous clients are allowed; a
  // certificate that is sent must verify against the material's client CAs
  // (ApplyTlsMaterial) or the handshake fails.
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  return ctx;
}

Result<Caller> CallerOf(const SSL* ssl) {
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr) return Caller{};
  if (SSL_get_verify_result(ssl) != X509_V_OK) {
    return MakeError(Code::kUnauthenticated, "client_cert_invalid",
                     "client certificate did not verify");
  }
  TPMESH_ASSIGN_OR_RETURN(Bytes der, ossl::CertToDer(peer));
  TPMESH_ASSIGN_OR_RETURN(pki::PeerIdentity id, pki::IdentityFromCertDer(der.data(), der.size()));
  return Caller{id.kind == pki::PeerKind::kAdmin ? Caller::Kind::kAdmin : Caller::Kind::kNode,
                id.id, id.serial};
}

}  // namespace tpmesh::net::internal
