// oneDNN blocked layouts as opaque tensor layouts (SEED issue 4: activations stay in oneDNN's
// chosen layout between oneDNN ops): interning, naming, cached reorders, conversion to strided.
#include "onednn_layout.h"

#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common.h"
#include "onednn_prim.h"

namespace hearth::cpu::dnn_layout {

using dnnl::memory;

dnnl::engine& engine() { return dnn::engine(); }
dnnl::stream& stream() { return dnn::stream(); }

namespace {

/// The fields that identify a descriptor, as bytes (the C struct has no hash and may hold padding).
std::string key_of(const memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  std::string k;
  auto put = [&](const void* p, size_t n) { k.append(static_cast<const char*>(p), n); };
  auto put64 = [&](int64_t v) { put(&v, sizeof v); };
  put64(d.ndims);
  put64(d.data_type);
  put64(d.format_kind);
  put64(d.offset0);
  for (int i = 0; i < d.ndims; ++i) {
    put64(d.dims[i]);
    put64(d.padded_dims[i]);
    put64(d.padded_offsets[i]);
  }
  if (d.format_kind == dnnl_blocked) {
    const auto& b = d.format_desc.blocking;
    for (int i = 0; i < d.ndims; ++i) put64(b.strides[i]);
    put64(b.inner_nblks);
    for (int i = 0; i < b.inner_nblks; ++i) {
      put64(b.inner_blks[i]);
      put64(b.inner_idxs[i]);
    }
  }
  put64(d.extra.flags);
  return k;
}

/// B when md is a dense 4-D nChw<B>c descriptor (what the hand-written loops handle), else 0.
int64_t cblock_of(const memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked || d.ndims != 4 || d.offset0 != 0 || d.extra.flags != 0) return 0;
  const auto& b = d.format_desc.blocking;
  if (b.inner_nblks != 1 || b.inner_idxs[0] != 1) return 0;
  const int64_t B = b.inner_blks[0], N = d.dims[0], C = d.dims[1], H = d.dims[2], W = d.dims[3];
  const int64_t Cp = (C + B - 1) / B * B;
  if (d.padded_dims[0] != N || d.padded_dims[1] != Cp || d.padded_dims[2] != H || d.padded_dims[3] != W) return 0;
  for (int i = 0; i < 4; ++i)
    if (d.padded_offsets[i] != 0) return 0;
  // Strides of (n, C/B, h, w); a stride of a size-1 dim is free, so only check where it matters.
  const int64_t want[4] = {Cp / B * H * W * B, H * W * B, W * B, B};
  const int64_t size[4] = {N, Cp / B, H, W};
  for (int i = 0; i < 4; ++i)
    if (size[i] > 1 && b.strides[i] != want[i]) return 0;
  return B;
}

std::string tag_of(const memory::desc& md, int64_t cblock) {
  if (cblock) return "nChw" + std::to_string(cblock) + "c";
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked) return "opaque";
  // oneDNN's own spelling: dims outermost first (by stride), blocked ones in capitals, then the
  // inner blocks ("OIhw16i16o"); letters a, b, c, ... for dims 0, 1, 2, ...
  const auto& b = d.format_desc.blocking;
  std::string outer;
  bool used[DNNL_MAX_NDIMS] = {};
  for (int n = 0; n < d.ndims; ++n) {
    int best = -1;
    for (int i = 0; i < d.ndims; ++i)
      if (!used[i] && (best < 0 || b.strides[i] > b.strides[best])) best = i;
    used[best] = true;
    bool blocked = false;
    for (int j = 0; j < b.inner_nblks; ++j) blocked |= b.inner_idxs[j] == best;
    outer += static_cast<char>((blocked ? 'A' : 'a') + best);
  }
  for (int j = 0; j < b.inner_nblks; ++j)
    outer += std::to_string(b.inner_blks[j]) + static_cast<char>('a' + b.inner_idxs[j]);
  return outer;
}

struct Interned {
  std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<const OnednnLayout>> layouts;
  std::unordered_map<std::string, std::shared_ptr<dnnl::reorder>> reorders;
};
Interned& interned() {
  static auto* i = new Interned;  // leaked: plugins are never unloaded
  return *i;
}
constexpr size_t kMaxEntries = 512;

memory::data_type dnnl_type(ScalarType t) {
  switch (t) {
    case kFloat32: return memory::data_type::f32;
    case kBFloat16: return memory::data_type::bf16;
    case kInt32: return memory::data_type::s32;
    case kInt8: return memory::data_type::s8;
    case kUInt8: return memory::data_type::u8;
    default: HEARTH_CHECK(false, DTypeError, "no oneDNN data type for ", t);
  }
  return memory::data_type::undef;
}

}  // namespace

OnednnLayout::OnednnLayout(const memory::desc& md, int64_t cblock) : md_(md), cblock_(cblock), tag_(tag_of(md, cblock)) {}

void OnednnLayout::to_strided(const void* src, void* dst, IntArrayRef sizes, ScalarType dtype) const {
  HEARTH_CHECK(dnnl_type(dtype) == md_.data_type(), DTypeError, "layout ", name(), " holds another dtype than ", dtype);
  reorder(md_, src, plain_desc(sizes, md_.data_type()), dst);
}

std::shared_ptr<const OnednnLayout> layout_for(const memory::desc& md) {
  std::string k = key_of(md);
  Interned& in = interned();
  std::lock_guard<std::mutex> lk(in.mu);
  auto it = in.layouts.find(k);
  if (it != in.layouts.end()) return it->second;
  if (in.layouts.size() >= kMaxEntries) in.layouts.clear();  // live tensors keep their own pointers
  auto l = std::make_shared<const OnednnLayout>(md, cblock_of(md));
  in.layouts.emplace(std::move(k), l);
  return l;
}

std::shared_ptr<const OnednnLayout> blocked_nchw(int64_t N, int64_t C, int64_t H, int64_t W, memory::data_type dt,
                                                 int64_t block) {
  const memory::format_tag t = block == 16 ? memory::format_tag::nChw16c
                               : block == 8 ? memory::format_tag::nChw8c
                                            : memory::format_tag::nChw4c;
  return layout_for(memory::desc({N, C, H, W}, dt, t));
}

memory::desc plain_desc(IntArrayRef sizes, memory::data_type dt) {
  memory::dims dims(sizes.begin(), sizes.end()), strides(sizes.size());
  int64_t s = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    strides[i] = s;
    s *= std::max<int64_t>(sizes[i], 1);
  }
  return memory::desc(dims, dt, strides);
}

void reorder(const memory::desc& src_md, const void* src, const memory::desc& dst_md, void* dst) {
  std::string k = key_of(src_md);
  k += '|';
  k += key_of(dst_md);
  Interned& in = interned();
  std::shared_ptr<dnnl::reorder> r;
  {
    std::lock_guard<std::mutex> lk(in.mu);
    auto it = in.reorders.find(k);
    if (it != in.reorders.end()) r = it->second;
  }
  try {
    if (!r) {
      // Created outside the lock: it takes far longer than a lookup.
      auto& e = engine();
      r = std::make_shared<dnnl::reorder>(dnnl::reorder::primitive_desc(e, src_md, e, dst_md));
      std::lock_guard<std::mutex> lk(in.mu);
      if (in.reorders.size() >= kMaxEntries) in.reorders.clear();
      in.reorders.emplace(std::move(k), r);
    }
    auto& e = engine();
    memory s(src_md, e, const_cast<void*>(src)), d(dst_md, e, dst);
    r->execute(stream(), s, d);
    stream().wait();
  } catch (const dnnl::error& err) {
    HEARTH_CHECK(false, Error, "oneDNN reorder failed: ", err.what());
  }
}

void give_layout(TensorImpl* out, std::shared_ptr<const OnednnLayout> layout) {
  const size_t need = layout->desc().get_size();
  if (out->storage()->nbytes() < need || !out->storage()->owns_memory() || out->storage_offset() != 0)
    out->set_storage(detail::make_intrusive<StorageImpl>(need, out->device()));
  out->set_opaque_layout(std::move(layout));
}

}  // namespace hearth::cpu::dnn_layout
