// Model summaries (SEED A3) and parameter / mult-add counts (SEED A6), like Keras' summary and
// thop's profile + clever_format.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "hearth/nn/module.h"

namespace hearth::nn {

struct LayerSummary {
  std::string name;          ///< dotted path ("0", "features.3")
  std::string type;          ///< "Conv2d"
  std::string kernel;        ///< "3x3", or empty
  DimVector output_shape;    ///< of the layer's (last) call
  int64_t params = 0;        ///< parameters registered directly in the layer
  int64_t mult_adds = 0;     ///< over all of its calls in the forward
  int64_t calls = 0;
};

struct ModelSummary {
  std::vector<LayerSummary> layers;  ///< leaf layers in call order
  int64_t total_params = 0, trainable_params = 0, total_mult_adds = 0;
  /// The Keras-style table with totals.
  std::string table() const;
};

/// Runs one forward on zero inputs of the given shapes (batch included) without recording
/// autograd, and reports each leaf layer called through operator() (Sequential and friends call
/// children that way). With several inputs, `run` calls the model; with one, the default calls
/// model(inputs[0]).
ModelSummary summary(Module& model, const std::vector<DimVector>& input_shapes,
                     const std::function<void(const std::vector<Tensor>&)>& run = {},
                     const TensorOptions& options = {});

/// thop's profile: (mult-adds, parameters) of one forward on these inputs.
std::pair<int64_t, int64_t> profile(Module& model, const std::vector<Tensor>& inputs,
                                    const std::function<void(const std::vector<Tensor>&)>& run = {});

/// thop's clever_format: "421.642K", "4.241M", "1.234G", "12.000B" below a thousand (precision
/// digits after the point; numbers below 1000 as they are).
std::string clever_format(double value, int precision = 3);

}  // namespace hearth::nn
