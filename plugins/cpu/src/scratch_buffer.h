// A growable, 64-byte-aligned scratch buffer for per-thread temporaries (GEMM packing, oneDNN
// reorders and scratchpads), shared by the CPU kernels that keep one per thread.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

namespace hearth::cpu {

struct ScratchBuffer {
  void* p = nullptr;
  std::size_t n = 0;
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(p); }
  /// At least `bytes` bytes; grows in whole pages, keeps the memory for the next call.
  void* get(std::size_t bytes) {
    if (bytes > n) {
      std::free(p);
      n = (bytes + 4095) / 4096 * 4096;
      p = std::aligned_alloc(64, n);
      if (!p) {
        n = 0;
        throw std::bad_alloc();
      }
    }
    return p;
  }
  /// Big temporaries are not kept between calls: a one-off huge op should not pin memory.
  void trim() {
    if (n > (std::size_t(64) << 20)) {
      std::free(p);
      p = nullptr;
      n = 0;
    }
  }
};

}  // namespace hearth::cpu
