// LabelSource: an optional second base class of a Dataset whose labels come from a file, so the
// trainer can check them against the model's classes before training and name that file.
#pragma once

#include <cstddef>
#include <string>

#include "hearth/tensor.h"

namespace hearth::data {

/// Where a dataset's labels come from, and the first n of them without reading the inputs.
/// hearth-idx and hearth-hdf5 implement it; the Trainer finds it with dynamic_cast. A separate
/// class (not new virtuals on Dataset), so Dataset's layout stays as plugins built it.
class LabelSource {
 public:
  virtual ~LabelSource() = default;
  /// Where the labels are, for messages: "IDX file 'DIR/train-labels-idx1-ubyte.gz'".
  virtual std::string labels_origin() const = 0;
  /// The first n labels (n <= the dataset's size) as an int64 tensor of shape (n) on the CPU.
  virtual Tensor labels(size_t n) const = 0;
};

}  // namespace hearth::data
