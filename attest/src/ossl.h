// Internal OpenSSL helpers for attest/: owning pointers, digests, HMAC, and
// turning the OpenSSL error queue into an Error. Not a public header.
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

namespace tpmesh::attest::ossl {

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const { Fn(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, Deleter<EVP_CIPHER_CTX_free>>;
using Bn = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;

// Drains the OpenSSL error queue into one line.
std::string DrainErrors();

// Error{kInternal, "crypto_failure", "<what>: <openssl errors>"}.
Error CryptoError(const std::string& what);

// EVP_MD for a TPM_ALG_ID hash (SHA-1/256/384/512); nullptr if unknown.
const EVP_MD* MdForTpmAlg(uint16_t tpm_alg);
const EVP_MD* MdForHashAlg(HashAlg alg);

[[nodiscard]] Result<Bytes> Digest(const EVP_MD* md, ByteView data);
[[nodiscard]] Result<Bytes> Hmac(const EVP_MD* md, ByteView key, ByteView data);

}  // namespace tpmesh::attest::ossl
