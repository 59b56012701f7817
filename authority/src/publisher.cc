#include "tpmesh/authority/publisher.h"

namespace tpmesh::authority {

ConfigPublisher::ConfigPublisher(SecretBytes signing_secret, size_t history)
    : secret_(std::move(signing_secret)), history_limit_(std::max<size_t>(history, 1)) {}

Status ConfigPublisher::Publish(meshcfg::MeshState state) {
  meshcfg::SortMembers(state);
  TPMESH_ASSIGN_OR_RETURN(auto signed_state, meshcfg::SignState(std::move(state), secret_.view()));
  std::lock_guard<std::mutex> lock(mu_);
  if (!history_.empty() && signed_state.state.generation <= history_.back().state.generation) {
    return OkStatus();
  }
  history_.push_back(std::move(signed_state));
  while (history_.size() > history_limit_) history_.pop_front();
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
      cached = std::make_shared<const std::string>("{\"generation\":" + std::to_string(gen) +
                                                   ",\"delta\":" + meshcfg::ToJson(d) + "}");
    }
    return cached;
  }
  if (!full_body_) {
    full_body_ = std::make_shared<const std::string>("{\"generation\":" + std::to_string(gen) +
                                                     ",\"full\":" + meshcfg::ToJson(current) + "}");
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
