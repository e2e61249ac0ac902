// Op-layer helpers: allocation, device agreement, dim wrapping and the overlap check (SEED G1).
#include "op_utils.h"

#include <algorithm>
#include <vector>

namespace hearth::ops {

Tensor new_tensor(IntArrayRef sizes, ScalarType dtype, Device device) {
  const int64_t n = checked_numel(sizes);
  size_t bytes = 0;
  HEARTH_CHECK(!__builtin_mul_overflow(static_cast<size_t>(n), element_size(dtype), &bytes), ShapeError,
               "tensor of shape ", sizes, " and dtype ", dtype, " is too large");
  auto storage = detail::make_intrusive<StorageImpl>(bytes, device);
  return Tensor(detail::make_intrusive<TensorImpl>(std::move(storage), dtype, sizes, contiguous_strides(sizes), 0));
}

Device common_device(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (!first) { first = t; continue; }
    if (t->device() != first->device()) [[unlikely]] {
      std::string all;
      for (const Tensor* u : tensors)
        if (u->defined()) all += (all.empty() ? "" : ", ") + describe(*u);
      HEARTH_CHECK(false, DeviceError, op, ": expected all tensors on the same device, got ", all,
                   ". If a tensor was created outside a module (a plain member, not registered with "
                   "register_parameter / register_buffer), module.to(device) did not move it");
    }
  }
  return first ? first->device() : Device(kCPUType);
}

int64_t wrap_dim(int64_t dim, int64_t ndim) {
  const int64_t n = std::max<int64_t>(ndim, 1);  // 0-dim tensors accept dim 0 and -1
  HEARTH_CHECK(dim >= -n && dim < n, IndexError, "dimension out of range (expected to be in range of [", -n,
               ", ", n - 1, "], but got ", dim, ")");
  return dim < 0 ? dim + n : dim;
}

bool has_internal_overlap(const Tensor& t) {
  // Sorted by stride, each dim must step over everything the smaller dims span; that proves
  // no two elements share memory. A stride-0 dim of size > 1 always fails it.
  struct D { int64_t size, stride; };
  std::vector<D> dims;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.size(d) > 1) dims.push_back({t.size(d), t.stride(d)});
  std::sort(dims.begin(), dims.end(), [](const D& a, const D& b) { return a.stride < b.stride; });
  int64_t span = 0;  // max offset reachable by the dims so far
  for (const D& d : dims) {
    if (d.stride <= span) return true;
    span += (d.size - 1) * d.stride;
  }
  return false;
}

void check_no_internal_overlap(const Tensor& t, const char* op) {
  if (t.is_contiguous()) return;
  {
    HEARTH_CHECK(!has_internal_overlap(t), ValueError, op,
                 ": unsupported operation: more than one element of the written-to tensor refers to a single "
                 "memory location (shape ", t.sizes(), ", strides ", t.strides(),
                 "). This happens after expand() and similar views. Please clone() the tensor before "
                 "performing the operation.");
  }
}

void check_no_partial_overlap(const Tensor& out, const Tensor& in, const char* op) {
  if (out.impl()->storage().get() != in.impl()->storage().get() || out.numel() == 0 || in.numel() == 0) return;
  auto range = [](const Tensor& t) {
    int64_t last = t.storage_offset();
    for (int64_t d = 0; d < t.dim(); ++d) last += (t.size(d) - 1) * t.stride(d);
    return std::pair<int64_t, int64_t>(t.storage_offset(), last);
  };
  auto [ob, oe] = range(out);
  auto [ib, ie] = range(in);
  if (oe < ib || ie < ob) return;  // disjoint parts of one storage
  const bool same_view = out.storage_offset() == in.storage_offset() && out.sizes() == in.sizes() &&
                         out.strides() == in.strides() && out.dtype() == in.dtype();
  HEARTH_CHECK(same_view, ValueError, op,
               ": unsupported operation: some elements of the input tensor and the written-to tensor refer to a "
               "single memory location (input ", in.sizes(), " strides ", in.strides(), ", output ", out.sizes(),
               " strides ", out.strides(), "). Please clone() the input first.");
}

void call(const OpHandle& op, Device device, std::initializer_list<Tensor> inputs,
          std::initializer_list<Tensor> outputs, const void* attrs) {
  KernelArgs a;
  a.inputs = inputs.begin();
  a.num_inputs = inputs.size();
  a.outputs = const_cast<Tensor*>(outputs.begin());
  a.num_outputs = outputs.size();
  a.attrs = attrs;
  a.device = device;
  op.call(a);
}

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined";
  return detail::str(t.sizes(), " ", t.dtype(), " on ", t.device().str());
}

}  // namespace hearth::ops
