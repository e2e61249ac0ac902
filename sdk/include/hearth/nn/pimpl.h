// Module holders (LibTorch's ModuleHolder / TORCH_MODULE): `nn::Linear` is a shared handle to an
// `nn::LinearImpl`, so LibTorch-style code (`nn::Linear l(3, 4); l->forward(x)`) compiles. A
// holder converts to std::shared_ptr of its module (or any base), which is what hearth's own
// APIs (Sequential, Trainer, register_module) take, so both styles mix freely.
#pragma once

#include <cstddef>
#include <memory>
#include <ostream>
#include <type_traits>
#include <utility>

#include "hearth/error.h"

namespace hearth::detail {
/// Marks holders so that templates can tell a holder from a module (LibTorch's indicator).
struct ModuleHolderIndicator {};
}  // namespace hearth::detail

namespace hearth::nn {

template <typename T>
inline constexpr bool is_module_holder_v = std::is_base_of_v<::hearth::detail::ModuleHolderIndicator, std::decay_t<T>>;

/// A shared_ptr<Contained> with LibTorch's holder interface: copies share the module.
template <typename Contained>
class ModuleHolder : ::hearth::detail::ModuleHolderIndicator {
 public:
  using ContainedType = Contained;

  /// Default-constructs the module. A module without a default constructor needs `= nullptr`
  /// (the empty state), as in LibTorch.
  ModuleHolder() : impl_(std::make_shared<Contained>()) {
    static_assert(std::is_default_constructible_v<Contained>,
                  "this module has no default constructor: use `= nullptr` for the empty state "
                  "(e.g. `nn::Linear linear = nullptr;`)");
  }
  /// The empty holder; using it raises ValueError until a module is assigned.
  ModuleHolder(std::nullptr_t) : impl_(nullptr) {}  // NOLINT
  /// Constructs the module from these arguments (options or the module's own arguments).
  template <typename Head, typename... Tail>
    requires(!(std::is_base_of_v<ModuleHolder, std::decay_t<Head>> && sizeof...(Tail) == 0) &&
             !(std::is_convertible_v<Head, std::shared_ptr<Contained>> && sizeof...(Tail) == 0))
  explicit ModuleHolder(Head&& head, Tail&&... tail)
      : impl_(std::make_shared<Contained>(std::forward<Head>(head), std::forward<Tail>(tail)...)) {}
  /// Wraps an existing module (`Linear(std::make_shared<LinearImpl>(3, 4))`).
  ModuleHolder(std::shared_ptr<Contained> module) : impl_(std::move(module)) {}  // NOLINT

  explicit operator bool() const noexcept { return !is_empty(); }
  bool is_empty() const noexcept { return impl_ == nullptr; }

  Contained* operator->() { return get(); }
  const Contained* operator->() const { return get(); }
  Contained& operator*() { return *get(); }
  const Contained& operator*() const { return *get(); }
  const std::shared_ptr<Contained>& ptr() const {
    check_not_empty();
    return impl_;
  }
  Contained* get() {
    check_not_empty();
    return impl_.get();
  }
  const Contained* get() const {
    check_not_empty();
    return impl_.get();
  }

  /// Calls the module's forward() with these arguments.
  template <typename... Args>
  decltype(auto) operator()(Args&&... args) {
    return get()->forward(std::forward<Args>(args)...);
  }
  /// Forwards to the module's subscript operator (Sequential, ModuleList, ModuleDict).
  template <typename Arg>
  decltype(auto) operator[](Arg&& arg) {
    return (*get())[std::forward<Arg>(arg)];
  }

  /// hearth's APIs take std::shared_ptr<Module>: a holder is one (an empty holder gives null).
  template <typename U>
    requires std::is_base_of_v<U, Contained>
  operator std::shared_ptr<U>() const {  // NOLINT
    return impl_;
  }

 protected:
  void check_not_empty() const {
    HEARTH_CHECK(impl_ != nullptr, ValueError,
                 "Accessing empty ModuleHolder: it was constructed from nullptr; assign a module first");
  }
  std::shared_ptr<Contained> impl_;
};

template <typename Contained>
std::ostream& operator<<(std::ostream& os, const ModuleHolder<Contained>& m) {
  return os << *m;
}

}  // namespace hearth::nn

/// Declares `Name` as the holder of `ImplType` (LibTorch's TORCH_MODULE_IMPL).
#define HEARTH_MODULE_IMPL(Name, ImplType)                         \
  class Name : public ::hearth::nn::ModuleHolder<ImplType> {       \
   public:                                                         \
    using ::hearth::nn::ModuleHolder<ImplType>::ModuleHolder;      \
    using Impl = ImplType;                                         \
  }

/// Declares `Name` as the holder of `NameImpl` (LibTorch's TORCH_MODULE).
#define HEARTH_MODULE(Name) HEARTH_MODULE_IMPL(Name, Name##Impl)

/// LibTorch's spellings, so that ported code compiles unchanged (docs/libtorch.md).
#ifndef TORCH_MODULE
#define TORCH_MODULE_IMPL(Name, ImplType) HEARTH_MODULE_IMPL(Name, ImplType)
#define TORCH_MODULE(Name) HEARTH_MODULE(Name)
#endif
