#include "tpmesh/authority/publisher.h"

#include "tpmesh/proto/node.h"

namespace tpmesh::authority {

ConfigPublisher::ConfigPublisher(SecretBytes signing_secret, size_t history, size_t history_members)
    : secret_(std::move(signing_secret)),
      history_limit_(std::max<size_t>(history, 1)),
      history_members_limit_(history_members) {}

void ConfigPublisher::SetSigningKeys(SecretBytes signer, std::vector<SecretBytes> co_signers,
                                     std::vector<Bytes> announced) {
  std::lock_guard<std::mutex> lock(keys_mu_);
  secret_ = std::move(signer);
  co_signers_ = std::move(co_signers);
  announced_ = std::move(announced);
}

Status ConfigPublisher::Publish(meshcfg::MeshState state) {
  meshcfg::SortMembers(state);
  Result<meshcfg::SignedState> signed_or = [&] {
    std::lock_guard<std::mutex> keys(keys_mu_);
    state.signing_keys = announced_;
    std::vector<ByteView> co;
    for (const auto& c : co_signers_) co.push_back(c.view());
    return meshcfg::SignState(std::move(state), secret_.view(), co);
  }();
  TPMESH_ASSIGN_OR_RETURN(auto signed_state, std::move(signed_or));
  std::unique_lock<std::mutex> lock(mu_);
  if (!history_.empty() && signed_state.state.generation <= history_.back().state.generation) {
    return OkStatus();
  }
  history_members_ += signed_state.state.members.size();
  history_.push_back(std::move(signed_state));
  while (history_.size() > history_limit_ ||
         (history_.size() > 2 && history_members_ > history_members_limit_)) {
    history_members_ -= history_.front().state.members.size();
    history_.pop_front();
  }
  bodies_.clear();
  full_body_.reset();
  // The watchers behind the new generation, answered outside the lock.
  const int64_t gen = history_.back().state.generation;
  std::vector<std::pair<Watcher, std::shared_ptr<const std::string>>> ready;
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    if (it->second.since >= gen) {
      ++it;
      continue;
    }
    ready.emplace_back(std::move(it->second.fn), BodyFor(it->second.since));
    it = watchers_.erase(it);
  }
  lock.unlock();
  for (auto& [fn, body] : ready) fn(std::move(body));
  return OkStatus();
}

std::shared_ptr<const std::string> ConfigPublisher::BodyFor(int64_t since) {
  const meshcfg::SignedState& current = history_.back();
  const int64_t gen = current.state.generation;
  // A delta from `since` if we still hold that generation.
  for (const auto& old : history_) {
    if (old.state.generation != since || since == gen) continue;
    auto& cached = bodies_[since];
    if (!cached) {
      meshcfg::MeshDelta d = meshcfg::Diff(old.state, current.state);
      d.to_hash = current.hash;
      d.signature = current.signature;
      d.co_signatures = current.co_signatures;
      cached = std::make_shared<const std::string>(proto::ConfigEnvelopeJson(gen, d));
    }
    return cached;
  }
  if (!full_body_) {
    full_body_ = std::make_shared<const std::string>(proto::ConfigEnvelopeJson(gen, current));
  }
  return full_body_;
}

std::shared_ptr<const std::string> ConfigPublisher::Newer(int64_t since) {
  std::lock_guard<std::mutex> lock(mu_);
  if (history_.empty() || history_.back().state.generation <= since) return nullptr;
  return BodyFor(since);
}

uint64_t ConfigPublisher::Watch(int64_t since, Watcher fn) {
  std::shared_ptr<const std::string> now;
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ticket = next_ticket_++;
    const bool newer = !history_.empty() && history_.back().state.generation > since;
    if (!shutdown_ && !newer) {
      watchers_.emplace(ticket, Watching{since, std::move(fn)});
      return ticket;
    }
    if (newer && !shutdown_) now = BodyFor(since);
  }
  fn(std::move(now));
  return ticket;
}

void ConfigPublisher::Unwatch(uint64_t ticket) {
  Watcher dropped;  // destroyed outside the lock
  std::lock_guard<std::mutex> lock(mu_);
  auto it = watchers_.find(ticket);
  if (it == watchers_.end()) return;
  dropped = std::move(it->second.fn);
  watchers_.erase(it);
}

int64_t ConfigPublisher::generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return history_.empty() ? -1 : history_.back().state.generation;
}

size_t ConfigPublisher::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return watchers_.size();
}

void ConfigPublisher::Shutdown() {
  std::map<uint64_t, Watching> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
    all.swap(watchers_);
  }
  for (auto& [ticket, w] : all) w.fn(nullptr);
}

}  // namespace tpmesh::authority
