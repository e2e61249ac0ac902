// Binary elementwise kernels (add sub mul div pow maximum minimum, comparisons, logical ops) and where.
#include "elementwise.h"

namespace hearth::cpu {
namespace {

enum class Bin { Add, Sub, Mul, Div, Pow, Maximum, Minimum, Eq, Ne, Lt, Le, Gt, Ge, And, Or, Xor };

constexpr bool writes_bool(Bin op) { return op >= Bin::Eq; }

constexpr const char* bin_name(Bin op) {
  switch (op) {
    case Bin::Add:
      return "add";
    case Bin::Sub:
      return "sub";
    case Bin::Mul:
      return "mul";
    case Bin::Div:
      return "div";
    case Bin::Pow:
      return "pow";
    case Bin::Maximum:
      return "maximum";
    case Bin::Minimum:
      return "minimum";
    case Bin::Eq:
      return "eq";
    case Bin::Ne:
      return "ne";
    case Bin::Lt:
      return "lt";
    case Bin::Le:
      return "le";
    case Bin::Gt:
      return "gt";
    case Bin::Ge:
      return "ge";
    case Bin::And:
      return "logical_and";
    case Bin::Or:
      return "logical_or";
    case Bin::Xor:
      return "logical_xor";
  }
  return "?";
}

// ---- scalar helpers with PyTorch's semantics -----------------------------------------------------
/// c10's div_floor_floating: floor division that is exact for representable quotients.
template <typename M>
inline M div_floor_float(M a, M b) {
  if (b == M(0)) return a / b;
  const M mod = std::fmod(a, b);
  M div = (a - mod) / b;
  if (mod != M(0) && (b < M(0)) != (mod < M(0))) div -= M(1);
  if (div == M(0)) return std::copysign(M(0), a / b);
  M floordiv = std::floor(div);
  if (div - floordiv > M(0.5)) floordiv += M(1);
  return floordiv;
}

/// Integer division toward zero; the caller has rejected b == 0. b == -1 is the one overflow case.
template <typename T>
inline T div_trunc_int(T a, T b) {
  if constexpr (std::is_signed_v<T>) {
    if (b == T(-1)) return wrap_neg(a);
  }
  return static_cast<T>(a / b);
}
template <typename T>
inline T div_floor_int(T a, T b) {
  if constexpr (std::is_signed_v<T>) {
    if (b == T(-1)) return wrap_neg(a);
    if ((a < 0) != (b < 0)) {
      const T q = static_cast<T>(a / b), r = static_cast<T>(a % b);
      return r ? static_cast<T>(q - 1) : q;
    }
  }
  return static_cast<T>(a / b);
}

/// Integer power by squaring (wrapping); negative exponents follow PyTorch's powi.
template <typename T>
inline T powi(T a, T b) {
  if constexpr (std::is_signed_v<T>) {
    if (b < 0) {
      if (a == 1) return 1;
      if (a == -1) return (b & 1) ? T(-1) : T(1);
      return 0;
    }
  }
  T result = 1;
  while (b) {
    if (b & 1) result = wrap_mul(result, a);
    b = static_cast<T>(b / 2);
    a = wrap_mul(a, a);
  }
  return result;
}

template <typename T>
bool any_zero(const Tensor& t) {
  TensorImpl* i = strided_impl(t);
  const int64_t n = i->numel();
  if (i->is_contiguous()) {
    const T* p = data_as<const T>(i);
    bool z = false;
    for (int64_t k = 0; k < n; ++k) z |= (p[k] == T(0));
    return z;
  }
  const Tensor* ops[1] = {&t};
  StridedIter<1> it(ops, 1);
  bool z = false;
  it.for_range(0, n, [&](char** p, const int64_t* st, int64_t m) {
    for (int64_t k = 0; k < m; ++k) z |= (*reinterpret_cast<const T*>(p[0] + k * st[0]) == T(0));
  });
  return z;
}

// ---- per-op drivers ------------------------------------------------------------------------------
struct Operands {
  const Tensor& out;
  const Tensor& a;
  const Tensor* b;  // null: the rhs is attrs.scalar
  const attrs::Binary& at;
};

template <typename T, typename F>
void run(const Operands& o, const F& f, int64_t grain = kGrain) {
  using Out = std::conditional_t<std::is_same_v<std::invoke_result_t<F, opmath_t<T>, opmath_t<T>>, bool>, bool, T>;
  const opmath_t<T> s = o.b ? opmath_t<T>{} : scalar_as<T>(o.at.scalar);
  binary_apply<T, Out>(o.out, o.a, o.b, s, f, grain);
}

template <typename T>
void add_sub(const Operands& o, bool sub) {
  using M = opmath_t<T>;
  if constexpr (std::is_same_v<T, bool>) {
    HEARTH_CHECK(!sub, DTypeError,
                 "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
                 "`logical_xor()` operator instead.");
    const bool alpha = o.at.alpha.to_bool();
    run<T>(o, [alpha](bool x, bool y) -> bool { return x || (alpha && y); });
  } else {
    const M alpha = scalar_as<T>(o.at.alpha);
    const bool unit = alpha == M(1);
    if (!sub) {
      if (unit)
        run<T>(o, [](M x, M y) -> M { return wrap_add(x, y); });
      else
        run<T>(o, [alpha](M x, M y) -> M { return wrap_add(x, wrap_mul(alpha, y)); });
    } else {
      if (unit)
        run<T>(o, [](M x, M y) -> M { return wrap_sub(x, y); });
      else
        run<T>(o, [alpha](M x, M y) -> M { return wrap_sub(x, wrap_mul(alpha, y)); });
    }
  }
}

template <typename T>
void mul_op(const Operands& o) {
  using M = opmath_t<T>;
  if constexpr (std::is_same_v<T, bool>)
    run<T>(o, [](bool x, bool y) -> bool { return x && y; });
  else
    run<T>(o, [](M x, M y) -> M { return wrap_mul(x, y); });
}

template <typename T>
void div_op(const Operands& o) {
  using M = opmath_t<T>;
  const int mode = o.at.rounding_mode;
  HEARTH_CHECK(mode >= 0 && mode <= 2, ValueError, "rounding_mode must be 0 (true), 1 (trunc) or 2 (floor), got ",
               mode);
  if constexpr (is_float_v<T>) {
    if (mode == 0)
      run<T>(o, [](M x, M y) -> M { return x / y; });
    else if (mode == 1)
      run<T>(o, [](M x, M y) -> M { return std::trunc(x / y); });
    else
      run<T>(o, [](M x, M y) -> M { return div_floor_float(x, y); });
  } else {
    HEARTH_CHECK(mode != 0, DTypeError, "true division of ", CppTypeToScalarType<T>::value,
                 " tensors must be computed in a floating dtype (the op layer promotes)");
    // Checked before the loop so that no exception is thrown from inside a parallel region.
    const bool zero = o.b ? any_zero<T>(*o.b) : scalar_as<T>(o.at.scalar) == M(0);
    HEARTH_CHECK(!zero, ValueError, "ZeroDivisionError");
    if (mode == 1)
      run<T>(o, [](M x, M y) -> M { return div_trunc_int(x, y); });
    else
      run<T>(o, [](M x, M y) -> M { return div_floor_int(x, y); });
  }
}

template <typename T>
void pow_op(const Operands& o) {
  using M = opmath_t<T>;
  if constexpr (is_float_v<T>) {
    if (!o.b) {
      // PyTorch's pow_tensor_scalar_optimized_kernel special cases (same results, much faster).
      const double e = o.at.scalar.to_double();
      const M em = scalar_as<T>(o.at.scalar);
      if (e == 2.0) return run<T>(o, [](M x, M) -> M { return x * x; });
      if (e == 3.0) return run<T>(o, [](M x, M) -> M { return x * x * x; });
      if (e == 0.5) return run<T>(o, [](M x, M) -> M { return std::sqrt(x); });
      if (e == -0.5) return run<T>(o, [](M x, M) -> M { return M(1) / std::sqrt(x); });
      if (e == -1.0) return run<T>(o, [](M x, M) -> M { return M(1) / x; });
      if (e == -2.0) return run<T>(o, [](M x, M) -> M { return M(1) / (x * x); });
      (void)em;
    }
    run<T>(
        o, [](M x, M y) -> M { return std::pow(x, y); }, 4096);
  } else {
    if (!o.b) {
      HEARTH_CHECK(!(o.at.scalar.to_double() < 0), ValueError, "Integers to negative integer powers are not allowed.");
    }
    run<T>(o, [](M x, M y) -> M { return powi(x, y); });
  }
}

template <typename T>
void minmax_op(const Operands& o, bool is_max) {
  using M = opmath_t<T>;
  if constexpr (is_float_v<T>) {
    // NaN in either operand gives NaN.
    if (is_max)
      run<T>(o, [](M x, M y) -> M { return (x != x || x > y) ? x : y; });
    else
      run<T>(o, [](M x, M y) -> M { return (x != x || x < y) ? x : y; });
  } else {
    if (is_max)
      run<T>(o, [](M x, M y) -> M { return x > y ? x : y; });
    else
      run<T>(o, [](M x, M y) -> M { return x < y ? x : y; });
  }
}

template <Bin op, typename T>
void compare_op(const Operands& o) {
  using M = opmath_t<T>;
  if constexpr (op == Bin::Eq)
    run<T>(o, [](M x, M y) -> bool { return x == y; });
  else if constexpr (op == Bin::Ne)
    run<T>(o, [](M x, M y) -> bool { return x != y; });
  else if constexpr (op == Bin::Lt)
    run<T>(o, [](M x, M y) -> bool { return x < y; });
  else if constexpr (op == Bin::Le)
    run<T>(o, [](M x, M y) -> bool { return x <= y; });
  else if constexpr (op == Bin::Gt)
    run<T>(o, [](M x, M y) -> bool { return x > y; });
  else
    run<T>(o, [](M x, M y) -> bool { return x >= y; });
}

template <Bin op, typename T>
void logical_op(const Operands& o) {
  using M = opmath_t<T>;
  if constexpr (op == Bin::And)
    run<T>(o, [](M x, M y) -> bool { return convert<bool>(x) && convert<bool>(y); });
  else if constexpr (op == Bin::Or)
    run<T>(o, [](M x, M y) -> bool { return convert<bool>(x) || convert<bool>(y); });
  else
    run<T>(o, [](M x, M y) -> bool { return convert<bool>(x) != convert<bool>(y); });
}

template <Bin op>
void binary_kernel(const KernelArgs& args) {
  constexpr const char* name = bin_name(op);
  static const attrs::Binary kDefault{};
  const attrs::Binary& at = args.attrs ? *static_cast<const attrs::Binary*>(args.attrs) : kDefault;
  const Tensor& a = args.inputs[0];
  const Tensor* b = args.num_inputs >= 2 ? &args.inputs[1] : nullptr;
  HEARTH_CHECK(b || at.rhs_is_scalar, ValueError, "expected two tensors, or one and attrs.rhs_is_scalar");
  const ScalarType ct = a.dtype();
  HEARTH_CHECK(!b || b->dtype() == ct, DTypeError, "inputs must share the compute dtype, got ", ct, " and ",
               b->dtype());
  const Tensor& out = args.outputs[0];
  HEARTH_CHECK(out.dtype() == (writes_bool(op) ? kBool : ct), DTypeError, "output dtype ", out.dtype(),
               " does not match the expected ", (writes_bool(op) ? kBool : ct));
  const Operands o{out, a, b, at};
  if constexpr (op == Bin::Add || op == Bin::Sub) {
    HEARTH_CPU_DISPATCH_ALL(ct, name, { add_sub<scalar_t>(o, op == Bin::Sub); });
  } else if constexpr (op == Bin::Mul) {
    HEARTH_CPU_DISPATCH_ALL(ct, name, { mul_op<scalar_t>(o); });
  } else if constexpr (op == Bin::Div) {
    HEARTH_CPU_DISPATCH_NUMERIC(ct, name, { div_op<scalar_t>(o); });
  } else if constexpr (op == Bin::Pow) {
    HEARTH_CPU_DISPATCH_NUMERIC(ct, name, { pow_op<scalar_t>(o); });
  } else if constexpr (op == Bin::Maximum || op == Bin::Minimum) {
    HEARTH_CPU_DISPATCH_ALL(ct, name, { minmax_op<scalar_t>(o, op == Bin::Maximum); });
  } else if constexpr (op == Bin::And || op == Bin::Or || op == Bin::Xor) {
    HEARTH_CPU_DISPATCH_ALL(ct, name, { logical_op<op, scalar_t>(o); });
  } else {
    HEARTH_CPU_DISPATCH_ALL(ct, name, { compare_op<op, scalar_t>(o); });
  }
}

// where(cond, a, b): a pure selection, so it moves bytes by element size (4 instantiations per
// condition dtype) rather than per dtype.
template <typename C, typename E>
void where_typed(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  TensorImpl* io = strided_impl(out);
  TensorImpl* ic = strided_impl(cond);
  TensorImpl* ia = strided_impl(a);
  TensorImpl* ib = strided_impl(b);
  const int64_t n = io->numel();
  if (n == 0) return;
  if (io->is_contiguous() && ic->is_contiguous() && ia->is_contiguous() && ib->is_contiguous() && ic->numel() == n &&
      ia->numel() == n && ib->numel() == n) {
    E* po = data_as<E>(io);
    const C* pc = data_as<const C>(ic);
    const E* pa = data_as<const E>(ia);
    const E* pb = data_as<const E>(ib);
    parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) {
#pragma omp simd
      for (int64_t i = lo; i < hi; ++i) po[i] = convert<bool>(pc[i]) ? pa[i] : pb[i];
    });
    return;
  }
  const Tensor* ops[4] = {&out, &cond, &a, &b};
  StridedIter<4> it(ops, 4);
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) {
    it.for_range(lo, hi, [&](char** p, const int64_t* st, int64_t m) {
      for (int64_t k = 0; k < m; ++k) {
        const bool c = convert<bool>(*reinterpret_cast<const C*>(p[1] + k * st[1]));
        *reinterpret_cast<E*>(p[0] + k * st[0]) = *reinterpret_cast<const E*>(p[c ? 2 : 3] + k * st[c ? 2 : 3]);
      }
    });
  });
}

void where_kernel(const KernelArgs& args) {
  const Tensor& cond = args.inputs[0];
  const Tensor& a = args.inputs[1];
  const Tensor& b = args.inputs[2];
  const Tensor& out = args.outputs[0];
  HEARTH_CHECK(a.dtype() == out.dtype() && b.dtype() == out.dtype(), DTypeError, "self (", a.dtype(), ") and other (",
               b.dtype(), ") must have the output's dtype ", out.dtype());
  HEARTH_CPU_DISPATCH_ALL(cond.dtype(), "where", {
    dispatch_by_size(out.element_size(), [&](auto et) {
      using E = typename decltype(et)::type;
      where_typed<scalar_t, E>(out, cond, a, b);
    });
  });
}

}  // namespace

void register_binary(PluginRegistrar& r) {
  r.kernel("add", "cpu", binary_kernel<Bin::Add>);
  r.kernel("sub", "cpu", binary_kernel<Bin::Sub>);
  r.kernel("mul", "cpu", binary_kernel<Bin::Mul>);
  r.kernel("div", "cpu", binary_kernel<Bin::Div>);
  r.kernel("pow", "cpu", binary_kernel<Bin::Pow>);
  r.kernel("maximum", "cpu", binary_kernel<Bin::Maximum>);
  r.kernel("minimum", "cpu", binary_kernel<Bin::Minimum>);
  r.kernel("eq", "cpu", binary_kernel<Bin::Eq>);
  r.kernel("ne", "cpu", binary_kernel<Bin::Ne>);
  r.kernel("lt", "cpu", binary_kernel<Bin::Lt>);
  r.kernel("le", "cpu", binary_kernel<Bin::Le>);
  r.kernel("gt", "cpu", binary_kernel<Bin::Gt>);
  r.kernel("ge", "cpu", binary_kernel<Bin::Ge>);
  r.kernel("logical_and", "cpu", binary_kernel<Bin::And>);
  r.kernel("logical_or", "cpu", binary_kernel<Bin::Or>);
  r.kernel("logical_xor", "cpu", binary_kernel<Bin::Xor>);
  r.kernel("where", "cpu", where_kernel);
}

}  // namespace hearth::cpu
