#include "work_pool.h"

#include <string>
#include <system_error>

namespace tpmesh::net::internal {

Result<std::unique_ptr<WorkPool>> WorkPool::Start(size_t n, size_t max_anonymous_queued) {
  std::unique_ptr<WorkPool> pool(new WorkPool());
  pool->max_anonymous_queued_ = max_anonymous_queued;
  WorkPool* raw = pool.get();
  try {
    pool->threads_.reserve(n);
    while (pool->threads_.size() < n) pool->threads_.emplace_back([raw] { raw->Run(); });
  } catch (const std::exception& e) {  // std::system_error, or bad_alloc from reserve
    const size_t started = pool->threads_.size();
    pool->Stop();
    return MakeError(Code::kResourceExhausted, "thread_start_failed",
                     "cannot start HTTP worker thread " + std::to_string(started + 1) + " of " +
                         std::to_string(n) + ": " + e.what() +
                         " (a host limit on threads, memory maps or memory)");
  }
  return pool;
}

WorkPool::~WorkPool() { Stop(); }

bool WorkPool::Post(Priority p, std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& q = queues_[static_cast<int>(p)];
    if (stopping_ || (p == Priority::kAnonymous && q.size() >= max_anonymous_queued_)) return false;
    q.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void WorkPool::Stop() {
  std::deque<std::function<void()>> dropped[3];
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (int i = 0; i < 3; ++i) dropped[i].swap(queues_[i]);
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
  }
}

void WorkPool::Run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] {
        return stopping_ || !queues_[0].empty() || !queues_[1].empty() || !queues_[2].empty();
      });
      if (stopping_) return;
      for (auto& q : queues_) {
        if (q.empty()) continue;
        job = std::move(q.front());
        q.pop_front();
        break;
      }
    }
    job();
  }
}

}  // namespace tpmesh::net::internal
