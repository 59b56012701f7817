// Internal OpenSSL helpers for attest/: TPM algorithm ids to OpenSSL digests,
// plus the shared plumbing of tpmesh/ossl/ossl.h. Not a public header.
#pragma once

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "tpmesh/attest/types.h"
#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"
#include "tpmesh/ossl/ossl.h"

namespace tpmesh::attest::ossl {

// The shared plumbing (owning pointers, errors, Digest, Hmac).
using namespace ::tpmesh::ossl;  // NOLINT(google-build-using-namespace)

// EVP_MD for a TPM_ALG_ID hash (SHA-1/256/384/512); nullptr if unknown.
const EVP_MD* MdForTpmAlg(uint16_t tpm_alg);
const EVP_MD* MdForHashAlg(HashAlg alg);

}  // namespace tpmesh::attest::ossl
