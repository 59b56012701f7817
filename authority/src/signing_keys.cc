#include "tpmesh/authority/signing_keys.h"

#include <sodium.h>

#include <filesystem>
#include <sstream>

#include "tpmesh/authority/publisher.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::authority {
namespace {

namespace fs = std::filesystem;

std::string_view AsText(ByteView b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

Error Corrupt(const std::string& path, const std::string& what) {
  return MakeError(Code::kFailedPrecondition, "state_corrupt", path + ": " + what);
}

bool Exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

void Remove(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
}

}  // namespace

Result<std::unique_ptr<SigningKeys>> SigningKeys::Load(const std::string& state_dir) {
  if (sodium_init() < 0)
    return MakeError(Code::kInternal, "sodium_init", "libsodium failed to initialize");
  std::unique_ptr<SigningKeys> k(new SigningKeys(state_dir));
  auto read_key = [&](const char* name) -> Result<Key> {
    TPMESH_ASSIGN_OR_RETURN(std::string sk, pki::ReadFile(k->Path(name)));
    if (sk.size() != crypto_sign_SECRETKEYBYTES) {
      sodium_memzero(sk.data(), sk.size());
      return Corrupt(k->Path(name), "not a 64-byte Ed25519 secret key");
    }
    Key key{SecretBytes(AsView(sk)), Bytes(crypto_sign_PUBLICKEYBYTES)};
    sodium_memzero(sk.data(), sk.size());
    crypto_sign_ed25519_sk_to_pk(key.public_key.data(), key.secret.data());
    return key;
  };
  auto read_meta = [&](const char* name, int64_t& a, int64_t* b) -> Status {
    TPMESH_ASSIGN_OR_RETURN(std::string text, pki::ReadFile(k->Path(name)));
    std::istringstream in(text);
    if (!(in >> a) || (b && !(in >> *b))) return Corrupt(k->Path(name), "malformed");
    return OkStatus();
  };
  TPMESH_ASSIGN_OR_RETURN(k->current_, read_key("config-signing.key"));
  if (Exists(k->Path("config-signing.next.key"))) {
    TPMESH_ASSIGN_OR_RETURN(Key next, read_key("config-signing.next.key"));
    if (next.public_key == k->current_.public_key) {
      // Switched just before a crash: the next key is already current.
      Remove(k->Path("config-signing.next.key"));
      Remove(k->Path("config-signing.next.pub"));
      Remove(k->Path("config-signing.next.meta"));
    } else {
      if (!Exists(k->Path("config-signing.next.meta"))) {
        k->next_at_ = 0;  // announced just before a crash: switch at the next check
      } else {
        TPMESH_RETURN_IF_ERROR(
            read_meta("config-signing.next.meta", k->next_at_, &k->next_generation_));
      }
      k->next_ = std::move(next);
    }
  }
  if (Exists(k->Path("config-signing.old.key"))) {
    TPMESH_ASSIGN_OR_RETURN(Key old, read_key("config-signing.old.key"));
    if (Exists(k->Path("config-signing.old.meta"))) {
      TPMESH_RETURN_IF_ERROR(read_meta("config-signing.old.meta", k->old_until_, nullptr));
    }
    if (old.public_key != k->current_.public_key) k->old_ = std::move(old);
  }
  k->rotated_ = k->old_.has_value() || Exists(k->Path("config-signing.rotated"));
  return k;
}

Status SigningKeys::Announce(Random& rng, int64_t now, int64_t announce_generation) {
  std::lock_guard<std::mutex> lock(mu_);
  if (next_ || old_) {
    return MakeError(Code::kFailedPrecondition, "rotation_in_progress",
                     next_ ? "a next config-signing key is announced already"
                           : "the previous config-signing key is still in its overlap");
  }
  Bytes seed(crypto_sign_SEEDBYTES);
  rng.Fill(seed);
  Key next{SecretBytes(crypto_sign_SECRETKEYBYTES), Bytes(crypto_sign_PUBLICKEYBYTES)};
  crypto_sign_seed_keypair(next.public_key.data(), next.secret.data(), seed.data());
  sodium_memzero(seed.data(), seed.size());
  TPMESH_RETURN_IF_ERROR(
      pki::WritePrivateFile(Path("config-signing.next.key"), AsText(next.secret.view())));
  TPMESH_RETURN_IF_ERROR(
      pki::WritePrivateFile(Path("config-signing.next.pub"), AsText(next.public_key)));
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(
      Path("config-signing.next.meta"),
      std::to_string(now) + " " + std::to_string(announce_generation) + "\n"));
  next_ = std::move(next);
  next_at_ = now;
  next_generation_ = announce_generation;
  return OkStatus();
}

Status SigningKeys::SetAnnounceGeneration(int64_t generation) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!next_)
    return MakeError(Code::kFailedPrecondition, "no_next_key",
                     "no next config-signing key is announced");
  TPMESH_RETURN_IF_ERROR(
      pki::WritePrivateFile(Path("config-signing.next.meta"),
                            std::to_string(next_at_) + " " + std::to_string(generation) + "\n"));
  next_generation_ = generation;
  return OkStatus();
}

Status SigningKeys::Switch(int64_t until) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!next_)
    return MakeError(Code::kFailedPrecondition, "no_next_key",
                     "no next config-signing key is announced");
  // Old first, then current, then drop next: every crash point loads consistently.
  TPMESH_RETURN_IF_ERROR(
      pki::WritePrivateFile(Path("config-signing.old.key"), AsText(current_.secret.view())));
  TPMESH_RETURN_IF_ERROR(
      pki::WritePrivateFile(Path("config-signing.old.pub"), AsText(current_.public_key)));
  TPMESH_RETURN_IF_ERROR(
      pki::WritePrivateFile(Path("config-signing.old.meta"), std::to_string(until) + "\n"));
  TPMESH_RETURN_IF_ERROR(
      pki::WritePrivateFile(Path("config-signing.key"), AsText(next_->secret.view())));
  TPMESH_RETURN_IF_ERROR(
      pki::WritePrivateFile(Path("config-signing.pub"), AsText(next_->public_key)));
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(Path("config-signing.rotated"), "1\n"));
  Remove(Path("config-signing.next.key"));
  Remove(Path("config-signing.next.pub"));
  Remove(Path("config-signing.next.meta"));
  old_ = std::move(current_);
  current_ = std::move(*next_);
  next_.reset();
  old_until_ = until;
  rotated_ = true;
  return OkStatus();
}

Status SigningKeys::Retire() {
  std::lock_guard<std::mutex> lock(mu_);
  Remove(Path("config-signing.old.key"));
  Remove(Path("config-signing.old.pub"));
  Remove(Path("config-signing.old.meta"));
  if (Exists(Path("config-signing.old.key"))) {
    return MakeError(Code::kInternal, "state_write_failed",
                     Path("config-signing.old.key") + " could not be removed");
  }
  old_.reset();
  old_until_ = 0;
  return OkStatus();
}

Bytes SigningKeys::current_public() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_.public_key;
}
bool SigningKeys::has_next() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_.has_value();
}
bool SigningKeys::has_old() const {
  std::lock_guard<std::mutex> lock(mu_);
  return old_.has_value();
}
int64_t SigningKeys::next_announced_at() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_at_;
}
int64_t SigningKeys::next_announce_generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_generation_;
}
int64_t SigningKeys::old_until() const {
  std::lock_guard<std::mutex> lock(mu_);
  return old_until_;
}

std::vector<SigningKeyInfo> SigningKeys::Info() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SigningKeyInfo> out;
  out.push_back(SigningKeyInfo{current_.public_key, "current", 0, 0, 0});
  if (next_)
    out.push_back(SigningKeyInfo{next_->public_key, "next", next_at_, 0, next_generation_});
  if (old_) out.push_back(SigningKeyInfo{old_->public_key, "retired", 0, old_until_, 0});
  return out;
}

void SigningKeys::Configure(ConfigPublisher& p) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SecretBytes> co;
  if (old_) co.emplace_back(old_->secret.view());
  std::vector<Bytes> announced;
  if (next_)
    announced = {current_.public_key, next_->public_key};
  else if (old_)
    announced = {current_.public_key, old_->public_key};
  else if (rotated_)
    announced = {current_.public_key};
  p.SetSigningKeys(SecretBytes(current_.secret.view()), std::move(co), std::move(announced));
}

}  // namespace tpmesh::authority
