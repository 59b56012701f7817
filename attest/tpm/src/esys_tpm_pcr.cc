// EsysTpm: PCR reads (consistent snapshots), quotes and PCR extends
// (esys_tpm.h).
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>

#include <cstring>
#include <set>

#include "esys_tpm.h"
#include "esys_util.h"
#include "tpmesh/attest/checks.h"

namespace tpmesh::attest::internal {
namespace {

using esys::EsysOut;
using esys::FlushGuard;
using esys::Marshal;
using esys::TpmError;

constexpr int kPcrAttempts = 5;
constexpr uint32_t kPcrCount = 24;

Result<TPMI_ALG_HASH> BankAlg(HashAlg bank) {
  switch (bank) {
    case HashAlg::kSha1: return static_cast<TPMI_ALG_HASH>(TPM2_ALG_SHA1);
    case HashAlg::kSha256: return static_cast<TPMI_ALG_HASH>(TPM2_ALG_SHA256);
    case HashAlg::kSha384: return static_cast<TPMI_ALG_HASH>(TPM2_ALG_SHA384);
  }
  return MakeError(Code::kInvalidArgument, "unknown_hash_alg", "unknown PCR bank");
}

Status CheckPcrIndices(const std::vector<uint32_t>& pcrs) {
  for (uint32_t pcr : pcrs) {
    if (pcr >= kPcrCount) {
      return MakeError(Code::kInvalidArgument, "pcr_out_of_range",
                       "PCR " + std::to_string(pcr) + " does not exist (PCRs are 0..23)");
    }
  }
  return OkStatus();
}

TPML_PCR_SELECTION ToTpml(TPMI_ALG_HASH bank, const std::set<uint32_t>& pcrs) {
  TPML_PCR_SELECTION sel{};
  sel.count = 1;
  sel.pcrSelections[0].hash = bank;
  sel.pcrSelections[0].sizeofSelect = 3;
  for (uint32_t pcr : pcrs) sel.pcrSelections[0].pcrSelect[pcr / 8] |= (1u << (pcr % 8));
  return sel;
}

}  // namespace

Result<PcrSnapshot> EsysTpm::ReadPcrSnapshot(const PcrSelection& selection) {
  TPMESH_RETURN_IF_ERROR(CheckPcrIndices(selection.pcrs));
  TPMESH_ASSIGN_OR_RETURN(const TPMI_ALG_HASH bank, BankAlg(selection.bank));
  const size_t digest_size = HashAlgSize(selection.bank);
  std::set<uint32_t> remaining(selection.pcrs.begin(), selection.pcrs.end());
  PcrSnapshot snap;
  bool first = true;
  // PCR_Read returns at most 8 digests per call: repeat for the rest.
  do {
    const TPML_PCR_SELECTION in = ToTpml(bank, remaining);
    uint32_t counter = 0;
    EsysOut<TPML_PCR_SELECTION> out_sel;
    EsysOut<TPML_DIGEST> digests;
    TSS2_RC rc = Esys_PCR_Read(ctx_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &in, &counter,
                               out_sel.out(), digests.out());
    if (rc != TSS2_RC_SUCCESS) return TpmError("PCR_Read", rc);
    if (first) snap.update_counter = counter;
    if (counter != snap.update_counter) snap.consistent = false;
    first = false;
    uint32_t k = 0;
    size_t got = 0;
    for (uint32_t s = 0; s < out_sel->count; ++s) {
      const TPMS_PCR_SELECTION& ps = out_sel->pcrSelections[s];
      for (uint32_t pcr = 0; pcr < ps.sizeofSelect * 8u; ++pcr) {
        if (!(ps.pcrSelect[pcr / 8] & (1u << (pcr % 8)))) continue;
        if (k >= digests->count) {
          return MakeError(Code::kInternal, "tpm_error",
                           "PCR_Read returned fewer digests than "
                           "PCRs selected");
        }
        const TPM2B_DIGEST& d = digests->digests[k++];
        if (ps.hash != bank || !remaining.count(pcr)) continue;
        if (d.size != digest_size) {
          return MakeError(Code::kInternal, "tpm_error",
                           "PCR_Read returned a " + std::to_string(d.size) + "-byte digest for " +
                               HashAlgName(selection.bank) + " PCR " + std::to_string(pcr));
        }
        snap.values[pcr] = Bytes(d.buffer, d.buffer + d.size);
        remaining.erase(pcr);
        ++got;
      }
    }
    if (got == 0 && !remaining.empty()) {
      return MakeError(Code::kFailedPrecondition, "pcr_bank_unavailable",
                       std::string("the TPM returned no ") + HashAlgName(selection.bank) +
                           " PCR values: that bank is not allocated on this TPM");
    }
  } while (!remaining.empty());
  return snap;
}

Result<PcrValues> EsysTpm::ReadPcrs(const PcrSelection& selection) {
  for (int attempt = 0; attempt < kPcrAttempts; ++attempt) {
    TPMESH_ASSIGN_OR_RETURN(PcrSnapshot snap, ReadPcrSnapshot(selection));
    if (snap.consistent) return std::move(snap.values);
  }
  return MakeError(Code::kAborted, "pcrs_unstable",
                   "PCRs kept changing while being read (" + std::to_string(kPcrAttempts) +
                       " attempts); retry later");
}

Result<QuoteEvidence> EsysTpm::Quote(const AkBlob& ak, const PcrSelection& selection,
                                     ByteView nonce) {
  TPM2B_DATA qualifying{};
  if (nonce.size() > sizeof(qualifying.buffer)) {
    return MakeError(Code::kInvalidArgument, "nonce_too_long",
                     "quote nonce is " + std::to_string(nonce.size()) + " bytes; at most " +
                         std::to_string(sizeof(qualifying.buffer)) + " fit in qualifyingData");
  }
  qualifying.size = static_cast<uint16_t>(nonce.size());
  if (!nonce.empty()) std::memcpy(qualifying.buffer, nonce.data(), nonce.size());
  TPMESH_RETURN_IF_ERROR(CheckPcrIndices(selection.pcrs));
  TPMESH_ASSIGN_OR_RETURN(const TPMI_ALG_HASH bank, BankAlg(selection.bank));
  const TPML_PCR_SELECTION pcr_select =
      ToTpml(bank, std::set<uint32_t>(selection.pcrs.begin(), selection.pcrs.end()));
  TPMT_SIG_SCHEME scheme{};
  scheme.scheme = TPM2_ALG_NULL;  // the AK's own scheme

  FlushGuard ak_handle(ctx_);
  TPMESH_RETURN_IF_ERROR(LoadAk(ak, ak_handle));
  for (int attempt = 0; attempt < kPcrAttempts; ++attempt) {
    TPMESH_ASSIGN_OR_RETURN(PcrSnapshot before, ReadPcrSnapshot(selection));
    EsysOut<TPM2B_ATTEST> quoted;
    EsysOut<TPMT_SIGNATURE> signature;
    TSS2_RC rc = Esys_Quote(ctx_, ak_handle.get(), ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                            &qualifying, &scheme, &pcr_select, quoted.out(), signature.out());
    if (rc != TSS2_RC_SUCCESS) return TpmError("Quote", rc);
    TPMESH_ASSIGN_OR_RETURN(PcrSnapshot after, ReadPcrSnapshot(selection));
    if (!before.consistent || !after.consistent || !(before == after)) continue;
    QuoteEvidence ev;
    ev.attest.assign(quoted->attestationData, quoted->attestationData + quoted->size);
    TPMESH_ASSIGN_OR_RETURN(
        ev.signature, Marshal(Tss2_MU_TPMT_SIGNATURE_Marshal, *signature.get(), "quote signature"));
    ev.selection = selection;
    ev.pcr_values = std::move(before.values);
    return ev;
  }
  return MakeError(Code::kAborted, "pcrs_unstable",
                   "PCRs kept changing while quoting (" + std::to_string(kPcrAttempts) +
                       " attempts); retry later");
}

Status EsysTpm::ExtendPcr(uint32_t pcr, ByteView digest) {
  TPMESH_RETURN_IF_ERROR(CheckPcrIndices({pcr}));
  if (digest.size() != TPM2_SHA256_DIGEST_SIZE) {
    return MakeError(Code::kInvalidArgument, "digest_size_invalid",
                     "PCR extend digest is " + std::to_string(digest.size()) +
                         " bytes; the sha256 bank needs 32");
  }
  TPML_DIGEST_VALUES values{};
  values.count = 1;
  values.digests[0].hashAlg = TPM2_ALG_SHA256;
  std::memcpy(values.digests[0].digest.sha256, digest.data(), digest.size());
  TSS2_RC rc = Esys_PCR_Extend(ctx_, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                               ESYS_TR_NONE, &values);
  if (rc != TSS2_RC_SUCCESS) return TpmError("PCR_Extend of PCR " + std::to_string(pcr), rc);
  return OkStatus();
}

}  // namespace tpmesh::attest::internal
