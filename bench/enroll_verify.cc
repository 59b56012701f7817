// enroll_verify_per_s and crypto_floor_per_s (docs/benchmarks.md).
//
// Evidence comes from a real swtpm, captured once before timing: EK public +
// EK certificate (chain: swtpm-localca root -> intermediate, both in the
// TrustStore like an authority's ek_trust_dir), an ECC P-256 AK, and one
// quote over PCRs 0-7 with a fixed nonce. One "enrollment verification" is
// then, on one thread:
//   Verifier::Begin(evidence): parse EK and AK public areas, EK certificate
//     chain + validity + TCG profile + software-TPM policy (checks 1, 2, 14,
//     15), EK key == certified key (3), AK attributes and strength (4, 5),
//     names, EK fingerprint, fresh secret and nonce, MakeCredential;
//   Verifier::Complete(pending, response, policy): expiry, constant-time
//     secret compare (6), quote signature, structure, nonce, PCR digest
//     (7-10), PCR policy (11).
// Complete runs against a PendingChallenge built from the captured quote's
// nonce and a known secret, because the secret of each fresh Begin can only
// be recovered by the TPM (~20 ms per ActivateCredential on swtpm). The work
// Complete does is identical either way. Before timing, one full round trip
// (Begin -> swtpm ActivateCredential + Quote -> Complete) proves the
// evidence verifies for real.
//
// The crypto floor is the OpenSSL primitives of that same work with every
// object pre-parsed: d2i of the EK certificate, X509_verify_cert of the
// chain against a prebuilt store, RSA-OAEP (RSA EK) or ephemeral ECDH + KDFe
// (ECC EK) for the seed, KDFa (two HMAC-SHA256), AES-128-CFB over the
// credential, the integrity HMAC, SHA-256 for the two names and the EK SPKI,
// random secret/nonce/seed, ECDSA-P256 verify of the quote, SHA-256 of the
// PCR values.
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <tss2/tss2_mu.h>

#include <cstring>
#include <memory>
#include <optional>

#include "bench/bench.h"
#include "tests/support/soft_tpm.h"
#include "tests/support/swtpm.h"
#include "tpmesh/attest/tpm.h"
#include "tpmesh/attest/tpm_public.h"
#include "tpmesh/attest/verifier.h"
#include "tpmesh/ossl/ossl.h"

namespace tpmesh::bench {
namespace {

using attest::KeyAlg;

template <auto Fn>
using Free = ossl::Deleter<Fn>;
using X509Ptr = ossl::X509Ptr;
using StorePtr = std::unique_ptr<X509_STORE, Free<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Free<X509_STORE_CTX_free>>;
using PkeyCtxPtr = ossl::PkeyCtx;
using MdCtxPtr = ossl::MdCtx;
using CipherCtxPtr = ossl::CipherCtx;
using PkeyPtr = ossl::Pkey;

// Everything captured from the TPM for one EK algorithm.
struct Captured {
  KeyAlg ek_alg = KeyAlg::kRsa2048;
  attest::EnrollEvidence evidence;
  attest::QuoteEvidence quote;  // over options.selection with `nonce`
  Bytes nonce;
  attest::PcrPolicy policy;
  std::vector<Bytes> chain_pem_der;  // root, intermediate (DER), for the floor
};

Result<Captured> Capture(attest::Tpm& tpm, KeyAlg ek_alg, const attest::AkBlob& ak,
                         const attest::Verifier& verifier) {
  Captured c;
  c.ek_alg = ek_alg;
  TPMESH_ASSIGN_OR_RETURN(auto ek, tpm.ReadEk(ek_alg));
  if (!ek.ek_cert_der)
    return BenchError(std::string("no EK certificate for ") + KeyAlgName(ek_alg));
  c.evidence =
      attest::EnrollEvidence{ek.ek_public, ek.ek_cert_der, ek.intermediates, ak.public_area};

  // One real round trip: proves this evidence verifies end to end.
  TPMESH_ASSIGN_OR_RETURN(auto begun, verifier.Begin(c.evidence));
  TPMESH_ASSIGN_OR_RETURN(auto secret, tpm.ActivateCredential(ak, ek_alg, begun.first.credential));
  TPMESH_ASSIGN_OR_RETURN(auto q, tpm.Quote(ak, begun.first.selection, begun.first.nonce));
  c.policy = attest::PcrPolicy{"bench", attest::HashAlg::kSha256, {}};
  for (const auto& [pcr, v] : q.pcr_values) c.policy.golden[pcr].push_back(v);
  attest::ChallengeResponse resp{std::move(secret), q};
  auto done = verifier.Complete(begun.second, resp, &c.policy);
  if (!done.ok()) return BenchError("real round trip failed: " + done.error().ToString());

  // The quote the timed loop verifies, over a fixed nonce.
  c.nonce = Bytes(32, 0x5a);
  TPMESH_ASSIGN_OR_RETURN(c.quote, tpm.Quote(ak, verifier.options().selection, c.nonce));
  return c;
}

// A PendingChallenge whose answer is `quote` + `secret`.
attest::PendingChallenge FixedPending(const Captured& c, const attest::PendingChallenge& from_begin,
                                      ByteView secret) {
  attest::PendingChallenge p;
  p.secret = SecretBytes(secret);
  p.nonce = c.nonce;
  p.selection = from_begin.selection;
  p.ek_public = from_begin.ek_public;
  p.ak_public = from_begin.ak_public;
  p.ek_name = from_begin.ek_name;
  p.ak_name = from_begin.ak_name;
  p.ek_spki_sha256 = from_begin.ek_spki_sha256;
  p.ek_cert = from_begin.ek_cert;
  p.expires = SystemClock::Instance().Now() + std::chrono::hours(24);
  return p;
}

// Runs `op` repeatedly for `window` (at least `min_iters` times); returns
// seconds per operation, or the first error.
template <typename Op>
Result<double> TimePerOp(std::chrono::milliseconds window, int min_iters, Op op) {
  const double end = Now() + Seconds(window).count();
  const double t0 = Now();
  long n = 0;
  while (n < min_iters || Now() < end) {
    for (int i = 0; i < 16; ++i, ++n) TPMESH_RETURN_IF_ERROR(op());
  }
  return (Now() - t0) / static_cast<double>(n);
}

// ---------------------------------------------------------------------------
// Crypto floor: the same primitives with OpenSSL directly.

struct Floor {
  StorePtr store;
  X509Ptr intermediate;
  Bytes ek_cert_der;
  PkeyPtr ek;      // from the certificate
  int ek_nid = 0;  // EC curve (ECC EK)
  PkeyPtr ak;
  Bytes ek_area, ak_area, ek_spki;
  Bytes attest;
  Bytes sig_der;
  Bytes pcr_concat;
};

Error Fail(const char* what) { return BenchError(std::string("floor: ") + what + " failed"); }

Result<Floor> MakeFloor(const Captured& c, const std::string& root_pem,
                        const std::string& inter_pem) {
  Floor f;
  f.store.reset(X509_STORE_new());
  auto load = [](const std::string& pem) {
    std::unique_ptr<BIO, Free<BIO_free>> bio(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  };
  X509Ptr root = load(root_pem);
  if (!inter_pem.empty()) f.intermediate = load(inter_pem);
  if (!root || X509_STORE_add_cert(f.store.get(), root.get()) != 1) {
    return Fail("loading the swtpm CA");
  }
  f.ek_cert_der = *c.evidence.ek_cert_der;
  TPMESH_ASSIGN_OR_RETURN(auto trimmed, attest::TrimDer(f.ek_cert_der));
  f.ek_cert_der = trimmed;
  TPMESH_ASSIGN_OR_RETURN(auto ekp, attest::ParseTpm2bPublic(c.evidence.ek_public));
  TPMESH_ASSIGN_OR_RETURN(auto akp, attest::ParseTpm2bPublic(c.evidence.ak_public));
  TPMESH_ASSIGN_OR_RETURN(auto ekk, ekp.ToPkey());
  TPMESH_ASSIGN_OR_RETURN(auto akk, akp.ToPkey());
  f.ek.reset(ekk.release());
  f.ak.reset(akk.release());
  if (ekp.type == attest::kAlgEcc) f.ek_nid = NID_X9_62_prime256v1;
  f.ek_area = ekp.area;
  f.ak_area = akp.area;
  TPMESH_ASSIGN_OR_RETURN(f.ek_spki, attest::SpkiDer(f.ek.get()));
  f.attest = c.quote.attest;
  // TPMT_SIGNATURE (ECDSA) -> DER, once: a format conversion, not crypto.
  TPMT_SIGNATURE sig{};
  size_t off = 0;
  if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(c.quote.signature.data(), c.quote.signature.size(), &off,
                                       &sig) != 0 ||
      sig.sigAlg != TPM2_ALG_ECDSA) {
    return Fail("parsing the quote signature");
  }
  std::unique_ptr<ECDSA_SIG, Free<ECDSA_SIG_free>> es(ECDSA_SIG_new());
  ECDSA_SIG_set0(es.get(),
                 BN_bin2bn(sig.signature.ecdsa.signatureR.buffer,
                           sig.signature.ecdsa.signatureR.size, nullptr),
                 BN_bin2bn(sig.signature.ecdsa.signatureS.buffer,
                           sig.signature.ecdsa.signatureS.size, nullptr));
  f.sig_der.resize(static_cast<size_t>(i2d_ECDSA_SIG(es.get(), nullptr)));
  uint8_t* p = f.sig_der.data();
  i2d_ECDSA_SIG(es.get(), &p);
  for (const auto& [pcr, v] : c.quote.pcr_values)
    f.pcr_concat.insert(f.pcr_concat.end(), v.begin(), v.end());
  return f;
}

bool Sha256(ByteView in, uint8_t out[32]) {
  return EVP_Digest(in.data(), in.size(), out, nullptr, EVP_sha256(), nullptr) == 1;
}

// KDFa with one HMAC block (outputs up to 256 bits).
bool KdfaOneBlock(ByteView key, const char* label, ByteView u, uint32_t bits, uint8_t out[32]) {
  Bytes msg = {0, 0, 0, 1};
  msg.insert(msg.end(), label, label + std::strlen(label) + 1);
  msg.insert(msg.end(), u.begin(), u.end());
  for (int s = 24; s >= 0; s -= 8) msg.push_back(static_cast<uint8_t>(bits >> s));
  unsigned len = 32;
  return HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), msg.data(), msg.size(), out,
              &len) != nullptr;
}

Status FloorOnce(const Floor& f) {
  uint8_t secret[32], nonce[32], seed[32], h[32];
  if (RAND_bytes(secret, 32) != 1 || RAND_bytes(nonce, 32) != 1) return Fail("RAND_bytes");
  // Check 1/2: parse the leaf, verify the chain.
  const uint8_t* dp = f.ek_cert_der.data();
  X509Ptr leaf(d2i_X509(nullptr, &dp, static_cast<long>(f.ek_cert_der.size())));
  if (!leaf) return Fail("d2i_X509");
  struct StackFree {
    void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }
  };
  std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
  sk_X509_push(untrusted.get(), f.intermediate.get());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), f.store.get(), leaf.get(), untrusted.get());
  X509_STORE_CTX_set_verify_cb(ctx.get(), [](int ok, X509_STORE_CTX* c) {
    // EK certs carry a critical SAN OpenSSL does not handle; the verifier
    // accepts exactly that at depth 0, as here.
    return ok || X509_STORE_CTX_get_error(c) == X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION ? 1 : 0;
  });
  if (X509_verify_cert(ctx.get()) != 1) return Fail("X509_verify_cert");
  // Names and EK fingerprint.
  uint8_t ek_name[34] = {0, 0x0b}, ak_name[34] = {0, 0x0b};
  if (!Sha256(f.ek_area, ek_name + 2) || !Sha256(f.ak_area, ak_name + 2) || !Sha256(f.ek_spki, h)) {
    return Fail("SHA-256");
  }
  // MakeCredential: the seed.
  Bytes encrypted_seed;
  if (f.ek_nid == 0) {
    if (RAND_bytes(seed, 32) != 1) return Fail("RAND_bytes");
    PkeyCtxPtr pc(EVP_PKEY_CTX_new_from_pkey(nullptr, f.ek.get(), nullptr));
    static const char kLabel[] = "IDENTITY";
    void* label = OPENSSL_memdup(kLabel, sizeof kLabel);
    size_t outlen = 256;
    encrypted_seed.resize(outlen);
    if (!pc || EVP_PKEY_encrypt_init(pc.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(pc.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(pc.get(), EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set0_rsa_oaep_label(pc.get(), label, sizeof kLabel) != 1 ||
        EVP_PKEY_encrypt(pc.get(), encrypted_seed.data(), &outlen, seed, 32) != 1) {
      return Fail("RSA-OAEP");
    }
  } else {
    PkeyPtr eph(EVP_EC_gen("P-256"));
    PkeyCtxPtr dc(EVP_PKEY_CTX_new_from_pkey(nullptr, eph.get(), nullptr));
    uint8_t z[32];
    size_t zlen = 32;
    if (!eph || !dc || EVP_PKEY_derive_init(dc.get()) != 1 ||
        EVP_PKEY_derive_set_peer(dc.get(), f.ek.get()) != 1 ||
        EVP_PKEY_derive(dc.get(), z, &zlen) != 1) {
      return Fail("ECDH");
    }
    // KDFe: one SHA-256 block over counter || Z || label || party info.
    Bytes m = {0, 0, 0, 1};
    m.insert(m.end(), z, z + 32);
    m.insert(m.end(), {'I', 'D', 'E', 'N', 'T', 'I', 'T', 'Y', 0});
    m.resize(m.size() + 64, 0x11);  // ephemeral.x || ek.x (values do not change the cost)
    if (!Sha256(m, seed)) return Fail("KDFe");
  }
  // symKey, hmacKey, AES-128-CFB over TPM2B(secret), HMAC over encIdentity || name.
  uint8_t sym[32], hmac_key[32];
  if (!KdfaOneBlock(ByteView(seed, 32), "STORAGE", ByteView(ak_name, 34), 128, sym) ||
      !KdfaOneBlock(ByteView(seed, 32), "INTEGRITY", {}, 256, hmac_key)) {
    return Fail("KDFa");
  }
  uint8_t plain[34] = {0, 32}, enc[34];
  std::memcpy(plain + 2, secret, 32);
  CipherCtxPtr cc(EVP_CIPHER_CTX_new());
  uint8_t iv[16] = {};
  int l1 = 0, l2 = 0;
  if (!cc || EVP_EncryptInit_ex(cc.get(), EVP_aes_128_cfb128(), nullptr, sym, iv) != 1 ||
      EVP_EncryptUpdate(cc.get(), enc, &l1, plain, 34) != 1 ||
      EVP_EncryptFinal_ex(cc.get(), enc + l1, &l2) != 1) {
    return Fail("AES-CFB");
  }
  uint8_t mac_in[68], mac[32];
  std::memcpy(mac_in, enc, 34);
  std::memcpy(mac_in + 34, ak_name, 34);
  unsigned maclen = 32;
  if (HMAC(EVP_sha256(), hmac_key, 32, mac_in, sizeof mac_in, mac, &maclen) == nullptr)
    return Fail("HMAC");
  // Complete: quote signature and PCR digest.
  MdCtxPtr md(EVP_MD_CTX_new());
  if (!md || EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, f.ak.get()) != 1 ||
      EVP_DigestVerify(md.get(), f.sig_der.data(), f.sig_der.size(), f.attest.data(),
                       f.attest.size()) != 1) {
    return Fail("ECDSA verify of the quote");
  }
  if (!Sha256(f.pcr_concat, h)) return Fail("PCR digest");
  return OkStatus();
}

struct Evidence {
  std::unique_ptr<testing::Swtpm> swtpm;  // keeps the TPM alive while capturing
  attest::TrustStore trust;
  std::string root_pem, inter_pem;
  std::unique_ptr<attest::Tpm> tpm;
  std::unique_ptr<testing::SoftTpm> soft;
};

Result<std::unique_ptr<Evidence>> OpenEvidence(const BenchConfig& cfg, Reporter& out) {
  auto e = std::make_unique<Evidence>();
  if (cfg.swtpm) {
    TPMESH_ASSIGN_OR_RETURN(e->swtpm, testing::Swtpm::Start());
    TPMESH_ASSIGN_OR_RETURN(auto root, testing::ReadFileBytes(e->swtpm->ca_root_pem()));
    TPMESH_ASSIGN_OR_RETURN(auto inter, testing::ReadFileBytes(e->swtpm->ca_intermediate_pem()));
    e->root_pem.assign(root.begin(), root.end());
    e->inter_pem.assign(inter.begin(), inter.end());
    TPMESH_ASSIGN_OR_RETURN(e->tpm, attest::OpenTpm(e->swtpm->tcti()));
    out.Note("evidence from a real swtpm (" + e->swtpm->tcti() + ")");
  } else {
    e->soft = std::make_unique<testing::SoftTpm>("bench-verify");
    e->root_pem = testing::SoftTpm::TrustedRoot().Pem();
    out.Note("evidence from SoftTpm (--no-swtpm): not the reported configuration");
  }
  TPMESH_RETURN_IF_ERROR(e->trust.AddPem(e->root_pem));
  if (!e->inter_pem.empty()) TPMESH_RETURN_IF_ERROR(e->trust.AddPem(e->inter_pem));
  return e;
}

}  // namespace

Status RunEnrollVerify(const BenchConfig& cfg, Reporter& out) {
  TPMESH_ASSIGN_OR_RETURN(auto ev, OpenEvidence(cfg, out));
  attest::Tpm& tpm = ev->tpm ? *ev->tpm : static_cast<attest::Tpm&>(*ev->soft);
  attest::VerifierOptions vopts;
  vopts.allow_software_tpm = true;  // swtpm's EK certs say "swtpm" (dev mode)
  attest::Verifier verifier(ev->trust, vopts, SystemClock::Instance(), SystemRandom::Instance());
  TPMESH_ASSIGN_OR_RETURN(auto ak, tpm.CreateAk(KeyAlg::kEccP256));

  const auto window = cfg.window();
  const int min_iters = cfg.selftest ? 16 : 200;
  for (KeyAlg alg : {KeyAlg::kRsa2048, KeyAlg::kEccP256}) {
    const std::string suffix = alg == KeyAlg::kRsa2048 ? "" : "_ecc_ek";
    TPMESH_ASSIGN_OR_RETURN(auto cap, Capture(tpm, alg, ak, verifier));
    TPMESH_ASSIGN_OR_RETURN(auto first, verifier.Begin(cap.evidence));
    const Bytes secret(32, 0x42);
    const attest::PendingChallenge pending = FixedPending(cap, first.second, secret);
    const attest::ChallengeResponse response{SecretBytes(ByteView(secret)), cap.quote};
    // The fixed challenge must verify, and a wrong secret must not.
    if (auto r = verifier.Complete(pending, response, &cap.policy); !r.ok()) {
      return BenchError("captured quote does not verify: " + r.error().ToString());
    }
    const attest::ChallengeResponse wrong{SecretBytes(Bytes(32, 0x43)), cap.quote};
    if (verifier.Complete(pending, wrong, &cap.policy).ok())
      return BenchError("wrong secret accepted");

    auto begin = [&]() -> Status {
      return verifier.Begin(cap.evidence).ok() ? OkStatus() : BenchError("Begin failed");
    };
    auto complete = [&]() -> Status {
      auto r = verifier.Complete(pending, response, &cap.policy);
      return r.ok() ? OkStatus() : r.take_error();
    };
    auto both = [&]() -> Status {
      TPMESH_RETURN_IF_ERROR(begin());
      return complete();
    };
    TPMESH_ASSIGN_OR_RETURN(double t_begin, TimePerOp(window / 2, min_iters, begin));
    TPMESH_ASSIGN_OR_RETURN(double t_complete, TimePerOp(window / 2, min_iters, complete));
    TPMESH_ASSIGN_OR_RETURN(double t_both, TimePerOp(window, min_iters, both));

    // The chain's intermediate: from the trust dir (swtpm) or the node (SoftTpm).
    TPMESH_ASSIGN_OR_RETURN(auto floor, MakeFloor(cap, ev->root_pem, ev->inter_pem));
    if (ev->inter_pem.empty() && !cap.evidence.intermediates.empty()) {
      const Bytes& d = cap.evidence.intermediates[0];
      const uint8_t* p = d.data();
      floor.intermediate.reset(d2i_X509(nullptr, &p, static_cast<long>(d.size())));
    }
    if (!floor.intermediate) return BenchError("floor: no intermediate certificate");
    TPMESH_ASSIGN_OR_RETURN(double t_floor,
                            TimePerOp(window, min_iters, [&] { return FloorOnce(floor); }));

    out.Emit("enroll_verify_begin_us" + suffix, t_begin * 1e6, "us");
    out.Emit("enroll_verify_complete_us" + suffix, t_complete * 1e6, "us");
    out.Emit("enroll_verify_per_s" + suffix, 1.0 / t_both, "per_s");
    out.Emit("crypto_floor_per_s" + suffix, 1.0 / t_floor, "per_s");
    out.Emit("enroll_verify_fraction" + suffix, t_floor / t_both, "ratio");
  }
  return OkStatus();
}

}  // namespace tpmesh::bench
