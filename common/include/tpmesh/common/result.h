// Result type used by every tpmesh library.
//
// Contract: fallible calls return Result<T> (or Status = Result<void>) and are
// [[nodiscard]]. No tpmesh function lets an exception cross a module boundary;
// wrappers around third-party code catch and convert. An Error carries a
// canonical Code (mapped to HTTP status in exactly one table, see
// authority/), a stable machine-readable `reason` (snake_case, never changes
// once published, used by scripts and tests), and a human `message` that says
// what was wrong and, where possible, what to do next. Messages never contain
// secrets.
//
// Thread-safety: value types; as thread-safe as the contained T.
#pragma once

#include <cassert>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace tpmesh {

enum class Code {
  kInvalidArgument,     // the caller sent something malformed
  kNotFound,            // the thing named does not exist
  kAlreadyExists,       // would overwrite or duplicate
  kPermissionDenied,    // authenticated, but policy/attestation says no
  kUnauthenticated,     // no or bad credentials
  kFailedPrecondition,  // state does not allow it now (e.g. revoked, expired)
  kResourceExhausted,   // pool or quota used up
  kAborted,             // lost a race; retry may succeed
  kUnavailable,         // a dependency (TPM, network) is not reachable
  kInternal,            // a bug or an unexpected failure in a dependency
};

const char* CodeName(Code code);

struct Error {
  Code code = Code::kInternal;
  std::string reason;   // stable snake_case identifier
  std::string message;  // for operators; no secrets

  std::string ToString() const;  // "reason: message"
};

Error MakeError(Code code, std::string reason, std::string message);

// Result<T>: either a T or an Error. Minimal expected-style type (std::expected
// is C++23 and not available in our C++20 toolchain).
template <typename T>
class [[nodiscard]] Result {
 public:
  // NOLINTNEXTLINE(google-explicit-constructor): a value or an error converts
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  // NOLINTNEXTLINE(google-explicit-constructor): a value or an error converts
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }
  Error&& take_error() {
    assert(!ok());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  // NOLINTNEXTLINE(google-explicit-constructor): a value or an error converts
  Result(Error error) : err_(std::move(error)), ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return err_;
  }
  Error&& take_error() {
    assert(!ok_);
    return std::move(err_);
  }

 private:
  Error err_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Status OkStatus() { return Status(); }

}  // namespace tpmesh

// Propagate an error from an expression returning Result<...>.
#define TPMESH_CONCAT_INNER_(a, b) a##b
#define TPMESH_CONCAT_(a, b) TPMESH_CONCAT_INNER_(a, b)

// Temporaries are named with __COUNTER__, unique per expansion, so the macros
// nest (e.g. inside a lambda passed to a macro) without shadowing.
#define TPMESH_RETURN_IF_ERROR_IMPL_(tmp, expr) \
  do {                                          \
    auto tmp = (expr);                          \
    if (!tmp.ok()) return tmp.take_error();     \
  } while (0)

#define TPMESH_RETURN_IF_ERROR(expr) \
  TPMESH_RETURN_IF_ERROR_IMPL_(TPMESH_CONCAT_(tpmesh_status_, __COUNTER__), expr)

#define TPMESH_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.take_error();             \
  lhs = std::move(tmp).value()

#define TPMESH_ASSIGN_OR_RETURN(lhs, expr) \
  TPMESH_ASSIGN_OR_RETURN_IMPL_(TPMESH_CONCAT_(tpmesh_result_, __COUNTER__), lhs, expr)
