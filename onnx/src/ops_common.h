// Helpers for the op families' support-table rows: dtype sets and a row builder.
#pragma once

#include "onnx_internal.h"

namespace hearth::onnx_impl {

constexpr int kAnyRank = 64;
inline const std::vector<ScalarType> kFloats{kFloat32, kFloat64};
inline const std::vector<ScalarType> kFloats16{kFloat32, kFloat64, kFloat16};
inline const std::vector<ScalarType> kSigned{kFloat32, kFloat64, kInt8, kInt16, kInt32, kInt64};
inline const std::vector<ScalarType> kSignedFloat{kFloat32, kFloat64, kInt8, kInt16, kInt32, kInt64};
inline const std::vector<ScalarType> kNum{kFloat32, kFloat64, kInt8, kInt16, kInt32, kInt64, kUInt8};
inline const std::vector<ScalarType> kAll{kFloat32, kFloat64, kFloat16, kBFloat16, kInt8, kInt16, kInt32, kInt64, kUInt8, kBool};
inline const std::vector<ScalarType> kBoolOnly{kBool};
inline const std::vector<ScalarType> kAny{};

inline void add_op(std::map<std::string, OpEntry>& t, const std::string& op, const std::vector<ScalarType>& dtypes,
                   int min_rank, int max_rank, const std::string& notes, OpCheck check, OpRun run) {
  t[op] = OpEntry{op, dtypes, min_rank, max_rank, notes, std::move(check), std::move(run)};
}

inline std::vector<Tensor> outs(Tensor a) { return {std::move(a)}; }

}  // namespace hearth::onnx_impl
