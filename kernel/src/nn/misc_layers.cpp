// Embedding and Upsample layers over nn::functional (kernel/src/ops/embedding.cpp, resample.cpp).
#include "hearth/nn/misc.h"

#include "hearth/functions.h"
#include "hearth/nn/init.h"
#include "py_repr.h"

namespace hearth::nn {

using detail_repr::py_float;

EmbeddingImpl::EmbeddingImpl(int64_t num, int64_t dim, std::optional<int64_t> pad)
    : num_embeddings(num), embedding_dim(dim), padding_idx(pad) {
  HEARTH_CHECK(num > 0 && dim > 0, ValueError, "Embedding: num_embeddings and embedding_dim must be positive, got ", num,
               " and ", dim);
  if (pad) {
    HEARTH_CHECK(*pad >= -num && *pad < num, ValueError, "Embedding: padding_idx ", *pad,
                 " must be within num_embeddings (", num, ")");
    if (*pad < 0) padding_idx = *pad + num;
  }
  weight = register_parameter("weight", empty({num, dim}));
  reset_parameters();
}

void EmbeddingImpl::reset_parameters() {
  // PyTorch: N(0, 1), then the padding row zeroed.
  init::normal_(weight);
  if (padding_idx) {
    NoGradGuard ng;
    weight.select(0, *padding_idx).fill_(Scalar(0.0));
  }
}

std::string EmbeddingImpl::extra_repr() const {
  std::string s = detail::str(num_embeddings, ", ", embedding_dim);
  if (padding_idx) s += detail::str(", padding_idx=", *padding_idx);
  return s;
}

Tensor EmbeddingImpl::forward(const Tensor& input) { return functional::embedding(input, weight, padding_idx); }

UpsampleImpl::UpsampleImpl(functional::InterpolateOptions o) : options(std::move(o)) {
  HEARTH_CHECK(options.size.empty() != options.scale_factor.empty(), ValueError,
               "Upsample: give exactly one of size and scale_factor");
}

std::string UpsampleImpl::extra_repr() const {
  // PyTorch prints one value bare and several as a tuple.
  std::string info;
  if (!options.scale_factor.empty()) {
    info = "scale_factor=";
    const auto& s = options.scale_factor;
    if (s.size() == 1) {
      info += py_float(s[0]);
    } else {
      info += "(";
      for (size_t i = 0; i < s.size(); ++i) info += (i ? ", " : "") + py_float(s[i]);
      info += ")";
    }
  } else {
    info = "size=";
    const auto& s = options.size;
    if (s.size() == 1) {
      info += std::to_string(s[0]);
    } else {
      info += "(";
      for (size_t i = 0; i < s.size(); ++i) info += (i ? ", " : "") + std::to_string(s[i]);
      info += ")";
    }
  }
  return info + ", mode=" + options.mode;
}

Tensor UpsampleImpl::forward(const Tensor& input) { return functional::interpolate(input, options); }

}  // namespace hearth::nn
