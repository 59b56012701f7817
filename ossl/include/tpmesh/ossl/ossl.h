// OpenSSL plumbing shared by tpmesh's libraries (attest, pki, net): owning
// pointers, the error queue as an Error, digests, HMAC, ASN.1 times. Thin
// wrappers only; anything domain-specific stays in its library.
//
// Thread-safety: all functions are thread-safe (OpenSSL 3 error queues are
// per thread).
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/env.h"
#include "tpmesh/common/result.h"

namespace tpmesh::ossl {

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};
using Pkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, Deleter<EVP_CIPHER_CTX_free>>;
using Bn = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using GenNames = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;

// Drains this thread's OpenSSL error queue into one line.
std::string DrainErrors();

// Error{kInternal, "crypto_failure", "<what>: <openssl errors>"}.
Error CryptoError(const std::string& what);

[[nodiscard]] Result<Bytes> Digest(const EVP_MD* md, ByteView data);
[[nodiscard]] Result<Bytes> Hmac(const EVP_MD* md, ByteView key, ByteView data);

// ASN1_TIME (UTCTime or GeneralizedTime) as a time point (saturating, see
// FromUnixSeconds).
[[nodiscard]] Result<TimePoint> FromAsn1Time(const ASN1_TIME* t);

}  // namespace tpmesh::ossl
