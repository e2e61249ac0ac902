// Multi-tensor apply for the fused CPU updates (SEED F9): every eligible parameter of a group
// becomes one Item (raw pointers to the parameter, its gradient and up to three state buffers),
// the items are cut into fixed chunks and one loop nest runs the update over all of them —
// in parallel when the group is large enough. Updates are elementwise, so the result does not
// depend on the number of threads or the chunking.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "hearth/functions.h"
#include "hearth/optim/optimizer.h"

namespace hearth_optim {

using hearth::Tensor;

template <typename T>
struct Item {
  T* p;           // parameter
  const T* g;     // gradient
  T* s[3];        // state buffers (meaning per optimizer; null where unused)
  int64_t n;      // elements
  bool first;     // the state was just created (SGD's first momentum step copies the gradient)
  double c0, c1;  // per-parameter numbers (bias corrections, step size...)
};

/// Below this many elements in a group one thread is faster than waking the team.
constexpr int64_t kParallelMin = int64_t{1} << 16;

/// Runs f(item, begin, end) over every element of every item: one pass per step over the group.
/// The items' elements, laid end to end, are cut into one contiguous range per thread, so the
/// threads get equal work whatever the parameters' sizes (a static schedule of fixed chunks gave
/// one thread 196k of mlp's 235k elements).
template <typename T, typename F>
void for_each_chunk(const std::vector<Item<T>>& items, F&& f) {
  int64_t total = 0;
  for (const auto& it : items) total += it.n;
  if (total < kParallelMin || omp_get_max_threads() == 1 || omp_in_parallel()) {
    for (const auto& it : items) f(it, int64_t{0}, it.n);
    return;
  }
#pragma omp parallel
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t b = total * t / nt, e = total * (t + 1) / nt;
    int64_t base = 0;
    for (const auto& it : items) {
      if (base >= e) break;
      const int64_t lo = std::max(b, base), hi = std::min(e, base + it.n);
      if (lo < hi) f(it, lo - base, hi - base);
      base += it.n;
    }
  }
}

/// True if the one-pass kernel can take this parameter: CPU, float32/float64, dense memory for
/// the parameter and every state tensor already there (the gradient may be made contiguous).
inline bool fusable(const Tensor& p, const hearth::optim::ParamState& st) {
  if (!p.is_cpu() || p.has_opaque_layout() || !p.is_contiguous()) return false;
  if (p.dtype() != hearth::kFloat32 && p.dtype() != hearth::kFloat64) return false;
  for (const auto& [k, t] : st.tensors)
    if (!t.is_cpu() || t.dtype() != p.dtype() || !t.is_contiguous() || t.has_opaque_layout() ||
        t.numel() != p.numel())
      return false;
  return true;
}

}  // namespace hearth_optim
