// Devices as an open set: plugins register device types by name with their memory functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

/// Index of a registered device type; 0 is always "cpu" (host memory, owned by the kernel).
using DeviceTypeId = int8_t;
constexpr DeviceTypeId kCPUType = 0;
/// Upper bound of device types in one process (kernel tables are sized by it).
constexpr int kMaxDeviceTypes = 16;

DeviceTypeId find_device_type(std::string_view name);

/// LibTorch's closed device-type constants (`torch::kCPU`, `torch::kCUDA`). hearth's device types
/// are an open set registered by plugins; these name the two LibTorch programs use, and resolve
/// to the registered type of that name ("cuda" comes from the hearth-cuda plugin).
enum class DeviceType : int8_t { CPU, CUDA };
constexpr DeviceType kCPU = DeviceType::CPU;
constexpr DeviceType kCUDA = DeviceType::CUDA;

/// A device: a registered type and an index ("cpu", "testdev:1", "cuda:0").
class Device {
 public:
  /// torch::Device(torch::kCUDA, 1). kCUDA without the hearth-cuda plugin is a DeviceError.
  Device(DeviceType type, int16_t index = 0)  // NOLINT: tensor.to(kCPU) as in LibTorch
      : Device(type == DeviceType::CPU ? std::string("cpu") : "cuda:" + std::to_string(index)) {}
  Device() = default;
  Device(DeviceTypeId type, int16_t index = 0) : type_(type), index_(index) {}  // NOLINT
  /// Parses "cpu", "cuda", "cuda:1"; an unknown type name loads plugins, then throws
  /// DeviceError listing the known types.
  Device(std::string_view spec);  // NOLINT: Device("cpu") like torch::Device("cpu")
  Device(const char* spec) : Device(std::string_view(spec)) {}  // NOLINT
  Device(const std::string& spec) : Device(std::string_view(spec)) {}  // NOLINT

  DeviceTypeId type() const { return type_; }
  int16_t index() const { return index_; }
  bool is_cpu() const { return type_ == kCPUType; }
  bool is_cuda() const { return std::string_view(type_name()) == "cuda"; }
  bool has_index() const { return true; }
  /// The registered name of the type ("cpu", "testdev").
  const char* type_name() const;
  /// "cpu", "testdev:0" — cpu prints without index like PyTorch.
  std::string str() const;

  bool operator==(const Device& o) const { return type_ == o.type_ && index_ == o.index_; }
  bool operator!=(const Device& o) const { return !(*this == o); }

 private:
  DeviceTypeId type_ = kCPUType;
  int16_t index_ = 0;
};

inline std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }
/// `device.type() == kCUDA`: compares a registered type with LibTorch's constant by name.
inline bool operator==(DeviceTypeId id, DeviceType t) {
  return t == DeviceType::CPU ? id == kCPUType : id >= 0 && id == find_device_type("cuda");
}
inline std::ostream& operator<<(std::ostream& os, DeviceType t) { return os << (t == DeviceType::CPU ? "cpu" : "cuda"); }

/// Memory statistics a device reports (SEED F3, F7). Zeros where a device does not track.
struct MemoryStats {
  size_t allocated = 0;  ///< bytes held by live tensors
  size_t reserved = 0;   ///< bytes held from the system (>= allocated with a caching allocator)
  size_t peak = 0;       ///< high-water mark of allocated
};

/// What a device type provides. The kernel implements it for "cpu"; plugins for the rest.
/// Device memory is never dereferenced by code of another device: every transfer goes
/// through copy_from_host / copy_to_host of the device that owns the memory.
class DeviceInterface {
 public:
  virtual ~DeviceInterface() = default;
  /// Number of devices of this type present (0 means the type is known but unusable).
  virtual int device_count() const = 0;
  virtual void* allocate(size_t nbytes, int index) = 0;
  virtual void deallocate(void* ptr, size_t nbytes, int index) noexcept = 0;
  /// Host → device. Returns when the host buffer may be reused.
  virtual void copy_from_host(void* dst, const void* host_src, size_t nbytes, int index) = 0;
  /// Device → host. Returns when the host buffer holds the data.
  virtual void copy_to_host(void* host_dst, const void* src, size_t nbytes, int index) = 0;
  /// Device → same device (same index or peer).
  virtual void copy_within(void* dst, int dst_index, const void* src, int src_index, size_t nbytes) = 0;
  /// Waits until all queued work on the device is done (SEED E1).
  virtual void synchronize(int index) = 0;
  virtual MemoryStats memory_stats(int index) const { (void)index; return {}; }
  /// Page-locked host memory for fast transfers; nullptr where the device has none.
  virtual void* allocate_pinned(size_t nbytes) { (void)nbytes; return nullptr; }
  virtual void free_pinned(void* ptr) noexcept { (void)ptr; }
  /// Returns cached, unused memory to the system (SEED F3); no-op without a cache.
  virtual void empty_cache(int index) { (void)index; }
};

/// LibTorch's torch::cuda: whether the hearth-cuda plugin loaded and sees a GPU, and how many.
namespace cuda {
bool is_available();
int64_t device_count();
}  // namespace cuda

/// Registers a device type; throws PluginError if the name is taken. Plugins call this
/// through their registrar, not directly.
DeviceTypeId register_device_type(const std::string& name, DeviceInterface* iface);
/// The interface of a registered type (never null for a registered id).
DeviceInterface& device_interface(DeviceTypeId type);
/// Looks up a type by name; -1 if none.
DeviceTypeId find_device_type(std::string_view name);
/// Names of all registered types, in registration order.
std::vector<std::string> device_type_names();

/// Waits for all work queued on `d` (SEED E1: time device work only after this).
void synchronize(Device d);
/// Allocated / reserved / peak bytes of a device (SEED F3, F7).
MemoryStats memory_stats(Device d);
/// Frees the device allocator's cached blocks (like torch.cuda.empty_cache()).
void empty_cache(Device d);

}  // namespace hearth
