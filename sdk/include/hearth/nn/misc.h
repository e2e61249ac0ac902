// Embedding lookup, padding and interpolation (functional) with the Embedding and Upsample layers,
// following PyTorch's index and coordinate rules (SEED B9).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "hearth/arg.h"
#include "hearth/nn/module.h"

namespace hearth::nn {

/// LibTorch's EmbeddingOptions (max_norm, scale_grad_by_freq and sparse are not supported).
struct EmbeddingOptions {
  EmbeddingOptions(int64_t num_embeddings, int64_t embedding_dim)
      : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {}
  HEARTH_ARG(int64_t, num_embeddings);
  HEARTH_ARG(int64_t, embedding_dim);
  HEARTH_ARG(std::optional<int64_t>, padding_idx);
};

namespace functional {

/// Rows of weight [num_embeddings, dim] at the int64 (or int32) indices: output shape
/// indices.shape + [dim]. The row padding_idx (negative counts from the end) never receives a
/// gradient. An index outside [0, num_embeddings) raises IndexError naming it.
Tensor embedding(const Tensor& input, const Tensor& weight, std::optional<int64_t> padding_idx = std::nullopt);

/// Pads the last dims: pad = {left of last dim, right of last dim, left of the one before, ...}.
/// mode "constant" (fill `value`; negative pads crop), "reflect" (mirror without repeating the
/// edge; each pad < the dim's size), "replicate" (repeat the edge) or "circular" (wrap around).
/// The non-constant modes pad 1 to 3 trailing dims of a batched or unbatched input, as PyTorch.
Tensor pad(const Tensor& input, IntArrayRef pad, const std::string& mode = "constant", double value = 0.0);

/// What to resize to and how (PyTorch's F.interpolate arguments). Exactly one of size and
/// scale_factor is given; either holds one value for every spatial dim or one per spatial dim.
/// Designated initializers read like PyTorch's keywords: {.size = {32, 32}, .mode = "bilinear"}.
struct InterpolateOptions {
  std::vector<int64_t> size{};
  std::vector<double> scale_factor{};
  /// "nearest", "nearest-exact", "linear" (3-D input), "bilinear" (4-D), "bicubic" (4-D),
  /// "trilinear" (5-D).
  std::string mode = "nearest";
  /// Linear and cubic modes only. false (the default): pixel centres at i + 0.5 (half-pixel);
  /// true: the corner pixels of input and output are aligned.
  std::optional<bool> align_corners{};
  /// With scale_factor: true computes the coordinates from the rounded output size, false (the
  /// default) from the scale factor itself, as PyTorch.
  std::optional<bool> recompute_scale_factor{};
};

/// Resizes the spatial dims (all after N and C) of input. output size = floor(in * scale_factor)
/// when scaling. A mode given an input of the wrong rank raises ShapeError saying which shape it
/// expects (SEED B9: add a batch dimension to a (C, H, W) image for bilinear/bicubic).
Tensor interpolate(const Tensor& input, const InterpolateOptions& options);

}  // namespace functional

/// A lookup table: weight [num_embeddings, embedding_dim] drawn from N(0, 1), with the
/// padding_idx row zeroed and never trained.
class EmbeddingImpl : public Module {
 public:
  EmbeddingImpl(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx = std::nullopt);
  explicit EmbeddingImpl(const EmbeddingOptions& o)
      : EmbeddingImpl(o.num_embeddings(), o.embedding_dim(), o.padding_idx()) {}
  std::string type_name() const override { return "Embedding"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& input) override;
  void reset_parameters();

  int64_t num_embeddings, embedding_dim;
  std::optional<int64_t> padding_idx;  // non-negative once constructed
  Tensor weight;
};

/// functional::interpolate as a layer.
class UpsampleImpl : public Module {
 public:
  explicit UpsampleImpl(functional::InterpolateOptions options);
  std::string type_name() const override { return "Upsample"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& input) override;
  functional::InterpolateOptions options;
};

HEARTH_MODULE(Embedding);
HEARTH_MODULE(Upsample);

}  // namespace hearth::nn
