// Type promotion (SEED B3): promote_types, result_type and can_cast for every dtype pair against PyTorch 1.13 (tests/golden/promotion.json).
//
// Tensors here are made with empty() and only their dtype and rank matter, so this needs no
// backend kernels.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "hearth/hearth.h"

using hearth::Scalar;
using hearth::ScalarType;
using hearth::Tensor;
using json = nlohmann::json;

namespace {

const json& table() {
  static const json j = [] {
    std::ifstream f(std::string(HEARTH_TEST_DATA_DIR) + "/golden/promotion.json");
    return f ? json::parse(f, nullptr, /*allow_exceptions=*/false) : json();
  }();
  return j;
}

std::vector<std::string> dtype_names() { return table().at("dtypes").get<std::vector<std::string>>(); }

ScalarType dt(const std::string& name) { return hearth::dtype_from_name(name); }

Tensor vec(ScalarType t) { return hearth::empty({2}, hearth::TensorOptions(t)); }
Tensor zero_dim(ScalarType t) { return hearth::empty({}, hearth::TensorOptions(t)); }

// Python number kinds as PyTorch 1.13 was given them: 2, 2.5, True.
Scalar py_scalar(const std::string& kind) {
  if (kind == "int") return Scalar(2);
  if (kind == "float") return Scalar(2.5);
  if (kind == "bool") return Scalar(true);
  ADD_FAILURE() << "unknown scalar kind " << kind;
  return Scalar(0);
}

class Promotion : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(table().is_object()) << "cannot read " << HEARTH_TEST_DATA_DIR << "/golden/promotion.json";
    ASSERT_EQ(dtype_names().size(), static_cast<size_t>(hearth::kNumScalarTypes));
  }
  /// The expected dtype for section/row/column.
  static ScalarType want(const char* section, const std::string& a, const std::string& b) {
    return dt(table().at(section).at(a).at(b).get<std::string>());
  }
};

// SEED B3
TEST_F(Promotion, PromoteTypesAllPairs) {
  for (const auto& a : dtype_names())
    for (const auto& b : dtype_names())
      EXPECT_EQ(hearth::promote_types(dt(a), dt(b)), want("promote_types", a, b)) << "promote_types(" << a << ", " << b << ")";
}

// SEED B3
TEST_F(Promotion, ResultTypeTensorTensor) {
  for (const auto& a : dtype_names())
    for (const auto& b : dtype_names()) {
      EXPECT_EQ(hearth::result_type(vec(dt(a)), vec(dt(b))), want("tensor_tensor", a, b))
          << "result_type(1-D " << a << ", 1-D " << b << ")";
      EXPECT_EQ(hearth::result_type(std::vector<Tensor>{vec(dt(a)), vec(dt(b))}), want("tensor_tensor", a, b))
          << "result_type({1-D " << a << ", 1-D " << b << "})";
    }
}

// SEED B3
TEST_F(Promotion, ResultTypeTensorZeroDim) {
  for (const auto& a : dtype_names())
    for (const auto& b : dtype_names()) {
      EXPECT_EQ(hearth::result_type(vec(dt(a)), zero_dim(dt(b))), want("tensor_zerodim", a, b))
          << "result_type(1-D " << a << ", 0-dim " << b << ")";
      EXPECT_EQ(hearth::result_type(zero_dim(dt(a)), vec(dt(b))), want("zerodim_tensor", a, b))
          << "result_type(0-dim " << a << ", 1-D " << b << ")";
      EXPECT_EQ(hearth::result_type(zero_dim(dt(a)), zero_dim(dt(b))), want("zerodim_zerodim", a, b))
          << "result_type(0-dim " << a << ", 0-dim " << b << ")";
      EXPECT_EQ(hearth::result_type(std::vector<Tensor>{vec(dt(a)), zero_dim(dt(b))}), want("tensor_zerodim", a, b))
          << "result_type({1-D " << a << ", 0-dim " << b << "})";
    }
}

// SEED B3
TEST_F(Promotion, ResultTypeTensorScalar) {
  for (const auto& a : dtype_names())
    for (const char* kind : {"int", "float", "bool"}) {
      EXPECT_EQ(hearth::result_type(vec(dt(a)), py_scalar(kind)), want("tensor_scalar", a, kind))
          << "result_type(1-D " << a << ", Python " << kind << ")";
      EXPECT_EQ(hearth::result_type(zero_dim(dt(a)), py_scalar(kind)), want("zerodim_scalar", a, kind))
          << "result_type(0-dim " << a << ", Python " << kind << ")";
    }
}

// SEED B3
TEST_F(Promotion, CanCastAllPairs) {
  for (const auto& a : dtype_names())
    for (const auto& b : dtype_names())
      EXPECT_EQ(hearth::can_cast(dt(a), dt(b)), table().at("can_cast").at(a).at(b).get<bool>())
          << "can_cast(" << a << ", " << b << ")";
}

// SEED B3: the table covers exactly hearth's ten dtypes, and their names round-trip.
TEST_F(Promotion, TableCoversAllDtypes) {
  for (int i = 0; i < hearth::kNumScalarTypes; ++i) {
    auto t = static_cast<ScalarType>(i);
    const auto names = dtype_names();
    EXPECT_NE(std::find(names.begin(), names.end(), std::string(hearth::dtype_name(t))), names.end()) << t;
    EXPECT_EQ(dt(hearth::dtype_name(t)), t);
  }
}

}  // namespace
