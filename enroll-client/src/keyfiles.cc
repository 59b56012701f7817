#include "tpmesh/client/keyfiles.h"

#include <sodium.h>

#include <filesystem>

#include "tpmesh/pki/pki.h"

namespace tpmesh::client {
namespace {

namespace fs = std::filesystem;

std::string NextPath(const std::string& dir) { return dir + "/wg.next.key"; }

}  // namespace

Result<WgKeyPair> ReadWgKeyFile(const std::string& path) {
  TPMESH_ASSIGN_OR_RETURN(std::string b64, pki::ReadFile(path));
  while (!b64.empty() && (b64.back() == '\n' || b64.back() == ' ')) b64.pop_back();
  auto sk = Base64Decode(b64, path);
  sodium_memzero(b64.data(), b64.size());
  if (!sk.ok() || sk->size() != 32) {
    if (sk.ok()) sodium_memzero(sk->data(), sk->size());
    return MakeError(Code::kFailedPrecondition, "state_corrupt",
                     path + " is not a base64 WireGuard private key");
  }
  WgKeyPair kp;
  kp.private_key = SecretBytes(*sk);
  sodium_memzero(sk->data(), sk->size());
  TPMESH_ASSIGN_OR_RETURN(kp.public_key, WgPublicFromPrivate(kp.private_key.view()));
  return kp;
}

Result<std::optional<WgKeyPair>> LoadNextKey(const std::string& state_dir,
                                             ByteView current_public) {
  std::error_code ec;
  if (!fs::exists(NextPath(state_dir), ec)) return std::optional<WgKeyPair>();
  auto kp = ReadWgKeyFile(NextPath(state_dir));
  if (!kp.ok() ||
      (kp->public_key.size() == current_public.size() &&
       sodium_memcmp(kp->public_key.data(), current_public.data(), current_public.size()) == 0)) {
    DiscardNextKey(state_dir);  // corrupt, or already promoted before a crash
    return std::optional<WgKeyPair>();
  }
  return std::optional<WgKeyPair>(std::move(kp).value());
}

Result<WgKeyPair> LoadOrCreateNextKey(const std::string& state_dir, ByteView current_public,
                                      Random& rng) {
  TPMESH_ASSIGN_OR_RETURN(auto existing, LoadNextKey(state_dir, current_public));
  if (existing) return std::move(*existing);
  WgKeyPair kp = GenerateWgKeyPair(rng);
  std::string b64 = Base64Encode(kp.private_key.view()) + "\n";
  Status st = pki::WritePrivateFile(NextPath(state_dir), b64);
  sodium_memzero(b64.data(), b64.size());
  TPMESH_RETURN_IF_ERROR(st);
  return kp;
}

void DiscardNextKey(const std::string& state_dir) {
  std::error_code ec;
  fs::remove(NextPath(state_dir), ec);
}

Status PromoteNextKey(const std::string& state_dir, const WgKeyPair& next) {
  std::string b64 = Base64Encode(next.private_key.view()) + "\n";
  Status st = pki::WritePrivateFile(state_dir + "/wg.key", b64);
  sodium_memzero(b64.data(), b64.size());
  TPMESH_RETURN_IF_ERROR(st);
  TPMESH_RETURN_IF_ERROR(
      pki::WritePrivateFile(state_dir + "/wg.pub", Base64Encode(next.public_key) + "\n"));
  DiscardNextKey(state_dir);
  return OkStatus();
}

}  // namespace tpmesh::client
