// The server's TLS: context set-up, hot-swappable certificate material and
// the caller read from a verified client certificate. Internal to tpmesh_net.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tpmesh/common/result.h"
#include "tpmesh/net/http.h"
#include "tpmesh/ossl/pem.h"

namespace tpmesh::net::internal {

// Certificate chain, key and client CAs, swapped as a whole (UpdateTls).
// Each handshake takes the current one in its certificate callback.
struct TlsMaterial {
  std::vector<ossl::X509Ptr> chain;
  ossl::Pkey key;
  X509_STORE* verify = nullptr;  // owned
  std::vector<ossl::X509Ptr> client_cas;
  TlsMaterial() = default;
  TlsMaterial(const TlsMaterial&) = delete;
  TlsMaterial& operator=(const TlsMaterial&) = delete;
  ~TlsMaterial() { X509_STORE_free(verify); }
};

// Errors name the PEM that is wrong (invalid_certificate, invalid_key,
// key_mismatch).
Result<std::shared_ptr<const TlsMaterial>> MakeTlsMaterial(const std::string& cert_pem,
                                                           const std::string& key_pem,
                                                           const std::string& client_ca_pem);

// Holds the current material for every handshake. Thread-safe.
class TlsHolder {
 public:
  std::shared_ptr<const TlsMaterial> Get() const;
  void Set(std::shared_ptr<const TlsMaterial> m);

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const TlsMaterial> current_;
};

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// The server context: TLS 1.3 only, no tickets or session cache (every
// connection verifies its client certificate), released record buffers,
// client certificate optional but verified when sent. Each handshake takes
// `holder`'s material (which must be set and outlive the context).
Result<SslCtxPtr> MakeServerContext(TlsHolder* holder);

// The authenticated caller of an established connection: from its verified
// client certificate, or anonymous without one.
Result<Caller> CallerOf(const SSL* ssl);

}  // namespace tpmesh::net::internal
