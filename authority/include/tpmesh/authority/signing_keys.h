// The authority's config-signing keys (Ed25519) and their rotation with
// overlap, kept as files in the state directory by the one mechanism of
// rotating_key_files.h (0600, atomic writes, crash-consistent Load):
//
//   config-signing.key / .pub        the current key: signs every generation
//   config-signing.next.key / .pub   announced: listed in MeshState.signing_keys
//   config-signing.next.meta         "<announced_at> <announce_generation>"
//   config-signing.old.key / .pub    retired: still co-signs until
//   config-signing.old.meta          "<until>"
//   config-signing.rotated           "1": a switch happened (keep announcing)
//
// Lifecycle (keyrotate::KeyLifecycle; service.h RotationTick drives it):
//   Announce  a fresh next key; configs carry signing_keys = [current, next],
//             signed by the current key: every client that verifies one now
//             trusts both.
//   Switch    next becomes current, current becomes old (co-signing until
//             now + overlap): signing_keys = [current, old]. A client that
//             missed the announcement still verifies through the co-signature
//             and learns the new set.
//   Retire    the old key is deleted: signing_keys = [current].
// The .pub files are informational: public keys are derived from the secret
// keys on load. After a crash at any point Load finds a consistent set (a
// next key equal to the current one is dropped).
//
// Thread-safety: all methods are thread-safe. Secret keys never leave this
// object except into ConfigPublisher::SetSigningKeys.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tpmesh/authority/rotating_key_files.h"
#include "tpmesh/common/bytes.h"
#include "tpmesh/common/env.h"
#include "tpmesh/common/result.h"
#include "tpmesh/keyrotate/lifecycle.h"

namespace tpmesh::authority {

class ConfigPublisher;

struct SigningKeyInfo {
  Bytes public_key;
  std::string state;                // "current", "next", "retired"
  int64_t since = 0;                // next: announced at; retired: 0
  int64_t until = 0;                // retired: co-signs until; else 0
  int64_t announce_generation = 0;  // next only
};

class SigningKeys {
 public:
  // Reads the key files of `state_dir`. Errors: "state_corrupt" naming the file.
  [[nodiscard]] static Result<std::unique_ptr<SigningKeys>> Load(const std::string& state_dir);

  // Errors: "rotation_in_progress" (a next key or a retiring old key exists).
  [[nodiscard]] Status Announce(Random& rng, int64_t now, int64_t announce_generation);
  // Records the first generation known to carry the announcement.
  [[nodiscard]] Status SetAnnounceGeneration(int64_t generation);
  // Errors: "no_next_key". `until` = when the old key stops co-signing.
  [[nodiscard]] Status Switch(int64_t until);
  // Deletes the old key. No-op without one.
  [[nodiscard]] Status Retire();

  Bytes current_public() const;
  std::vector<SigningKeyInfo> Info() const;
  bool has_next() const;
  bool has_old() const;
  int64_t next_announced_at() const;
  int64_t next_announce_generation() const;
  int64_t old_until() const;
  // What RotationTick should do now (keyrotate::KeyLifecycle::Due).
  keyrotate::KeyStep Due(int64_t now, int64_t overlap, bool every_node_holds_next) const;
  // Hands the current secret (signer), the old one (co-signer) and what
  // configs must announce to `p`: [] before the first rotation, then
  // [current, next], [current, old], [current].
  void Configure(ConfigPublisher& p) const;

 private:
  // One version: the 64-byte secret (config-signing[.next|.old].key) and the
  // public key derived from it (.pub, informational).
  struct Key {
    SecretBytes secret;  // 64 bytes
    Bytes public_key;    // 32 bytes

    // The version type of RotatingKeyFiles (rotating_key_files.h).
    static Result<Key> Read(const KeyFiles& files, KeySlot slot);
    KeyFiles::Contents Files(KeySlot slot) const;
    std::string Id() const { return std::string(public_key.begin(), public_key.end()); }
    Key Retired() && { return std::move(*this); }
  };
  explicit SigningKeys(RotatingKeyFiles<Key> keys) : keys_(std::move(keys)) {}

  mutable std::mutex mu_;
  RotatingKeyFiles<Key> keys_;
};

}  // namespace tpmesh::authority
