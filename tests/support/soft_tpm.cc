#include "tests/support/soft_tpm.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>

#include "attest/src/kdf.h"
#include "attest/src/ossl.h"
#include "tests/support/tpm_structs.h"
#include "tpmesh/attest/checks.h"
#include "tpmesh/attest/quote.h"

namespace tpmesh::testing {

using attest::KeyAlg;
namespace ossl = attest::ossl;

namespace {

using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, ossl::Deleter<OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, ossl::Deleter<OSSL_PARAM_free>>;
using EcGroup = std::unique_ptr<EC_GROUP, ossl::Deleter<EC_GROUP_free>>;
using EcPoint = std::unique_ptr<EC_POINT, ossl::Deleter<EC_POINT_free>>;
using SecretBn = std::unique_ptr<BIGNUM, ossl::Deleter<BN_clear_free>>;

Error SupportError(const std::string& what) {
  return MakeError(Code::kInternal, "test_support", "SoftTpm: " + what);
}

Error ActivationFailed(const std::string& why) {
  return MakeError(Code::kInvalidArgument, "tpm_activation_failed",
                   "SoftTpm rejected the credential: " + why);
}

Error AkInvalid(const std::string& why) {
  return MakeError(Code::kInvalidArgument, "tpm_ak_invalid", "SoftTpm cannot load the AK: " + why);
}

template <typename T, typename Fn>
Status UnmarshalExact(Fn fn, ByteView data, T* out, const std::string& what) {
  size_t off = 0;
  if (fn(data.data(), data.size(), &off, out) != TSS2_RC_SUCCESS) {
    return attest::Malformed(what + ": does not unmarshal (" + std::to_string(data.size()) +
                             " bytes)");
  }
  if (off != data.size()) {
    return attest::Malformed(what + ": " + std::to_string(data.size() - off) + " trailing bytes");
  }
  return OkStatus();
}

// --- process-wide state ------------------------------------------------------

struct Cas {
  TestCa root, issuer, untrusted_root, untrusted_issuer;
};

const Cas& TheCas() {
  static const Cas cas = [] {
    Cas c;
    c.root = MakeRootCa("SoftTpm Test EK Root");
    c.issuer = MakeIntermediate(c.root, "SoftTpm Test EK Issuer");
    c.untrusted_root = MakeRootCa("SoftTpm Untrusted EK Root");
    c.untrusted_issuer = MakeIntermediate(c.untrusted_root, "SoftTpm Untrusted EK Issuer");
    return c;
  }();
  return cas;
}

// RSA EKs: generated once per seed (RSA keygen is slow), kept for the process.
PkeyPtr RsaEkFor(const std::string& seed) {
  static std::mutex mu;
  static std::map<std::string, PkeyPtr> cache;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache.find(seed); it != cache.end()) return it->second;
  }
  PkeyPtr key = MakeRsaKey(2048);  // outside the lock; a racing twin loses below
  std::lock_guard<std::mutex> lock(mu);
  return cache.emplace(seed, key).first->second;
}

// ECC EKs: private scalar = SHA-256(label || seed || counter), the first that
// lies in [1, n-1]; deterministic and fast.
Result<PkeyPtr> EccEkFor(const std::string& seed) {
  EcGroup group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  if (!group) return ossl::CryptoError("P-256 group");
  const BIGNUM* order = EC_GROUP_get0_order(group.get());
  for (uint32_t counter = 0; counter < 16; ++counter) {
    const std::string input = "tpmesh SoftTpm ECC EK:" + seed + ":" + std::to_string(counter);
    TPMESH_ASSIGN_OR_RETURN(Bytes digest, ossl::Digest(EVP_sha256(), AsView(input)));
    SecretBn d(BN_bin2bn(digest.data(), static_cast<int>(digest.size()), nullptr));
    OPENSSL_cleanse(digest.data(), digest.size());
    if (!d) return ossl::CryptoError("EC scalar");
    if (BN_is_zero(d.get()) || BN_cmp(d.get(), order) >= 0) continue;
    EcPoint q(EC_POINT_new(group.get()));
    uint8_t pub[65];
    if (!q || EC_POINT_mul(group.get(), q.get(), d.get(), nullptr, nullptr, nullptr) != 1 ||
        EC_POINT_point2oct(group.get(), q.get(), POINT_CONVERSION_UNCOMPRESSED, pub, sizeof pub,
                           nullptr) != sizeof pub) {
      return ossl::CryptoError("EC public point");
    }
    ParamBld bld(OSSL_PARAM_BLD_new());
    if (!bld ||
        OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get()) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub) !=
            1) {
      return ossl::CryptoError("EC key parameters");
    }
    Params params(OSSL_PARAM_BLD_to_param(bld.get()));
    ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* key = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_KEYPAIR, params.get()) != 1) {
      return ossl::CryptoError("EC key from seed");
    }
    return PkeyPtr(key, EVP_PKEY_free);
  }
  return SupportError("no valid P-256 scalar from seed");  // ~2^-512: never
}

// Names of the AKs each TPM (by seed) created: only those load.
class AkRegistry {
 public:
  static AkRegistry& Instance() {
    static AkRegistry r;
    return r;
  }
  void Add(const std::string& seed, const Bytes& name) {
    std::lock_guard<std::mutex> lock(mu_);
    names_[seed].insert(name);
  }
  bool Contains(const std::string& seed, const Bytes& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = names_.find(seed);
    return it != names_.end() && it->second.count(name) != 0;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::set<Bytes>> names_;
};

// --- credential activation ----------------------------------------------------

// Annex B.10.4: RSA-OAEP(nameAlg, label "IDENTITY\0") decryption of the seed.
Result<SecretBytes> RsaSeed(EVP_PKEY* ek, const EVP_MD* md, ByteView encrypted) {
  static constexpr char kLabel[] = "IDENTITY";  // sizeof includes the NUL
  ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, ek, nullptr));
  void* label = OPENSSL_memdup(kLabel, sizeof kLabel);
  if (!ctx || label == nullptr || EVP_PKEY_decrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), md) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) != 1 ||
      EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), label, sizeof kLabel) != 1) {
    OPENSSL_free(label);  // only reached before set0 took ownership
    return ossl::CryptoError("RSA-OAEP setup");
  }
  size_t len = 0;
  if (EVP_PKEY_decrypt(ctx.get(), nullptr, &len, encrypted.data(), encrypted.size()) != 1) {
    ERR_clear_error();
    return ActivationFailed("the seed does not decrypt with the EK (RSA-OAEP)");
  }
  SecretBytes buf(len);
  if (EVP_PKEY_decrypt(ctx.get(), buf.data(), &len, encrypted.data(), encrypted.size()) != 1) {
    ERR_clear_error();
    return ActivationFailed("the seed does not decrypt with the EK (RSA-OAEP)");
  }
  return SecretBytes(ByteView(buf.data(), len));
}

// Annex C.6.2: Z = ECDH(ek, ephemeral point); seed = KDFe(nameAlg, Z,
// "IDENTITY", ephemeral.x, ek.x, digest bits).
Result<SecretBytes> EccSeed(EVP_PKEY* ek, const attest::TpmPublic& pub, const EVP_MD* md,
                            ByteView encrypted) {
  TPMS_ECC_POINT point{};
  TPMESH_RETURN_IF_ERROR(UnmarshalExact(Tss2_MU_TPMS_ECC_POINT_Unmarshal, encrypted, &point,
                                        "credential.encrypted_secret"));
  if (point.x.size != 32 || point.y.size != 32) {
    return ActivationFailed("the ephemeral key is not a P-256 point");
  }
  uint8_t oct[65] = {0x04};
  std::memcpy(oct + 1, point.x.buffer, 32);
  std::memcpy(oct + 33, point.y.buffer, 32);
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, oct, sizeof oct) != 1) {
    return ossl::CryptoError("ephemeral point parameters");
  }
  Params params(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::PkeyCtx from(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !from || EVP_PKEY_fromdata_init(from.get()) != 1 ||
      EVP_PKEY_fromdata(from.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ERR_clear_error();
    return ActivationFailed("the ephemeral key is not a P-256 point");
  }
  ossl::Pkey peer(raw);
  ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, ek, nullptr));
  size_t zlen = 0;
  // derive_set_peer validates the point (on the curve, not infinity).
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &zlen) != 1) {
    ERR_clear_error();
    return ActivationFailed("ECDH with the ephemeral point failed (not on the curve?)");
  }
  SecretBytes z(zlen);
  if (EVP_PKEY_derive(ctx.get(), z.data(), &zlen) != 1 || zlen != 32) {
    return ossl::CryptoError("ECDH");
  }
  return attest::KDFe(pub.name_alg, z.view(), "IDENTITY", ByteView(point.x.buffer, 32), pub.ecc_x,
                      8 * static_cast<size_t>(EVP_MD_get_size(md)));
}

Result<SecretBytes> AesCfbDecrypt(ByteView key, ByteView enc) {
  const EVP_CIPHER* cipher = key.size() == 32 ? EVP_aes_256_cfb128() : EVP_aes_128_cfb128();
  const uint8_t iv[16] = {};
  ossl::CipherCtx ctx(EVP_CIPHER_CTX_new());
  SecretBytes out(enc.size() + 16);
  int len = 0, fin = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), cipher, nullptr, key.data(), iv) != 1 ||
      EVP_DecryptUpdate(ctx.get(), out.data(), &len, enc.data(), static_cast<int>(enc.size())) !=
          1 ||
      EVP_DecryptFinal_ex(ctx.get(), out.data() + len, &fin) != 1) {
    return ossl::CryptoError("AES-CFB decrypt");
  }
  return SecretBytes(ByteView(out.data(), static_cast<size_t>(len + fin)));
}

// Normalized SHA-256 selection, with the TPM's errors for other banks.
Result<attest::PcrSelection> Sha256Selection(const attest::PcrSelection& selection) {
  for (uint32_t pcr : selection.pcrs) {
    if (pcr >= 24) {
      return MakeError(Code::kInvalidArgument, "pcr_out_of_range",
                       "PCR " + std::to_string(pcr) + " does not exist (0-23)");
    }
  }
  if (selection.bank != attest::HashAlg::kSha256) {
    return MakeError(Code::kFailedPrecondition, "pcr_bank_unavailable",
                     std::string("SoftTpm has only the sha256 PCR bank, not ") +
                         attest::HashAlgName(selection.bank));
  }
  return attest::MakePcrSelection(selection.bank, selection.pcrs);
}

}  // namespace

struct SoftTpm::LoadedAk {
  ossl::Pkey key;
  Bytes name;
  uint16_t scheme = attest::kAlgNull;
  uint16_t hash = attest::kAlgNull;
};

SoftTpm::SoftTpm(std::string seed, EkCertSource ek_cert)
    : SoftTpm(SoftTpmOptions{std::move(seed), ek_cert, EkCertSpec{}}) {}

SoftTpm::SoftTpm(SoftTpmOptions options) : options_(std::move(options)) { PowerOnPcrs(); }

const TestCa& SoftTpm::TrustedRoot() { return TheCas().root; }
const TestCa& SoftTpm::UntrustedRoot() { return TheCas().untrusted_root; }

void SoftTpm::Reset() {
  ++reset_count_;
  restart_count_ = 0;
  PowerOnPcrs();
}

void SoftTpm::PowerOnPcrs() {
  for (size_t i = 0; i < pcrs_.size(); ++i) {
    // PC Client: PCRs 17-22 (D-RTM) power on as all ones, the others as zeros.
    pcrs_[i] = Bytes(32, (i >= 17 && i <= 22) ? 0xff : 0x00);
  }
}

Result<const SoftTpm::Ek*> SoftTpm::GetEk(KeyAlg alg) {
  auto& slot = eks_[alg == KeyAlg::kRsa2048 ? 0 : 1];
  if (slot) return &*slot;
  Ek ek;
  try {
    if (alg == KeyAlg::kRsa2048) {
      ek.key = RsaEkFor(options_.seed);
    } else {
      TPMESH_ASSIGN_OR_RETURN(ek.key, EccEkFor(options_.seed));
    }
    TPMESH_ASSIGN_OR_RETURN(ek.bundle.ek_public, MakeTpmPublic(ek.key.get(), EkParams()));
    TPMESH_ASSIGN_OR_RETURN(ek.pub, attest::ParseTpm2bPublic(ek.bundle.ek_public));
    ek.bundle.alg = alg;
    if (options_.ek_cert != EkCertSource::kAbsent) {
      const Cas& cas = TheCas();
      const TestCa& issuer =
          options_.ek_cert == EkCertSource::kTrusted ? cas.issuer : cas.untrusted_issuer;
      ek.bundle.ek_cert_der = MakeEkCert(issuer, ek.key.get(), options_.cert_spec);
      ek.bundle.intermediates = {issuer.Der()};
    }
  } catch (const std::exception& e) {
    return SupportError(e.what());
  }
  slot = std::move(ek);
  return &*slot;
}

Result<attest::EkBundle> SoftTpm::ReadEk(KeyAlg alg) {
  TPMESH_ASSIGN_OR_RETURN(const Ek* ek, GetEk(alg));
  return ek->bundle;
}

Result<Bytes> SoftTpm::EkSha256(KeyAlg alg) {
  TPMESH_ASSIGN_OR_RETURN(const Ek* ek, GetEk(alg));
  return ek->pub.SpkiSha256();
}

Result<attest::AkBlob> SoftTpm::CreateAk(KeyAlg alg) {
  const bool ecc = alg == KeyAlg::kEccP256;
  TPMESH_ASSIGN_OR_RETURN(ossl::Pkey key, ecc ? GenerateEcKey("P-256") : GenerateRsaKey(2048));
  attest::AkBlob blob;
  blob.alg = alg;
  TPMESH_ASSIGN_OR_RETURN(
      blob.public_area,
      MakeTpmPublic(key.get(),
                    AkParams(ecc ? attest::kAlgEcdsa : attest::kAlgRsassa, attest::kAlgSha256)));
  unsigned char* der = nullptr;
  const int len = i2d_PrivateKey(key.get(), &der);
  if (len <= 0) return ossl::CryptoError("AK private key DER");
  blob.private_area.assign(der, der + len);
  OPENSSL_clear_free(der, static_cast<size_t>(len));
  TPMESH_ASSIGN_OR_RETURN(auto pub, attest::ParseTpm2bPublic(blob.public_area));
  TPMESH_ASSIGN_OR_RETURN(Bytes name, pub.Name());
  AkRegistry::Instance().Add(options_.seed, name);
  return blob;
}

Result<std::shared_ptr<const SoftTpm::LoadedAk>> SoftTpm::LoadAk(const attest::AkBlob& ak) const {
  Bytes blob = ak.private_area;
  blob.insert(blob.end(), ak.public_area.begin(), ak.public_area.end());
  blob.push_back(static_cast<uint8_t>(ak.alg));
  if (loaded_ak_ && blob == loaded_ak_blob_) return loaded_ak_;
  auto pub = attest::ParseTpm2bPublic(ak.public_area);
  if (!pub.ok()) return attest::Malformed("ak.public_area: " + pub.error().message);
  const uint16_t want = ak.alg == KeyAlg::kRsa2048 ? attest::kAlgRsa : attest::kAlgEcc;
  if (pub->type != want) {
    return attest::Malformed(
        std::string("ak.public_area: key type does not match the blob's alg ") +
        attest::KeyAlgName(ak.alg));
  }
  if ((pub->attributes & (attest::kAttrRestricted | attest::kAttrSign)) !=
      (attest::kAttrRestricted | attest::kAttrSign)) {
    return AkInvalid("not a restricted signing key");
  }
  LoadedAk out;
  TPMESH_ASSIGN_OR_RETURN(out.name, pub->Name());
  if (!AkRegistry::Instance().Contains(options_.seed, out.name)) {
    return AkInvalid("it was not created by this TPM (seed '" + options_.seed + "')");
  }
  const unsigned char* p = ak.private_area.data();
  EVP_PKEY* raw = d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(ak.private_area.size()));
  if (raw == nullptr) {
    ERR_clear_error();
    return AkInvalid("ak.private_area is not a SoftTpm private key");
  }
  out.key.reset(raw);
  TPMESH_ASSIGN_OR_RETURN(ossl::Pkey pub_key, pub->ToPkey());
  if (EVP_PKEY_eq(pub_key.get(), out.key.get()) != 1) {
    ERR_clear_error();
    return AkInvalid("private and public areas do not match");
  }
  out.scheme = pub->scheme;
  out.hash = pub->scheme_hash;
  loaded_ak_ = std::make_shared<const LoadedAk>(std::move(out));
  loaded_ak_blob_ = std::move(blob);
  return loaded_ak_;
}

Result<SecretBytes> SoftTpm::ActivateCredential(const attest::AkBlob& ak, KeyAlg ek_alg,
                                                const attest::Credential& credential) {
  TPMESH_ASSIGN_OR_RETURN(auto loaded, LoadAk(ak));
  TPMESH_ASSIGN_OR_RETURN(const Ek* ek, GetEk(ek_alg));
  const EVP_MD* md = ossl::MdForTpmAlg(ek->pub.name_alg);
  if (md == nullptr) return SupportError("EK nameAlg");
  const size_t digest_size = static_cast<size_t>(EVP_MD_get_size(md));

  TPM2B_ID_OBJECT id{};
  TPMESH_RETURN_IF_ERROR(UnmarshalExact(Tss2_MU_TPM2B_ID_OBJECT_Unmarshal, credential.id_object,
                                        &id, "credential.id_object"));
  TPM2B_ENCRYPTED_SECRET es{};
  TPMESH_RETURN_IF_ERROR(UnmarshalExact(Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal,
                                        credential.encrypted_secret, &es,
                                        "credential.encrypted_secret"));
  const ByteView enc_seed(es.secret, es.size);
  SecretBytes seed;
  if (ek_alg == KeyAlg::kRsa2048) {
    TPMESH_ASSIGN_OR_RETURN(seed, RsaSeed(ek->key.get(), md, enc_seed));
  } else {
    TPMESH_ASSIGN_OR_RETURN(seed, EccSeed(ek->key.get(), ek->pub, md, enc_seed));
  }

  // TPM2B_ID_OBJECT.credential = TPM2B_DIGEST(outerHMAC) || encIdentity.
  TPM2B_DIGEST integrity{};
  size_t off = 0;
  if (Tss2_MU_TPM2B_DIGEST_Unmarshal(id.credential, id.size, &off, &integrity) != TSS2_RC_SUCCESS ||
      off >= id.size) {
    return ActivationFailed("the ID object has no integrity HMAC and encrypted identity");
  }
  const ByteView enc_identity(id.credential + off, id.size - off);
  TPMESH_ASSIGN_OR_RETURN(SecretBytes hmac_key, attest::KDFa(ek->pub.name_alg, seed.view(),
                                                             "INTEGRITY", {}, {}, 8 * digest_size));
  Bytes mac_input(enc_identity.begin(), enc_identity.end());
  mac_input.insert(mac_input.end(), loaded->name.begin(), loaded->name.end());
  TPMESH_ASSIGN_OR_RETURN(Bytes expected, ossl::Hmac(md, hmac_key.view(), mac_input));
  if (!ConstantTimeEqual(expected, ByteView(integrity.buffer, integrity.size))) {
    return ActivationFailed("integrity HMAC mismatch: not made for this EK and AK, or altered");
  }

  TPMESH_ASSIGN_OR_RETURN(SecretBytes sym_key,
                          attest::KDFa(ek->pub.name_alg, seed.view(), "STORAGE", loaded->name, {},
                                       ek->pub.symmetric_bits));
  TPMESH_ASSIGN_OR_RETURN(SecretBytes plain, AesCfbDecrypt(sym_key.view(), enc_identity));
  TPM2B_DIGEST secret{};
  size_t poff = 0;
  const bool ok = Tss2_MU_TPM2B_DIGEST_Unmarshal(plain.data(), plain.size(), &poff, &secret) ==
                      TSS2_RC_SUCCESS &&
                  poff == plain.size() && secret.size <= digest_size;
  SecretBytes out(ByteView(secret.buffer, ok ? secret.size : 0));
  OPENSSL_cleanse(&secret, sizeof secret);
  if (!ok) return ActivationFailed("the decrypted credential is not a TPM2B_DIGEST");
  return out;
}

Result<attest::PcrValues> SoftTpm::ReadPcrs(const attest::PcrSelection& selection) {
  TPMESH_ASSIGN_OR_RETURN(attest::PcrSelection sel, Sha256Selection(selection));
  attest::PcrValues out;
  for (uint32_t pcr : sel.pcrs) out[pcr] = pcrs_[pcr];
  return out;
}

Status SoftTpm::ExtendPcr(uint32_t pcr, ByteView digest) {
  if (pcr >= 24) {
    return MakeError(Code::kInvalidArgument, "pcr_out_of_range",
                     "PCR " + std::to_string(pcr) + " does not exist (0-23)");
  }
  if (digest.size() != 32) {
    return MakeError(Code::kInvalidArgument, "digest_size_invalid",
                     "PCR extend digest is " + std::to_string(digest.size()) +
                         " bytes; the sha256 bank needs 32");
  }
  Bytes data = pcrs_[pcr];
  data.insert(data.end(), digest.begin(), digest.end());
  TPMESH_ASSIGN_OR_RETURN(pcrs_[pcr], ossl::Digest(EVP_sha256(), data));
  return OkStatus();
}

Result<attest::QuoteEvidence> SoftTpm::Quote(const attest::AkBlob& ak,
                                             const attest::PcrSelection& selection,
                                             ByteView nonce) {
  if (nonce.size() > 64) {
    return MakeError(Code::kInvalidArgument, "nonce_too_long",
                     "quote nonce is " + std::to_string(nonce.size()) +
                         " bytes; at most 64 fit in qualifyingData");
  }
  TPMESH_ASSIGN_OR_RETURN(attest::PcrSelection sel, Sha256Selection(selection));
  TPMESH_ASSIGN_OR_RETURN(auto loaded, LoadAk(ak));
  attest::QuoteEvidence ev;
  TPMESH_ASSIGN_OR_RETURN(ev.pcr_values, ReadPcrs(sel));
  QuoteFields f;
  f.qualified_signer = loaded->name;
  f.extra_data.assign(nonce.begin(), nonce.end());
  clock_ms_ += 250;  // time passes between commands
  f.clock = clock_ms_;
  f.reset_count = reset_count_;
  f.restart_count = restart_count_;
  f.safe = true;
  f.selection = {{attest::kAlgSha256, sel.pcrs}};
  TPMESH_ASSIGN_OR_RETURN(f.pcr_digest, attest::PcrDigest(sel.bank, sel, ev.pcr_values));
  TPMESH_ASSIGN_OR_RETURN(ev.attest, MakeQuoteAttest(f));
  TPMESH_ASSIGN_OR_RETURN(ev.signature,
                          SignTpm(loaded->key.get(), loaded->scheme, loaded->hash, ev.attest));
  ev.selection = std::move(sel);
  return ev;
}

}  // namespace tpmesh::testing
