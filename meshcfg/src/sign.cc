// Ed25519 signatures over (generation, state hash).
#include <sodium.h>

#include "internal.h"
#include "tpmesh/meshcfg/meshcfg.h"

namespace tpmesh::meshcfg {

namespace {

constexpr std::string_view kSignDomain = "tpmesh-meshcfg-v1";

// "tpmesh-meshcfg-v1" || generation (8 bytes big-endian) || hash.
Bytes SignedMessage(ByteView hash, int64_t generation) {
  Bytes msg(kSignDomain.begin(), kSignDomain.end());
  auto u = static_cast<uint64_t>(generation);
  for (int shift = 56; shift >= 0; shift -= 8) msg.push_back(static_cast<uint8_t>(u >> shift));
  msg.insert(msg.end(), hash.begin(), hash.end());
  return msg;
}

Status InitSodium() {
  if (sodium_init() < 0)
    return MakeError(Code::kInternal, "crypto_init_failed", "libsodium failed to initialise");
  return OkStatus();
}

Error SignatureInvalid(const std::string& message) {
  return MakeError(Code::kPermissionDenied, "config_signature_invalid", message);
}

}  // namespace

Result<Bytes> SignHash(ByteView hash, int64_t generation, ByteView ed25519_secret) {
  TPMESH_RETURN_IF_ERROR(InitSodium());
  if (hash.size() != kHashBytes)
    return Invalid("hash: must be 32 bytes, got " + std::to_string(hash.size()));
  if (generation < 0) return Invalid("generation: must be >= 0");
  if (ed25519_secret.size() != crypto_sign_SECRETKEYBYTES) {
    return MakeError(Code::kInvalidArgument, "invalid_signing_key",
                     "config signing key: must be a 64-byte Ed25519 secret key");
  }
  Bytes msg = SignedMessage(hash, generation);
  Bytes sig(crypto_sign_BYTES);
  if (crypto_sign_detached(sig.data(), nullptr, msg.data(), msg.size(), ed25519_secret.data()) !=
      0) {
    return MakeError(Code::kInternal, "signing_failed", "crypto_sign_detached failed");
  }
  return sig;
}

Status VerifySigned(ByteView hash, int64_t generation, ByteView signature,
                    const std::vector<Bytes>& trusted_public_keys) {
  TPMESH_RETURN_IF_ERROR(InitSodium());
  if (trusted_public_keys.empty()) {
    return MakeError(Code::kFailedPrecondition, "no_trusted_keys",
                     "no trusted config signing key is configured");
  }
  if (hash.size() != kHashBytes)
    return Invalid("hash: must be 32 bytes, got " + std::to_string(hash.size()));
  if (signature.size() != kSignatureBytes) {
    return SignatureInvalid("signature: must be 64 bytes, got " + std::to_string(signature.size()));
  }
  Bytes msg = SignedMessage(hash, generation);
  for (const auto& key : trusted_public_keys) {
    if (key.size() != crypto_sign_PUBLICKEYBYTES)
      continue;  // never matches; not the sender's fault
    if (crypto_sign_verify_detached(signature.data(), msg.data(), msg.size(), key.data()) == 0) {
      return OkStatus();
    }
  }
  return SignatureInvalid(
      "mesh config generation " + std::to_string(generation) + " is not signed by any of the " +
      std::to_string(trusted_public_keys.size()) + " trusted config signing key(s)");
}

Status VerifySignedAny(ByteView hash, int64_t generation, ByteView signature,
                       const std::vector<Bytes>& co_signatures,
                       const std::vector<Bytes>& trusted_public_keys) {
  Status primary = VerifySigned(hash, generation, signature, trusted_public_keys);
  if (primary.ok() || primary.error().reason != "config_signature_invalid") return primary;
  for (const auto& co : co_signatures) {
    if (VerifySigned(hash, generation, co, trusted_public_keys).ok()) return OkStatus();
  }
  return primary;
}

Result<SignedState> SignState(MeshState state, ByteView ed25519_secret,
                              const std::vector<ByteView>& co_signers) {
  TPMESH_RETURN_IF_ERROR(ValidateState(state));
  TPMESH_RETURN_IF_ERROR(InitSodium());
  if (ed25519_secret.size() != crypto_sign_SECRETKEYBYTES) {
    return MakeError(Code::kInvalidArgument, "invalid_signing_key",
                     "config signing key: must be a 64-byte Ed25519 secret key");
  }
  SortMembers(state);
  SignedState out;
  out.hash = StateHash(state);
  TPMESH_ASSIGN_OR_RETURN(out.signature, SignHash(out.hash, state.generation, ed25519_secret));
  out.signer_public_key.resize(crypto_sign_PUBLICKEYBYTES);
  crypto_sign_ed25519_sk_to_pk(out.signer_public_key.data(), ed25519_secret.data());
  for (const auto& co : co_signers) {
    if (co.size() != crypto_sign_SECRETKEYBYTES) {
      return MakeError(Code::kInvalidArgument, "invalid_signing_key",
                       "co-signing key: must be a 64-byte Ed25519 secret key");
    }
    TPMESH_ASSIGN_OR_RETURN(Bytes sig, SignHash(out.hash, state.generation, co));
    out.co_signatures.push_back(std::move(sig));
  }
  out.state = std::move(state);
  return out;
}

Result<MeshState> VerifySignedState(const SignedState& s, int64_t held_generation,
                                    const std::vector<Bytes>& trusted_public_keys) {
  if (s.state.generation <= held_generation) {
    return MakeError(Code::kFailedPrecondition, "stale_generation",
                     "mesh config generation " + std::to_string(s.state.generation) +
                         " is not newer than the held generation " +
                         std::to_string(held_generation));
  }
  TPMESH_RETURN_IF_ERROR(ValidateState(s.state));
  Bytes hash = StateHash(s.state);
  if (!ConstantTimeEqual(hash, s.hash)) {
    return MakeError(Code::kPermissionDenied, "config_hash_mismatch",
                     "mesh config generation " + std::to_string(s.state.generation) +
                         " does not hash to the signed hash");
  }
  TPMESH_RETURN_IF_ERROR(VerifySignedAny(s.hash, s.state.generation, s.signature, s.co_signatures,
                                         trusted_public_keys));
  MeshState out = s.state;
  SortMembers(out);
  return out;
}

}  // namespace tpmesh::meshcfg
