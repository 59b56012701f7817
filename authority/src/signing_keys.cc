// SigningKeys: what a config-signing key version is (an Ed25519 secret) and
// what configs announce; the lifecycle and its files are RotatingKeyFiles'.
#include "tpmesh/authority/signing_keys.h"

#include <sodium.h>

#include "tpmesh/authority/publisher.h"

namespace tpmesh::authority {
namespace {

const KeyFiles::Layout kLayout{.stem = "config-signing",
                               .primary = ".key",
                               .exts = {".key", ".pub"},
                               .announce_generation = true,
                               .rotated_marker = "config-signing.rotated"};

std::string AsText(ByteView b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

}  // namespace

Result<SigningKeys::Key> SigningKeys::Key::Read(const KeyFiles& files, KeySlot slot) {
  TPMESH_ASSIGN_OR_RETURN(std::string sk, files.Read(slot, ".key"));
  if (sk.size() != crypto_sign_SECRETKEYBYTES) {
    sodium_memzero(sk.data(), sk.size());
    return KeyFiles::Corrupt(files.Path(slot, ".key"), "not a 64-byte Ed25519 secret key");
  }
  Key key{SecretBytes(AsView(sk)), Bytes(crypto_sign_PUBLICKEYBYTES)};
  sodium_memzero(sk.data(), sk.size());
  crypto_sign_ed25519_sk_to_pk(key.public_key.data(), key.secret.data());
  return key;
}

KeyFiles::Contents SigningKeys::Key::Files(KeySlot) const {
  return {{".key", AsText(secret.view())}, {".pub", AsText(public_key)}};
}

Result<std::unique_ptr<SigningKeys>> SigningKeys::Load(const std::string& state_dir) {
  if (sodium_init() < 0)
    return MakeError(Code::kInternal, "sodium_init", "libsodium failed to initialize");
  TPMESH_ASSIGN_OR_RETURN(
      auto keys, RotatingKeyFiles<Key>::Load(KeyFiles(state_dir, kLayout), "config-signing key"));
  return std::unique_ptr<SigningKeys>(new SigningKeys(std::move(keys)));
}

Status SigningKeys::Announce(Random& rng, int64_t now, int64_t announce_generation) {
  std::lock_guard<std::mutex> lock(mu_);
  TPMESH_RETURN_IF_ERROR(keys_.CheckAnnounce());
  Bytes seed(crypto_sign_SEEDBYTES);
  rng.Fill(seed);
  Key next{SecretBytes(crypto_sign_SECRETKEYBYTES), Bytes(crypto_sign_PUBLICKEYBYTES)};
  crypto_sign_seed_keypair(next.public_key.data(), next.secret.data(), seed.data());
  sodium_memzero(seed.data(), seed.size());
  return keys_.Announce(std::move(next), now, announce_generation);
}

Status SigningKeys::SetAnnounceGeneration(int64_t generation) {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.SetAnnounceGeneration(generation);
}

Status SigningKeys::Switch(int64_t until) {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.Switch(until);
}

Status SigningKeys::Retire() {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.Retire();
}

Bytes SigningKeys::current_public() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.current().public_key;
}
bool SigningKeys::has_next() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.next() != nullptr;
}
bool SigningKeys::has_old() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.old() != nullptr;
}
int64_t SigningKeys::next_announced_at() const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto& next = keys_.lifecycle().next();
  return next ? next->announced_at : 0;
}
int64_t SigningKeys::next_announce_generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto& next = keys_.lifecycle().next();
  return next ? next->announce_generation : 0;
}
int64_t SigningKeys::old_until() const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto& old = keys_.lifecycle().old();
  return old ? old->until : 0;
}

keyrotate::KeyStep SigningKeys::Due(int64_t now, int64_t overlap,
                                    bool every_node_holds_next) const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.lifecycle().Due(now, overlap, every_node_holds_next);
}

std::vector<SigningKeyInfo> SigningKeys::Info() const {
  using keyrotate::KeyState;
  using keyrotate::KeyStateName;
  std::lock_guard<std::mutex> lock(mu_);
  const auto& lc = keys_.lifecycle();
  std::vector<SigningKeyInfo> out;
  out.push_back(
      SigningKeyInfo{keys_.current().public_key, KeyStateName(KeyState::kCurrent), 0, 0, 0});
  if (const Key* next = keys_.next()) {
    out.push_back(SigningKeyInfo{next->public_key, KeyStateName(KeyState::kNext),
                                 lc.next()->announced_at, 0, lc.next()->announce_generation});
  }
  if (const Key* old = keys_.old()) {
    out.push_back(
        SigningKeyInfo{old->public_key, KeyStateName(KeyState::kRetired), 0, lc.old()->until, 0});
  }
  return out;
}

void SigningKeys::Configure(ConfigPublisher& p) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Key& current = keys_.current();
  std::vector<SecretBytes> co;
  if (const Key* old = keys_.old()) co.emplace_back(old->secret.view());
  std::vector<Bytes> announced;
  if (const Key* next = keys_.next())
    announced = {current.public_key, next->public_key};
  else if (const Key* old = keys_.old())
    announced = {current.public_key, old->public_key};
  else if (keys_.lifecycle().rotated())
    announced = {current.public_key};
  p.SetSigningKeys(SecretBytes(current.secret.view()), std::move(co), std::move(announced));
}

}  // namespace tpmesh::authority
