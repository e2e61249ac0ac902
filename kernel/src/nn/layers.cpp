// Linear, activations, Flatten, Dropout and their functional forms.
#include "hearth/nn/layers.h"

#include <cmath>
#include <sstream>

#include "hearth/functions.h"
#include "hearth/nn/functional.h"
#include "hearth/nn/init.h"

namespace hearth::nn {

namespace F = functional;

namespace {
std::string fmt_double(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
void check_p(double p, const char* who) {
  HEARTH_CHECK(p >= 0 && p <= 1, ValueError, who, ": dropout probability has to be between 0 and 1, but got ", p);
}
}  // namespace

// ---- functional ----

namespace functional {

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  HEARTH_CHECK(weight.dim() == 2, ShapeError, "linear: weight must be 2-D [out, in], got shape ", weight.sizes());
  HEARTH_CHECK(input.dim() >= 1 && input.size(-1) == weight.size(1), ShapeError, "linear: input of shape ",
               input.sizes(), " does not fit weight of shape ", weight.sizes(), " (in_features ", weight.size(1), ")");
  if (input.dim() == 2 && bias.defined()) return addmm(bias, input, weight.t());
  Tensor out = matmul(input, weight.t());
  return bias.defined() ? out + bias : out;
}

Tensor relu(const Tensor& input, bool inplace) {
  if (!inplace) return input.relu();
  Tensor x = input;
  return x.relu_();
}

Tensor leaky_relu(const Tensor& input, double slope) { return where(input.gt(0), input, input.mul(slope)); }
Tensor gelu(const Tensor& input, const std::string& approximate) { return hearth::gelu(input, approximate); }
Tensor sigmoid(const Tensor& input) { return input.sigmoid(); }
Tensor tanh(const Tensor& input) { return input.tanh(); }

Tensor dropout(const Tensor& input, double p, bool training) {
  check_p(p, "dropout");
  if (!training || p == 0) return input;
  if (p == 1) return input.mul(0);
  Tensor keep = rand(input.sizes(), input.options()).ge(p).to(input.dtype());
  return input * keep.mul(1.0 / (1.0 - p));
}

Tensor dropout2d(const Tensor& input, double p, bool training) {
  check_p(p, "dropout2d");
  HEARTH_CHECK(input.dim() == 3 || input.dim() == 4, ShapeError, "dropout2d: expected a 3-D or 4-D input, got shape ",
               input.sizes());
  if (!training || p == 0) return input;
  if (p == 1) return input.mul(0);
  DimVector mshape(input.sizes().begin(), input.sizes().end());
  const int64_t first_spatial = input.dim() == 4 ? 2 : 1;  // 3-D: [C, H, W] (unbatched)
  for (int64_t d = first_spatial; d < input.dim(); ++d) mshape[d] = 1;
  Tensor keep = rand(mshape, input.options()).ge(p).to(input.dtype());
  return input * keep.mul(1.0 / (1.0 - p));
}

}  // namespace functional

// ---- layers ----

LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias) : in_features(in), out_features(out) {
  HEARTH_CHECK(in > 0 && out > 0, ValueError, "Linear: in_features and out_features must be positive, got ", in,
               " and ", out);
  weight = register_parameter("weight", empty({out, in}));
  if (with_bias) bias = register_parameter("bias", empty({out}));
  reset_parameters();
}

void LinearImpl::reset_parameters() {
  // PyTorch: kaiming_uniform_(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)); the bias the same.
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    init::uniform_(bias, -bound, bound);
  }
}

std::string LinearImpl::extra_repr() const {
  return detail::str("in_features=", in_features, ", out_features=", out_features,
                     ", bias=", bias.defined() ? "True" : "False");
}

Tensor LinearImpl::forward(const Tensor& x) { return F::linear(x, weight, bias); }
int64_t LinearImpl::mult_adds(const Tensor&, const Tensor& out) const { return in_features * out.numel(); }
Tensor ReLUImpl::forward(const Tensor& x) { return F::relu(x, inplace); }
std::string LeakyReLUImpl::extra_repr() const { return detail::str("negative_slope=", fmt_double(negative_slope)); }
Tensor LeakyReLUImpl::forward(const Tensor& x) { return F::leaky_relu(x, negative_slope); }
Tensor GELUImpl::forward(const Tensor& x) { return F::gelu(x, approximate); }
Tensor SigmoidImpl::forward(const Tensor& x) { return x.sigmoid(); }
Tensor TanhImpl::forward(const Tensor& x) { return x.tanh(); }
std::string FlattenImpl::extra_repr() const {
  return detail::str("start_dim=", start_dim, ", end_dim=", end_dim);
}
Tensor FlattenImpl::forward(const Tensor& x) { return x.flatten(start_dim, end_dim); }

DropoutImpl::DropoutImpl(double p) : p(p) { check_p(p, "Dropout"); }
std::string DropoutImpl::extra_repr() const { return detail::str("p=", fmt_double(p), ", inplace=False"); }
Tensor DropoutImpl::forward(const Tensor& x) { return F::dropout(x, p, is_training()); }
Dropout2dImpl::Dropout2dImpl(double p) : p(p) { check_p(p, "Dropout2d"); }
std::string Dropout2dImpl::extra_repr() const { return detail::str("p=", fmt_double(p), ", inplace=False"); }
Tensor Dropout2dImpl::forward(const Tensor& x) { return F::dropout2d(x, p, is_training()); }

}  // namespace hearth::nn
