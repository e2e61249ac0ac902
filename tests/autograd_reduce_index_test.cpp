// gradcheck of reductions (norm's zero subgradient at 0: SEED G7), the matmul family, joining
// and indexing ops, on contiguous and non-contiguous inputs, in float64.
#include <gtest/gtest.h>

#include "hearth/autograd.h"
#include "hearth/hearth.h"

using namespace hearth;
using autograd::tensor_list;

TEST(AutogradReduce, SumGradcheck) {
  auto r = autograd::gradcheck([](const tensor_list& in) { return tensor_list{in[0].sum({1})}; },
                               {randn({3, 4}, kFloat64)});
  EXPECT_TRUE(r.ok) << r.message;
}
