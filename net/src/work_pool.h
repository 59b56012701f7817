// The fixed pool of threads that run handlers, with three queues served in
// priority order: admin requests, then node requests, then anonymous ones
// (so an anonymous flood delays only itself). Internal to tpmesh_net.
//
// Thread-safe. Stop() (or the destructor) lets running jobs finish, drops
// queued ones and joins the threads.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tpmesh/common/result.h"

namespace tpmesh::net::internal {

class WorkPool {
 public:
  enum class Priority { kAdmin = 0, kNode = 1, kAnonymous = 2 };

  // `n` threads, all started before it returns; a thread the host refuses
  // is kResourceExhausted "thread_start_failed" (the ones started are
  // joined). `max_anonymous_queued` bounds the anonymous queue.
  static Result<std::unique_ptr<WorkPool>> Start(size_t n, size_t max_anonymous_queued);
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Queues `job`. False (and `job` dropped) when stopping, or when the
  // anonymous queue is full.
  bool Post(Priority p, std::function<void()> job);
  void Stop();

 private:
  WorkPool() = default;
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queues_[3];
  size_t max_anonymous_queued_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tpmesh::net::internal
