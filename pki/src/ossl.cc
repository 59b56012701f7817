#include "ossl.h"

#include <openssl/pem.h>

#include <cctype>
#include <cstring>

namespace tpmesh::pki::ossl {

Result<Pkey> NewP256Key() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return CryptoError("generating an ECDSA P-256 key");
  return key;
}

const EVP_MD* SigningMd(EVP_PKEY* key) {
  int id = EVP_PKEY_get_base_id(key);
  return (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) ? nullptr : EVP_sha256();
}

Status CheckAcceptedKey(EVP_PKEY* key, const std::string& what, const std::string& reason) {
  int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_ED25519) return OkStatus();
  if (id == EVP_PKEY_EC) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) != 1) {
      return MakeError(Code::kInvalidArgument, reason, what + ": EC key without a named curve");
    }
    if (std::strcmp(group, "prime256v1") == 0 || std::strcmp(group, "secp384r1") == 0) {
      return OkStatus();
    }
    return MakeError(Code::kInvalidArgument, reason,
                     what + ": EC curve " + group + " refused; use P-256, P-384 or Ed25519");
  }
  const char* name = id == EVP_PKEY_RSA ? "RSA" : OBJ_nid2sn(id);
  return MakeError(Code::kInvalidArgument, reason,
                   what + ": " + std::string(name ? name : "unknown") +
                       " keys are refused; use ECDSA P-256, P-384 or Ed25519");
}

}  // namespace tpmesh::pki::ossl
