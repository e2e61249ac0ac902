// The gemm op: out = beta*c + alpha*a@b, batched. Floating types go to gemm() (oneDNN; 16-bit types
// through f32 where this CPU has no primitive for them); integers use a plain exact loop.
#include "common.h"

#include <stdexcept>
#include <vector>

#include "gemm.h"

namespace hearth::cpu {
namespace {

/// A (B, R, C) operand's element strides, with size-1 batch broadcast as stride 0.
struct Mat3 {
  char* p;
  int64_t bs, rs, cs;
};

Mat3 mat3(TensorImpl* t, int64_t batch) {
  return {static_cast<char*>(t->data()), (t->size(0) == 1 && batch != 1) ? 0 : t->stride(0), t->stride(1),
          t->stride(2)};
}

/// c's strides broadcast to (B, M, N) (c has rank <= 3; missing or size-1 dims get stride 0).
Mat3 broadcast_c(TensorImpl* c, const int64_t (&shape)[3]) {
  int64_t st[3] = {0, 0, 0};
  const int64_t nd = c->dim();
  HEARTH_CHECK(nd <= 3, ShapeError, "c must have at most 3 dims, got ", nd);
  for (int64_t d = 0; d < nd; ++d) {
    const int64_t od = 3 - nd + d;
    const int64_t s = c->size(static_cast<size_t>(d));
    HEARTH_CHECK(s == 1 || s == shape[od], ShapeError, "c of shape ", c->sizes(), " does not broadcast to the output [",
                 shape[0], ", ", shape[1], ", ", shape[2], "]");
    st[od] = s == 1 ? 0 : c->stride(static_cast<size_t>(d));
  }
  return {static_cast<char*>(c->data()), st[0], st[1], st[2]};
}

/// out (strided) = beta*c + alpha*acc, element by element, for the loop fallback and the f64
/// path with alpha/beta that float cannot hold.
template <typename T, typename Acc>
void axpby_row(T* out_row, int64_t ocs, const Acc* acc, int64_t n, Acc alpha, Acc beta, const T* c_row, int64_t ccs) {
  for (int64_t j = 0; j < n; ++j) {
    Acc v = wrap_mul(alpha, acc[j]);
    if (c_row) v = wrap_add(v, wrap_mul(beta, convert<Acc>(c_row[j * ccs])));
    out_row[j * ocs] = convert<T>(v);
  }
}

/// The reference loop: B packed once into a dense Acc array (so the inner loop is a contiguous,
/// vectorisable axpy), then per row acc = a[b,i,:] @ B[b] and out = alpha*acc + beta*c.
template <typename T, typename Acc>
void gemm_loop(const Mat3& A, const Mat3& Bm, const Mat3* C, const Mat3& O, int64_t batch, int64_t M, int64_t N,
               int64_t K, Acc alpha, Acc beta) {
  const int64_t nbB = Bm.bs == 0 ? 1 : batch;
  std::vector<Acc> bp(static_cast<size_t>(nbB * K * N));
  parallel_for(nbB * K, std::max<int64_t>(1, kGrain / std::max<int64_t>(N, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* brow = reinterpret_cast<const T*>(Bm.p) + (r / K) * Bm.bs + (r % K) * Bm.rs;
      Acc* d = bp.data() + r * N;
      for (int64_t j = 0; j < N; ++j) d[j] = convert<Acc>(brow[j * Bm.cs]);
    }
  });
  const int64_t rows = batch * M;
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(N * std::max<int64_t>(K, 1), 1)),
               [&](int64_t r0, int64_t r1) {
                 std::vector<Acc> acc(static_cast<size_t>(N));
                 for (int64_t r = r0; r < r1; ++r) {
                   const int64_t b = r / M, i = r % M;
                   const T* a = reinterpret_cast<const T*>(A.p) + b * A.bs + i * A.rs;
                   const Acc* bb = bp.data() + (Bm.bs == 0 ? 0 : b) * K * N;
                   Acc* ac = acc.data();
                   std::fill(ac, ac + N, Acc(0));
                   for (int64_t k = 0; k < K; ++k) {
                     const Acc av = convert<Acc>(a[k * A.cs]);
                     const Acc* brow = bb + k * N;
#pragma omp simd
                     for (int64_t j = 0; j < N; ++j) ac[j] = wrap_add(ac[j], wrap_mul(av, brow[j]));
                   }
                   T* orow = reinterpret_cast<T*>(O.p) + b * O.bs + i * O.rs;
                   const T* crow = C ? reinterpret_cast<const T*>(C->p) + b * C->bs + i * C->rs : nullptr;
                   axpby_row<T, Acc>(orow, O.cs, ac, N, alpha, beta, crow, C ? C->cs : 0);
                 }
               });
}

void call_gemm(const GemmArgs& g) {
  try {
    gemm(g);
  } catch (const std::invalid_argument& e) {
    HEARTH_CHECK(false, ValueError, "", e.what());
  } catch (const std::runtime_error& e) {
    HEARTH_CHECK(false, Error, "", e.what());
  }
}

void gemm_kernel(const KernelArgs& args) {
  static const attrs::Gemm kDefault{};
  const attrs::Gemm& at = args.attrs ? *static_cast<const attrs::Gemm*>(args.attrs) : kDefault;
  HEARTH_CHECK(args.num_inputs == 2 || args.num_inputs == 3, ValueError, "expected inputs (a, b) or (a, b, c), got ",
               args.num_inputs);
  TensorImpl* a = strided_impl(args.inputs[0]);
  TensorImpl* b = strided_impl(args.inputs[1]);
  TensorImpl* out = strided_impl(args.outputs[0]);
  TensorImpl* c = (args.num_inputs == 3 && at.beta != 0.0) ? strided_impl(args.inputs[2]) : nullptr;
  HEARTH_CHECK(a->dim() == 3 && b->dim() == 3 && out->dim() == 3, ShapeError, "a ", a->sizes(), ", b ", b->sizes(),
               " and out ", out->sizes(), " must all be 3-D (B, M, K), (B, K, N), (B, M, N)");
  const int64_t batch = out->size(0), M = out->size(1), N = out->size(2), K = a->size(2);
  HEARTH_CHECK(a->size(1) == M && b->size(1) == K && b->size(2) == N && (a->size(0) == batch || a->size(0) == 1) &&
                   (b->size(0) == batch || b->size(0) == 1),
               ShapeError, "shapes a ", a->sizes(), " @ b ", b->sizes(), " do not give out ", out->sizes());
  const ScalarType dt = out->dtype();
  HEARTH_CHECK(a->dtype() == dt && b->dtype() == dt && (!c || c->dtype() == dt), DTypeError, "a (", a->dtype(),
               "), b (", b->dtype(), ")", c ? ", c" : "", " and out (", dt, ") must share a dtype");
  if (out->numel() == 0) return;
  const int64_t shape[3] = {batch, M, N};
  const Mat3 A = mat3(a, batch), Bm = mat3(b, batch), O = mat3(out, batch);
  Mat3 C{};
  if (c) C = broadcast_c(c, shape);

  if (dt == kFloat32 || dt == kFloat64 || dt == kBFloat16 || dt == kFloat16) {
    GemmArgs g;
    g.batch = batch;
    g.M = M;
    g.N = N;
    g.K = K;
    g.A = A.p;
    g.a_bs = A.bs;
    g.a_rs = A.rs;
    g.a_cs = A.cs;
    g.B = Bm.p;
    g.b_bs = Bm.bs;
    g.b_rs = Bm.rs;
    g.b_cs = Bm.cs;
    g.C = O.p;
    g.c_bs = O.bs;
    g.c_rs = O.rs;
    g.c_cs = O.cs;
    g.dtype = dt == kFloat32 ? kGemmF32 : dt == kFloat64 ? kGemmF64 : dt == kBFloat16 ? kGemmBF16 : kGemmF16;
    // GemmArgs holds alpha/beta as float: exact for the usual 1, 0, -1, 0.5, ...; a float64 gemm
    // with other values computes a@b unscaled and applies alpha/beta in double below.
    const bool scale_exact = static_cast<double>(static_cast<float>(at.alpha)) == at.alpha &&
                             static_cast<double>(static_cast<float>(at.beta)) == at.beta;
    if (dt == kFloat64 && !scale_exact) {
      std::vector<double> t(static_cast<size_t>(batch * M * N));
      g.C = t.data();
      g.c_bs = M * N;
      g.c_rs = N;
      g.c_cs = 1;
      call_gemm(g);
      parallel_for(batch * M, std::max<int64_t>(1, kGrain / N), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t bi = r / M, i = r % M;
          double* orow = reinterpret_cast<double*>(O.p) + bi * O.bs + i * O.rs;
          const double* crow = c ? reinterpret_cast<const double*>(C.p) + bi * C.bs + i * C.rs : nullptr;
          axpby_row<double, double>(orow, O.cs, t.data() + r * N, N, at.alpha, at.beta, crow, C.cs);
        }
      });
      return;
    }
    g.alpha = static_cast<float>(at.alpha);
    if (c && at.beta == 1.0 && C.bs == 0 && C.rs == 0 && (C.cs == 1 || N == 1)) {
      // c is one row broadcast over every row (a Linear bias): oneDNN adds it in the same pass.
      g.bias = C.p;
      g.beta = 0.f;
    } else if (c) {
      // out = c broadcast, then out = alpha*a@b + beta*out. Skipped when c is out (addmm_).
      const bool same = C.p == O.p && C.bs == O.bs && C.rs == O.rs && C.cs == O.cs;
      if (!same) copy_into(args.outputs[0], args.inputs[2]);
      g.beta = static_cast<float>(at.beta);
    } else {
      g.beta = 0.f;
    }
    call_gemm(g);
    return;
  }
  HEARTH_CPU_DISPATCH(kInts, dt, "gemm", {
    gemm_loop<scalar_t, int64_t>(A, Bm, c ? &C : nullptr, O, batch, M, N, K, static_cast<int64_t>(at.alpha),
                                 static_cast<int64_t>(at.beta));
  });
}

}  // namespace

void register_gemm(PluginRegistrar& r) { r.kernel("gemm", "cpu", gemm_kernel); }

}  // namespace hearth::cpu
