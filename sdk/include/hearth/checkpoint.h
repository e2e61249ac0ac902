// State-dict files (safetensors by default, HDF5 through the hearth-hdf5 plugin) and training
// checkpoints (SEED E4, E5, E6; docs/checkpoints.md): validating readers, atomic writes, the
// last K kept with an atomically replaced `latest` pointer, and device mapping on load.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hearth/device.h"
#include "hearth/nn/module.h"
#include "hearth/serialize.h"
#include "hearth/tensor.h"

namespace hearth {

namespace optim {
class Optimizer;
class LRScheduler;
}  // namespace optim

// ---------------------------------------------------------------------------------------------
// File formats of named tensors
// ---------------------------------------------------------------------------------------------

/// One tensor as a file describes it (validated before anything of its size is allocated).
struct TensorFileEntry {
  std::string name;
  ScalarType dtype = kFloat32;
  DimVector shape;
  size_t nbytes = 0;  ///< numel x element size, overflow-checked by the reader
};

/// An open, validated file of named tensors. read() fills host memory only; the caller decides
/// where each tensor goes (SEED E6).
class TensorFileReader {
 public:
  virtual ~TensorFileReader() = default;
  /// The tensors in file order.
  virtual const std::vector<TensorFileEntry>& entries() const = 0;
  /// String metadata (safetensors `__metadata__`, HDF5 root attributes).
  virtual const std::map<std::string, std::string>& metadata() const = 0;
  /// Reads entry `index` into `host_dst` (entries()[index].nbytes bytes, contiguous row-major,
  /// native byte order). FormatError naming file and tensor if the file is shorter than it said.
  virtual void read(size_t index, void* host_dst) = 0;
};

/// A file format of named tensors. The kernel has "safetensors"; plugins add others as
/// components of kind kTensorFileFormatComponent (hearth-hdf5 registers "hdf5"), so the kernel
/// never links their libraries.
class TensorFileFormat {
 public:
  virtual ~TensorFileFormat() = default;
  virtual std::string name() const = 0;
  /// File name endings it is chosen by (".h5", ".hdf5"), lower case.
  virtual std::vector<std::string> extensions() const = 0;
  /// True if the first bytes of a file (up to 2048; fewer for a short file) are this format's.
  virtual bool sniff(const unsigned char* head, size_t n) const = 0;
  /// Writes host, contiguous tensors and metadata atomically (write_file_atomically).
  virtual void save(const std::string& path, const TensorList& host_tensors,
                    const std::map<std::string, std::string>& metadata) const = 0;
  /// Opens and validates a file; FormatError naming the file and field.
  virtual std::unique_ptr<TensorFileReader> open(const std::string& path) const = 0;
};
/// What a plugin registers under kind kTensorFileFormatComponent: returns a format object that
/// lives for the process.
using TensorFileFormatFactory = const TensorFileFormat* (*)();
constexpr const char* kTensorFileFormatComponent = "state_dict_format";

/// The format named `name` ("safetensors", "hdf5"); FormatError listing the available formats
/// and why a plugin format is missing (e.g. hearth-hdf5 not loaded).
const TensorFileFormat& tensor_file_format(const std::string& name);
/// The format for writing `path`: by extension (".h5"/".hdf5" -> hdf5), safetensors otherwise.
const TensorFileFormat& tensor_file_format_for_writing(const std::string& path);
/// The format of an existing file: by its first bytes, then by extension. FormatError naming
/// the file if it cannot be opened or no format claims it.
const TensorFileFormat& tensor_file_format_for_reading(const std::string& path);
/// Opens `path` with the format that claims it (validating everything up front).
std::unique_ptr<TensorFileReader> open_tensor_file(const std::string& path);

/// Writes a file atomically: `write(tmp)` creates the temporary file `tmp` (".<name>.tmp.<pid>.<n>"
/// in the same directory); then it is fsynced, renamed over `path`, and the directory fsynced.
/// On any failure the temporary is removed, a previous `path` is untouched, and the error (a
/// FormatError naming `path` for system calls) propagates.
void write_file_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write);

/// Host memory used only to stage tensors between a file and their device (SEED E6). Counted
/// apart from the cpu device's allocations, so tests can tell that loading allocated nothing on
/// the host beyond staging.
Tensor host_staging_empty(IntArrayRef sizes, ScalarType dtype);
/// Staging bytes: allocated now / peak since the last reset. `reserved` equals `allocated`.
MemoryStats host_staging_stats();
void reset_host_staging_peak();

// ---------------------------------------------------------------------------------------------
// State dicts
// ---------------------------------------------------------------------------------------------

/// Where tensors loaded without a model go: "cpu" (the default), a device string or Device, or
/// a function of (key, device recorded in the file or "") returning the device.
class MapLocation {
 public:
  MapLocation() = default;  ///< host memory
  MapLocation(Device device) : device_(device) {}  // NOLINT
  MapLocation(const char* device) : device_(Device(device)) {}  // NOLINT
  MapLocation(const std::string& device) : device_(Device(device)) {}  // NOLINT
  MapLocation(std::function<Device(const std::string& key, const std::string& saved_device)> fn)  // NOLINT
      : fn_(std::move(fn)) {}
  Device resolve(const std::string& key, const std::string& saved_device) const {
    return fn_ ? fn_(key, saved_device) : device_;
  }

 private:
  Device device_{kCPUType};
  std::function<Device(const std::string&, const std::string&)> fn_;
};

/// Writes named tensors in the format chosen by `path`'s extension (safetensors unless .h5 /
/// .hdf5), recording each tensor's device under kDevicesMetadataKey. Atomic.
void save_state_dict(const std::string& path, const TensorList& state,
                     const std::map<std::string, std::string>& metadata = {});
/// Writes a module's state_dict().
void save_state_dict(const std::string& path, const nn::Module& module,
                     const std::map<std::string, std::string>& metadata = {});

/// Reads every tensor of a file of any format (found by content) onto `map_location`. Devices
/// recorded in the file are reported, never required (a file saved from cuda:0 loads on cpu).
SafetensorsContents load_tensors(const std::string& path, const MapLocation& map_location = {});

/// Loads a file into a module (SEED E4, E6): keys matched by Module::load_state_dict's rules
/// (a `module.` prefix on every key is removed); each tensor is read into a host staging buffer
/// and copied straight into the parameter or buffer it fills, on that tensor's device and dtype.
/// strict: a missing, unexpected or mis-shaped key is a FormatError naming the file and the keys,
/// and nothing is loaded. Either way, a tensor whose dtype cannot fill its target (an integer or
/// bool tensor into a floating parameter, a floating one into an integer buffer) is a FormatError.
nn::LoadStateDictResult load_state_dict(const std::string& path, nn::Module& module, bool strict = true);

// ---------------------------------------------------------------------------------------------
// Training checkpoints (SEED E5)
// ---------------------------------------------------------------------------------------------

/// One generator's state. "cpu" is the default generator, which also serves every device
/// (Philox: values do not depend on the device); device generators add entries by device name.
struct RngState {
  std::string device;
  uint64_t seed = 0;
  uint64_t offset = 0;
};
/// The states of the process's generators now / restores them. Entries for generators this
/// process lacks (a cuda generator's on a machine without one) are skipped, as E6 asks.
std::vector<RngState> capture_rng_states();
void restore_rng_states(const std::vector<RngState>& states);

/// Everything a training loop needs to continue exactly. Pointers are borrowed: save() reads
/// from them, load fills them. Counters mean "where to continue": `epoch` is the epoch in
/// progress (0-based) and `batch_in_epoch` the number of its batches already done, so the end of
/// epoch 0 is {epoch 1, batch 0}. `global_step` counts optimizer steps over the whole run.
struct TrainingState {
  nn::Module* model = nullptr;                  ///< required
  optim::Optimizer* optimizer = nullptr;        ///< optional; if set at load, the file must have one
  std::vector<optim::LRScheduler*> schedulers;  ///< saved/loaded in order; counts must match
  int64_t epoch = 0;
  int64_t global_step = 0;
  int64_t batch_in_epoch = 0;  ///< sampler position within `epoch`
  uint64_t shuffle_seed = 0;   ///< the sampler's base seed (order of epoch e = f(seed, e))
  /// The loop's own running values (e.g. "loss_sum"); exact round trip of the strings.
  std::map<std::string, std::string> extra;
  /// Named tensors of the loop (e.g. a loss log); exact round trip, loaded to the host.
  TensorList extra_tensors;
  /// Generator states: filled by capture_rng_states() at save unless already non-empty; after a
  /// load they hold the file's states (already restored when restore_rng is set).
  std::vector<RngState> rng;
};

struct CheckpointLoadOptions {
  bool strict = true;       ///< model keys (see load_state_dict)
  bool restore_rng = true;  ///< restore the process generators from the file
};

/// Writes one training checkpoint file atomically (format by extension, safetensors by default).
void save_training_checkpoint(const std::string& path, const TrainingState& state);

/// Loads a checkpoint file, or a checkpoint directory through its `latest` pointer. Fills the
/// model (E6 device mapping), optimizer, schedulers, counters, extra values and RNG states.
/// FormatError naming the file and field for a missing entry (model, optimizer, RNG, counters),
/// a bad value, or a `latest` naming a missing file. Returns the file loaded.
std::string load_training_checkpoint(const std::string& path_or_dir, TrainingState& state,
                                     const CheckpointLoadOptions& options = {});

/// The checkpoint file `path_or_dir` means: itself if it is a file, else the file its `latest`
/// names (FormatError naming the directory and the missing file).
std::string resolve_checkpoint(const std::string& path_or_dir);

/// True when `path_or_dir` (a file, or a checkpoint directory's latest) is a training checkpoint,
/// false when it is a plain state dict; reads the header only. FormatError for a file that is
/// neither (what open_tensor_file raises). Lets a loader accept both, as `hearth eval` does.
bool is_training_checkpoint(const std::string& path_or_dir);

/// A directory of training checkpoints "ckpt-<global step, 10 digits><ext>" with a text file
/// `latest` holding the newest one's name. save() writes the file atomically, then replaces
/// `latest` atomically, then removes all but the newest `keep_last` (never the one `latest`
/// names). A crash at any moment leaves `latest` naming a complete checkpoint.
class CheckpointManager {
 public:
  /// Creates `dir` if needed. keep_last >= 1. `extension` picks the format (".safetensors",
  /// ".h5").
  explicit CheckpointManager(std::string dir, int keep_last = 3, std::string extension = ".safetensors");

  /// Saves `state` as the checkpoint of its global_step; returns the file's path.
  std::string save(const TrainingState& state);
  /// The path `latest` names, or nullopt if there is no `latest` yet (FormatError if it names a
  /// missing file).
  std::optional<std::string> latest() const;
  /// Loads the latest checkpoint into `state`; false (state untouched) if there is none yet.
  bool load_latest(TrainingState& state, const CheckpointLoadOptions& options = {}) const;
  /// Checkpoint files present, oldest first.
  std::vector<std::string> list() const;

  const std::string& dir() const { return dir_; }
  int keep_last() const { return keep_last_; }

 private:
  std::string dir_;
  int keep_last_;
  std::string extension_;
};

}  // namespace hearth
