// A growable, 64-byte-aligned scratch buffer for per-thread temporaries (GEMM packing, oneDNN
// reorders and scratchpads), shared by the CPU kernels that keep one per thread.
#pragma once

#include <cstddef>

#include "hearth/device.h"

namespace hearth::cpu {

/// Memory comes from the CPU device's allocator: it is counted in memory_stats (SEED F7), and
/// the big blocks it caches serve the next call without fresh page faults (a batch-1000
/// Winograd scratchpad is hundreds of MB; faulting it in again per call cost ~10 ms).
struct ScratchBuffer {
  void* p = nullptr;
  std::size_t n = 0;
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { release(); }
  /// At least `bytes` bytes; grows in whole pages, keeps the memory for the next call.
  void* get(std::size_t bytes) {
    if (bytes > n) {
      release();
      const std::size_t want = (bytes + 4095) / 4096 * 4096;
      p = device_interface(kCPUType).allocate(want, 0);  // throws on failure
      n = want;
    }
    return p;
  }
  /// Big temporaries are not held by this thread between calls (a one-off huge op should not pin
  /// memory here): they go back to the allocator, whose cache empty_cache() releases.
  void trim() {
    if (n > (std::size_t(64) << 20)) release();
  }

 private:
  void release() noexcept {
    if (p) device_interface(kCPUType).deallocate(p, n, 0);
    p = nullptr;
    n = 0;
  }
};

}  // namespace hearth::cpu
