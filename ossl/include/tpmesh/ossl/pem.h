// PEM and DER conversion for certificates and keys, and certificate serials:
// the OpenSSL plumbing that pki/ and net/ share. Untrusted input is bounded
// (1 MiB per PEM text) and never echoed into messages.
//
// Thread-safety: all functions are thread-safe.
#pragma once

#include <openssl/bio.h>
#include <openssl/x509.h>

#include <string>
#include <string_view>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"
#include "tpmesh/ossl/ossl.h"

namespace tpmesh::ossl {

// A certificate's serial as lower-case hex without leading zeros (what
// PeerIdentity::serial holds).
[[nodiscard]] Result<std::string> SerialHex(const X509* cert);

// Read-only BIO over `text` (no copy; `text` must outlive it).
BioPtr MemReader(std::string_view text);

// First certificate in PEM text. Error{kInvalidArgument, reason, "<what>: ..."}.
[[nodiscard]] Result<X509Ptr> ReadCertPem(std::string_view pem, const std::string& what,
                                          const std::string& reason);
// Every certificate in a PEM bundle (at least one; a broken block is an
// error, not the end of the bundle).
[[nodiscard]] Result<std::vector<X509Ptr>> ReadCertsPem(std::string_view pem,
                                                        const std::string& what,
                                                        const std::string& reason);
// Unencrypted private key in PEM (PKCS#8 or traditional).
[[nodiscard]] Result<Pkey> ReadKeyPem(std::string_view pem, const std::string& what,
                                      const std::string& reason);

[[nodiscard]] Result<std::string> CertToPem(X509* cert);
// PKCS#8 PEM through a secure-heap BIO (wiped when freed). Secret.
[[nodiscard]] Result<std::string> KeyToPem(EVP_PKEY* key);
[[nodiscard]] Result<Bytes> CertToDer(X509* cert);

}  // namespace tpmesh::ossl
