#include "tpmesh/ossl/pem.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <cctype>

namespace tpmesh::ossl {

Result<std::string> SerialHex(const X509* cert) {
  Bn serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  char* hex = serial ? BN_bn2hex(serial.get()) : nullptr;
  if (hex == nullptr) return CryptoError("certificate serial");
  std::string out = hex;
  OPENSSL_free(hex);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

BioPtr MemReader(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

Result<X509Ptr> ReadCertPem(std::string_view pem, const std::string& what,
                            const std::string& reason) {
  if (pem.empty()) return MakeError(Code::kInvalidArgument, reason, what + ": empty");
  if (pem.size() > 1024 * 1024) {
    return MakeError(Code::kInvalidArgument, reason, what + ": larger than 1 MiB");
  }
  BioPtr bio = MemReader(pem);
  if (!bio) return CryptoError(what + ": BIO");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return MakeError(Code::kInvalidArgument, reason,
                     what + ": not a PEM certificate (" + DrainErrors() + ")");
  }
  return cert;
}

Result<std::vector<X509Ptr>> ReadCertsPem(std::string_view pem, const std::string& what,
                                          const std::string& reason) {
  if (pem.size() > 1024 * 1024) {
    return MakeError(Code::kInvalidArgument, reason, what + ": larger than 1 MiB");
  }
  BioPtr bio = MemReader(pem);
  if (!bio) return CryptoError(what + ": BIO");
  std::vector<X509Ptr> out;
  ERR_clear_error();
  while (X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    out.push_back(std::move(cert));
  }
  // Running out of PEM blocks ends with "no start line"; anything else is a
  // broken block.
  unsigned long e = ERR_peek_last_error();
  if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
    return MakeError(Code::kInvalidArgument, reason,
                     what + ": certificate " + std::to_string(out.size() + 1) +
                         " is not valid PEM (" + DrainErrors() + ")");
  }
  ERR_clear_error();
  if (out.empty())
    return MakeError(Code::kInvalidArgument, reason, what + ": no PEM certificate in it");
  return out;
}

Result<Pkey> ReadKeyPem(std::string_view pem, const std::string& what, const std::string& reason) {
  if (pem.empty()) return MakeError(Code::kInvalidArgument, reason, what + ": empty");
  BioPtr bio = MemReader(pem);
  if (!bio) return CryptoError(what + ": BIO");
  // A null password callback that refuses: encrypted keys are an error, not a
  // prompt on the terminal.
  auto no_password = [](char*, int, int, void*) -> int { return 0; };
  Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
  if (!key) {
    ERR_clear_error();  // the queue may quote key material positions; keep it out of messages
    return MakeError(Code::kInvalidArgument, reason, what + ": not an unencrypted PEM private key");
  }
  return key;
}

Result<std::string> CertToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return CryptoError("certificate to PEM");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<std::string> KeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return CryptoError("private key to PEM");
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<Bytes> CertToDer(X509* cert) {
  int n = i2d_X509(cert, nullptr);
  if (n <= 0) return CryptoError("certificate to DER");
  Bytes der(static_cast<size_t>(n));
  uint8_t* p = der.data();
  if (i2d_X509(cert, &p) != n) return CryptoError("certificate to DER");
  return der;
}

}  // namespace tpmesh::ossl
