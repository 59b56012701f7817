// tpmesh-client ek show (contract in ek_show.h).
#include "tpmesh/client/ek_show.h"

#include <openssl/bio.h>
#include <openssl/x509.h>

#include <memory>

#include "tpmesh/attest/ekcert.h"
#include "tpmesh/attest/tpm_public.h"

namespace tpmesh::client {
namespace {

std::string Name(const X509_NAME* n) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || X509_NAME_print_ex(bio.get(), n, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) < 0)
    return "?";
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string Time(const ASN1_TIME* t) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || ASN1_TIME_print(bio.get(), t) != 1) return "?";
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

const char* Template(attest::KeyAlg alg) {
  return alg == attest::KeyAlg::kRsa2048 ? "TCG EK template L-1, RSA-2048"
                                         : "TCG EK template L-2, ECC NIST P-256";
}

std::string CertLines(const attest::EkBundle& ek, const attest::TrustStore* trust,
                      const std::optional<std::string>& trust_dir, TimePoint now) {
  if (!ek.ek_cert_der) {
    return "  certificate: none in NV (a firmware TPM?): the authority admits it only through "
           "its EK allowlist\n";
  }
  auto der = attest::TrimDer(*ek.ek_cert_der);
  if (!der.ok()) return "  certificate: unreadable (" + der.error().ToString() + ")\n";
  const unsigned char* p = der->data();
  std::unique_ptr<X509, decltype(&X509_free)> x(
      d2i_X509(nullptr, &p, static_cast<long>(der->size())), X509_free);
  if (!x) return "  certificate: does not parse\n";
  std::string out = "  certificate: subject \"" + Name(X509_get_subject_name(x.get())) + "\"\n" +
                    "               issuer \"" + Name(X509_get_issuer_name(x.get())) + "\"\n" +
                    "               valid " + Time(X509_get0_notBefore(x.get())) + " to " +
                    Time(X509_get0_notAfter(x.get())) + "\n";
  if (trust == nullptr) return out;
  auto info = attest::VerifyEkCertificate(*der, ek.intermediates, *trust,
                                          attest::EkCertOptions{.now = now});
  if (!info.ok())
    return out + "  chains to " + *trust_dir + ": no (" + info.error().ToString() + ")\n";
  return out + "  tpm: manufacturer " + info->tpm_manufacturer + ", model " + info->tpm_model +
         ", version " + info->tpm_version + "\n  chains to " + *trust_dir + ": yes\n";
}

}  // namespace

Result<std::string> EkReport(attest::Tpm& tpm, const std::optional<std::string>& trust_dir,
                             TimePoint now) {
  std::optional<attest::TrustStore> trust;
  if (trust_dir) {
    auto t = attest::TrustStore::LoadDirectory(*trust_dir);
    if (!t.ok()) return t.take_error();
    trust = std::move(*t);
  }
  std::string out;
  std::string errors;
  for (auto alg : {attest::KeyAlg::kRsa2048, attest::KeyAlg::kEccP256}) {
    auto ek = tpm.ReadEk(alg);
    if (!ek.ok()) {
      errors += std::string(attest::KeyAlgName(alg)) + ": " + ek.error().ToString() + "; ";
      out +=
          std::string("EK ") + attest::KeyAlgName(alg) + ": none (" + ek.error().message + ")\n\n";
      continue;
    }
    auto pub = attest::ParseTpm2bPublic(ek->ek_public);
    auto fp = pub.ok() ? pub->SpkiSha256() : Result<Bytes>(pub.error());
    if (!fp.ok()) return fp.take_error();
    out += std::string("EK ") + attest::KeyAlgName(alg) + " (" + Template(alg) + ")\n" +
           "  fingerprint: " + HexEncode(*fp) + "   (tpmeshctl ek allow; node id " +
           HexEncode(ByteView(fp->data(), 10)) + ")\n" +
           CertLines(*ek, trust ? &*trust : nullptr, trust_dir, now) + "\n";
  }
  if (out.find("fingerprint:") == std::string::npos) {
    return MakeError(Code::kUnavailable, "tpm_no_ek", "the TPM gave no EK: " + errors);
  }
  return out;
}

}  // namespace tpmesh::client
