// Elementwise loop drivers shared by unary.cpp and binary.cpp: a contiguous fast path that needs no
// iterator, and a StridedIter path (broadcast, strided outputs) split across threads.
#pragma once

#include "common.h"

namespace hearth::cpu {

// The loops below use `omp simd` rather than __restrict: an in-place op has out == in, which
// restrict would forbid, and the op layer guarantees no partial overlap, so lanes are independent.

/// out[i] = f(in[i]) with f on opmath values.
template <typename In, typename Out, typename F>
inline void unary_contig(Out* o, const In* a, int64_t n, const F& f) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) o[i] = Out(f(static_cast<opmath_t<In>>(a[i])));
}

template <typename In, typename Out, typename F>
void unary_apply(const Tensor& out, const Tensor& in, const F& f, int64_t grain = kGrain) {
  TensorImpl* o = strided_impl(out);
  TensorImpl* i = strided_impl(in);
  const int64_t n = o->numel();
  if (n == 0) return;
  if (o->is_contiguous() && i->is_contiguous() && i->numel() == n) {
    Out* po = data_as<Out>(o);
    const In* pi = data_as<const In>(i);
    if (n < grain) return unary_contig(po, pi, n, f);
    parallel_for(n, grain, [&](int64_t b, int64_t e) { unary_contig(po + b, pi + b, e - b, f); });
    return;
  }
  const Tensor* ops[2] = {&out, &in};
  StridedIter<2> it(ops, 2);
  parallel_for(n, grain, [&](int64_t b, int64_t e) {
    it.for_range(b, e, [&](char** p, const int64_t* st, int64_t m) {
      if (st[0] == static_cast<int64_t>(sizeof(Out)) && st[1] == static_cast<int64_t>(sizeof(In))) {
        unary_contig(reinterpret_cast<Out*>(p[0]), reinterpret_cast<const In*>(p[1]), m, f);
      } else {
        for (int64_t k = 0; k < m; ++k)
          *reinterpret_cast<Out*>(p[0] + k * st[0]) =
              Out(f(static_cast<opmath_t<In>>(*reinterpret_cast<const In*>(p[1] + k * st[1]))));
      }
    });
  });
}

/// out[i] = f(a[i], b[i]).
template <typename In, typename Out, typename F>
inline void binary_vv(Out* o, const In* a, const In* b, int64_t n, const F& f) {
  using M = opmath_t<In>;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) o[i] = Out(f(static_cast<M>(a[i]), static_cast<M>(b[i])));
}
/// out[i] = f(a[i], s).
template <typename In, typename Out, typename F>
inline void binary_vs(Out* o, const In* a, opmath_t<In> s, int64_t n, const F& f) {
  using M = opmath_t<In>;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) o[i] = Out(f(static_cast<M>(a[i]), s));
}
/// out[i] = f(s, b[i]).
template <typename In, typename Out, typename F>
inline void binary_sv(Out* o, opmath_t<In> s, const In* b, int64_t n, const F& f) {
  using M = opmath_t<In>;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) o[i] = Out(f(s, static_cast<M>(b[i])));
}

/// out = f(a, b) with a, b broadcast to out; b == nullptr means the scalar `s` is the rhs.
template <typename In, typename Out, typename F>
void binary_apply(const Tensor& out, const Tensor& a, const Tensor* b, opmath_t<In> s, const F& f,
                  int64_t grain = kGrain) {
  using M = opmath_t<In>;
  TensorImpl* o = strided_impl(out);
  TensorImpl* ia = strided_impl(a);
  const int64_t n = o->numel();
  if (n == 0) return;
  constexpr int64_t so = sizeof(Out), si = sizeof(In);
  if (!b) {
    if (o->is_contiguous() && ia->is_contiguous() && ia->numel() == n) {
      Out* po = data_as<Out>(o);
      const In* pa = data_as<const In>(ia);
      if (n < grain) return binary_vs(po, pa, s, n, f);
      parallel_for(n, grain, [&](int64_t lo, int64_t hi) { binary_vs(po + lo, pa + lo, s, hi - lo, f); });
      return;
    }
    const Tensor* ops[2] = {&out, &a};
    StridedIter<2> it(ops, 2);
    parallel_for(n, grain, [&](int64_t lo, int64_t hi) {
      it.for_range(lo, hi, [&](char** p, const int64_t* st, int64_t m) {
        if (st[0] == so && st[1] == si) {
          binary_vs(reinterpret_cast<Out*>(p[0]), reinterpret_cast<const In*>(p[1]), s, m, f);
        } else {
          for (int64_t k = 0; k < m; ++k)
            *reinterpret_cast<Out*>(p[0] + k * st[0]) =
                Out(f(static_cast<M>(*reinterpret_cast<const In*>(p[1] + k * st[1])), s));
        }
      });
    });
    return;
  }
  TensorImpl* ib = strided_impl(*b);
  // The fast path: everything contiguous, nothing broadcast (the tiny-add case: no iterator).
  if (o->is_contiguous() && ia->is_contiguous() && ib->is_contiguous() && ia->numel() == n && ib->numel() == n) {
    Out* po = data_as<Out>(o);
    const In* pa = data_as<const In>(ia);
    const In* pb = data_as<const In>(ib);
    if (n < grain) return binary_vv(po, pa, pb, n, f);
    parallel_for(n, grain, [&](int64_t lo, int64_t hi) { binary_vv(po + lo, pa + lo, pb + lo, hi - lo, f); });
    return;
  }
  const Tensor* ops[3] = {&out, &a, b};
  StridedIter<3> it(ops, 3);
  parallel_for(n, grain, [&](int64_t lo, int64_t hi) {
    it.for_range(lo, hi, [&](char** p, const int64_t* st, int64_t m) {
      Out* po = reinterpret_cast<Out*>(p[0]);
      const In* pa = reinterpret_cast<const In*>(p[1]);
      const In* pb = reinterpret_cast<const In*>(p[2]);
      if (st[0] == so && st[1] == si && st[2] == si) {
        binary_vv(po, pa, pb, m, f);
      } else if (st[0] == so && st[1] == si && st[2] == 0) {
        binary_vs(po, pa, static_cast<M>(*pb), m, f);
      } else if (st[0] == so && st[1] == 0 && st[2] == si) {
        binary_sv(po, static_cast<M>(*pa), pb, m, f);
      } else {
        for (int64_t k = 0; k < m; ++k)
          *reinterpret_cast<Out*>(p[0] + k * st[0]) =
              Out(f(static_cast<M>(*reinterpret_cast<const In*>(p[1] + k * st[1])),
                    static_cast<M>(*reinterpret_cast<const In*>(p[2] + k * st[2]))));
      }
    });
  });
}

}  // namespace hearth::cpu
