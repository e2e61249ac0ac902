// update_bn (SEED D1): recomputes every BatchNorm layer's running statistics with one pass over a
// data loader, as torch.optim.swa_utils.update_bn does: statistics reset, momentum None
// (a cumulative average over the pass's batches), the model's mode and momenta restored after.
#include "hearth/data.h"
#include "hearth/functions.h"
#include "hearth/nn/norm.h"
#include "hearth/optim/swa.h"

namespace hearth::optim {

namespace {
/// The BatchNorm layers under m that keep running statistics (named_children is const, so a
/// model that is not held by a shared_ptr works too).
void collect_bn(nn::Module& m, std::vector<nn::BatchNorm*>& out) {
  if (auto* bn = dynamic_cast<nn::BatchNorm*>(&m); bn && bn->running_mean.defined() && bn->running_var.defined())
    out.push_back(bn);
  for (const auto& [name, child] : m.named_children())
    if (child) collect_bn(*child, out);
}
}  // namespace

void update_bn(data::DataLoader& loader, nn::Module& model, std::optional<Device> device) {
  std::vector<nn::BatchNorm*> bns;
  collect_bn(model, bns);
  if (bns.empty()) return;
  NoGradGuard ng;
  std::vector<std::optional<double>> momenta;
  for (auto* bn : bns) {
    bn->running_mean.zero_();
    bn->running_var.fill_(1.0);
    momenta.push_back(bn->momentum);
    bn->momentum = std::nullopt;
    if (bn->num_batches_tracked.defined()) bn->num_batches_tracked.zero_();
  }
  const bool was_training = model.is_training();
  auto restore = [&] {
    for (size_t i = 0; i < bns.size(); ++i) bns[i]->momentum = momenta[i];
    model.train(was_training);
  };
  model.train();
  try {
    for (const data::Batch& b : loader) {
      Tensor x = device ? b.data.to(*device) : b.data;
      model(x);
    }
  } catch (...) {
    restore();
    throw;
  }
  restore();
}

}  // namespace hearth::optim
