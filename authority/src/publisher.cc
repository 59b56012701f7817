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
  std::lock_guard<std::mutex> lock(mu_);
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
  cv_.notify_all();
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

std::shared_ptr<const std::string> ConfigPublisher::WaitNewer(int64_t since,
                                                              std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  auto newer = [&] {
    return shutdown_ || (!history_.empty() && history_.back().state.generation > since);
  };
  if (!newer()) {
    ++waiting_;
    cv_.wait_for(lock, timeout, newer);
    --waiting_;
  }
  if (history_.empty() || history_.back().state.generation <= since) return nullptr;
  return BodyFor(since);
}

int64_t ConfigPublisher::generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return history_.empty() ? -1 : history_.back().state.generation;
}

size_t ConfigPublisher::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_;
}

void ConfigPublisher::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  cv_.notify_all();
}

}  // namespace tpmesh::authority
