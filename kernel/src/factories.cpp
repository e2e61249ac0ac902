// Tensor factories: empty/zeros/ones/full, ranges, eye, random fills, from_blob and nested lists.
#include <cmath>
#include <cstring>

#include "autograd/internal.h"
#include "hearth/functions.h"
#include "hearth/op_attrs.h"
#include "ops/op_utils.h"

namespace hearth {

using ops::new_tensor;

namespace {
/// TensorOptions::requires_grad: applied last, once the values are written (a leaf that
/// requires grad may not be written in place).
Tensor with_grad(Tensor t, const TensorOptions& o) {
  if (o.requires_grad()) t.requires_grad_(true);
  return t;
}
}  // namespace

Tensor empty(IntArrayRef sizes, const TensorOptions& o) { return with_grad(new_tensor(sizes, o.dtype(), o.device()), o); }

Tensor empty_strided(IntArrayRef sizes, IntArrayRef strides, const TensorOptions& o) {
  HEARTH_CHECK(sizes.size() == strides.size(), ShapeError, "empty_strided: sizes ", sizes, " and strides ", strides,
               " differ in length");
  int64_t max_index = 0;
  bool empty_t = false;
  for (size_t i = 0; i < sizes.size(); ++i) {
    HEARTH_CHECK(sizes[i] >= 0 && strides[i] >= 0, ShapeError, "empty_strided: negative size or stride");
    if (sizes[i] == 0) empty_t = true;
  }
  size_t bytes = 0;
  if (!empty_t) {
    bool ovf = false;
    for (size_t i = 0; i < sizes.size(); ++i) {
      int64_t span = 0;
      ovf |= __builtin_mul_overflow(sizes[i] - 1, strides[i], &span) || __builtin_add_overflow(max_index, span, &max_index);
    }
    ovf |= __builtin_mul_overflow(static_cast<size_t>(max_index) + 1, element_size(o.dtype()), &bytes);
    HEARTH_CHECK(!ovf, ShapeError, "empty_strided: sizes ", sizes, " and strides ", strides, " overflow int64");
  }
  auto storage = detail::make_intrusive<StorageImpl>(bytes, o.device());
  return with_grad(Tensor(detail::make_intrusive<TensorImpl>(std::move(storage), o.dtype(), sizes, strides, 0)), o);
}

Tensor full(IntArrayRef sizes, const Scalar& value, const TensorOptions& o) {
  TensorOptions opts = o.dtype_opt() ? o : o.dtype(value.dtype());
  Tensor t = new_tensor(sizes, opts.dtype(), opts.device());
  t.fill_(value);
  return with_grad(t, o);
}
Tensor zeros(IntArrayRef sizes, const TensorOptions& o) { return full(sizes, 0, o.dtype(o.dtype())); }
Tensor ones(IntArrayRef sizes, const TensorOptions& o) { return full(sizes, 1, o.dtype(o.dtype())); }

namespace {
TensorOptions like(const Tensor& t, const TensorOptions& o) {
  TensorOptions r = t.options();
  if (o.dtype_opt()) r = r.dtype(*o.dtype_opt());
  if (o.has_device()) r = r.device(o.device());
  return r.requires_grad(o.requires_grad());
}
}  // namespace

Tensor empty_like(const Tensor& t, const TensorOptions& o) { return empty(t.sizes(), like(t, o)); }
Tensor zeros_like(const Tensor& t, const TensorOptions& o) { return zeros(t.sizes(), like(t, o)); }
Tensor ones_like(const Tensor& t, const TensorOptions& o) { return ones(t.sizes(), like(t, o)); }
Tensor full_like(const Tensor& t, const Scalar& v, const TensorOptions& o) { return full(t.sizes(), v, like(t, o)); }

Tensor scalar_tensor(const Scalar& s, const TensorOptions& o) {
  return full({}, s, o.dtype_opt() ? o : o.dtype(s.dtype()));
}

Tensor arange(const Scalar& end, const TensorOptions& o) { return arange(0, end, 1, o); }

Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step, const TensorOptions& o) {
  const double s = start.to_double(), e = end.to_double(), st = step.to_double();
  HEARTH_CHECK(st != 0, ValueError, "arange: step must be nonzero");
  HEARTH_CHECK(std::isfinite(s) && std::isfinite(e), ValueError, "arange: unsupported range ", s, " -> ", e);
  HEARTH_CHECK((st > 0 && e >= s) || (st < 0 && e <= s), ValueError,
               "arange: upper bound and larger bound inconsistent with step sign");
  const bool all_int = start.is_integral() && end.is_integral() && step.is_integral();
  TensorOptions opts = o.dtype_opt() ? o : o.dtype(all_int ? kInt64 : default_dtype());
  int64_t n;
  if (all_int) {
    const int64_t si = start.to_long(), ei = end.to_long(), sti = step.to_long();
    n = (ei - si + sti + (sti > 0 ? -1 : 1)) / sti;
  } else {
    n = static_cast<int64_t>(std::ceil((e - s) / st));
  }
  Tensor t = new_tensor({n}, opts.dtype(), opts.device());
  attrs::Range a{s, e, st, n, false};
  static const OpHandle op = ops::op_handle("range_fill_");
  ops::call(op, t.device(), {}, {t}, &a);
  return with_grad(t, o);
}

Tensor linspace(double start, double end, int64_t steps, const TensorOptions& o) {
  HEARTH_CHECK(steps >= 0, ValueError, "linspace: number of steps must be non-negative, got ", steps);
  Tensor t = new_tensor({steps}, o.dtype(), o.device());
  const double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  attrs::Range a{start, end, step, steps, true};
  static const OpHandle op = ops::op_handle("range_fill_");
  ops::call(op, t.device(), {}, {t}, &a);
  return with_grad(t, o);
}

Tensor eye(int64_t n, std::optional<int64_t> m_opt, const TensorOptions& o) {
  const int64_t m = m_opt.value_or(n);
  HEARTH_CHECK(n >= 0 && m >= 0, ValueError, "eye: n and m must be non-negative, got ", n, ", ", m);
  Tensor t = zeros({n, m}, o.requires_grad(false));
  if (n > 0 && m > 0) t.diagonal().fill_(1);  // a view: eye is composite
  return with_grad(t, o);
}

namespace {
Tensor& random_fill(const char* opname, Tensor& t, double a, double b, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  // normal_ draws two words per element (Box-Muller pairs); reserve enough for the widest use.
  attrs::Random r;
  r.seed = g.seed();
  r.offset = g.reserve(static_cast<uint64_t>(t.numel()) * 2 + 4);
  r.a = a;
  r.b = b;
  ops::check_no_internal_overlap(t, opname);
  if (is_grad_enabled()) autograd::check_inplace(t, false, opname);
  ops::call(find_op(opname), t.device(), {}, {t}, &r);
  t.impl()->bump_version();
  autograd::internal::rebase_constant(t, opname);
  return t;
}
}  // namespace

Tensor& uniform_(Tensor& t, double from, double to, Generator* gen) {
  HEARTH_CHECK(t.is_floating_point(), DTypeError, "uniform_ expects a floating point tensor, got ", t.dtype());
  HEARTH_CHECK(from <= to, ValueError, "uniform_ expects to return a [from, to) range, but found from=", from,
               " > to=", to);
  return random_fill("uniform_", t, from, to, gen);
}

Tensor& normal_(Tensor& t, double mean, double std, Generator* gen) {
  HEARTH_CHECK(t.is_floating_point(), DTypeError, "normal_ expects a floating point tensor, got ", t.dtype());
  HEARTH_CHECK(std >= 0, ValueError, "normal_ expects std >= 0.0, but found std ", std);
  return random_fill("normal_", t, mean, std, gen);
}

Tensor rand(IntArrayRef sizes, const TensorOptions& o, Generator* gen) {
  Tensor t = empty(sizes, o.requires_grad(false));
  uniform_(t, 0.0, 1.0, gen);
  return with_grad(t, o);
}

Tensor randn(IntArrayRef sizes, const TensorOptions& o, Generator* gen) {
  Tensor t = empty(sizes, o.requires_grad(false));
  normal_(t, 0.0, 1.0, gen);
  return with_grad(t, o);
}

Tensor randint(int64_t low, int64_t high, IntArrayRef sizes, const TensorOptions& o, Generator* gen) {
  HEARTH_CHECK(low < high, ValueError, "randint: random_ expects 'from' to be less than 'to', but got from=", low,
               " >= to=", high);
  Tensor t = empty(sizes, (o.dtype_opt() ? o : o.dtype(kInt64)).requires_grad(false));
  random_fill("randint_", t, static_cast<double>(low), static_cast<double>(high), gen);
  return with_grad(t, o);
}

Tensor randperm(int64_t n, const TensorOptions& o, Generator* gen) {
  HEARTH_CHECK(n >= 0, ValueError, "randperm: n must be non-negative, got ", n);
  Tensor t = empty({n}, (o.dtype_opt() ? o : o.dtype(kInt64)).requires_grad(false));
  random_fill("randperm_", t, 0.0, static_cast<double>(n), gen);
  return with_grad(t, o);
}

Generator& default_generator() {
  static Generator g;
  return g;
}
void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

Tensor from_blob(void* data, IntArrayRef sizes, const TensorOptions& o) {
  return from_blob(data, sizes, contiguous_strides(sizes), o);
}

Tensor from_blob(void* data, IntArrayRef sizes, IntArrayRef strides, const TensorOptions& o) {
  HEARTH_CHECK(sizes.size() == strides.size(), ShapeError, "from_blob: sizes ", sizes, " and strides ", strides,
               " differ in length");
  int64_t max_index = 0;
  bool empty_t = false;
  for (size_t i = 0; i < sizes.size(); ++i) {
    HEARTH_CHECK(sizes[i] >= 0 && strides[i] >= 0, ShapeError, "from_blob: negative size or stride");
    if (sizes[i] == 0) empty_t = true;
    max_index += (sizes[i] - 1) * strides[i];
  }
  HEARTH_CHECK(data != nullptr || empty_t, ValueError, "from_blob: null data pointer");
  const size_t bytes = empty_t ? 0 : static_cast<size_t>(max_index + 1) * element_size(o.dtype());
  auto storage = detail::make_intrusive<StorageImpl>(data, bytes, o.device(), nullptr);
  return with_grad(Tensor(detail::make_intrusive<TensorImpl>(std::move(storage), o.dtype(), sizes, strides, 0)), o);
}

Tensor from_blob(void* data, IntArrayRef sizes, std::function<void(void*)> deleter, const TensorOptions& o) {
  size_t bytes = 0;
  HEARTH_CHECK(!__builtin_mul_overflow(static_cast<size_t>(checked_numel(sizes)), element_size(o.dtype()), &bytes),
               ShapeError, "from_blob: shape ", sizes, " of ", o.dtype(), " overflows the address space");
  auto storage = detail::make_intrusive<StorageImpl>(data, bytes, o.device(), std::move(deleter));
  return with_grad(
      Tensor(detail::make_intrusive<TensorImpl>(std::move(storage), o.dtype(), sizes, contiguous_strides(sizes), 0)), o);
}

namespace {
void collect(const NestedList& l, size_t depth, DimVector& shape, std::vector<Scalar>& vals, Scalar::Kind& kind) {
  if (!l.is_list()) {
    HEARTH_CHECK(depth == shape.size(), ShapeError, "tensor(): ragged nested list (a value at depth ", depth,
                 " where lists of depth ", shape.size(), " were seen)");
    vals.push_back(l.scalar());
    if (static_cast<int>(l.kind()) > static_cast<int>(kind)) kind = l.kind();
    return;
  }
  const int64_t n = static_cast<int64_t>(l.children().size());
  if (depth == shape.size() && vals.empty()) {
    shape.push_back(n);
  } else {
    HEARTH_CHECK(depth < shape.size() && shape[depth] == n, ShapeError,
                 "tensor(): ragged nested list: expected sequence of length ",
                 depth < shape.size() ? shape[depth] : 0, " at dim ", depth, " (got ", n, ")");
  }
  for (const auto& c : l.children()) collect(c, depth + 1, shape, vals, kind);
}
}  // namespace

Tensor tensor(const NestedList& values, const TensorOptions& o) {
  DimVector shape;
  std::vector<Scalar> vals;
  Scalar::Kind kind = Scalar::Kind::Bool;
  collect(values, 0, shape, vals, kind);
  HEARTH_CHECK(checked_numel(shape) == static_cast<int64_t>(vals.size()), ShapeError,
               "tensor(): ragged nested list for shape ", shape);
  const ScalarType inferred = kind == Scalar::Kind::Bool ? kBool : kind == Scalar::Kind::Int ? kInt64 : default_dtype();
  const ScalarType dt = o.dtype_opt() ? *o.dtype_opt() : inferred;
  Tensor host = new_tensor(shape, dt, Device(kCPUType));
  // The kernel owns host memory, so it may write host tensors directly.
  char* p = static_cast<char*>(host.data_ptr());
  visit_dtype(dt, [&](auto v) {
    using T = decltype(v);
    for (size_t i = 0; i < vals.size(); ++i) {
      T x;
      if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) x = T(static_cast<float>(vals[i].to_double()));
      else x = vals[i].to<T>();
      std::memcpy(p + i * sizeof(T), &x, sizeof(T));
    }
    return 0;
  });
  return with_grad(o.has_device() ? host.to(o.device()) : host, o);
}

}  // namespace hearth
