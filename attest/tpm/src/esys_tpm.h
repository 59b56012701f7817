// Internal: EsysTpm, the Tpm interface over tpm2-tss ESAPI (tpm.h has the
// contract; OpenTpm makes one). esys_tpm.cc holds keys, NV and credential
// activation; esys_tpm_pcr.cc PCR reads, quotes and extends. Not public.
#pragma once

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include <optional>
#include <string>
#include <vector>

#include "esys_util.h"
#include "tpmesh/attest/tpm.h"

namespace tpmesh::attest::internal {

inline constexpr uint16_t kNvBufferFallback = 512;

struct PcrSnapshot {
  PcrValues values;
  uint32_t update_counter = 0;
  bool consistent = true;  // the counter did not change between PCR_Read calls
  bool operator==(const PcrSnapshot& o) const {
    return values == o.values && update_counter == o.update_counter;
  }
};

class EsysTpm final : public Tpm {
 public:
  EsysTpm(std::string tcti, TSS2_TCTI_CONTEXT* tcti_ctx, ESYS_CONTEXT* ctx)
      : tcti_(std::move(tcti)), tcti_ctx_(tcti_ctx), ctx_(ctx) {}
  EsysTpm(const EsysTpm&) = delete;
  EsysTpm& operator=(const EsysTpm&) = delete;
  ~EsysTpm() override {
    Esys_Finalize(&ctx_);
    Tss2_TctiLdr_Finalize(&tcti_ctx_);
  }

  // Probes the TPM (starting it up if nobody has) and reads NV_BUFFER_MAX.
  Status Init();

  Result<EkBundle> ReadEk(KeyAlg alg) override;
  Result<AkBlob> CreateAk(KeyAlg alg) override;
  Result<SecretBytes> ActivateCredential(const AkBlob& ak, KeyAlg ek_alg,
                                         const Credential& credential) override;
  Result<QuoteEvidence> Quote(const AkBlob& ak, const PcrSelection& selection,
                              ByteView nonce) override;
  Result<PcrValues> ReadPcrs(const PcrSelection& selection) override;
  Status ExtendPcr(uint32_t pcr, ByteView digest) override;
  Result<size_t> TransientHandleCount() override;

 private:
  // A TPM_PT property's value (0 when the TPM does not report it).
  TSS2_RC GetPropertyRaw(TPM2_PT property, uint32_t* value);
  Result<std::vector<TPM2_HANDLE>> ListHandles(TPM2_HANDLE first, TPM2_HANDLE last);
  Status CreatePrimary(ESYS_TR hierarchy, const TPM2B_PUBLIC& tmpl, const std::string& step,
                       esys::FlushGuard& handle, esys::EsysOut<TPM2B_PUBLIC>* out_public);
  // Loads `ak` under a freshly created SRK (flushed again before returning).
  Status LoadAk(const AkBlob& ak, esys::FlushGuard& handle);
  // Whole contents of an NV index; nullopt when absent or never written.
  Result<std::optional<Bytes>> ReadNv(TPM2_HANDLE index);
  Result<Bytes> ReadNvWith(ESYS_TR auth, ESYS_TR nv, uint16_t size, TPM2_HANDLE index);
  Result<PcrSnapshot> ReadPcrSnapshot(const PcrSelection& selection);

  std::string tcti_;
  TSS2_TCTI_CONTEXT* tcti_ctx_;
  ESYS_CONTEXT* ctx_;
  uint16_t nv_buffer_max_ = kNvBufferFallback;
};

}  // namespace tpmesh::attest::internal
