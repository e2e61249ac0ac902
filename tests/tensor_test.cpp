// Tensors: metadata, views (SEED B1, B12), from_blob (B5), overlap errors (G1), promotion (B3).
#include <gtest/gtest.h>

#include "hearth/hearth.h"

using namespace hearth;

TEST(Tensor, FactoryMetadata) {
  Tensor t = empty({2, 3}, kFloat64);
  EXPECT_EQ(t.dim(), 2);
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.dtype(), kFloat64);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.strides()[0], 3);
}
