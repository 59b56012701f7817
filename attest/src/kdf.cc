#include "kdf.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>

#include <algorithm>
#include <vector>

#include "ossl.h"

namespace tpmesh::attest {
namespace {

using KdfPtr = std::unique_ptr<EVP_KDF, ossl::Deleter<EVP_KDF_free>>;
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, ossl::Deleter<EVP_KDF_CTX_free>>;

constexpr size_t kMaxBits = 8192;

Status CheckArgs(const char* kdf, uint16_t hash_alg, std::string_view label, size_t bits) {
  auto bad = [&](const std::string& why) {
    return MakeError(Code::kInvalidArgument, "invalid_argument", std::string(kdf) + ": " + why);
  };
  if (ossl::MdForTpmAlg(hash_alg) == nullptr) return bad("unsupported hash algorithm");
  if (bits == 0 || bits % 8 != 0 || bits > kMaxBits) {
    return bad("output length " + std::to_string(bits) +
               " bits is not a positive multiple of 8 up to 8192");
  }
  if (label.find('\0') != std::string_view::npos) return bad("label contains a NUL octet");
  return OkStatus();
}

// OSSL_PARAM octet strings need a non-null pointer even when empty.
void* Ptr(const void* p) {
  static uint8_t empty = 0;
  return p != nullptr ? const_cast<void*>(p) : &empty;
}

Result<SecretBytes> Derive(const char* kdf_name, std::vector<OSSL_PARAM> params, size_t bits) {
  params.push_back(OSSL_PARAM_construct_end());
  KdfPtr kdf(EVP_KDF_fetch(nullptr, kdf_name, nullptr));
  if (!kdf) return ossl::CryptoError(std::string("fetch ") + kdf_name);
  KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return ossl::CryptoError(std::string("new ") + kdf_name);
  SecretBytes out(bits / 8);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params.data()) != 1) {
    return ossl::CryptoError(std::string("derive ") + kdf_name);
  }
  return out;
}

}  // namespace

Result<SecretBytes> KDFa(uint16_t hash_alg, ByteView key, std::string_view label,
                         ByteView context_u, ByteView context_v, size_t bits) {
  TPMESH_RETURN_IF_ERROR(CheckArgs("KDFa", hash_alg, label, bits));
  if (key.empty()) {
    return MakeError(Code::kInvalidArgument, "invalid_argument", "KDFa: empty key");
  }
  const char* md = EVP_MD_get0_name(ossl::MdForTpmAlg(hash_alg));
  SecretBytes context(context_u.size() + context_v.size());
  std::copy(context_u.begin(), context_u.end(), context.data());
  std::copy(context_v.begin(), context_v.end(), context.data() + context_u.size());
  int use_l = 1, use_separator = 1;
  std::vector<OSSL_PARAM> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, const_cast<char*>("HMAC"), 0),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(md), 0),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, const_cast<char*>("COUNTER"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, Ptr(key.data()), key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, Ptr(label.data()), label.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, Ptr(context.data()), context.size()),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_KBKDF_USE_L, &use_l),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_KBKDF_USE_SEPARATOR, &use_separator),
  };
  return Derive(OSSL_KDF_NAME_KBKDF, std::move(params), bits);
}

Result<SecretBytes> KDFe(uint16_t hash_alg, ByteView z, std::string_view label, ByteView party_u,
                         ByteView party_v, size_t bits) {
  TPMESH_RETURN_IF_ERROR(CheckArgs("KDFe", hash_alg, label, bits));
  if (z.empty()) {
    return MakeError(Code::kInvalidArgument, "invalid_argument", "KDFe: empty shared secret");
  }
  const char* md = EVP_MD_get0_name(ossl::MdForTpmAlg(hash_alg));
  // FixedInfo = label || 0x00 || partyUInfo || partyVInfo.
  Bytes fixed(label.begin(), label.end());
  fixed.push_back(0x00);
  fixed.insert(fixed.end(), party_u.begin(), party_u.end());
  fixed.insert(fixed.end(), party_v.begin(), party_v.end());
  std::vector<OSSL_PARAM> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(md), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, Ptr(z.data()), z.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, fixed.data(), fixed.size()),
  };
  return Derive(OSSL_KDF_NAME_SSKDF, std::move(params), bits);
}

}  // namespace tpmesh::attest
