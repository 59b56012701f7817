// Internal OpenSSL helpers for pki/: owning pointers, PEM/DER conversion and
// turning the OpenSSL error queue into an Error. Not a public header.
#pragma once

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/env.h"
#include "tpmesh/common/result.h"
#include "tpmesh/ossl/ossl.h"

namespace tpmesh::pki::ossl {

// The shared plumbing (Deleter, Pkey, X509Ptr, DrainErrors, CryptoError,
// Sha256Hex, FromAsn1Time).
using namespace ::tpmesh::ossl;  // NOLINT(google-build-using-namespace)

using ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using BnPtr = Bn;
using GenNames = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;

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
[[nodiscard]] Result<std::vector<X509Ptr>> ReadCertsPem(std::string_view pem, const std::string& what,
                                                        const std::string& reason);
// Unencrypted private key in PEM (PKCS#8 or traditional).
[[nodiscard]] Result<Pkey> ReadKeyPem(std::string_view pem, const std::string& what,
                                      const std::string& reason);

[[nodiscard]] Result<std::string> CertToPem(X509* cert);
// PKCS#8 PEM through a secure-heap BIO (wiped when freed). Secret.
[[nodiscard]] Result<std::string> KeyToPem(EVP_PKEY* key);
[[nodiscard]] Result<Bytes> CertToDer(X509* cert);

// A fresh ECDSA P-256 key.
[[nodiscard]] Result<Pkey> NewP256Key();

// Digest to sign with for `key`: SHA-256, or nullptr for Ed25519/Ed448.
const EVP_MD* SigningMd(EVP_PKEY* key);

// Checks a key is one tpmesh accepts in certificates: EC P-256/P-384 or
// Ed25519. Error{kInvalidArgument, reason, "<what>: ..."} naming the key type.
[[nodiscard]] Status CheckAcceptedKey(EVP_PKEY* key, const std::string& what,
                                      const std::string& reason);

}  // namespace tpmesh::pki::ossl

