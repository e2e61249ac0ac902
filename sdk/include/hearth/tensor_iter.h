// Strided iteration for elementwise kernels: broadcasts inputs to the output's shape (stride 0),
// merges dims that are contiguous in every operand, and walks the result as runs of the inner
// dim, from any linear start so kernels can split the work across threads.
#pragma once

#include <algorithm>
#include <cstdint>

#include "hearth/error.h"
#include "hearth/tensor.h"

namespace hearth {

template <int MaxOperands>
class StridedIter {
 public:
  static constexpr int kMaxDims = 16;

  /// operands[0] is the output; the rest broadcast to its shape.
  StridedIter(const Tensor* const* operands, int n) : n_(n) {
    HEARTH_INTERNAL_ASSERT(n <= MaxOperands);
    const Tensor& out = *operands[0];
    const int64_t nd = out.dim();
    HEARTH_CHECK(nd <= kMaxDims, ShapeError, "elementwise ops support at most ", kMaxDims, " dims, got ", nd);
    numel_ = out.numel();
    // Dims in reverse order (innermost first).
    ndim_ = static_cast<int>(nd);
    for (int d = 0; d < ndim_; ++d) sizes_[d] = out.size(nd - 1 - d);
    for (int k = 0; k < n; ++k) {
      const Tensor& t = *operands[k];
      ptrs_[k] = static_cast<char*>(t.data_ptr());
      const int64_t es = static_cast<int64_t>(t.element_size());
      const int64_t tnd = t.dim();
      for (int d = 0; d < ndim_; ++d) {
        int64_t td = tnd - 1 - d;
        strides_[k][d] = (td >= 0 && t.size(td) != 1) ? t.stride(td) * es : 0;
      }
    }
    coalesce();
  }

  int64_t numel() const { return numel_; }
  int ndim() const { return ndim_; }
  /// Byte stride of operand k in the innermost (run) dim.
  int64_t inner_stride(int k) const { return ndim_ ? strides_[k][0] : 0; }

  /// Calls f(char* ptrs[], const int64_t inner_strides[], int64_t count) for runs covering
  /// linear indices [begin, end).
  template <typename F>
  void for_range(int64_t begin, int64_t end, F&& f) const {
    if (begin >= end) return;
    int64_t idx[kMaxDims] = {};
    char* p[MaxOperands] = {};
    int64_t inner[MaxOperands] = {};
    for (int k = 0; k < n_; ++k) { p[k] = ptrs_[k]; inner[k] = ndim_ ? strides_[k][0] : 0; }
    if (ndim_ == 0) {  // 0-dim: one element
      f(p, inner, int64_t{1});
      return;
    }
    int64_t rem = begin;
    for (int d = 0; d < ndim_; ++d) {
      idx[d] = rem % sizes_[d];
      rem /= sizes_[d];
      for (int k = 0; k < n_; ++k) p[k] += idx[d] * strides_[k][d];
    }
    int64_t todo = end - begin;
    while (todo > 0) {
      int64_t run = std::min(sizes_[0] - idx[0], todo);
      f(p, inner, run);
      todo -= run;
      if (todo == 0) break;
      // Advance to the start of the next run.
      for (int k = 0; k < n_; ++k) p[k] += run * strides_[k][0];
      idx[0] += run;
      for (int d = 0; d < ndim_ && idx[d] == sizes_[d]; ++d) {
        for (int k = 0; k < n_; ++k) p[k] -= sizes_[d] * strides_[k][d];
        idx[d] = 0;
        if (d + 1 < ndim_) {
          ++idx[d + 1];
          for (int k = 0; k < n_; ++k) p[k] += strides_[k][d + 1];
        }
      }
    }
  }

 private:
  void coalesce() {
    // Drop size-1 dims, then merge d and d+1 when every operand has stride[d+1] == size[d]*stride[d].
    int w = 0;
    for (int d = 0; d < ndim_; ++d) {
      if (sizes_[d] == 1) continue;
      sizes_[w] = sizes_[d];
      for (int k = 0; k < n_; ++k) strides_[k][w] = strides_[k][d];
      ++w;
    }
    ndim_ = w;
    if (ndim_ == 0 && numel_ == 1) return;
    if (ndim_ == 0) { ndim_ = 1; sizes_[0] = numel_; for (int k = 0; k < n_; ++k) strides_[k][0] = 0; return; }
    int out = 0;
    for (int d = 1; d < ndim_; ++d) {
      bool ok = true;
      for (int k = 0; k < n_; ++k)
        if (strides_[k][d] != sizes_[out] * strides_[k][out]) { ok = false; break; }
      if (ok) {
        sizes_[out] *= sizes_[d];
      } else {
        ++out;
        sizes_[out] = sizes_[d];
        for (int k = 0; k < n_; ++k) strides_[k][out] = strides_[k][d];
      }
    }
    ndim_ = out + 1;
  }

  int n_;
  int ndim_ = 0;
  int64_t numel_ = 0;
  int64_t sizes_[kMaxDims] = {};
  int64_t strides_[MaxOperands][kMaxDims] = {};
  char* ptrs_[MaxOperands] = {};
};

}  // namespace hearth
