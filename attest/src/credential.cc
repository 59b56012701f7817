// MakeCredential in software: TPM 2.0 Part 1 section 24 and Annex B.10.3
// (RSA seed protection) / C.6.1 (ECC seed protection); Part 3
// TPM2_MakeCredential.
#include "tpmesh/attest/credential.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include <cstring>

#include "kdf.h"
#include "ossl.h"
#include "tpmesh/attest/checks.h"
#include "verify_internal.h"

namespace tpmesh::attest {
namespace {

Error Unsuitable(const std::string& why) {
  return MakeError(Code::kInvalidArgument, "ek_unsupported",
                   "EK cannot protect a credential: " + why);
}

Error BadArg(const std::string& why) {
  return MakeError(Code::kInvalidArgument, "invalid_argument", "MakeCredential: " + why);
}

// EK requirements from credential.h.
Status CheckEk(const TpmPublic& ek) {
  if ((ek.attributes & (kAttrRestricted | kAttrDecrypt)) != (kAttrRestricted | kAttrDecrypt) ||
      (ek.attributes & kAttrSign) != 0) {
    return Unsuitable("not a restricted decryption (storage) key");
  }
  if (ossl::MdForTpmAlg(ek.name_alg) == nullptr) return Unsuitable("unsupported nameAlg");
  if (ek.symmetric != kAlgAes || ek.symmetric_mode != kAlgCfb ||
      (ek.symmetric_bits != 128 && ek.symmetric_bits != 256)) {
    return Unsuitable("symmetric algorithm is not AES-128-CFB or AES-256-CFB");
  }
  if (ek.type == kAlgRsa) {
    if (ek.rsa_bits != 2048) return Unsuitable("RSA key is not 2048 bits");
  } else if (ek.type == kAlgEcc) {
    if (ek.curve != kCurveNistP256 && ek.curve != kCurveNistP384) {
      return Unsuitable("ECC curve is not NIST P-256 or P-384");
    }
  } else {
    return Unsuitable("key type is neither RSA nor ECC");
  }
  return OkStatus();
}

// The protected seed and its TPM2B_ENCRYPTED_SECRET.secret contents.
struct Seed {
  SecretBytes seed;
  Bytes encrypted;
};

// Annex B.10.3: random seed, RSA-OAEP(nameAlg, MGF1(nameAlg), label "IDENTITY\0").
Result<Seed> RsaSeed(EVP_PKEY* key, const EVP_MD* md, Random& rng) {
  Seed s{SecretBytes(static_cast<size_t>(EVP_MD_get_size(md))), {}};
  rng.Fill(s.seed.span());
  ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  static constexpr char kLabel[] = "IDENTITY";  // sizeof includes the NUL, as the TPM wants
  void* label = OPENSSL_memdup(kLabel, sizeof kLabel);
  if (!ctx || label == nullptr || EVP_PKEY_encrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), md) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) != 1) {
    OPENSSL_free(label);
    return ossl::CryptoError("RSA-OAEP setup");
  }
  if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), label, sizeof kLabel) != 1) {
    OPENSSL_free(label);
    return ossl::CryptoError("RSA-OAEP label");
  }
  size_t len = 0;
  if (EVP_PKEY_encrypt(ctx.get(), nullptr, &len, s.seed.data(), s.seed.size()) != 1) {
    return ossl::CryptoError("RSA-OAEP encrypt");
  }
  s.encrypted.resize(len);
  if (EVP_PKEY_encrypt(ctx.get(), s.encrypted.data(), &len, s.seed.data(), s.seed.size()) != 1) {
    return ossl::CryptoError("RSA-OAEP encrypt");
  }
  s.encrypted.resize(len);
  return s;
}

// Annex C.6.1: one-pass ECDH with an ephemeral key on the EK's curve;
// seed = KDFe(nameAlg, Z.x, "IDENTITY", ephemeral.x, ek.x); the secret is the
// marshaled TPMS_ECC_POINT of the ephemeral public key.
// `key` comes from TpmPublic::ToPkey, which has checked that the point is on
// the curve and not the identity (EVP_PKEY_public_check_quick); on P-256 and
// P-384 (cofactor 1) that is the whole public key validation, so the peer is
// not validated again here (EVP_PKEY_derive_set_peer would repeat it with an
// extra scalar multiplication by the group order).
Result<Seed> EccSeed(const TpmPublic& ek, EVP_PKEY* key, const EVP_MD* md) {
  const bool p384 = ek.curve == kCurveNistP384;
  const size_t n = p384 ? 48 : 32;
  ossl::Pkey eph(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", p384 ? "P-384" : "P-256"));
  if (!eph) return ossl::CryptoError("ephemeral EC key");
  ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, eph.get(), nullptr));
  size_t zlen = 0;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer_ex(ctx.get(), key, /*validate_peer=*/0) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &zlen) != 1) {
    return ossl::CryptoError("ECDH");
  }
  SecretBytes z(zlen);
  if (EVP_PKEY_derive(ctx.get(), z.data(), &zlen) != 1 || zlen != n) {
    return ossl::CryptoError("ECDH");
  }
  // The ephemeral public point, uncompressed: 04 || x || y.
  uint8_t encoded[1 + 2 * 48];
  size_t encoded_len = 0;
  if (EVP_PKEY_get_octet_string_param(eph.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, encoded,
                                      sizeof encoded, &encoded_len) != 1 ||
      encoded_len != 1 + 2 * n || encoded[0] != 0x04) {
    return ossl::CryptoError("ephemeral EC public key");
  }
  const Bytes x(encoded + 1, encoded + 1 + n);
  const Bytes y(encoded + 1 + n, encoded + 1 + 2 * n);
  Seed s;
  TPMESH_ASSIGN_OR_RETURN(s.seed, KDFe(ek.name_alg, z.view(), "IDENTITY", x, ek.ecc_x,
                                       8 * static_cast<size_t>(EVP_MD_get_size(md))));
  TPMS_ECC_POINT point{};
  point.x.size = static_cast<UINT16>(n);
  std::memcpy(point.x.buffer, x.data(), n);
  point.y.size = static_cast<UINT16>(n);
  std::memcpy(point.y.buffer, y.data(), n);
  s.encrypted.resize(sizeof(TPMS_ECC_POINT));
  size_t off = 0;
  if (Tss2_MU_TPMS_ECC_POINT_Marshal(&point, s.encrypted.data(), s.encrypted.size(), &off) !=
      TSS2_RC_SUCCESS) {
    return BadArg("cannot marshal TPMS_ECC_POINT");
  }
  s.encrypted.resize(off);
  return s;
}

Result<Bytes> AesCfbEncrypt(ByteView key, ByteView plain) {
  const EVP_CIPHER* cipher = key.size() == 32 ? EVP_aes_256_cfb128() : EVP_aes_128_cfb128();
  const uint8_t iv[16] = {};
  ossl::CipherCtx ctx(EVP_CIPHER_CTX_new());
  Bytes out(plain.size() + 16);
  int len = 0, fin = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, key.data(), iv) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data(), &len, plain.data(),
                        static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + len, &fin) != 1) {
    return ossl::CryptoError("AES-CFB encrypt");
  }
  out.resize(static_cast<size_t>(len + fin));
  return out;
}

// The arguments of MakeCredential other than the EK: a secret of 1 to
// digest-size bytes, and a name that is nameAlg || digest.
Status CheckCredentialArgs(const EVP_MD* md, ByteView object_name, ByteView secret) {
  const size_t digest_size = static_cast<size_t>(EVP_MD_get_size(md));
  if (secret.empty() || secret.size() > digest_size) {
    return BadArg("secret is " + std::to_string(secret.size()) + " bytes, must be 1 to " +
                  std::to_string(digest_size) + " (the EK nameAlg digest size)");
  }
  if (object_name.size() < 2) return Malformed("object_name: shorter than a TPM name");
  const EVP_MD* name_md =
      ossl::MdForTpmAlg(static_cast<uint16_t>(object_name[0] << 8 | object_name[1]));
  if (name_md == nullptr ||
      object_name.size() != 2 + static_cast<size_t>(EVP_MD_get_size(name_md))) {
    return Malformed("object_name: not nameAlg || digest with a supported hash");
  }
  return OkStatus();
}

// TPM2B_ID_OBJECT (credential = TPM2B_DIGEST(outerHMAC) || encIdentity) and
// TPM2B_ENCRYPTED_SECRET, marshalled.
Result<Credential> MarshalCredential(const Bytes& outer_hmac, const Bytes& enc_identity,
                                     const Bytes& encrypted_seed) {
  TPM2B_ID_OBJECT id{};
  TPM2B_DIGEST hmac2b{};
  hmac2b.size = static_cast<UINT16>(outer_hmac.size());
  std::memcpy(hmac2b.buffer, outer_hmac.data(), outer_hmac.size());
  size_t id_off = 0;
  if (Tss2_MU_TPM2B_DIGEST_Marshal(&hmac2b, id.credential, sizeof id.credential, &id_off) !=
          TSS2_RC_SUCCESS ||
      sizeof id.credential - id_off < enc_identity.size()) {
    return BadArg("credential does not fit TPM2B_ID_OBJECT");
  }
  std::memcpy(id.credential + id_off, enc_identity.data(), enc_identity.size());
  id.size = static_cast<UINT16>(id_off + enc_identity.size());

  TPM2B_ENCRYPTED_SECRET es{};
  if (encrypted_seed.size() > sizeof es.secret) return BadArg("encrypted seed too large");
  es.size = static_cast<UINT16>(encrypted_seed.size());
  std::memcpy(es.secret, encrypted_seed.data(), encrypted_seed.size());

  Credential out;
  out.id_object.resize(sizeof id);
  out.encrypted_secret.resize(sizeof es);
  size_t o1 = 0, o2 = 0;
  if (Tss2_MU_TPM2B_ID_OBJECT_Marshal(&id, out.id_object.data(), out.id_object.size(), &o1) !=
          TSS2_RC_SUCCESS ||
      Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&es, out.encrypted_secret.data(),
                                             out.encrypted_secret.size(), &o2) != TSS2_RC_SUCCESS) {
    return BadArg("cannot marshal credential");
  }
  out.id_object.resize(o1);
  out.encrypted_secret.resize(o2);
  return out;
}

// MakeCredential; `ek_key` is ek.ToPkey() or nullptr (built here, after
// the argument checks).
Result<Credential> MakeCredentialWith(const TpmPublic& ek, EVP_PKEY* ek_key, ByteView object_name,
                                      ByteView secret, Random& rng) {
  TPMESH_RETURN_IF_ERROR(CheckEk(ek));
  const EVP_MD* md = ossl::MdForTpmAlg(ek.name_alg);
  const size_t digest_size = static_cast<size_t>(EVP_MD_get_size(md));
  TPMESH_RETURN_IF_ERROR(CheckCredentialArgs(md, object_name, secret));

  ossl::Pkey built;
  if (ek_key == nullptr) {
    TPMESH_ASSIGN_OR_RETURN(built, ek.ToPkey());
    ek_key = built.get();
  }
  Seed seed;
  if (ek.type == kAlgRsa) {
    TPMESH_ASSIGN_OR_RETURN(seed, RsaSeed(ek_key, md, rng));
  } else {
    TPMESH_ASSIGN_OR_RETURN(seed, EccSeed(ek, ek_key, md));
  }

  // encIdentity = AES-CFB(symKey, 0-IV, TPM2B_DIGEST(secret)).
  TPMESH_ASSIGN_OR_RETURN(SecretBytes sym_key, KDFa(ek.name_alg, seed.seed.view(), "STORAGE",
                                                    object_name, {}, ek.symmetric_bits));
  TPM2B_DIGEST credential{};
  credential.size = static_cast<UINT16>(secret.size());
  std::memcpy(credential.buffer, secret.data(), secret.size());
  SecretBytes plain(2 + secret.size());
  size_t off = 0;
  TSS2_RC rc = Tss2_MU_TPM2B_DIGEST_Marshal(&credential, plain.data(), plain.size(), &off);
  OPENSSL_cleanse(&credential, sizeof credential);
  if (rc != TSS2_RC_SUCCESS) return BadArg("cannot marshal TPM2B_DIGEST");
  TPMESH_ASSIGN_OR_RETURN(Bytes enc_identity, AesCfbEncrypt(sym_key.view(), plain.view()));

  // outerHMAC = HMAC(hmacKey, encIdentity || name).
  TPMESH_ASSIGN_OR_RETURN(SecretBytes hmac_key, KDFa(ek.name_alg, seed.seed.view(), "INTEGRITY", {},
                                                     {}, 8 * digest_size));
  Bytes mac_input = enc_identity;
  mac_input.insert(mac_input.end(), object_name.begin(), object_name.end());
  TPMESH_ASSIGN_OR_RETURN(Bytes outer_hmac, ossl::Hmac(md, hmac_key.view(), mac_input));
  return MarshalCredential(outer_hmac, enc_identity, seed.encrypted);
}

}  // namespace

Result<Credential> MakeCredential(const TpmPublic& ek, ByteView object_name, ByteView secret,
                                  Random& rng) {
  return MakeCredentialWith(ek, nullptr, object_name, secret, rng);
}

Result<Credential> internal::MakeCredential(const TpmPublic& ek, EVP_PKEY* ek_key,
                                            ByteView object_name, ByteView secret, Random& rng) {
  return MakeCredentialWith(ek, ek_key, object_name, secret, rng);
}

}  // namespace tpmesh::attest
