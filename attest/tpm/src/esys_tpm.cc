// OpenTpm: the Tpm interface over tpm2-tss ESAPI (see tpm.h for the contract).
//
// Every transient object and session lives in a FlushGuard, so it is flushed
// on every return path; NV handles live in a TrCloseGuard. swtpm (libtpms)
// has only 3 transient object slots, so no call holds more than 3 objects at
// once (LoadAk flushes the SRK as soon as the AK is loaded).
#include "esys_tpm.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "esys_templates.h"
#include "esys_util.h"
#include "tpmesh/attest/checks.h"
#include "tpmesh/attest/tpm.h"

namespace tpmesh::attest {
namespace internal {
namespace {

using esys::EsysOut;
using esys::FlushGuard;
using esys::Marshal;
using esys::TpmError;
using esys::TrCloseGuard;
using esys::UnmarshalExact;

Error Unavailable(const std::string& tcti, const std::string& step, TSS2_RC rc) {
  return MakeError(
      Code::kUnavailable, "tpm_unavailable",
      "cannot reach the TPM through TCTI '" + tcti + "' (" + step + ": " + Tss2_RC_Decode(rc) +
          "); check that the TPM device exists and this user may open it (device:/dev/tpmrm0 "
          "is usually group 'tss'), or that the TPM simulator is running and listening on the "
          "host/port given (swtpm:host=...,port=...)");
}

// Splits NV contents into DER certificates; bytes after the last certificate
// that parses are dropped when they are padding (all 0x00 or 0xff), kept as
// one more entry otherwise (the verifier then reports them as malformed).
std::vector<Bytes> SplitDerCerts(const Bytes& data) {
  std::vector<Bytes> certs;
  size_t pos = 0;
  while (pos < data.size()) {
    const unsigned char* p = data.data() + pos;
    X509* cert = d2i_X509(nullptr, &p, static_cast<long>(data.size() - pos));
    if (cert == nullptr) break;
    X509_free(cert);
    const size_t used = static_cast<size_t>(p - (data.data() + pos));
    certs.emplace_back(data.begin() + pos, data.begin() + pos + used);
    pos += used;
  }
  ERR_clear_error();
  const bool padding =
      std::all_of(data.begin() + pos, data.end(), [](uint8_t b) { return b == 0x00 || b == 0xff; });
  if (!padding) certs.emplace_back(data.begin() + pos, data.end());
  return certs;
}

// Owns the ESYS-allocated TPM2B_DIGEST returned by ActivateCredential and
// wipes it before freeing.
class SecretDigestOut {
 public:
  SecretDigestOut() = default;
  SecretDigestOut(const SecretDigestOut&) = delete;
  SecretDigestOut& operator=(const SecretDigestOut&) = delete;
  ~SecretDigestOut() {
    if (p_ != nullptr) OPENSSL_cleanse(p_, sizeof(*p_));
    Esys_Free(p_);
  }
  TPM2B_DIGEST** out() { return &p_; }
  const TPM2B_DIGEST* get() const { return p_; }

 private:
  TPM2B_DIGEST* p_ = nullptr;
};

}  // namespace

Status EsysTpm::Init() {
  uint32_t buffer_max = 0;
  TSS2_RC rc = GetPropertyRaw(TPM2_PT_NV_BUFFER_MAX, &buffer_max);
  if (esys::BaseRc(rc) == TPM2_RC_INITIALIZE) {
    // Nobody ran TPM2_Startup yet (a bare simulator): do it now.
    rc = Esys_Startup(ctx_, TPM2_SU_CLEAR);
    if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_Startup", rc);
    rc = GetPropertyRaw(TPM2_PT_NV_BUFFER_MAX, &buffer_max);
  }
  if (esys::IsTctiError(rc)) return Unavailable(tcti_, "GetCapability", rc);
  if (rc != TSS2_RC_SUCCESS) return TpmError("GetCapability(TPM_PT_NV_BUFFER_MAX)", rc);
  if (buffer_max != 0)
    nv_buffer_max_ = static_cast<uint16_t>(std::min<uint32_t>(buffer_max, 0xffff));
  return OkStatus();
}

TSS2_RC EsysTpm::GetPropertyRaw(TPM2_PT property, uint32_t* value) {
  TPMI_YES_NO more = TPM2_NO;
  EsysOut<TPMS_CAPABILITY_DATA> data;
  TSS2_RC rc = Esys_GetCapability(ctx_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                  TPM2_CAP_TPM_PROPERTIES, property, 1, &more, data.out());
  if (rc != TSS2_RC_SUCCESS) return rc;
  const TPML_TAGGED_TPM_PROPERTY& props = data->data.tpmProperties;
  *value = (props.count == 0 || props.tpmProperty[0].property != property)
               ? 0
               : props.tpmProperty[0].value;
  return TSS2_RC_SUCCESS;
}

Result<std::vector<TPM2_HANDLE>> EsysTpm::ListHandles(TPM2_HANDLE first, TPM2_HANDLE last) {
  std::vector<TPM2_HANDLE> handles;
  TPM2_HANDLE next = first;
  for (;;) {
    TPMI_YES_NO more = TPM2_NO;
    EsysOut<TPMS_CAPABILITY_DATA> data;
    TSS2_RC rc =
        Esys_GetCapability(ctx_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES, next,
                           TPM2_MAX_CAP_HANDLES, &more, data.out());
    if (rc != TSS2_RC_SUCCESS) return TpmError("GetCapability(HANDLES)", rc);
    const TPML_HANDLE& list = data->data.handles;
    bool past_end = false;
    for (uint32_t i = 0; i < list.count; ++i) {
      if (list.handle[i] > last) {
        past_end = true;
        break;
      }
      if (list.handle[i] >= first) handles.push_back(list.handle[i]);
    }
    if (!more || past_end || list.count == 0 || list.handle[list.count - 1] >= last) break;
    next = list.handle[list.count - 1] + 1;
  }
  return handles;
}

Status EsysTpm::CreatePrimary(ESYS_TR hierarchy, const TPM2B_PUBLIC& tmpl, const std::string& step,
                              FlushGuard& handle, EsysOut<TPM2B_PUBLIC>* out_public) {
  TPM2B_SENSITIVE_CREATE sensitive{};
  TPM2B_DATA outside{};
  TPML_PCR_SELECTION creation_pcr{};
  EsysOut<TPM2B_PUBLIC> pub;
  EsysOut<TPM2B_CREATION_DATA> creation_data;
  EsysOut<TPM2B_DIGEST> creation_hash;
  EsysOut<TPMT_TK_CREATION> creation_ticket;
  TSS2_RC rc = Esys_CreatePrimary(ctx_, hierarchy, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                  &sensitive, &tmpl, &outside, &creation_pcr, handle.out(),
                                  (out_public ? out_public : &pub)->out(), creation_data.out(),
                                  creation_hash.out(), creation_ticket.out());
  if (rc != TSS2_RC_SUCCESS) return TpmError(step, rc);
  return OkStatus();
}

Status EsysTpm::LoadAk(const AkBlob& ak, FlushGuard& handle) {
  TPM2B_PUBLIC pub{};
  TPMESH_RETURN_IF_ERROR(
      UnmarshalExact(Tss2_MU_TPM2B_PUBLIC_Unmarshal, ak.public_area, &pub, "ak.public_area"));
  TPM2B_PRIVATE priv{};
  TPMESH_RETURN_IF_ERROR(
      UnmarshalExact(Tss2_MU_TPM2B_PRIVATE_Unmarshal, ak.private_area, &priv, "ak.private_area"));
  const TPMI_ALG_PUBLIC want = ak.alg == KeyAlg::kRsa2048 ? TPM2_ALG_RSA : TPM2_ALG_ECC;
  if (pub.publicArea.type != want) {
    return Malformed(std::string("ak.public_area: key type does not match the blob's alg ") +
                     KeyAlgName(ak.alg));
  }
  FlushGuard srk(ctx_);
  TPMESH_RETURN_IF_ERROR(
      CreatePrimary(ESYS_TR_RH_OWNER, esys::SrkTemplate(), "creating the SRK", srk, nullptr));
  TSS2_RC rc = Esys_Load(ctx_, srk.get(), ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub,
                         handle.out());
  if (rc != TSS2_RC_SUCCESS) {
    const TSS2_RC code = rc & ~TSS2_RC_LAYER_MASK;
    if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER && (code & TPM2_RC_FMT1) &&
        (code & TPM2_RC_P)) {
      return MakeError(Code::kInvalidArgument, "tpm_ak_invalid",
                       std::string("the TPM rejected the AK blob (") + Tss2_RC_Decode(rc) +
                           "): it was made by another TPM, or the owner hierarchy was cleared "
                           "since; create a new AK");
    }
    return TpmError("loading the AK", rc);
  }
  return OkStatus();
}

Result<Bytes> EsysTpm::ReadNvWith(ESYS_TR auth, ESYS_TR nv, uint16_t size, TPM2_HANDLE index) {
  Bytes out;
  out.reserve(size);
  while (out.size() < size) {
    const uint16_t offset = static_cast<uint16_t>(out.size());
    const uint16_t chunk = std::min<uint16_t>(nv_buffer_max_, size - offset);
    EsysOut<TPM2B_MAX_NV_BUFFER> data;
    TSS2_RC rc = Esys_NV_Read(ctx_, auth, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, chunk,
                              offset, data.out());
    char what[96];
    std::snprintf(what, sizeof(what), "NV_Read of index 0x%08x at offset %u", index, offset);
    if (rc != TSS2_RC_SUCCESS) return TpmError(what, rc);
    if (data->size == 0 || data->size > chunk) {
      return MakeError(Code::kInternal, "tpm_error",
                       std::string(what) + " returned " + std::to_string(data->size) +
                           " bytes, asked for " + std::to_string(chunk));
    }
    out.insert(out.end(), data->buffer, data->buffer + data->size);
  }
  return out;
}

Result<std::optional<Bytes>> EsysTpm::ReadNv(TPM2_HANDLE index) {
  TrCloseGuard nv(ctx_);
  TSS2_RC rc =
      Esys_TR_FromTPMPublic(ctx_, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, nv.out());
  if (rc != TSS2_RC_SUCCESS) {
    if (esys::BaseRc(rc) == TPM2_RC_HANDLE) return std::optional<Bytes>();
    return TpmError("NV_ReadPublic", rc);
  }
  EsysOut<TPM2B_NV_PUBLIC> pub;
  EsysOut<TPM2B_NAME> name;
  rc = Esys_NV_ReadPublic(ctx_, nv.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, pub.out(),
                          name.out());
  if (rc != TSS2_RC_SUCCESS) return TpmError("NV_ReadPublic", rc);
  if (!(pub->nvPublic.attributes & TPMA_NV_WRITTEN) || pub->nvPublic.dataSize == 0) {
    return std::optional<Bytes>();
  }
  // The index's own (empty) auth first, as the EK profile intends; owner
  // auth for indices defined without TPMA_NV_AUTHREAD.
  auto data = ReadNvWith(nv.get(), nv.get(), pub->nvPublic.dataSize, index);
  if (!data.ok() && data.error().code != Code::kUnavailable) {
    auto with_owner = ReadNvWith(ESYS_TR_RH_OWNER, nv.get(), pub->nvPublic.dataSize, index);
    if (with_owner.ok()) return std::optional<Bytes>(std::move(*with_owner));
  }
  if (!data.ok()) return data.take_error();
  return std::optional<Bytes>(std::move(*data));
}

Result<EkBundle> EsysTpm::ReadEk(KeyAlg alg) {
  EkBundle bundle;
  bundle.alg = alg;
  {
    FlushGuard ek(ctx_);
    EsysOut<TPM2B_PUBLIC> pub;
    TPMESH_RETURN_IF_ERROR(CreatePrimary(ESYS_TR_RH_ENDORSEMENT, esys::EkTemplate(alg),
                                         std::string("creating the ") + KeyAlgName(alg) + " EK", ek,
                                         &pub));
    TPMESH_ASSIGN_OR_RETURN(bundle.ek_public,
                            Marshal(Tss2_MU_TPM2B_PUBLIC_Marshal, *pub.get(), "EK public"));
  }
  TPMESH_ASSIGN_OR_RETURN(auto nv_handles, ListHandles(TPM2_NV_INDEX_FIRST, TPM2_NV_INDEX_LAST));
  const TPM2_HANDLE cert_index = alg == KeyAlg::kRsa2048 ? kNvEkCertRsa2048 : kNvEkCertEccP256;
  for (TPM2_HANDLE h : nv_handles) {
    if (h == cert_index) {
      TPMESH_ASSIGN_OR_RETURN(auto cert, ReadNv(h));
      if (cert) {
        // Drop NV padding after the DER certificate; keep unparsable data as is.
        std::vector<Bytes> parts = SplitDerCerts(*cert);
        bundle.ek_cert_der = parts.empty() ? std::move(*cert) : std::move(parts.front());
      }
    } else if (h >= kNvEkIntermediateFirst && h <= kNvEkIntermediateLast) {
      TPMESH_ASSIGN_OR_RETURN(auto chain, ReadNv(h));
      if (!chain) continue;
      for (Bytes& c : SplitDerCerts(*chain)) bundle.intermediates.push_back(std::move(c));
    }
  }
  return bundle;
}

Result<AkBlob> EsysTpm::CreateAk(KeyAlg alg) {
  FlushGuard srk(ctx_);
  TPMESH_RETURN_IF_ERROR(
      CreatePrimary(ESYS_TR_RH_OWNER, esys::SrkTemplate(), "creating the SRK", srk, nullptr));
  const TPM2B_PUBLIC tmpl = esys::AkTemplate(alg);
  TPM2B_SENSITIVE_CREATE sensitive{};
  TPM2B_DATA outside{};
  TPML_PCR_SELECTION creation_pcr{};
  EsysOut<TPM2B_PRIVATE> priv;
  EsysOut<TPM2B_PUBLIC> pub;
  EsysOut<TPM2B_CREATION_DATA> creation_data;
  EsysOut<TPM2B_DIGEST> creation_hash;
  EsysOut<TPMT_TK_CREATION> creation_ticket;
  TSS2_RC rc = Esys_Create(ctx_, srk.get(), ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                           &sensitive, &tmpl, &outside, &creation_pcr, priv.out(), pub.out(),
                           creation_data.out(), creation_hash.out(), creation_ticket.out());
  if (rc != TSS2_RC_SUCCESS) return TpmError("creating the AK", rc);
  AkBlob blob;
  blob.alg = alg;
  TPMESH_ASSIGN_OR_RETURN(blob.public_area,
                          Marshal(Tss2_MU_TPM2B_PUBLIC_Marshal, *pub.get(), "AK public"));
  TPMESH_ASSIGN_OR_RETURN(blob.private_area,
                          Marshal(Tss2_MU_TPM2B_PRIVATE_Marshal, *priv.get(), "AK private"));
  return blob;
}

Result<SecretBytes> EsysTpm::ActivateCredential(const AkBlob& ak, KeyAlg ek_alg,
                                                const Credential& credential) {
  TPM2B_ID_OBJECT id_object{};
  TPMESH_RETURN_IF_ERROR(UnmarshalExact(Tss2_MU_TPM2B_ID_OBJECT_Unmarshal, credential.id_object,
                                        &id_object, "credential.id_object"));
  TPM2B_ENCRYPTED_SECRET secret{};
  TPMESH_RETURN_IF_ERROR(UnmarshalExact(Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal,
                                        credential.encrypted_secret, &secret,
                                        "credential.encrypted_secret"));
  FlushGuard ek(ctx_);
  TPMESH_RETURN_IF_ERROR(CreatePrimary(ESYS_TR_RH_ENDORSEMENT, esys::EkTemplate(ek_alg),
                                       std::string("creating the ") + KeyAlgName(ek_alg) + " EK",
                                       ek, nullptr));
  FlushGuard ak_handle(ctx_);
  TPMESH_RETURN_IF_ERROR(LoadAk(ak, ak_handle));

  // The EK's authPolicy is PolicySecret(TPM_RH_ENDORSEMENT). nonceTPM, cpHash
  // and policyRef stay empty (a cpHash would bind the session to one command;
  // see tpm2-tss#2512).
  FlushGuard session(ctx_);
  TPMT_SYM_DEF sym{};
  sym.algorithm = TPM2_ALG_AES;
  sym.keyBits.aes = 128;
  sym.mode.aes = TPM2_ALG_CFB;
  TSS2_RC rc = Esys_StartAuthSession(ctx_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                     ESYS_TR_NONE, nullptr, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256,
                                     session.out());
  if (rc != TSS2_RC_SUCCESS) return TpmError("starting the EK policy session", rc);
  // Keep the session after use so that the guard, not the TPM, ends it.
  rc = Esys_TRSess_SetAttributes(ctx_, session.get(), TPMA_SESSION_CONTINUESESSION,
                                 TPMA_SESSION_CONTINUESESSION);
  if (rc != TSS2_RC_SUCCESS) return TpmError("setting session attributes", rc);
  TPM2B_NONCE nonce_tpm{};
  TPM2B_DIGEST cp_hash{};
  TPM2B_NONCE policy_ref{};
  EsysOut<TPM2B_TIMEOUT> timeout;
  EsysOut<TPMT_TK_AUTH> ticket;
  rc = Esys_PolicySecret(ctx_, ESYS_TR_RH_ENDORSEMENT, session.get(), ESYS_TR_PASSWORD,
                         ESYS_TR_NONE, ESYS_TR_NONE, &nonce_tpm, &cp_hash, &policy_ref, 0,
                         timeout.out(), ticket.out());
  if (rc != TSS2_RC_SUCCESS) return TpmError("PolicySecret(endorsement)", rc);

  SecretDigestOut cert_info;
  rc = Esys_ActivateCredential(ctx_, ak_handle.get(), ek.get(), ESYS_TR_PASSWORD, session.get(),
                               ESYS_TR_NONE, &id_object, &secret, cert_info.out());
  if (rc != TSS2_RC_SUCCESS) {
    const TSS2_RC code = rc & ~TSS2_RC_LAYER_MASK;
    if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER && (code & TPM2_RC_FMT1) &&
        (code & TPM2_RC_P)) {
      return MakeError(Code::kInvalidArgument, "tpm_activation_failed",
                       std::string("the TPM rejected the credential (") + Tss2_RC_Decode(rc) +
                           "): it was not made for this EK and AK, or it was altered");
    }
    if (esys::BaseRc(rc) == TPM2_RC_FAILURE) {
      // libtpms answers an RSA seed that fails OAEP decoding with
      // TPM_RC_FAILURE instead of TPM_RC_VALUE. If the TPM still answers,
      // it is not in failure mode: the input was at fault.
      uint32_t ignored = 0;
      if (GetPropertyRaw(TPM2_PT_NV_BUFFER_MAX, &ignored) == TSS2_RC_SUCCESS) {
        return MakeError(Code::kInvalidArgument, "tpm_activation_failed",
                         "the TPM could not decrypt the credential's seed with the EK: it was "
                         "not made for this EK, or it was altered");
      }
    }
    return TpmError("ActivateCredential", rc);
  }
  return SecretBytes(ByteView(cert_info.get()->buffer, cert_info.get()->size));
}

Result<size_t> EsysTpm::TransientHandleCount() {
  TPMESH_ASSIGN_OR_RETURN(auto objects, ListHandles(TPM2_TRANSIENT_FIRST, TPM2_TRANSIENT_LAST));
  // TPM_HT_LOADED_SESSION lists loaded HMAC and policy sessions.
  TPMESH_ASSIGN_OR_RETURN(auto sessions,
                          ListHandles(TPM2_LOADED_SESSION_FIRST, TPM2_POLICY_SESSION_LAST));
  return objects.size() + sessions.size();
}

}  // namespace internal

Result<std::unique_ptr<Tpm>> OpenTpm(const std::string& tcti) {
  TSS2_TCTI_CONTEXT* tcti_ctx = nullptr;
  TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti.c_str(), &tcti_ctx);
  if (rc != TSS2_RC_SUCCESS) return internal::Unavailable(tcti, "opening the TCTI", rc);
  ESYS_CONTEXT* ctx = nullptr;
  rc = Esys_Initialize(&ctx, tcti_ctx, nullptr);
  if (rc != TSS2_RC_SUCCESS) {
    Tss2_TctiLdr_Finalize(&tcti_ctx);
    return internal::Unavailable(tcti, "Esys_Initialize", rc);
  }
  auto tpm = std::make_unique<internal::EsysTpm>(tcti, tcti_ctx, ctx);
  TPMESH_RETURN_IF_ERROR(tpm->Init());
  return std::unique_ptr<Tpm>(std::move(tpm));
}

}  // namespace tpmesh::attest
