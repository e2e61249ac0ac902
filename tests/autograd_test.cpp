// The autograd engine and its traps: version counters (SEED B6, F1), retain_graph, hooks,
// grad(), no-grad (E2), anomaly mode (G8), checkpointing (F4), graph growth (G2), DOT (A2).
#include <gtest/gtest.h>

#include "hearth/autograd.h"
#include "hearth/hearth.h"

using namespace hearth;
using autograd::tensor_list;

TEST(Autograd, AddChain) {
  Tensor x = ones({4}, requires_grad());
  Tensor y = x;
  for (int i = 0; i < 3; ++i) y = y + ones({4});
  y.sum().backward();
  EXPECT_TRUE(equal(x.grad(), ones({4})));
}
