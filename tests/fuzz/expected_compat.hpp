// Fuzz builds only: a minimal std::expected for clang 14 on libstdc++ 12, whose
// <expected> is empty there (clang < 16 lacks conditionally trivial special
// members, P0848). Force-included by tests/fuzz/CMakeLists.txt; it covers just
// what ib::Result callers use. Drop it once the fuzz toolchain is clang >= 16.
#pragma once

#include <version>

#if !defined(__cpp_lib_expected)
#include <expected>  // empty here, but included so a later #include is a no-op
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

namespace std {

template <class E>
class unexpected {
public:
    constexpr explicit unexpected(E e) : error_(std::move(e)) {}
    constexpr const E& error() const& { return error_; }
    constexpr E& error() & { return error_; }
    constexpr E&& error() && { return std::move(error_); }

private:
    E error_;
};
template <class E>
unexpected(E) -> unexpected<E>;

template <class T>
struct ib_is_unexpected : false_type {};
template <class E>
struct ib_is_unexpected<unexpected<E>> : true_type {};

template <class T, class E>
class expected {
public:
    using value_type = T;
    using error_type = E;

    constexpr expected() : v_(in_place_index<0>) {}
    template <class U = T>
        requires(is_constructible_v<T, U &&> && !is_same_v<remove_cvref_t<U>, expected> &&
                 !ib_is_unexpected<remove_cvref_t<U>>::value)
    constexpr expected(U&& u) : v_(in_place_index<0>, std::forward<U>(u)) {}
    template <class G>
    constexpr expected(const unexpected<G>& u) : v_(in_place_index<1>, u.error()) {}
    template <class G>
    constexpr expected(unexpected<G>&& u) : v_(in_place_index<1>, std::move(u).error()) {}

    constexpr bool has_value() const { return v_.index() == 0; }
    constexpr explicit operator bool() const { return has_value(); }
    constexpr T& operator*() & { return *get_if<0>(&v_); }
    constexpr const T& operator*() const& { return *get_if<0>(&v_); }
    constexpr T&& operator*() && { return std::move(*get_if<0>(&v_)); }
    constexpr T* operator->() { return get_if<0>(&v_); }
    constexpr const T* operator->() const { return get_if<0>(&v_); }
    constexpr T& value() & { return **this; }
    constexpr const T& value() const& { return **this; }
    constexpr E& error() & { return *get_if<1>(&v_); }
    constexpr const E& error() const& { return *get_if<1>(&v_); }

private:
    variant<T, E> v_;
};

template <class E>
class expected<void, E> {
public:
    using value_type = void;
    using error_type = E;

    constexpr expected() = default;
    template <class G>
    constexpr expected(const unexpected<G>& u) : e_(u.error()) {}
    template <class G>
    constexpr expected(unexpected<G>&& u) : e_(std::move(u).error()) {}

    constexpr bool has_value() const { return !e_.has_value(); }
    constexpr explicit operator bool() const { return has_value(); }
    constexpr void operator*() const {}
    constexpr E& error() & { return *e_; }
    constexpr const E& error() const& { return *e_; }

private:
    optional<E> e_;
};

}  // namespace std
#endif
