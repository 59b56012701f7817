// tpmesh-client ek show (contract in ek_show.h).
#include "tpmesh/client/ek_show.h"

#include "tpmesh/attest/ekcert.h"
#include "tpmesh/attest/tpm_public.h"
#include "tpmesh/client/renew.h"  // FormatUtc

namespace tpmesh::client {
namespace {

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
  auto cert =
      der.ok() ? attest::DescribeEkCertificate(*der) : Result<attest::EkCertInfo>(der.error());
  if (!cert.ok()) return "  certificate: unreadable (" + cert.error().ToString() + ")\n";
  std::string out = "  certificate: subject \"" + cert->subject + "\"\n" +
                    "               issuer \"" + cert->issuer + "\"\n" + "               valid " +
                    FormatUtc(cert->not_before) + " to " + FormatUtc(cert->not_after) + "\n";
  if (!cert->tpm_manufacturer.empty()) {
    out += "  tpm: manufacturer " + cert->tpm_manufacturer + ", model " + cert->tpm_model +
           ", version " + cert->tpm_version + "\n";
  }
  if (trust == nullptr) return out;
  auto verified = attest::VerifyEkCertificate(*der, ek.intermediates, *trust,
                                              attest::EkCertOptions{.now = now});
  return out + "  chains to " + *trust_dir + ": " +
         (verified.ok() ? "yes" : "no (" + verified.error().ToString() + ")") + "\n";
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
