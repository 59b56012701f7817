// In-process callers of a net::Handler (tests) get what a client of the
// server would: Settle waits for a parked long poll's answer (up to its
// timeout, then Disarm and the fallback), and moves a shared body into
// `body`.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

#include "tpmesh/net/http.h"

namespace tpmesh::testing {

inline net::HttpResponse Settle(net::HttpResponse r) {
  if (r.poll) {
    struct Slot {
      std::mutex mu;
      std::condition_variable cv;
      std::optional<net::HttpResponse> answer;
    };
    auto slot = std::make_shared<Slot>();
    std::shared_ptr<net::LongPoll> poll = std::move(r.poll);
    poll->Arm([slot](net::HttpResponse a) {
      std::lock_guard<std::mutex> lock(slot->mu);
      if (!slot->answer) slot->answer = std::move(a);
      slot->cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(slot->mu);
    if (slot->cv.wait_for(lock, r.poll_timeout, [&] { return slot->answer.has_value(); })) {
      r = std::move(*slot->answer);
    } else {
      lock.unlock();
      poll->Disarm();
    }
    r.poll.reset();
  }
  if (r.shared_body) {
    r.body = *r.shared_body;
    r.shared_body.reset();
  }
  return r;
}

}  // namespace tpmesh::testing
