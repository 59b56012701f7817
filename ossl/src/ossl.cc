#include "tpmesh/ossl/ossl.h"

#include <openssl/hmac.h>

#include <ctime>

namespace tpmesh::ossl {

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

Result<TimePoint> FromAsn1Time(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return CryptoError("certificate time");
  return FromUnixSeconds(static_cast<int64_t>(timegm(&tm)));
}

}  // namespace tpmesh::ossl
