// testdev: a second device type on host memory, so cross-device rules are testable without a GPU.
// Its memory is stored XOR-scrambled: CPU code that dereferences testdev memory directly reads
// garbage, so tests catch any path that skips the device's copy functions. Its kernels forward
// to the CPU kernels through host mirrors of the operands' storages. It offers "pinned" host
// memory (plain malloc, tracked) so DataLoader pin_memory is testable; tests ask whether a pointer
// is pinned through the components "testdev:is_pinned" and "testdev:pinned_bytes".
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "hearth/functions.h"
#include "hearth/plugin.h"

namespace {

using namespace hearth;

constexpr unsigned char kKey = 0x5A;

void xor_copy(void* dst, const void* src, size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  for (size_t i = 0; i < n; ++i) d[i] = s[i] ^ kKey;
}

class TestDevice final : public DeviceInterface {
 public:
  static constexpr int kCount = 2;  // testdev:0 and testdev:1, for multi-device tests
  int device_count() const override { return kCount; }
  void* allocate(size_t nbytes, int index) override {
    void* p = std::malloc(nbytes ? nbytes : 1);
    HEARTH_CHECK(p != nullptr, ValueError, "testdev: out of memory allocating ", nbytes, " bytes");
    auto& s = stats_[index];
    size_t now = s.allocated.fetch_add(nbytes) + nbytes;
    size_t peak = s.peak.load();
    while (now > peak && !s.peak.compare_exchange_weak(peak, now)) {}
    s.allocations.fetch_add(1);
    return p;
  }
  void deallocate(void* p, size_t nbytes, int index) noexcept override {
    stats_[index].allocated.fetch_sub(nbytes);
    std::free(p);
  }
  void copy_from_host(void* dst, const void* src, size_t n, int) override { xor_copy(dst, src, n); }
  void copy_to_host(void* dst, const void* src, size_t n, int) override { xor_copy(dst, src, n); }
  void copy_within(void* dst, int, const void* src, int, size_t n) override { std::memmove(dst, src, n); }
  void synchronize(int) override {}
  MemoryStats memory_stats(int index) const override {
    MemoryStats m;
    m.allocated = stats_[index].allocated.load();
    m.reserved = m.allocated;
    m.peak = stats_[index].peak.load();
    return m;
  }
  // Not page-locked (no driver here), but tracked, so tests can tell pinned blocks apart.
  void* allocate_pinned(size_t nbytes) override {
    void* p = std::malloc(nbytes ? nbytes : 1);
    HEARTH_CHECK(p != nullptr, ValueError, "testdev: out of pinned memory allocating ", nbytes, " bytes");
    std::lock_guard<std::mutex> g(pinned_mu_);
    pinned_[static_cast<const char*>(p)] = nbytes ? nbytes : 1;
    pinned_bytes_ += nbytes ? nbytes : 1;
    return p;
  }
  void free_pinned(void* p) noexcept override {
    if (!p) return;
    {
      std::lock_guard<std::mutex> g(pinned_mu_);
      auto it = pinned_.find(static_cast<const char*>(p));
      if (it != pinned_.end()) {  // a foreign pointer still goes to free(): asan reports it
        pinned_bytes_ -= it->second;
        pinned_.erase(it);
      }
    }
    std::free(p);
  }
  /// True if p points into a live pinned block.
  bool is_pinned(const void* p) {
    const char* q = static_cast<const char*>(p);
    std::lock_guard<std::mutex> g(pinned_mu_);
    auto it = pinned_.upper_bound(q);
    if (it == pinned_.begin()) return false;
    --it;
    return q < it->first + it->second;
  }
  size_t pinned_bytes() {
    std::lock_guard<std::mutex> g(pinned_mu_);
    return pinned_bytes_;
  }

 private:
  struct Stats {
    std::atomic<size_t> allocated{0}, peak{0}, allocations{0};
  };
  Stats stats_[kCount];
  std::mutex pinned_mu_;
  std::map<const char*, size_t> pinned_;  // live pinned blocks: start → size
  size_t pinned_bytes_ = 0;
};

TestDevice g_device;

// Test queries, found with find_component("testdev", ...).
bool is_pinned(const void* p) { return g_device.is_pinned(p); }
size_t pinned_bytes() { return g_device.pinned_bytes(); }

/// A host tensor with the same geometry as `t`, over a host copy of t's whole storage.
Tensor mirror(const Tensor& t) {
  const auto& st = t.impl()->storage();
  Tensor host = empty({static_cast<int64_t>(st->nbytes())}, TensorOptions(kUInt8));
  if (st->nbytes()) g_device.copy_to_host(host.data_ptr(), st->data(), st->nbytes(), t.device().index());
  auto impl = detail::make_intrusive<TensorImpl>(host.impl()->storage(), t.dtype(), t.sizes(),
                                                 t.impl()->strides(), t.impl()->storage_offset());
  return Tensor(std::move(impl));
}

void write_back(const Tensor& host, const Tensor& dev) {
  const auto& st = dev.impl()->storage();
  if (st->nbytes())
    g_device.copy_from_host(st->data(), host.impl()->storage()->data(), st->nbytes(), dev.device().index());
}

// Ops testdev implements; the rest raise "no kernel for testdev", which tests rely on.
constexpr const char* kOps[] = {"copy_", "fill_", "range_fill_", "uniform_", "normal_", "add", "sub",
                                "mul",   "div",   "neg",         "relu",     "sum",     "mean", "amax",
                                "gemm",  "eq",    "relu_backward"};
constexpr int kNumOps = sizeof(kOps) / sizeof(kOps[0]);

void forward(int which, const KernelArgs& a) {
  static OpHandle handles[kNumOps];
  static std::once_flag once;
  std::call_once(once, [] {
    for (int i = 0; i < kNumOps; ++i) handles[i] = find_op(kOps[i]);
  });
  std::vector<Tensor> in, out;
  for (size_t i = 0; i < a.num_inputs; ++i) {
    HEARTH_CHECK(a.inputs[i].device().type() == a.device.type(), DeviceError, "testdev kernel got an input on ",
                 a.inputs[i].device().str());
    in.push_back(mirror(a.inputs[i]));
  }
  for (size_t i = 0; i < a.num_outputs; ++i) out.push_back(mirror(a.outputs[i]));
  KernelArgs h = a;
  h.inputs = in.data();
  h.outputs = out.data();
  h.device = Device(kCPUType);
  handles[which].call(h);
  for (size_t i = 0; i < a.num_outputs; ++i) write_back(out[i], a.outputs[i]);
}

template <int I>
void fwd(const KernelArgs& a) {
  forward(I, a);
}

template <int... I>
void register_all(PluginRegistrar& r, std::integer_sequence<int, I...>) {
  (r.kernel(kOps[I], "testdev", &fwd<I>), ...);
}

void register_testdev(PluginRegistrar& r) {
  r.device_type("testdev", &g_device);
  bool (*pinned)(const void*) = &is_pinned;
  size_t (*bytes)() = &pinned_bytes;
  r.component("testdev", "is_pinned", reinterpret_cast<const void*>(pinned));
  r.component("testdev", "pinned_bytes", reinterpret_cast<const void*>(bytes));
  register_all(r, std::make_integer_sequence<int, kNumOps>{});
}

}  // namespace

HEARTH_PLUGIN("hearth-testdev", "0.1.0", register_testdev)
