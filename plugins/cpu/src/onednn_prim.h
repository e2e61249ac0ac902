// oneDNN plumbing for hearth-cpu: the one engine, per-thread streams, and (for the normalization
// and softmax kernels) a per-thread primitive cache keyed by shape and flags (creating a primitive costs far more than
// running a small one).
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <utility>

#include "hearth/error.h"
#include "isa.h"
#include "threads.h"

namespace hearth::cpu::dnn {

/// The process's CPU engine, for every oneDNN call of hearth-cpu. Created after the ISA cap is
/// applied (a primitive made before it would dispatch uncapped). Leaked on purpose: plugins are
/// never unloaded, and thread-local memory objects may still point at it during teardown.
inline dnnl::engine& engine() {
  static auto* e = [] {
    apply_isa_cap();
    return new dnnl::engine(dnnl::engine::kind::cpu, 0);
  }();
  return *e;
}

/// One stream per thread: oneDNN does not promise that one stream may be shared by threads.
inline dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

/// Cache key: the primitive kind, then shape and flags, as a fixed array (unused slots 0).
struct Key {
  std::array<int64_t, 8> v{};
  bool operator==(const Key& o) const { return v == o.v; }
};
struct KeyHash {
  size_t operator()(const Key& k) const {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int64_t x : k.v) {
      h ^= static_cast<uint64_t>(x);
      h *= 0x100000001b3ull;
    }
    return static_cast<size_t>(h);
  }
};

/// The bits of a double, for keys that include eps.
inline int64_t bits(double d) {
  int64_t b;
  std::memcpy(&b, &d, sizeof b);
  return b;
}

/// Per-thread cache of built primitives (Entry holds the primitive and its descriptors). Bounded:
/// a program that cycles through many shapes rebuilds rather than growing without limit.
template <class Entry>
class Cache {
 public:
  template <class Make>
  Entry& get(const Key& key, Make&& make) {
    if (last_ && last_key_ == key) return *last_;
    auto it = map_.find(key);
    if (it == map_.end()) {
      if (map_.size() >= 256) map_.clear();
      it = map_.emplace(key, make()).first;
    }
    last_key_ = key;
    last_ = &it->second;
    return it->second;
  }

 private:
  std::unordered_map<Key, Entry, KeyHash> map_;
  Key last_key_;
  Entry* last_ = nullptr;
};

/// Runs `prim` with the given (argument, memory) pairs on this thread's stream; a oneDNN failure
/// becomes a hearth::Error naming the primitive.
inline void execute(const dnnl::primitive& prim, const std::unordered_map<int, dnnl::memory>& args,
                    const char* what) {
  (void)max_threads();  // oneDNN sizes its OpenMP team from this thread's setting
  try {
    prim.execute(stream(), args);
    stream().wait();
  } catch (const dnnl::error& e) {
    HEARTH_CHECK(false, Error, "oneDNN ", what, " failed: ", e.what());
  }
}

/// A memory object over caller memory (no copy).
inline dnnl::memory mem(const dnnl::memory::desc& md, const void* p) {
  return dnnl::memory(md, engine(), const_cast<void*>(p));
}

}  // namespace hearth::cpu::dnn
