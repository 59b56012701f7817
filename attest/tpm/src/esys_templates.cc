#include "esys_templates.h"

#include <array>
#include <cstring>

namespace tpmesh::attest::esys {
namespace {

// PolicyA of the EK Credential Profile: PolicySecret(TPM_RH_ENDORSEMENT).
constexpr std::array<uint8_t, 32> kPolicyA = {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
    0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};

constexpr TPMA_OBJECT kEkAttrs = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                 TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
                                 TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
constexpr TPMA_OBJECT kSrkAttrs = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                  TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                  TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
constexpr TPMA_OBJECT kAkAttrs = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                 TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                 TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;

TPMT_SYM_DEF_OBJECT Aes128Cfb() {
  TPMT_SYM_DEF_OBJECT sym{};
  sym.algorithm = TPM2_ALG_AES;
  sym.keyBits.aes = 128;
  sym.mode.aes = TPM2_ALG_CFB;
  return sym;
}

TPMT_SYM_DEF_OBJECT NullSym() {
  TPMT_SYM_DEF_OBJECT sym{};
  sym.algorithm = TPM2_ALG_NULL;
  return sym;
}

TPM2B_PUBLIC Base(TPMI_ALG_PUBLIC type, TPMA_OBJECT attrs) {
  TPM2B_PUBLIC pub{};
  pub.publicArea.type = type;
  pub.publicArea.nameAlg = TPM2_ALG_SHA256;
  pub.publicArea.objectAttributes = attrs;
  return pub;
}

}  // namespace

TPM2B_PUBLIC EkTemplate(KeyAlg alg) {
  TPM2B_PUBLIC pub = Base(alg == KeyAlg::kRsa2048 ? TPM2_ALG_RSA : TPM2_ALG_ECC, kEkAttrs);
  TPMT_PUBLIC& area = pub.publicArea;
  area.authPolicy.size = kPolicyA.size();
  std::memcpy(area.authPolicy.buffer, kPolicyA.data(), kPolicyA.size());
  if (alg == KeyAlg::kRsa2048) {
    area.parameters.rsaDetail.symmetric = Aes128Cfb();
    area.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
    area.parameters.rsaDetail.keyBits = 2048;
    area.parameters.rsaDetail.exponent = 0;
    area.unique.rsa.size = 256;  // 256 zero bytes
  } else {
    area.parameters.eccDetail.symmetric = Aes128Cfb();
    area.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
    area.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    area.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    area.unique.ecc.x.size = 32;  // 32 zero bytes each
    area.unique.ecc.y.size = 32;
  }
  return pub;
}

TPM2B_PUBLIC SrkTemplate() {
  TPM2B_PUBLIC pub = Base(TPM2_ALG_ECC, kSrkAttrs);
  TPMS_ECC_PARMS& ecc = pub.publicArea.parameters.eccDetail;
  ecc.symmetric = Aes128Cfb();
  ecc.scheme.scheme = TPM2_ALG_NULL;
  ecc.curveID = TPM2_ECC_NIST_P256;
  ecc.kdf.scheme = TPM2_ALG_NULL;
  return pub;
}

TPM2B_PUBLIC AkTemplate(KeyAlg alg) {
  TPM2B_PUBLIC pub = Base(alg == KeyAlg::kRsa2048 ? TPM2_ALG_RSA : TPM2_ALG_ECC, kAkAttrs);
  TPMT_PUBLIC& area = pub.publicArea;
  if (alg == KeyAlg::kRsa2048) {
    area.parameters.rsaDetail.symmetric = NullSym();
    area.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
    area.parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
    area.parameters.rsaDetail.keyBits = 2048;
    area.parameters.rsaDetail.exponent = 0;
  } else {
    area.parameters.eccDetail.symmetric = NullSym();
    area.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    area.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    area.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    area.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  }
  return pub;
}

}  // namespace tpmesh::attest::esys
