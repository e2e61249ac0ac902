// Named tensors to and from files: safetensors (validating reader, atomic writer). Each tensor's
// device is recorded in the metadata under "hearth.devices" (a JSON object name -> device).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hearth/tensor.h"

namespace hearth {

/// Named tensors in a fixed order.
using TensorList = std::vector<std::pair<std::string, Tensor>>;

/// Metadata key under which hearth records each tensor's device (JSON object name -> "cpu").
constexpr const char* kDevicesMetadataKey = "hearth.devices";

/// Writes tensors to a safetensors file atomically (temporary file, fsync, rename). Tensors on
/// other devices are copied to the host first. Throws FormatError naming the file on failure,
/// leaving any previous file intact.
void save_safetensors(const std::string& path, const TensorList& tensors,
                      const std::map<std::string, std::string>& metadata = {});

struct SafetensorsContents {
  TensorList tensors;  ///< in file order
  std::map<std::string, std::string> metadata;
  /// The device each tensor was saved from, where the file records it ("hearth.devices").
  std::map<std::string, std::string> saved_devices;
};

/// Reads a safetensors file, validating everything before allocating. Each tensor is read into
/// host memory and, if `map_location` is given, copied straight to that device. A recorded
/// device that does not exist here is no error. Throws FormatError naming file and field.
SafetensorsContents load_safetensors(const std::string& path, std::optional<Device> map_location = std::nullopt);

}  // namespace hearth
