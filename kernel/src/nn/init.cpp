// torch.nn.init's fills, with PyTorch's fan and gain rules, run under NoGradGuard.
#include "hearth/nn/init.h"

#include <cmath>

#include "hearth/functions.h"

namespace hearth::nn::init {

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& w) {
  HEARTH_CHECK(w.dim() >= 2, ShapeError, "init: fan in and fan out can not be computed for a tensor with fewer than "
               "2 dimensions (shape ", w.sizes(), ")");
  int64_t receptive = 1;
  for (int64_t d = 2; d < w.dim(); ++d) receptive *= w.size(d);
  return {w.size(1) * receptive, w.size(0) * receptive};
}

double calculate_gain(const std::string& nl, double param) {
  if (nl == "linear" || nl == "conv1d" || nl == "conv2d" || nl == "conv3d" || nl == "sigmoid" ||
      nl == "conv_transpose2d")
    return 1.0;
  if (nl == "tanh") return 5.0 / 3;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") return std::sqrt(2.0 / (1 + param * param));
  if (nl == "selu") return 3.0 / 4;
  HEARTH_CHECK(false, ValueError, "calculate_gain: unsupported nonlinearity '", nl, "'");
}

Tensor& uniform_(Tensor& t, double a, double b, Generator* gen) {
  NoGradGuard ng;
  return hearth::uniform_(t, a, b, gen);
}
Tensor& normal_(Tensor& t, double mean, double std, Generator* gen) {
  NoGradGuard ng;
  return hearth::normal_(t, mean, std, gen);
}
Tensor& constant_(Tensor& t, double value) {
  NoGradGuard ng;
  t.fill_(value);
  return t;
}
Tensor& zeros_(Tensor& t) { return constant_(t, 0); }
Tensor& ones_(Tensor& t) { return constant_(t, 1); }

namespace {
double kaiming_std(const Tensor& t, double a, const std::string& mode, const std::string& nl) {
  HEARTH_CHECK(mode == "fan_in" || mode == "fan_out", ValueError, "kaiming init: mode must be 'fan_in' or 'fan_out', got '",
               mode, "'");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  const int64_t fan = mode == "fan_in" ? fan_in : fan_out;
  HEARTH_CHECK(fan > 0, ValueError, "kaiming init: zero fan for a tensor of shape ", t.sizes());
  return calculate_gain(nl, a) / std::sqrt(static_cast<double>(fan));
}
}  // namespace

Tensor& kaiming_uniform_(Tensor& t, double a, const std::string& mode, const std::string& nl, Generator* gen) {
  const double bound = std::sqrt(3.0) * kaiming_std(t, a, mode, nl);
  return init::uniform_(t, -bound, bound, gen);
}
Tensor& kaiming_normal_(Tensor& t, double a, const std::string& mode, const std::string& nl, Generator* gen) {
  return init::normal_(t, 0.0, kaiming_std(t, a, mode, nl), gen);
}
Tensor& xavier_uniform_(Tensor& t, double gain, Generator* gen) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  return init::uniform_(t, -bound, bound, gen);
}
Tensor& xavier_normal_(Tensor& t, double gain, Generator* gen) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  return init::normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), gen);
}

}  // namespace hearth::nn::init
