// matmul / mm / bmm / addmm over one batched "gemm" primitive; broadcast batch dims become
// stride-0 batch strides, so nothing is copied for them. mm, bmm and addmm record
// MatmulBackward; matmul is composite (views around mm or bmm).
#include "../autograd/functions.h"
#include "hearth/op_attrs.h"
#include "op_utils.h"

namespace hearth {
namespace {

using autograd::tensor_list;

/// mm / bmm / addmm: out = beta*self + alpha * a @ b. Gradients: self gets beta*g (summed to its
/// shape by the engine), a gets alpha * g @ b^T, b gets alpha * a^T @ g.
class MatmulBackward final : public autograd::SavingNode<2> {
 public:
  MatmulBackward(const char* name, bool batched, bool has_self, Scalar alpha, Scalar beta)
      : name_(name), batched_(batched), has_self_(has_self), alpha_(alpha), beta_(beta) {}
  std::string name() const override { return name_; }
  bool batched() const { return batched_; }
  tensor_list apply(tensor_list&& g) override {
    const size_t ia = has_self_ ? 1 : 0, ib = ia + 1;
    tensor_list r(num_outputs());
    auto mt = [&](const Tensor& t) { return batched_ ? t.transpose(1, 2) : t.t(); };
    auto prod = [&](const Tensor& x, const Tensor& y) { return batched_ ? bmm(x, y) : mm(x, y); };
    auto scale = [](Tensor t, const Scalar& s) { return s.equal(1) ? t : t.mul(s); };
    if (has_self_ && needs_input_grad(0)) r[0] = scale(g[0], beta_);
    if (needs_input_grad(ia)) r[ia] = scale(prod(g[0], mt(saved(1))), alpha_);
    if (needs_input_grad(ib)) {
      // b is often a transposed weight (linear: x @ w.t()). Its gradient then goes back through
      // t() to the weight: computing (g^T a)^T gives the weight's own row-major layout there, so
      // the gradient needs no transposing copy before accumulation and the optimizer step.
      if (b_transposed_)
        r[ib] = scale(mm(g[0].t(), saved(0)), alpha_).t();
      else
        r[ib] = scale(prod(mt(saved(0)), g[0]), alpha_);
    }
    return r;
  }

  bool b_transposed_ = false;  ///< b (2-D) is the transpose of a row-major matrix

 private:
  const char* name_;
  bool batched_, has_self_;
  Scalar alpha_, beta_;
};

/// Saves what the gradients need: a for b's gradient, b for a's.
void save_operands(MatmulBackward& n, const Tensor& a, const Tensor& b, size_t ia) {
  if (n.needs_input_grad(ia + 1)) n.save(0, a);
  if (n.needs_input_grad(ia)) n.save(1, b);
  n.b_transposed_ = !n.batched() && b.dim() == 2 && b.size(0) > 1 && b.size(1) > 1 && b.stride(0) == 1 &&
                    b.stride(1) == b.size(0);
}

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  HEARTH_CHECK(a.dtype() == b.dtype(), DTypeError, op, ": expected m1 and m2 to have the same dtype, but got: ",
               a.dtype(), " != ", b.dtype());
  HEARTH_CHECK(a.dtype() != kBool, DTypeError, op, ": not implemented for 'bool'");
}

/// out (B,M,N) = beta*c + alpha * a (B,M,K) @ b (B,K,N)
Tensor gemm3(const Tensor& a, const Tensor& b, const Tensor* c, double alpha, double beta, const char* name) {
  static const OpHandle op = find_op("gemm");
  Device dev = ops::common_device(name, {&a, &b, c ? c : &a});
  Tensor out = ops::new_tensor({a.size(0), a.size(1), b.size(2)}, a.dtype(), dev);
  attrs::Gemm at{alpha, beta};
  if (c && beta != 0.0) {
    Tensor cc = c->dtype() == a.dtype() ? *c : c->to(a.dtype());
    ops::call(op, dev, {a, b, cc}, {out}, &at);
  } else {
    at.beta = 0.0;
    ops::call(op, dev, {a, b}, {out}, &at);
  }
  return out;
}

}  // namespace

Tensor mm(const Tensor& a, const Tensor& b) {
  HEARTH_CHECK(a.dim() == 2 && b.dim() == 2, ShapeError, "mm: expected 2-D tensors, got shapes ", a.sizes(), " and ",
               b.sizes());
  HEARTH_CHECK(a.size(1) == b.size(0), ShapeError, "mm: mat1 and mat2 shapes cannot be multiplied (", a.size(0), "x",
               a.size(1), " and ", b.size(0), "x", b.size(1), ")");
  check_same_dtype("mm", a, b);
  const bool rec = autograd::any_requires_grad({&a, &b});
  Tensor out;
  {
    autograd::internal::ForwardGuard fg(rec);
    out = ops::own_view(gemm3(a.unsqueeze(0), b.unsqueeze(0), nullptr, 1.0, 0.0, "mm").squeeze(0));
  }
  if (rec) {
    auto n = std::make_shared<MatmulBackward>("MmBackward", false, false, 1, 0);
    autograd::record(n, {&a, &b}, {&out});
    save_operands(*n, a, b, 0);
  }
  return out;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  HEARTH_CHECK(a.dim() == 3 && b.dim() == 3, ShapeError, "bmm: expected 3-D tensors, got shapes ", a.sizes(), " and ",
               b.sizes());
  HEARTH_CHECK(a.size(0) == b.size(0) && a.size(2) == b.size(1), ShapeError, "bmm: shapes ", a.sizes(), " and ",
               b.sizes(), " cannot be multiplied (batch sizes must match and a.size(2) == b.size(1))");
  check_same_dtype("bmm", a, b);
  const bool rec = autograd::any_requires_grad({&a, &b});
  Tensor out;
  {
    autograd::internal::ForwardGuard fg(rec);
    out = gemm3(a, b, nullptr, 1.0, 0.0, "bmm");
  }
  if (rec) {
    auto n = std::make_shared<MatmulBackward>("BmmBackward", true, false, 1, 0);
    autograd::record(n, {&a, &b}, {&out});
    save_operands(*n, a, b, 0);
  }
  return out;
}

Tensor addmm(const Tensor& self, const Tensor& m1, const Tensor& m2, const Scalar& beta, const Scalar& alpha) {
  HEARTH_CHECK(m1.dim() == 2 && m2.dim() == 2, ShapeError, "addmm: expected 2-D matrices, got shapes ", m1.sizes(),
               " and ", m2.sizes());
  HEARTH_CHECK(m1.size(1) == m2.size(0), ShapeError, "addmm: mat1 and mat2 shapes cannot be multiplied (", m1.size(0),
               "x", m1.size(1), " and ", m2.size(0), "x", m2.size(1), ")");
  check_same_dtype("addmm", m1, m2);
  DimVector want{m1.size(0), m2.size(1)};
  DimVector b = broadcast_shapes(self.sizes(), want);
  HEARTH_CHECK(IntArrayRef(b) == IntArrayRef(want), ShapeError, "addmm: self of shape ", self.sizes(),
               " cannot be broadcast to the result shape ", IntArrayRef(want));
  const bool rec = autograd::any_requires_grad({&self, &m1, &m2});
  Tensor out;
  {
    autograd::internal::ForwardGuard fg(rec);
    Tensor c = self.expand(want).unsqueeze(0);
    out = ops::own_view(
        gemm3(m1.unsqueeze(0), m2.unsqueeze(0), &c, alpha.to_double(), beta.to_double(), "addmm").squeeze(0));
  }
  if (rec) {
    auto n = std::make_shared<MatmulBackward>("AddmmBackward", false, true, alpha, beta);
    autograd::record(n, {&self, &m1, &m2}, {&out});
    save_operands(*n, m1, m2, 1);
  }
  return out;
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  HEARTH_CHECK(a.dim() >= 1 && b.dim() >= 1, ShapeError, "matmul: both arguments need at least 1 dimension, got ",
               a.dim(), "D and ", b.dim(), "D");
  check_same_dtype("matmul", a, b);
  if (a.dim() == 2 && b.dim() == 2) return mm(a, b);
  // Promote vectors to matrices, remember which dims to drop at the end.
  Tensor x = a.dim() == 1 ? a.unsqueeze(0) : a;
  Tensor y = b.dim() == 1 ? b.unsqueeze(1) : b;
  const int64_t m = x.size(-2), k = x.size(-1), k2 = y.size(-2), n = y.size(-1);
  HEARTH_CHECK(k == k2, ShapeError, "matmul: shapes ", a.sizes(), " and ", b.sizes(), " cannot be multiplied (", k,
               " != ", k2, ")");
  IntArrayRef xb = x.sizes().slice(0, x.dim() - 2), yb = y.sizes().slice(0, y.dim() - 2);
  DimVector batch = broadcast_shapes(xb, yb);
  DimVector xs(batch.begin(), batch.end()), ys(batch.begin(), batch.end());
  xs.push_back(m); xs.push_back(k);
  ys.push_back(k); ys.push_back(n);
  int64_t bn = 1;
  for (auto v : batch) bn *= v;
  Tensor x3 = x.expand(xs).reshape({bn, m, k});
  Tensor y3 = y.expand(ys).reshape({bn, k, n});
  // Composite: bmm records the product, the expand/reshape/view around it record how the
  // gradient flows back (broadcast batch dims are summed away by expand's backward). The result
  // is bmm's own output reshaped: not a view (PyTorch's _unsafe_view).
  Tensor out = bmm(x3, y3);
  DimVector os(batch.begin(), batch.end());
  if (a.dim() > 1) os.push_back(m);
  if (b.dim() > 1) os.push_back(n);
  return ops::own_view(out.view(os));
}

Tensor Tensor::matmul(const Tensor& o) const { return hearth::matmul(*this, o); }
Tensor Tensor::mm(const Tensor& o) const { return hearth::mm(*this, o); }
Tensor Tensor::bmm(const Tensor& o) const { return hearth::bmm(*this, o); }

}  // namespace hearth
