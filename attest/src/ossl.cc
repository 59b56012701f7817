#include "ossl.h"

namespace tpmesh::attest::ossl {

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

}  // namespace tpmesh::attest::ossl
