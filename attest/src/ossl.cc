#include "ossl.h"

#include <openssl/hmac.h>

namespace tpmesh::attest::ossl {

std::string DrainErrors() {
  std::string out;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error recorded" : out;
}

Error CryptoError(const std::string& what) {
  return MakeError(Code::kInternal, "crypto_failure", what + ": " + DrainErrors());
}

const EVP_MD* MdForTpmAlg(uint16_t tpm_alg) {
  switch (tpm_alg) {
    case 0x0004: return EVP_sha1();
    case 0x000B: return EVP_sha256();
    case 0x000C: return EVP_sha384();
    case 0x000D: return EVP_sha512();
    default: return nullptr;
  }
}

const EVP_MD* MdForHashAlg(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha1: return EVP_sha1();
    case HashAlg::kSha256: return EVP_sha256();
    case HashAlg::kSha384: return EVP_sha384();
  }
  return nullptr;
}

Result<Bytes> Digest(const EVP_MD* md, ByteView data) {
  if (md == nullptr) return MakeError(Code::kInternal, "crypto_failure", "unknown digest");
  Bytes out(EVP_MD_get_size(md));
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1) {
    return CryptoError("digest");
  }
  out.resize(len);
  return out;
}

Result<Bytes> Hmac(const EVP_MD* md, ByteView key, ByteView data) {
  if (md == nullptr) return MakeError(Code::kInternal, "crypto_failure", "unknown digest");
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  static const uint8_t kEmpty = 0;
  if (HMAC(md, key.empty() ? &kEmpty : key.data(), static_cast<int>(key.size()), data.data(),
           data.size(), out.data(), &len) == nullptr) {
    return CryptoError("HMAC");
  }
  out.resize(len);
  return out;
}

}  // namespace tpmesh::attest::ossl
