// Host staging buffers for loading (SEED E6): plain aligned blocks wrapped as cpu tensors, counted
// apart from the cpu device's allocator so tests can prove a load staged and allocated nothing else.
#include <atomic>
#include <cstdlib>

#include "hearth/checkpoint.h"
#include "hearth/functions.h"

namespace hearth {
namespace {

std::atomic<size_t> g_allocated{0}, g_peak{0};

}  // namespace

Tensor host_staging_empty(IntArrayRef sizes, ScalarType dtype) {
  size_t numel = 1;
  for (int64_t s : sizes) {
    HEARTH_CHECK(s >= 0, ShapeError, "host_staging_empty: negative size ", s);
    HEARTH_CHECK(!__builtin_mul_overflow(numel, static_cast<size_t>(s), &numel), ShapeError,
                 "host_staging_empty: the size of shape ", sizes, " overflows");
  }
  size_t nbytes = 0;
  HEARTH_CHECK(!__builtin_mul_overflow(numel, element_size(dtype), &nbytes), ShapeError,
               "host_staging_empty: the byte size of shape ", sizes, " overflows");
  const size_t rounded = ((nbytes + 63) & ~size_t{63}) + 64;  // never 0; 64-byte aligned
  void* p = std::aligned_alloc(64, rounded);
  HEARTH_CHECK(p != nullptr, ValueError, "host staging: out of memory allocating ", nbytes, " bytes");
  const size_t now = g_allocated.fetch_add(rounded, std::memory_order_relaxed) + rounded;
  size_t peak = g_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {}
  return from_blob(
      p, sizes,
      [rounded](void* q) {
        g_allocated.fetch_sub(rounded, std::memory_order_relaxed);
        std::free(q);
      },
      TensorOptions(dtype));
}

MemoryStats host_staging_stats() {
  MemoryStats s;
  s.allocated = g_allocated.load(std::memory_order_relaxed);
  s.reserved = s.allocated;
  s.peak = g_peak.load(std::memory_order_relaxed);
  return s;
}

void reset_host_staging_peak() { g_peak.store(g_allocated.load(std::memory_order_relaxed), std::memory_order_relaxed); }

}  // namespace hearth
