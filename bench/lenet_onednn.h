// bench_lenet's oneDNN ceiling: lenet's layers as bare oneDNN primitives, timed one by one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lenet_bench {

struct LayerTime {
  std::string name;
  double ms;  ///< best time of the primitive alone, run in step order
  bool backward;
};

/// Per-primitive best times of one lenet step at batch N (training: forward with workspaces and
/// the backward; otherwise the inference forward), over `iters` rounds.
std::vector<LayerTime> onednn_lenet(int64_t N, int iters, bool training);

}  // namespace lenet_bench
