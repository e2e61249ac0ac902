// The dispatcher's side of the profiler: a scope that times one op call (kernel/src/profiler.cpp).
#pragma once

#include <cstdint>

#include "hearth/dispatcher.h"

namespace hearth::profiler::detail {

/// Times one kernel call on this thread and adds it to the running session when it ends.
class OpScope {
 public:
  OpScope(const char* name, const KernelArgs& args);
  ~OpScope();
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  const char* name_;
  const KernelArgs& args_;
  uint64_t session_;
  int64_t begin_ns_;
  int depth_;
};

}  // namespace hearth::profiler::detail
