// LibTorch's torch::save / torch::load for modules (holders or pointers), tensors, tensor lists
// and optimizers. hearth writes safetensors (readable from Python), not LibTorch's TorchScript
// archives, so files do not move between the two frameworks this way (docs/libtorch.md).
#pragma once

#include <concepts>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hearth/nn/module.h"
#include "hearth/optim/optimizer.h"
#include "hearth/tensor.h"

namespace hearth {

/// Writes the module's state_dict (parameters and persistent buffers). Atomic.
void save(const nn::Module& module, const std::string& path);
/// Reads a file written by save(module) into the module (strict: every key must match, else a
/// FormatError naming the keys). Tensors land on each parameter's own device and dtype.
void load(nn::Module& module, const std::string& path);

/// One tensor (key "tensor"); load() replaces `tensor` with the file's, on `device` (default: cpu).
void save(const Tensor& tensor, const std::string& path);
void load(Tensor& tensor, const std::string& path, std::optional<Device> device = std::nullopt);
/// A list of tensors (keys "0", "1", ...).
void save(const std::vector<Tensor>& tensors, const std::string& path);
void load(std::vector<Tensor>& tensors, const std::string& path, std::optional<Device> device = std::nullopt);

/// An optimizer's state (param groups' options and per-parameter state), as its state_dict.
void save(const optim::Optimizer& optimizer, const std::string& path);
void load(optim::Optimizer& optimizer, const std::string& path);

template <typename M>
void save(const nn::ModuleHolder<M>& module, const std::string& path) {
  save(static_cast<const nn::Module&>(*module), path);
}
template <typename M>
void load(nn::ModuleHolder<M>& module, const std::string& path) {
  load(static_cast<nn::Module&>(*module), path);
}
template <std::derived_from<nn::Module> M>
void save(const std::shared_ptr<M>& module, const std::string& path) {
  HEARTH_CHECK(module != nullptr, ValueError, "save: the module pointer is null");
  save(static_cast<const nn::Module&>(*module), path);
}
template <std::derived_from<nn::Module> M>
void load(const std::shared_ptr<M>& module, const std::string& path) {
  HEARTH_CHECK(module != nullptr, ValueError, "load: the module pointer is null");
  load(static_cast<nn::Module&>(*module), path);
}
template <std::derived_from<optim::Optimizer> O>
void save(const std::unique_ptr<O>& optimizer, const std::string& path) {
  save(static_cast<const optim::Optimizer&>(*optimizer), path);
}
template <std::derived_from<optim::Optimizer> O>
void load(const std::unique_ptr<O>& optimizer, const std::string& path) {
  load(static_cast<optim::Optimizer&>(*optimizer), path);
}

}  // namespace hearth
