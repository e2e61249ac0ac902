// Transforms: per-sample randomness from (seed, epoch, index) only, never from a worker's
// stream, so augmentations repeat across runs and worker counts (SEED C3).
#include "hearth/data.h"
#include "hearth/functions.h"
#include "random_util.h"

namespace hearth::data {

uint64_t sample_seed(uint64_t seed, uint64_t epoch, uint64_t index) {
  return detail::mix64(detail::mix64(detail::mix64(seed) ^ epoch) ^ index);
}

Tensor Transform::apply(const Tensor& x, uint64_t seed, uint64_t epoch, uint64_t index) const {
  Generator gen(sample_seed(seed, epoch, index));
  return (*this)(x, gen);
}

namespace {
/// One 64-bit draw from the sample's generator (reserves its own counters).
uint64_t draw(Generator& gen) {
  uint64_t off = gen.reserve(2);
  return detail::bits64(gen.seed(), off, 0);
}
}  // namespace

Tensor ToFloat::operator()(const Tensor& x, Generator&) const {
  return x.to(kFloat32).mul(scale_);
}

Normalize::Normalize(std::vector<double> mean, std::vector<double> std)
    : mean_(std::move(mean)), std_(std::move(std)) {
  HEARTH_CHECK(!mean_.empty() && mean_.size() == std_.size(), ValueError,
               "Normalize: mean has ", mean_.size(), " values and std ", std_.size());
  for (double s : std_) HEARTH_CHECK(s != 0, ValueError, "Normalize: a std is zero");
}

Tensor Normalize::operator()(const Tensor& x, Generator&) const {
  Tensor f = x.is_floating_point() ? x : x.to(kFloat32);
  if (mean_.size() == 1) return f.sub(mean_[0]).div(std_[0]);
  HEARTH_CHECK(f.dim() >= 1 && f.size(0) == static_cast<int64_t>(mean_.size()), ShapeError,
               "Normalize: ", mean_.size(), " channel means for a sample of shape ", f.sizes());
  DimVector shape(f.dim(), 1);
  shape[0] = static_cast<int64_t>(mean_.size());
  Tensor m = tensor(mean_, TensorOptions(f.dtype())).view(shape);
  Tensor s = tensor(std_, TensorOptions(f.dtype())).view(shape);
  return f.sub(m).div(s);
}

RandomCrop::RandomCrop(int64_t height, int64_t width, int64_t padding) : h_(height), w_(width), pad_(padding) {
  HEARTH_CHECK(h_ > 0 && w_ > 0 && pad_ >= 0, ValueError, "RandomCrop: size ", h_, "x", w_,
               " and padding ", pad_, " must be positive / non-negative");
}

Tensor RandomCrop::operator()(const Tensor& x, Generator& gen) const {
  HEARTH_CHECK(x.dim() >= 2, ShapeError, "RandomCrop: a sample of shape ", x.sizes(), " has no H and W");
  const int64_t d = x.dim();
  const int64_t H = x.size(d - 2) + 2 * pad_, W = x.size(d - 1) + 2 * pad_;
  HEARTH_CHECK(h_ <= H && w_ <= W, ShapeError, "RandomCrop: crop ", h_, "x", w_,
               " larger than the padded sample ", H, "x", W);
  const int64_t top = static_cast<int64_t>(detail::below(draw(gen), H - h_ + 1));
  const int64_t left = static_cast<int64_t>(detail::below(draw(gen), W - w_ + 1));
  Tensor padded = x;
  if (pad_ > 0) {
    DimVector shape(x.sizes().begin(), x.sizes().end());
    shape[d - 2] = H;
    shape[d - 1] = W;
    padded = zeros(shape, x.options());
    padded.narrow(d - 2, pad_, x.size(d - 2)).narrow(d - 1, pad_, x.size(d - 1)).copy_(x);
  }
  return padded.narrow(d - 2, top, h_).narrow(d - 1, left, w_).contiguous();
}

RandomHorizontalFlip::RandomHorizontalFlip(double p) : p_(p) {
  HEARTH_CHECK(p_ >= 0 && p_ <= 1, ValueError, "RandomHorizontalFlip: p = ", p_, " not in [0, 1]");
}

Tensor RandomHorizontalFlip::operator()(const Tensor& x, Generator& gen) const {
  if (detail::unit(draw(gen)) >= p_) return x;
  HEARTH_CHECK(x.dim() >= 1, ShapeError, "RandomHorizontalFlip: a 0-dim sample");
  const int64_t W = x.size(-1);
  Tensor rev = arange(W - 1, -1, -1, TensorOptions(kInt64));
  return x.index_select(x.dim() - 1, rev);
}

Tensor Compose::operator()(const Tensor& x, Generator& gen) const {
  Tensor y = x;
  for (const auto& t : ts_) y = (*t)(y, gen);
  return y;
}

}  // namespace hearth::data
