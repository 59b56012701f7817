// Signed mesh config, one per generation, and the long poll that pushes it.
//
// Publish() signs a new generation's full state once (Ed25519, meshcfg) and
// answers every watcher (a parked long poll) from the publishing thread: no
// thread waits per client. A client at generation `since` gets a delta
// (upserts/removals keyed by node id, carrying the full state's hash and
// signature, so it verifies exactly like the full state) when `since` is
// still in the history, else the full signed state. Each distinct response
// body is encoded once per generation and shared between all clients that
// need it.
//
// Thread-safety: all methods are thread-safe. Publish never goes backwards:
// a state whose generation is not newer than the current one is ignored (two
// transactions may commit in one order and publish in the other).
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/meshcfg/meshcfg.h"

namespace tpmesh::authority {

class ConfigPublisher {
 public:
  // `signing_secret`: the Ed25519 config-signing secret key (64 bytes).
  // History (for deltas): at most `history` generations and, beyond the
  // newest two, at most `history_members` members summed over the states
  // held (each state is a full copy: at 10,000 nodes 256 of them would hold
  // gigabytes). A client further behind gets the full state.
  explicit ConfigPublisher(SecretBytes signing_secret, size_t history = 256,
                           size_t history_members = 200'000);

  [[nodiscard]] Status Publish(meshcfg::MeshState state);

  // Config-signing key rotation (signing_keys.h): later generations are
  // signed with `signer`, co-signed by each of `co_signers`, and carry
  // `announced` as MeshState.signing_keys.
  void SetSigningKeys(SecretBytes signer, std::vector<SecretBytes> co_signers,
                      std::vector<Bytes> announced);

  // The JSON body for a client at `since`: {"generation": G, "full": SignedState}
  // or {"generation": G, "delta": MeshDelta}, when a generation newer than
  // `since` exists; nullptr otherwise.
  std::shared_ptr<const std::string> Newer(int64_t since);

  // Called once with the body for `since` when a newer generation is
  // published, or with nullptr at Shutdown. It runs on the publishing thread
  // (or on Watch's, when a newer generation already exists or Shutdown has
  // run), without this publisher's locks held, and must not block.
  using Watcher = std::function<void(std::shared_ptr<const std::string>)>;
  // Returns a ticket for Unwatch.
  uint64_t Watch(int64_t since, Watcher fn);
  // Forgets the watcher. A call of it already under way on another thread may
  // still finish after Unwatch returns.
  void Unwatch(uint64_t ticket);

  int64_t generation() const;
  // Watchers registered now.
  size_t waiting() const;
  // Calls every watcher with nullptr; later Watch calls get nullptr at once.
  void Shutdown();

 private:
  std::shared_ptr<const std::string> BodyFor(int64_t since);  // mu_ held

  mutable std::mutex keys_mu_;  // guards the three below; never held with mu_
  SecretBytes secret_;
  std::vector<SecretBytes> co_signers_;
  std::vector<Bytes> announced_;
  size_t history_limit_;
  size_t history_members_limit_;
  size_t history_members_ = 0;  // members summed over history_
  mutable std::mutex mu_;
  struct Watching {
    int64_t since;
    Watcher fn;
  };
  uint64_t next_ticket_ = 1;
  std::map<uint64_t, Watching> watchers_;
  std::deque<meshcfg::SignedState> history_;                      // oldest .. newest
  std::map<int64_t, std::shared_ptr<const std::string>> bodies_;  // since -> body, current gen
  std::shared_ptr<const std::string> full_body_;
  bool shutdown_ = false;
};

}  // namespace tpmesh::authority
