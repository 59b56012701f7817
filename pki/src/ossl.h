// Internal OpenSSL helpers for pki/: which keys certificates may carry and
// how to sign with them. The shared plumbing (owning pointers, errors, PEM and
// DER) is tpmesh/ossl. Not a public header.
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
#include "tpmesh/ossl/pem.h"

namespace tpmesh::pki::ossl {

// The shared plumbing (tpmesh/ossl/ossl.h and pem.h).
using namespace ::tpmesh::ossl;  // NOLINT(google-build-using-namespace)

// A fresh ECDSA P-256 key.
[[nodiscard]] Result<Pkey> NewP256Key();

// Digest to sign with for `key`: SHA-256, or nullptr for Ed25519/Ed448.
const EVP_MD* SigningMd(EVP_PKEY* key);

// Checks a key is one tpmesh accepts in certificates: EC P-256/P-384 or
// Ed25519. Error{kInvalidArgument, reason, "<what>: ..."} naming the key type.
[[nodiscard]] Status CheckAcceptedKey(EVP_PKEY* key, const std::string& what,
                                      const std::string& reason);

}  // namespace tpmesh::pki::ossl
