// Opaque-layout tensors in oneDNN's blocked layouts (nChw16c activations and their int32 max-pool
// indices): the OpaqueLayout implementation, cached reorders, and what the layout-aware kernels
// (conv, relu-mask, max pool) need to read a tensor's layout.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "hearth/tensor_impl.h"

namespace hearth::cpu::dnn_layout {

/// A oneDNN memory descriptor as a tensor layout. Interned (see layout_for): one object per
/// descriptor, so equal layouts are usually the same pointer.
class OnednnLayout final : public OpaqueLayout {
 public:
  OnednnLayout(const dnnl::memory::desc& md, int64_t cblock);
  std::string name() const override { return "onednn:" + tag_; }
  DeviceTypeId device_type() const override { return kCPUType; }
  size_t nbytes(IntArrayRef, ScalarType) const override { return md_.get_size(); }
  void to_strided(const void* src, void* dst, IntArrayRef sizes, ScalarType dtype) const override;

  const dnnl::memory::desc& desc() const { return md_; }
  /// B for the 4-D "nChw<B>c" form (channel blocks of B innermost, no other blocking, dense):
  /// the form the hand-written loops (max pool, relu mask) understand; 0 otherwise.
  int64_t cblock() const { return cblock_; }

 private:
  dnnl::memory::desc md_;
  int64_t cblock_;
  std::string tag_;
};

/// The engine and this thread's stream shared by the conv kernels and the layouts.
dnnl::engine& engine();
dnnl::stream& stream();

/// The interned layout for `md`.
std::shared_ptr<const OnednnLayout> layout_for(const dnnl::memory::desc& md);
/// The nChw<B>c layout of an [N, C, H, W] tensor of data type dt.
std::shared_ptr<const OnednnLayout> blocked_nchw(int64_t N, int64_t C, int64_t H, int64_t W,
                                                 dnnl::memory::data_type dt, int64_t block);

/// t's layout when it is one of ours, else null (strided, or another backend's opaque layout).
inline const OnednnLayout* layout_of(const TensorImpl* t) {
  const auto& l = t->opaque_layout();
  return l ? dynamic_cast<const OnednnLayout*>(l.get()) : nullptr;
}

/// Plain row-major descriptor for sizes and dtype.
dnnl::memory::desc plain_desc(IntArrayRef sizes, dnnl::memory::data_type dt);

/// Runs a cached reorder src -> dst (any two descriptors of one shape) on this thread's stream.
void reorder(const dnnl::memory::desc& src_md, const void* src, const dnnl::memory::desc& dst_md, void* dst);

/// Gives `out` (a kernel's fresh contiguous output) the layout, replacing its storage when the
/// layout needs more bytes (channel padding), so the kernel can write straight into it.
void give_layout(TensorImpl* out, std::shared_ptr<const OnednnLayout> layout);

}  // namespace hearth::cpu::dnn_layout
