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

/// Elements per chunk: large enough to amortize the scheduling, small enough to balance threads.
constexpr int64_t kChunk = int64_t{1} << 15;
/// Below this many elements in a group one thread is faster than waking the team.
constexpr int64_t kParallelMin = int64_t{1} << 16;

/// Runs f(item, begin, end) over every element of every item: one pass per step over the group.
template <typename T, typename F>
void for_each_chunk(const std::vector<Item<T>>& items, F&& f) {
  int64_t total = 0;
  for (const auto& it : items) total += it.n;
  if (total < kParallelMin || omp_get_max_threads() == 1 || omp_in_parallel()) {
    for (const auto& it : items) f(it, int64_t{0}, it.n);
    return;
  }
  struct Chunk {
    const Item<T>* item;
    int64_t begin, end;
  };
  std::vector<Chunk> chunks;
  chunks.reserve(static_cast<size_t>(total / kChunk + static_cast<int64_t>(items.size())));
  for (const auto& it : items)
    for (int64_t b = 0; b < it.n; b += kChunk) chunks.push_back({&it, b, std::min(it.n, b + kChunk)});
  const int64_t nc = static_cast<int64_t>(chunks.size());
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < nc; ++c) f(*chunks[c].item, chunks[c].begin, chunks[c].end);
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
