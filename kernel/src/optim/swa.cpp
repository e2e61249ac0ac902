// AveragedModel (SEED D1): the caller supplies the copy (modules have no generic deep copy);
// the average is folded in with tensor ops under NoGradGuard, so any device works.
#include "hearth/optim/swa.h"

#include "hearth/functions.h"

namespace hearth::optim {

namespace {

/// Copies every parameter and buffer (non-persistent ones too) of `src` into `dst`, matched by
/// name; ValueError listing the differences if the two are not the same architecture.
void copy_module_state(const nn::Module& src, nn::Module& dst) {
  auto check_and_copy = [](const TensorList& from, const TensorList& to, const char* what) {
    std::string diff;
    if (from.size() != to.size()) diff = std::to_string(from.size()) + " vs " + std::to_string(to.size()) + " " + what;
    for (size_t i = 0; diff.empty() && i < from.size(); ++i) {
      if (from[i].first != to[i].first)
        diff = std::string(what) + " " + std::to_string(i) + " is '" + from[i].first + "' in the model but '" +
               to[i].first + "' in the copy";
      else if (from[i].second.sizes() != to[i].second.sizes())
        diff = std::string(what) + " '" + from[i].first + "' has different shapes in the model and the copy";
    }
    HEARTH_CHECK(diff.empty(), ValueError, "AveragedModel: the copy is not the same architecture as the model (",
                 diff, "); pass a freshly built model of the same type and configuration");
    for (size_t i = 0; i < from.size(); ++i) {
      Tensor dst = to[i].second;
      dst.copy_(from[i].second.detach());
    }
  };
  NoGradGuard ng;
  check_and_copy(src.named_parameters(), dst.named_parameters(), "parameters");
  check_and_copy(src.named_buffers(), dst.named_buffers(), "buffers");
}

std::vector<Tensor> averaged_tensors(const nn::Module& m, bool use_buffers) {
  std::vector<Tensor> out = m.parameters();
  if (use_buffers) {
    auto b = m.buffers();
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

}  // namespace

AveragedModel::AveragedModel(const nn::Module& model, std::shared_ptr<nn::Module> copy, std::optional<Device> device,
                             AvgFn avg_fn, bool use_buffers)
    : avg_fn_(std::move(avg_fn)), use_buffers_(use_buffers) {
  HEARTH_CHECK(copy != nullptr, ValueError, "AveragedModel: the copy of the model is null");
  HEARTH_CHECK(copy.get() != &model, ValueError, "AveragedModel: the copy must be a separate model instance, not the "
               "model itself (its parameters would be overwritten by the average)");
  // Like deepcopy: the copy starts on the model's device, then goes to `device` if given.
  const auto params = model.parameters();
  if (!params.empty()) copy->to(params[0].device());
  copy_module_state(model, *copy);
  copy->train(model.is_training());
  if (device) copy->to(*device);
  module = register_module("module", copy);
  n_averaged = register_buffer("n_averaged",
                               scalar_tensor(int64_t{0}, TensorOptions(kInt64).device(device ? *device : Device(kCPUType))));
}

int64_t AveragedModel::num_averaged() const { return n_averaged.item<int64_t>(); }

void AveragedModel::update_parameters(const nn::Module& model) {
  NoGradGuard ng;
  std::vector<Tensor> mine = averaged_tensors(*module, use_buffers_);
  std::vector<Tensor> theirs = averaged_tensors(model, use_buffers_);
  HEARTH_CHECK(mine.size() == theirs.size(), ValueError, "AveragedModel.update_parameters: the model has ",
               theirs.size(), " tensors to average, the averaged copy ", mine.size());
  const int64_t n = num_averaged();
  for (size_t i = 0; i < mine.size(); ++i) {
    HEARTH_CHECK(mine[i].sizes() == theirs[i].sizes(), ShapeError, "AveragedModel.update_parameters: tensor ", i,
                 " has shape ", theirs[i].sizes(), " in the model but ", mine[i].sizes(), " in the average");
    Tensor cur = theirs[i].detach().to(mine[i].device());
    if (n == 0) {
      mine[i].copy_(cur);
    } else if (avg_fn_) {
      mine[i].copy_(avg_fn_(mine[i].detach(), cur, n));
    } else {
      Tensor avg = mine[i].detach();
      mine[i].copy_(avg + (cur - avg).div(static_cast<double>(n + 1)));
    }
  }
  n_averaged.add_(1);
}

}  // namespace hearth::optim
