// Result<T>: a value or a std::error_code. The engine, index, io and format code return these
// instead of throwing; the FUSE edge maps the error to an errno once (errc.h: to_errno).
//
// Method names follow std::expected (C++23) so the type can later become an alias.
#pragma once

#include <cassert>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "engine/base/errc.h"

namespace vdofs {

template <typename T>
class [[nodiscard]] Result {
 public:
  using value_type = T;

  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(std::error_code ec) : v_(std::in_place_index<1>, ec) {      // NOLINT
    assert(ec && "a Result error must be a real error");
  }
  template <typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
  Result(E e) : Result(std::error_code(make_error_code(e))) {}  // NOLINT

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    assert(has_value());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  std::error_code error() const noexcept {
    return has_value() ? std::error_code() : std::get<1>(v_);
  }

 private:
  std::variant<T, std::error_code> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(std::error_code ec) : ec_(ec) {}  // NOLINT
  template <typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
  Result(E e) : ec_(make_error_code(e)) {}  // NOLINT

  bool has_value() const noexcept { return !ec_; }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const { assert(has_value()); }
  std::error_code error() const noexcept { return ec_; }

 private:
  std::error_code ec_;
};

inline Result<void> ok() { return {}; }

}  // namespace vdofs

// Propagate an error from an expression returning Result<...>.
#define VDOFS_TRY(expr)                              \
  do {                                               \
    if (auto vdofs_try_r_ = (expr); !vdofs_try_r_) { \
      return vdofs_try_r_.error();                   \
    }                                                \
  } while (0)

#define VDOFS_CONCAT_INNER(a, b) a##b
#define VDOFS_CONCAT(a, b) VDOFS_CONCAT_INNER(a, b)
// VDOFS_ASSIGN(auto x, expr): declare x from a Result's value, or return its error.
#define VDOFS_ASSIGN(decl, expr) VDOFS_ASSIGN_IMPL(VDOFS_CONCAT(vdofs_r_, __LINE__), decl, expr)
#define VDOFS_ASSIGN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                       \
  if (!tmp) return tmp.error();            \
  decl = std::move(tmp).value()
