// Internal ESAPI helpers for the node side (esys_tpm.cc): owning wrappers for
// ESYS-allocated outputs and TPM handles, tss2-mu marshaling into Bytes, and
// TSS2_RC -> Error. Not a public header.
#pragma once

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>

#include <string>
#include <utility>

#include "tpmesh/attest/checks.h"
#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

namespace tpmesh::attest::esys {

// Owns one ESYS-allocated output (Esys_Free on destruction).
// Usage: EsysOut<TPM2B_PUBLIC> pub; Esys_X(..., pub.out()); pub->size.
template <typename T>
class EsysOut {
 public:
  EsysOut() = default;
  EsysOut(const EsysOut&) = delete;
  EsysOut& operator=(const EsysOut&) = delete;
  ~EsysOut() { Esys_Free(p_); }

  // Frees any previous value; the returned pointer receives the new one.
  T** out() {
    Esys_Free(p_);
    p_ = nullptr;
    return &p_;
  }
  T* get() const { return p_; }
  T* operator->() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  T* p_ = nullptr;
};

// Flushes a transient object or session (Esys_FlushContext) when it goes out
// of scope, on every path. Flush errors are ignored: there is nothing a
// caller could do about them and the primary error matters more.
class FlushGuard {
 public:
  explicit FlushGuard(ESYS_CONTEXT* ctx) : ctx_(ctx) {}
  FlushGuard(const FlushGuard&) = delete;
  FlushGuard& operator=(const FlushGuard&) = delete;
  ~FlushGuard() { Reset(); }

  ESYS_TR* out() {
    Reset();
    return &tr_;
  }
  ESYS_TR get() const { return tr_; }
  void Reset() {
    if (tr_ != ESYS_TR_NONE) Esys_FlushContext(ctx_, tr_);
    tr_ = ESYS_TR_NONE;
  }

 private:
  ESYS_CONTEXT* ctx_;
  ESYS_TR tr_ = ESYS_TR_NONE;
};

// Releases an ESYS_TR for a non-transient entity (NV index, persistent
// handle) with Esys_TR_Close: the TPM keeps the entity, ESYS forgets it.
class TrCloseGuard {
 public:
  explicit TrCloseGuard(ESYS_CONTEXT* ctx) : ctx_(ctx) {}
  TrCloseGuard(const TrCloseGuard&) = delete;
  TrCloseGuard& operator=(const TrCloseGuard&) = delete;
  ~TrCloseGuard() {
    if (tr_ != ESYS_TR_NONE) Esys_TR_Close(ctx_, &tr_);
  }
  ESYS_TR* out() { return &tr_; }
  ESYS_TR get() const { return tr_; }

 private:
  ESYS_CONTEXT* ctx_;
  ESYS_TR tr_ = ESYS_TR_NONE;
};

// True when `rc` comes from the TCTI layer (connection lost, device gone).
bool IsTctiError(TSS2_RC rc);

// TPM response code without the handle/parameter/session number bits of a
// format-one code (e.g. 0x1df -> TPM2_RC_INTEGRITY 0x09f), or rc itself for
// other layers.
TSS2_RC BaseRc(TSS2_RC rc);

// Error for a failed ESAPI call: reason "tpm_error" (kInternal, or
// kResourceExhausted when the TPM is out of object/session memory), or
// "tpm_unavailable" (kUnavailable) for TCTI-level failures. The message names
// the step and carries Tss2_RC_Decode text and the hex code.
Error TpmError(const std::string& step, TSS2_RC rc);

// Marshals a TSS structure with its tss2-mu marshal function into Bytes.
template <typename T>
Result<Bytes> Marshal(TSS2_RC (*fn)(const T*, uint8_t*, size_t, size_t*), const T& value,
                      const char* what) {
  Bytes buf(sizeof(T) + 8);
  size_t offset = 0;
  TSS2_RC rc = fn(&value, buf.data(), buf.size(), &offset);
  if (rc != TSS2_RC_SUCCESS) return TpmError(std::string("marshaling ") + what, rc);
  buf.resize(offset);
  return buf;
}

// Unmarshals `data` into `out`, requiring that every byte is consumed.
// Errors: Malformed(...) (kInvalidArgument, kReasonMalformed) naming `what`.
template <typename T>
Status UnmarshalExact(TSS2_RC (*fn)(const uint8_t*, size_t, size_t*, T*), ByteView data, T* out,
                      const char* what) {
  size_t offset = 0;
  TSS2_RC rc = fn(data.data(), data.size(), &offset, out);
  if (rc != TSS2_RC_SUCCESS) {
    return Malformed(std::string(what) + ": does not parse (" + std::to_string(data.size()) +
                     " bytes): " + Tss2_RC_Decode(rc));
  }
  if (offset != data.size()) {
    return Malformed(std::string(what) + ": " + std::to_string(data.size() - offset) +
                     " trailing bytes after the structure (" + std::to_string(offset) + " used)");
  }
  return OkStatus();
}

}  // namespace tpmesh::attest::esys
