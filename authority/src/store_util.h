// One helper for the authority's store transactions whose outcome is a value
// (the read-only queries above all): InTx.
#pragma once

#include <optional>
#include <type_traits>
#include <utility>

#include "tpmesh/authority/store.h"
#include "tpmesh/common/result.h"

namespace tpmesh::authority::internal {

// Runs `fn(Tx&)` in one transaction of `store` (Store::Transact: committed
// when fn succeeds, rolled back otherwise) and returns what fn returned. fn
// returns Result<T> (T move-constructible) or Status. An error from fn, from
// the store or from the commit is returned unchanged (same code, reason and
// message, hence the same HTTP status), and nothing of fn's value then.
//   Result<std::vector<NodeRecord>> nodes =
//       InTx(store_, [](Tx& tx) { return tx.ListNodes(); });
// Nothing makes the transaction read-only: a writing fn commits as with
// Transact. Same thread-safety and nesting rules as Store::Transact (fn must
// not call Transact itself).
template <typename Fn>
[[nodiscard]] auto InTx(Store& store, Fn&& fn) -> std::invoke_result_t<Fn&, Tx&> {
  using R = std::invoke_result_t<Fn&, Tx&>;
  if constexpr (std::is_same_v<R, Status>) {
    return store.Transact(fn);
  } else {
    std::optional<R> out;
    Status st = store.Transact([&](Tx& tx) -> Status {
      R r = fn(tx);
      if (!r.ok()) return r.take_error();
      out.emplace(std::move(r));
      return OkStatus();
    });
    if (!st.ok()) return st.take_error();
    return std::move(*out);
  }
}

}  // namespace tpmesh::authority::internal
