// Helpers shared by the op layer: device agreement, output allocation, dim wrapping, checks.
#pragma once

#include <initializer_list>
#include <string>

#include "hearth/dispatcher.h"
#include "hearth/functions.h"
#include "hearth/tensor.h"

namespace hearth::ops {

/// A contiguous tensor of the given shape on `device` (no fill).
Tensor new_tensor(IntArrayRef sizes, ScalarType dtype, Device device);

/// The device all tensors share. A mix raises DeviceError naming every device and hinting at
/// an unregistered parameter (SEED A1-trap b).
Device common_device(const char* op, std::initializer_list<const Tensor*> tensors);

/// Wraps a possibly negative dim into [0, ndim); IndexError naming the op otherwise.
int64_t wrap_dim(int64_t dim, int64_t ndim);

/// True if two elements of `t` share a memory location (after expand and similar views).
bool has_internal_overlap(const Tensor& t);

/// SEED G1: raises if writing into `t` would write one memory location through several
/// elements (e.g. after expand), suggesting clone().
void check_no_internal_overlap(const Tensor& t, const char* op);

/// Raises if `in` and `out` share memory without being the same view (e.g. x[1:].add_(x[:-1])
/// or x.copy_(x.t())): the kernel would read elements it has already overwritten.
void check_no_partial_overlap(const Tensor& out, const Tensor& in, const char* op);

/// Calls `op` with the given inputs and outputs on `device`.
void call(const OpHandle& op, Device device, std::initializer_list<Tensor> inputs,
          std::initializer_list<Tensor> outputs, const void* attrs = nullptr);

/// Cached op lookup: `static const OpHandle h = op_handle("add");`
inline OpHandle op_handle(const char* name) { return find_op(name); }

/// An op's result made from a view of its own fresh output (a reshape of what a kernel wrote):
/// the same memory, geometry and history, but an ordinary tensor, not a view (PyTorch's
/// _unsafe_view). Where PyTorch returns a fresh tensor hearth must not return a view, or an
/// in-place op on it (nn::ReLU(true)) would go through CopySlices. Only for views whose base
/// nothing else can reach.
Tensor own_view(const Tensor& v);

/// "[2, 3] float32 on cpu" for messages.
std::string describe(const Tensor& t);

/// grad where result > 0, else 0 (PyTorch's threshold_backward(g, y, 0), so NaN results pass g):
/// the backward of relu and of the fused conv2d_relu, itself differentiable in g (conv.cpp).
Tensor relu_backward(const Tensor& g, const Tensor& y);

}  // namespace hearth::ops
