// The device-type registry and the kernel's own "cpu" device (host memory and copies).
#include "hearth/device.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "hearth/error.h"
#include "hearth/plugin.h"

namespace hearth {
namespace {

/// Host memory (SEED F3). Small blocks: 64-byte aligned (AVX-512 loads) from malloc. Blocks of
/// 256 KiB and more are cached on free, because glibc returns such blocks to the system and every
/// fresh output then pays its page faults again (measured: ~30 ms per 64 MB, the last 5% of a
/// 1024^3 matmul; ~750 faults per lenet step from its 800 KB pool/flatten tensors, 2-4% of the
/// step). Blocks of 1 MiB and more are also 2 MiB aligned, rounded up to 2 MiB and marked for
/// transparent huge pages. The cache holds at most kCacheLimit bytes; empty_cache() returns it all.
class CpuDevice final : public DeviceInterface {
 public:
  static constexpr size_t kCached = size_t{256} << 10;
  static constexpr size_t kLarge = size_t{1} << 20;
  static constexpr size_t kHuge = size_t{2} << 20;
  static constexpr size_t kCacheLimit = size_t{2} << 30;

  int device_count() const override { return 1; }
  void* allocate(size_t nbytes, int) override {
    size_t n = rounded(nbytes);
    void* p = nullptr;
    if (n >= kCached) p = take_cached(n);  // may be a bigger block: n becomes its size
    if (!p && n >= kLarge) {
      p = std::aligned_alloc(kHuge, n);
      if (p) ::madvise(p, n, MADV_HUGEPAGE);  // a hint; fine if THP is off
    } else if (!p) {
      p = std::aligned_alloc(64, n);
    }
    HEARTH_CHECK(p != nullptr, OutOfMemoryError, "cpu: out of memory allocating ", nbytes, " bytes for a tensor");
    size_t now = allocated_.fetch_add(n, std::memory_order_relaxed) + n;
    size_t peak = peak_.load(std::memory_order_relaxed);
    while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {}
    return p;
  }
  void deallocate(void* p, size_t nbytes, int) noexcept override {
    size_t n = rounded(nbytes);
    if (n >= kCached) n = block_size(p, n);
    allocated_.fetch_sub(n, std::memory_order_relaxed);
    if (n >= kCached && put_cached(p, n)) return;
    std::free(p);
  }
  void copy_from_host(void* dst, const void* src, size_t n, int) override { std::memcpy(dst, src, n); }
  void copy_to_host(void* dst, const void* src, size_t n, int) override { std::memcpy(dst, src, n); }
  void copy_within(void* dst, int, const void* src, int, size_t n) override { std::memmove(dst, src, n); }
  void synchronize(int) override {}
  MemoryStats memory_stats(int) const override {
    MemoryStats s;
    s.allocated = allocated_.load(std::memory_order_relaxed);
    // Reserved = live blocks + the cache; derived so the small-block path stays two atomics.
    s.reserved = s.allocated + cached_bytes_.load(std::memory_order_relaxed);
    s.peak = peak_.load(std::memory_order_relaxed);
    return s;
  }
  void empty_cache(int) override {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& [n, p] : cache_) std::free(p);
    cache_.clear();
    cached_bytes_.store(0, std::memory_order_relaxed);
  }

 private:
  static size_t rounded(size_t nbytes) {
    if (nbytes >= kCached) {
      // Whole pages (fewer cache sizes); from kLarge on, whole 2 MiB units, decided on the
      // page-rounded size so that aligned_alloc always gets a multiple of its alignment (a request
      // just under 1 MiB became exactly 1 MiB with 2 MiB alignment: found by fuzzing, issue 16).
      const size_t pages = (nbytes + 4095) & ~size_t{4095};
      return pages >= kLarge ? (pages + kHuge - 1) & ~(kHuge - 1) : pages;
    }
    size_t n = (nbytes + 63) & ~size_t{63};
    return n == 0 ? 64 : n;
  }
  /// The smallest cached block of at least n bytes and at most twice that (training loops repeat
  /// their shapes, so usually an exact fit; otherwise a freed bigger activation serves a smaller
  /// one instead of fresh memory, whose page faults cost ~0.5 ms per MB on first touch). Sets n
  /// to the block's size.
  void* take_cached(size_t& n) {
    std::lock_guard<std::mutex> g(mu_);
    auto it = cache_.lower_bound(n);
    if (it == cache_.end() || it->first > 2 * n) return nullptr;
    void* p = it->second;
    const size_t size = it->first;
    if (size != n) {
      try {
        oversized_.emplace(p, size);
      } catch (...) {
        return nullptr;
      }
    }
    cache_.erase(it);
    cached_bytes_.fetch_sub(size, std::memory_order_relaxed);
    n = size;
    return p;
  }
  /// The real size of a large block handed out for a request of n (rounded) bytes.
  size_t block_size(void* p, size_t n) noexcept {
    std::lock_guard<std::mutex> g(mu_);
    if (oversized_.empty()) return n;
    auto it = oversized_.find(p);
    if (it == oversized_.end()) return n;
    n = it->second;
    oversized_.erase(it);
    return n;
  }
  bool put_cached(void* p, size_t n) noexcept {
    std::lock_guard<std::mutex> g(mu_);
    if (cached_bytes_.load(std::memory_order_relaxed) + n > kCacheLimit) return false;
    try {
      cache_.emplace(n, p);
    } catch (...) {
      return false;
    }
    cached_bytes_.fetch_add(n, std::memory_order_relaxed);
    return true;
  }

  std::atomic<size_t> allocated_{0}, peak_{0};
  std::mutex mu_;
  std::multimap<size_t, void*> cache_;
  std::unordered_map<void*, size_t> oversized_;  // live blocks bigger than their request
  std::atomic<size_t> cached_bytes_{0};  // written under mu_, read by memory_stats
};

struct Registry {
  std::mutex mu;
  std::string names[kMaxDeviceTypes];
  DeviceInterface* ifaces[kMaxDeviceTypes] = {};
  std::atomic<int> count{0};
  Registry() {
    // Never destroyed: tensors freed during static destruction still need it, and its cached
    // blocks stay reachable (no leak reports at exit).
    static CpuDevice* cpu = new CpuDevice();
    names[0] = "cpu";
    ifaces[0] = cpu;
    count.store(1);
  }
};
Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

DeviceTypeId register_device_type(const std::string& name, DeviceInterface* iface) {
  Registry& r = registry();
  std::lock_guard<std::mutex> g(r.mu);
  const int n = r.count.load();
  for (int i = 0; i < n; ++i)
    HEARTH_CHECK(r.names[i] != name, PluginError, "device type '", name, "' is already registered");
  HEARTH_CHECK(n < kMaxDeviceTypes, PluginError, "too many device types (max ", kMaxDeviceTypes, ")");
  HEARTH_CHECK(iface != nullptr, PluginError, "device type '", name, "' registered without an interface");
  r.names[n] = name;
  r.ifaces[n] = iface;
  r.count.store(n + 1, std::memory_order_release);
  return static_cast<DeviceTypeId>(n);
}

DeviceInterface& device_interface(DeviceTypeId type) {
  Registry& r = registry();
  HEARTH_CHECK(type >= 0 && type < r.count.load(std::memory_order_acquire), DeviceError,
               "unknown device type id ", static_cast<int>(type));
  return *r.ifaces[type];
}

DeviceTypeId find_device_type(std::string_view name) {
  Registry& r = registry();
  const int n = r.count.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i)
    if (r.names[i] == name) return static_cast<DeviceTypeId>(i);
  return -1;
}

std::vector<std::string> device_type_names() {
  Registry& r = registry();
  const int n = r.count.load(std::memory_order_acquire);
  return {r.names, r.names + n};
}

const char* Device::type_name() const {
  Registry& r = registry();
  if (type_ < 0 || type_ >= r.count.load(std::memory_order_acquire)) return "?";
  return r.names[type_].c_str();
}

std::string Device::str() const {
  std::string s = type_name();
  if (type_ != kCPUType || index_ != 0) s += ":" + std::to_string(index_);
  return s;
}

Device::Device(std::string_view spec) {
  std::string_view type = spec;
  int index = 0;
  if (auto colon = spec.find(':'); colon != std::string_view::npos) {
    type = spec.substr(0, colon);
    std::string idx(spec.substr(colon + 1));
    char* end = nullptr;
    long v = std::strtol(idx.c_str(), &end, 10);
    HEARTH_CHECK(!idx.empty() && end && *end == '\0' && v >= 0 && v < 32768, DeviceError,
                 "bad device string '", spec, "': the index must be a non-negative integer");
    index = static_cast<int>(v);
  }
  DeviceTypeId id = find_device_type(type);
  if (id < 0) {
    load_plugins();  // the type may come from a plugin not loaded yet
    id = find_device_type(type);
  }
  if (id < 0) {
    std::string known;
    for (const auto& n : device_type_names()) known += (known.empty() ? "" : ", ") + n;
    HEARTH_CHECK(false, DeviceError, "unknown device type '", type, "' (known device types: ", known, ")");
  }
  type_ = id;
  index_ = static_cast<int16_t>(index);
}

void synchronize(Device d) { device_interface(d.type()).synchronize(d.index()); }

MemoryStats memory_stats(Device d) { return device_interface(d.type()).memory_stats(d.index()); }

void empty_cache(Device d) { device_interface(d.type()).empty_cache(d.index()); }

}  // namespace hearth
