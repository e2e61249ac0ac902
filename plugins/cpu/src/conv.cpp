// Convolution kernels of hearth-cpu: oneDNN forward (optionally with a fused ReLU) / backward-data /
// backward-weights for float32 and bfloat16 (primitives cached per shape, activations kept in
// oneDNN's blocked layouts, blocked weights cached), a direct reference loop for float64 and
// float16 and for geometries oneDNN rejects.
#include <oneapi/dnnl/dnnl.hpp>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common.h"
#include "hearth/autograd_meta.h"
#include "hearth/functions.h"
#include "onednn_layout.h"
#include "scratch_buffer.h"

namespace hearth::cpu {
namespace {

using dnnl::memory;
using mdt = memory::data_type;
using tag = memory::format_tag;

// ---- geometry ------------------------------------------------------------------------------------

/// The forward convolution x [N, C, H, W] (*) w [O, C/g, KH, KW] -> y [N, O, OH, OW], whichever
/// of its three products a kernel computes.
struct Geom {
  int64_t N, C, H, W, O, KH, KW, OH, OW;
  int64_t sh, sw, ph, pw, dh, dw, g;
  int64_t Cg() const { return C / g; }
  int64_t Og() const { return O / g; }
};

Geom make_geom(TensorImpl* x, TensorImpl* w, TensorImpl* y, const attrs::Conv& a) {
  HEARTH_CHECK(x->dim() == 4 && w->dim() == 4 && y->dim() == 4, ShapeError, "input ", x->sizes(), ", weight ",
               w->sizes(), " and output ", y->sizes(), " must all be 4-D (the op layer adds the batch dim)");
  Geom g{x->size(0), x->size(1),  x->size(2),  x->size(3),   w->size(0),   w->size(2),    w->size(3),    y->size(2),
         y->size(3), a.stride[0], a.stride[1], a.padding[0], a.padding[1], a.dilation[0], a.dilation[1], a.groups};
  HEARTH_CHECK(g.g >= 1 && g.C % g.g == 0 && g.O % g.g == 0 && w->size(1) == g.C / g.g && y->size(0) == g.N &&
                   y->size(1) == g.O && g.sh > 0 && g.sw > 0 && g.dh > 0 && g.dw > 0,
               ShapeError, "inconsistent convolution operands: input ", x->sizes(), ", weight ", w->sizes(),
               ", output ", y->sizes(), ", groups ", a.groups);
  return g;
}

void check_contiguous(TensorImpl* t, const char* what) {
  HEARTH_CHECK(t->is_contiguous(), ValueError, what, " of shape ", t->sizes(),
               " must be contiguous (the op layer makes it so)");
}

// ---- reference loops (float64, float16, and whatever oneDNN rejects) -----------------------------
// Accumulate in double: they exist for exactness (gradcheck), not speed.

template <typename T>
void ref_forward(const Geom& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t Cg = g.Cg(), Og = g.Og(), plane = g.OH * g.OW;
  parallel_for(g.N * g.O, std::max<int64_t>(1, kGrain / std::max<int64_t>(plane * Cg * g.KH * g.KW, 1)),
               [&](int64_t p0, int64_t p1) {
                 for (int64_t p = p0; p < p1; ++p) {
                   const int64_t n = p / g.O, o = p % g.O, c0 = (o / Og) * Cg;
                   const T* wo = w + o * Cg * g.KH * g.KW;
                   T* yp = y + p * plane;
                   for (int64_t oh = 0; oh < g.OH; ++oh)
                     for (int64_t ow = 0; ow < g.OW; ++ow) {
                       double acc = b ? convert<double>(b[o]) : 0.0;
                       for (int64_t c = 0; c < Cg; ++c) {
                         const T* xc = x + ((n * g.C) + c0 + c) * g.H * g.W;
                         const T* wc = wo + c * g.KH * g.KW;
                         for (int64_t kh = 0; kh < g.KH; ++kh) {
                           const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
                           if (ih < 0 || ih >= g.H) continue;
                           for (int64_t kw = 0; kw < g.KW; ++kw) {
                             const int64_t iw = ow * g.sw - g.pw + kw * g.dw;
                             if (iw < 0 || iw >= g.W) continue;
                             acc += convert<double>(xc[ih * g.W + iw]) * convert<double>(wc[kh * g.KW + kw]);
                           }
                         }
                       }
                       yp[oh * g.OW + ow] = convert<T>(acc);
                     }
                 }
               });
}

template <typename T>
void ref_backward_input(const Geom& g, const T* gy, const T* w, T* gx) {
  const int64_t Cg = g.Cg(), Og = g.Og(), plane = g.H * g.W;
  parallel_for(g.N * g.C, std::max<int64_t>(1, kGrain / std::max<int64_t>(plane * Og * g.KH * g.KW, 1)),
               [&](int64_t p0, int64_t p1) {
                 for (int64_t p = p0; p < p1; ++p) {
                   const int64_t n = p / g.C, c = p % g.C, grp = c / Cg, cl = c % Cg;
                   T* gxp = gx + p * plane;
                   for (int64_t ih = 0; ih < g.H; ++ih)
                     for (int64_t iw = 0; iw < g.W; ++iw) {
                       double acc = 0.0;
                       for (int64_t kh = 0; kh < g.KH; ++kh) {
                         const int64_t th = ih + g.ph - kh * g.dh;  // = oh * sh
                         if (th < 0 || th % g.sh != 0 || th / g.sh >= g.OH) continue;
                         const int64_t oh = th / g.sh;
                         for (int64_t kw = 0; kw < g.KW; ++kw) {
                           const int64_t tw = iw + g.pw - kw * g.dw;
                           if (tw < 0 || tw % g.sw != 0 || tw / g.sw >= g.OW) continue;
                           const int64_t ow = tw / g.sw;
                           for (int64_t ol = 0; ol < Og; ++ol) {
                             const int64_t o = grp * Og + ol;
                             acc += convert<double>(gy[((n * g.O + o) * g.OH + oh) * g.OW + ow]) *
                                    convert<double>(w[((o * Cg + cl) * g.KH + kh) * g.KW + kw]);
                           }
                         }
                       }
                       gxp[ih * g.W + iw] = convert<T>(acc);
                     }
                 }
               });
}

template <typename T>
void ref_backward_weight(const Geom& g, const T* gy, const T* x, T* gw, T* gb) {
  const int64_t Cg = g.Cg(), Og = g.Og(), taps = g.KH * g.KW;
  parallel_for(g.O * Cg, std::max<int64_t>(1, kGrain / std::max<int64_t>(g.N * g.OH * g.OW * taps, 1)),
               [&](int64_t p0, int64_t p1) {
                 for (int64_t p = p0; p < p1; ++p) {
                   const int64_t o = p / Cg, cl = p % Cg, c = (o / Og) * Cg + cl;
                   for (int64_t kh = 0; kh < g.KH; ++kh)
                     for (int64_t kw = 0; kw < g.KW; ++kw) {
                       double acc = 0.0;
                       for (int64_t n = 0; n < g.N; ++n) {
                         const T* gyp = gy + (n * g.O + o) * g.OH * g.OW;
                         const T* xp = x + (n * g.C + c) * g.H * g.W;
                         for (int64_t oh = 0; oh < g.OH; ++oh) {
                           const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
                           if (ih < 0 || ih >= g.H) continue;
                           for (int64_t ow = 0; ow < g.OW; ++ow) {
                             const int64_t iw = ow * g.sw - g.pw + kw * g.dw;
                             if (iw < 0 || iw >= g.W) continue;
                             acc += convert<double>(gyp[oh * g.OW + ow]) * convert<double>(xp[ih * g.W + iw]);
                           }
                         }
                       }
                       gw[p * taps + kh * g.KW + kw] = convert<T>(acc);
                     }
                 }
               });
  if (gb) {
    parallel_for(g.O, 1, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        double acc = 0.0;
        for (int64_t n = 0; n < g.N; ++n) {
          const T* gyp = gy + (n * g.O + o) * g.OH * g.OW;
          for (int64_t i = 0; i < g.OH * g.OW; ++i) acc += convert<double>(gyp[i]);
        }
        gb[o] = convert<T>(acc);
      }
    });
  }
}

// ---- oneDNN --------------------------------------------------------------------------------------
// Primitives are created with format_tag::any, so oneDNN picks its fast blocked layouts (nChw16c
// activations, blocked weights). Activations stay in those layouts between oneDNN ops (issue 4):
// a float32 forward output or backward-data result is handed back as an opaque-layout tensor
// (onednn_layout.h) in the primitive's own layout, and an input that already carries a oneDNN
// layout is used as it is (or reordered straight from it when another primitive chose another
// one). Plain tensors are reordered in; weights' blocked copies are cached (see WeightCache).
// Anything else that touches a blocked tensor converts it to strided form first (tensor_impl.cpp).

using dnn_layout::engine;
using dnn_layout::layout_of;
using dnn_layout::stream;

enum class Kind : int64_t { kForward = 0, kBackwardData = 1, kBackwardWeights = 2 };

/// What an operand is, for the choices run_plan makes.
enum class Role : uint8_t { kActivation, kWeight, kSmall };

/// One primitive argument: as a plain caller holds it and as the primitive wants it.
struct Operand {
  int arg = 0;
  bool output = false;
  Role role = Role::kActivation;
  memory::desc user, prim;
  bool reordered = false;
  dnnl::reorder reorder;  // user -> prim for inputs, prim -> user for outputs
  std::size_t reorder_scratch = 0;
  std::shared_ptr<const dnn_layout::OnednnLayout> layout;  // prim as a tensor layout
};

struct Plan {
  dnnl::primitive prim;
  std::vector<Operand> operands;
  std::size_t scratch_bytes = 0;
  std::string impl;
};

constexpr int kKeyLen = 22;
struct Key {
  std::array<int64_t, kKeyLen> v;
  bool operator==(const Key& o) const { return v == o.v; }
};
struct KeyHash {
  std::size_t operator()(const Key& k) const {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int64_t x : k.v) {
      h ^= uint64_t(x) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
      h *= 0x100000001b3ull;
    }
    return std::size_t(h);
  }
};

/// Bottom/right padding that makes oneDNN's output-size check hold exactly: oneDNN wants
/// (H + pl + pr - dilated_kernel) / s + 1 == OH, and rows past the last window (floor division,
/// conv_transpose's output_padding) are expressed as a smaller (even negative) pr.
int64_t pad_right(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, int64_t d) {
  return (out - 1) * s + (k - 1) * d + 1 - in - p;
}

Key make_key(Kind kind, mdt dt, const Geom& g, bool bias, bool relu) {
  return Key{{int64_t(kind),
              int64_t(dt),
              g.N,
              g.C,
              g.H,
              g.W,
              g.O,
              g.KH,
              g.KW,
              g.OH,
              g.OW,
              g.sh,
              g.sw,
              g.ph,
              g.pw,
              pad_right(g.H, g.OH, g.KH, g.sh, g.ph, g.dh),
              pad_right(g.W, g.OW, g.KW, g.sw, g.pw, g.dw),
              g.dh,
              g.dw,
              g.g,
              bias ? 1 : 0,
              relu ? 1 : 0}};
}

void add_operand(Plan& p, int arg, bool output, Role role, const memory::desc& user, const memory::desc& prim) {
  Operand op;
  op.arg = arg;
  op.output = output;
  op.role = role;
  op.user = user;
  op.prim = prim;
  op.reordered = !(user == prim);
  if (op.reordered) {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    auto& e = engine();
    dnnl::reorder::primitive_desc pd = output ? dnnl::reorder::primitive_desc(e, prim, e, user, attr)
                                              : dnnl::reorder::primitive_desc(e, user, e, prim, attr);
    op.reorder_scratch = pd.scratchpad_desc().get_size();
    op.reorder = dnnl::reorder(pd);
    if (role == Role::kActivation) op.layout = dnn_layout::layout_for(prim);
  }
  p.operands.push_back(std::move(op));
}

/// Whether 3x3 convolutions may use Winograd: HEARTH_CPU_CONV_ALGO=direct says no (read once).
bool winograd_allowed() {
  static const bool allowed = [] {
    const char* v = std::getenv("HEARTH_CPU_CONV_ALGO");
    return !(v && std::string_view(v) == "direct");
  }();
  return allowed;
}

/// Shapes oneDNN's Winograd F(4x4, 3x3) (jit_wino_4x3) may take: 3x3, stride 1, no dilation, one
/// group, f32, channels in multiples of 16. On lenet's conv2 it runs forward and both backward
/// passes 1.5-2x faster than the direct kernel; its rounding error is a few times larger (still
/// ~1e-6 relative, docs/nn.md "Convolution algorithms").
bool winograd_shape(mdt dt, const Geom& g) {
  return dt == mdt::f32 && g.g == 1 && g.KH == 3 && g.KW == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 &&
         g.C % 16 == 0 && g.O % 16 == 0;
}

std::shared_ptr<Plan> make_plan_with(dnnl::algorithm alg, Kind kind, mdt dt, const Geom& g, bool bias, bool relu);

/// Builds the plan, or returns null when oneDNN has no implementation (the caller falls back to
/// the reference loop). `relu` (forward only) fuses max(y, 0) as a post-op. Winograd first where
/// it may apply, the direct algorithm otherwise or when oneDNN declines Winograd.
std::shared_ptr<Plan> make_plan(Kind kind, mdt dt, const Geom& g, bool bias, bool relu) {
  if (winograd_allowed() && winograd_shape(dt, g))
    if (auto p = make_plan_with(dnnl::algorithm::convolution_winograd, kind, dt, g, bias, relu)) return p;
  return make_plan_with(dnnl::algorithm::convolution_direct, kind, dt, g, bias, relu);
}

std::shared_ptr<Plan> make_plan_with(dnnl::algorithm alg, Kind kind, mdt dt, const Geom& g, bool bias, bool relu) {
  try {
    const memory::dims src{g.N, g.C, g.H, g.W}, dst{g.N, g.O, g.OH, g.OW};
    const memory::dims wei =
        g.g == 1 ? memory::dims{g.O, g.C, g.KH, g.KW} : memory::dims{g.g, g.Og(), g.Cg(), g.KH, g.KW};
    const tag wtag = g.g == 1 ? tag::oihw : tag::goihw;
    const memory::dims strides{g.sh, g.sw}, dil{g.dh - 1, g.dw - 1}, pl{g.ph, g.pw},
        pr{pad_right(g.H, g.OH, g.KH, g.sh, g.ph, g.dh), pad_right(g.W, g.OW, g.KW, g.sw, g.pw, g.dw)};
    const memory::desc u_src(src, dt, tag::nchw), u_dst(dst, dt, tag::nchw), u_wei(wei, dt, wtag),
        u_bias({g.O}, dt, tag::a);
    const memory::desc a_src(src, dt, tag::any), a_dst(dst, dt, tag::any), a_wei(wei, dt, tag::any);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::primitive_attr fwd_attr = attr;
    if (relu) {
      // oneDNN's relu (alpha 0) is a max with 0 and turns NaN into 0 (so do its clip variants);
      // conv_forward_impl only uses this plan when every input is finite (see there).
      dnnl::post_ops po;
      po.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      fwd_attr.set_post_ops(po);
    }
    auto& e = engine();
    // The backward primitives need the forward one as a hint (it fixes the layouts they pair with).
    auto fwd_desc = bias && kind == Kind::kForward
                        ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, a_src, a_wei, u_bias,
                                                          a_dst, strides, dil, pl, pr)
                        : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, a_src, a_wei, a_dst,
                                                          strides, dil, pl, pr);
    dnnl::convolution_forward::primitive_desc fwd_pd(fwd_desc, kind == Kind::kForward ? fwd_attr : attr, e);
    auto plan = std::make_shared<Plan>();
    if (kind == Kind::kForward) {
      add_operand(*plan, DNNL_ARG_SRC, false, Role::kActivation, u_src, fwd_pd.src_desc());
      add_operand(*plan, DNNL_ARG_WEIGHTS, false, Role::kWeight, u_wei, fwd_pd.weights_desc());
      if (bias) add_operand(*plan, DNNL_ARG_BIAS, false, Role::kSmall, u_bias, u_bias);
      add_operand(*plan, DNNL_ARG_DST, true, Role::kActivation, u_dst, fwd_pd.dst_desc());
      plan->scratch_bytes = fwd_pd.scratchpad_desc().get_size();
      plan->impl = fwd_pd.impl_info_str();
      plan->prim = dnnl::convolution_forward(fwd_pd);
    } else if (kind == Kind::kBackwardData) {
      dnnl::convolution_backward_data::desc d(alg, a_src, a_wei, a_dst, strides, dil, pl, pr);
      dnnl::convolution_backward_data::primitive_desc pd(d, attr, e, fwd_pd);
      add_operand(*plan, DNNL_ARG_DIFF_DST, false, Role::kActivation, u_dst, pd.diff_dst_desc());
      add_operand(*plan, DNNL_ARG_WEIGHTS, false, Role::kWeight, u_wei, pd.weights_desc());
      add_operand(*plan, DNNL_ARG_DIFF_SRC, true, Role::kActivation, u_src, pd.diff_src_desc());
      plan->scratch_bytes = pd.scratchpad_desc().get_size();
      plan->impl = pd.impl_info_str();
      plan->prim = dnnl::convolution_backward_data(pd);
    } else {
      auto d = bias ? dnnl::convolution_backward_weights::desc(alg, a_src, a_wei, u_bias, a_dst, strides, dil, pl, pr)
                    : dnnl::convolution_backward_weights::desc(alg, a_src, a_wei, a_dst, strides, dil, pl, pr);
      dnnl::convolution_backward_weights::primitive_desc pd(d, attr, e, fwd_pd);
      add_operand(*plan, DNNL_ARG_SRC, false, Role::kActivation, u_src, pd.src_desc());
      add_operand(*plan, DNNL_ARG_DIFF_DST, false, Role::kActivation, u_dst, pd.diff_dst_desc());
      // Weight gradients stay plain: the optimizer and the user read them.
      add_operand(*plan, DNNL_ARG_DIFF_WEIGHTS, true, Role::kSmall, u_wei, pd.diff_weights_desc());
      if (bias) add_operand(*plan, DNNL_ARG_DIFF_BIAS, true, Role::kSmall, u_bias, u_bias);
      plan->scratch_bytes = pd.scratchpad_desc().get_size();
      plan->impl = pd.impl_info_str();
      plan->prim = dnnl::convolution_backward_weights(pd);
    }
    // oneDNN's reference convolution is far slower than our own loop's parallel split would be
    // on these shapes; prefer the loop then (it is also exact).
    if (plan->impl.rfind("ref", 0) == 0) return nullptr;
    return plan;
  } catch (const dnnl::error&) {
    return nullptr;
  }
}

struct Cache {
  std::mutex mu;
  std::unordered_map<Key, std::shared_ptr<Plan>, KeyHash> map;  // null plan: oneDNN declined
};
Cache& cache() {
  static auto* c = new Cache;  // leaked: see engine()
  return *c;
}
constexpr std::size_t kMaxPlans = 1024;

std::shared_ptr<Plan> get_plan(Kind kind, mdt dt, const Geom& g, bool bias, bool relu) {
  const Key key = make_key(kind, dt, g, bias, relu);
  auto& c = cache();
  {
    std::lock_guard<std::mutex> lk(c.mu);
    auto it = c.map.find(key);
    if (it != c.map.end()) return it->second;
  }
  // Created outside the lock: it takes milliseconds and must not serialize other threads.
  auto plan = make_plan(kind, dt, g, bias, relu);
  std::lock_guard<std::mutex> lk(c.mu);
  if (c.map.size() >= kMaxPlans) c.map.clear();
  return c.map.emplace(key, std::move(plan)).first->second;
}

// ---- blocked weights, cached --------------------------------------------------------------------
// A parameter's blocked copy is reused while the parameter is unchanged: the key is its storage
// (held, so the address cannot be reused by another tensor while cached), data address, offset and
// version counter, plus the layout wanted. Every in-place write (the optimizer's step included)
// bumps the version, so a changed weight misses and is reordered again. Writes that bypass the
// version counter (through data_ptr()) are not seen: only leaf tensors that require grad (the
// parameters) are cached, never temporaries.

struct WeightEntry {
  detail::intrusive_ptr<StorageImpl> storage;
  const void* data = nullptr;
  uint32_t version = 0;
  memory::desc md;
  std::shared_ptr<void> blocked;
};
struct WeightCache {
  std::mutex mu;
  std::vector<WeightEntry> entries;  // most recently used last
  static constexpr std::size_t kMax = 32;
};
WeightCache& weight_cache() {
  static auto* c = new WeightCache;  // leaked: see engine()
  return *c;
}

bool cacheable_weight(const TensorImpl* w) {
  const AutogradMeta* m = w->autograd_meta();
  return m && m->requires_grad_flag && !m->grad_fn && w->storage()->owns_memory();
}

/// The blocked copy of weight w in layout op.prim (made on a miss). The returned pointer keeps
/// the copy alive for the call even if another thread evicts it.
std::shared_ptr<void> blocked_weight(const Operand& op, TensorImpl* w) {
  WeightCache& c = weight_cache();
  const StorageImpl* st = w->storage().get();
  const void* data = w->data();
  const uint32_t version = w->version();
  {
    std::lock_guard<std::mutex> lk(c.mu);
    for (auto it = c.entries.begin(); it != c.entries.end(); ++it) {
      if (it->storage.get() == st && it->data == data && it->version == version && it->md == op.prim) {
        std::shared_ptr<void> b = it->blocked;
        if (it + 1 != c.entries.end()) std::rotate(it, it + 1, c.entries.end());
        return b;
      }
    }
  }
  const std::size_t bytes = (op.prim.get_size() + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  std::shared_ptr<void> blocked(p, [](void* q) { std::free(q); });
  dnn_layout::reorder(op.user, data, op.prim, p);
  std::lock_guard<std::mutex> lk(c.mu);
  // Older versions of this weight in this layout are dead: drop them.
  c.entries.erase(std::remove_if(c.entries.begin(), c.entries.end(),
                                 [&](const WeightEntry& e) { return e.storage.get() == st && e.md == op.prim; }),
                  c.entries.end());
  if (c.entries.size() >= WeightCache::kMax) c.entries.erase(c.entries.begin());
  c.entries.push_back({w->storage(), data, version, op.prim, blocked});
  return blocked;
}

/// Per-thread temporaries for the blocked copies and scratchpads; big ones are freed after use.
using Buffer = ScratchBuffer;
constexpr int kMaxOperands = 4;
struct Temps {
  Buffer operand[kMaxOperands];
  Buffer scratch, reorder_scratch;
};
Temps& temps() {
  thread_local Temps t;
  return t;
}

/// Runs the plan on the caller's tensors (one per operand, in the plan's order). Inputs may be
/// plain or carry a oneDNN layout; float32 activation outputs get the primitive's layout when it
/// is not plain (keep_blocked), other outputs are written plain.
void run_plan(const Plan& p, const std::array<TensorImpl*, kMaxOperands>& ts, bool keep_blocked) {
  auto& e = engine();
  auto& s = stream();
  Temps& t = temps();
  std::unordered_map<int, memory> args;
  std::vector<std::pair<const Operand*, std::pair<memory, memory>>> outs;  // (prim, user) pairs
  std::shared_ptr<void> weights[kMaxOperands];
  auto run_reorder = [&](const Operand& op, memory& from, memory& to) {
    std::unordered_map<int, memory> ra{{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    if (op.reorder_scratch)
      ra.emplace(DNNL_ARG_SCRATCHPAD, memory({{static_cast<memory::dim>(op.reorder_scratch)}, mdt::u8, tag::a}, e,
                                             t.reorder_scratch.get(op.reorder_scratch)));
    op.reorder.execute(s, ra);
  };
  for (std::size_t i = 0; i < p.operands.size(); ++i) {
    const Operand& op = p.operands[i];
    TensorImpl* ti = ts[i];
    if (op.output) {
      if (keep_blocked && op.layout) {
        dnn_layout::give_layout(ti, op.layout);
        args.emplace(op.arg, memory(op.prim, e, ti->opaque_data()));
        continue;
      }
      memory user(op.user, e, ti->data());
      if (!op.reordered) {
        args.emplace(op.arg, user);
        continue;
      }
      memory prim(op.prim, e, t.operand[i].get(op.prim.get_size()));
      outs.push_back({&op, {prim, user}});
      args.emplace(op.arg, prim);
      continue;
    }
    if (const dnn_layout::OnednnLayout* l = layout_of(ti)) {
      // opaque_data(), not data(): another thread may convert ti meanwhile (tensor_impl.h).
      if (l->desc() == op.prim) {
        args.emplace(op.arg, memory(op.prim, e, ti->opaque_data()));
      } else {  // another primitive's layout: reorder straight from it
        void* buf = t.operand[i].get(op.prim.get_size());
        dnn_layout::reorder(l->desc(), ti->opaque_data(), op.prim, buf);
        args.emplace(op.arg, memory(op.prim, e, buf));
      }
      continue;
    }
    if (!op.reordered) {
      args.emplace(op.arg, memory(op.user, e, ti->data()));
      continue;
    }
    if (op.role == Role::kWeight && cacheable_weight(ti)) {
      weights[i] = blocked_weight(op, ti);
      args.emplace(op.arg, memory(op.prim, e, weights[i].get()));
      continue;
    }
    memory user(op.user, e, ti->data());
    memory prim(op.prim, e, t.operand[i].get(op.prim.get_size()));
    run_reorder(op, user, prim);
    args.emplace(op.arg, prim);
  }
  if (p.scratch_bytes)
    args.emplace(DNNL_ARG_SCRATCHPAD, memory({{static_cast<memory::dim>(p.scratch_bytes)}, mdt::u8, tag::a}, e,
                                             t.scratch.get(p.scratch_bytes)));
  p.prim.execute(s, args);
  for (auto& [op, mems] : outs) run_reorder(*op, mems.first, mems.second);
  s.wait();
  for (auto& b : t.operand) b.trim();
  t.scratch.trim();
}

mdt onednn_type(ScalarType t) { return t == kBFloat16 ? mdt::bf16 : t == kFloat16 ? mdt::f16 : mdt::f32; }
bool onednn_dtype(ScalarType t) { return t == kFloat32 || t == kBFloat16 || t == kFloat16; }

/// dst (n floats) <- a contiguous 16-bit tensor, exactly; and back, rounding to nearest even.
template <typename T>
void widen_to(const T* src, float* dst, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dst[i] = static_cast<float>(src[i]);
  });
}
template <typename T>
void round_to(const float* src, T* dst, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dst[i] = T(src[i]);
  });
}

/// bfloat16/float16 where oneDNN has no primitive for them on this CPU (AVX2 has none in oneDNN
/// 2.6): the operands widened to float32 copies, the float32 plan, each output rounded once —
/// the float32 speed and float32 accuracy, not the reference loop's. False when oneDNN declines
/// the shape in float32 too.
bool try_onednn_via_f32(Kind kind, const Geom& g, bool bias, bool relu,
                        const std::array<TensorImpl*, kMaxOperands>& ts) {
  auto plan = get_plan(kind, mdt::f32, g, bias, relu);
  if (!plan) return false;
  std::array<Tensor, kMaxOperands> keep;
  std::array<TensorImpl*, kMaxOperands> wide{};
  for (std::size_t i = 0; i < plan->operands.size(); ++i) {
    TensorImpl* t = ts[i];
    if (t->opaque_layout()) t->ensure_strided();
    keep[i] = empty(t->sizes(), TensorOptions(kFloat32));
    wide[i] = keep[i].unsafeGetTensorImpl();
    if (plan->operands[i].output) continue;
    float* dst = static_cast<float*>(wide[i]->data());
    if (t->dtype() == kBFloat16)
      widen_to(static_cast<const BFloat16*>(t->data()), dst, t->numel());
    else
      widen_to(static_cast<const Half*>(t->data()), dst, t->numel());
  }
  try {
    run_plan(*plan, wide, /*keep_blocked=*/false);
  } catch (const dnnl::error& e) {
    HEARTH_CHECK(false, Error, "oneDNN convolution (", plan->impl, ", via float32) failed: ", e.what());
  }
  for (std::size_t i = 0; i < plan->operands.size(); ++i) {
    if (!plan->operands[i].output) continue;
    const float* src = static_cast<const float*>(wide[i]->data());
    if (ts[i]->dtype() == kBFloat16)
      round_to(src, static_cast<BFloat16*>(ts[i]->data()), ts[i]->numel());
    else
      round_to(src, static_cast<Half*>(ts[i]->data()), ts[i]->numel());
  }
  return true;
}

/// Tries oneDNN; false when it declined the shape (then the caller runs the reference loop).
bool try_onednn(Kind kind, ScalarType dt, const Geom& g, bool bias, bool relu,
                const std::array<TensorImpl*, kMaxOperands>& ts) {
  if (!onednn_dtype(dt)) return false;
  auto plan = get_plan(kind, onednn_type(dt), g, bias, relu);
  if (!plan) return dt != kFloat32 && try_onednn_via_f32(kind, g, bias, relu, ts);
  try {
    // Blocked results only for float32: the layout-aware loops (pool, relu mask) are float32.
    run_plan(*plan, ts, dt == kFloat32);
  } catch (const dnnl::error& e) {
    HEARTH_CHECK(false, Error, "oneDNN convolution (", plan->impl, ") failed: ", e.what());
  }
  return true;
}

/// A kernel operand: kept as it is when it is strided or in a oneDNN layout (the primitives read
/// those), converted when another backend's opaque layout is on it.
TensorImpl* dnn_operand(const Tensor& t) {
  TensorImpl* p = t.unsafeGetTensorImpl();
  if (p->opaque_layout() && !layout_of(p)) p->ensure_strided();
  return p;
}

/// The reference loops need strided memory: converts a oneDNN layout too.
TensorImpl* plain(TensorImpl* t) {
  if (t && t->opaque_layout()) t->ensure_strided();
  return t;
}

void check_dtypes(std::initializer_list<TensorImpl*> ts) {
  const ScalarType dt = (*ts.begin())->dtype();
  for (TensorImpl* t : ts)
    HEARTH_CHECK(t->dtype() == dt, DTypeError, "convolution operands must share one dtype, got ", dt, " and ",
                 t->dtype());
}

template <typename T>
T* ptr(TensorImpl* t) {
  return t ? static_cast<T*>(t->data()) : nullptr;
}

// ---- kernels -------------------------------------------------------------------------------------

const attrs::Conv& conv_attrs(const KernelArgs& a) {
  HEARTH_CHECK(a.attrs != nullptr, ValueError, "missing attrs::Conv");
  return *static_cast<const attrs::Conv*>(a.attrs);
}

/// y = max(y, 0) after a reference-loop forward (PyTorch's relu keeps NaN).
template <typename T>
void relu_inplace(T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = convert<float>(y[i]);
    if (v < 0.0f) y[i] = T(0.0f);
  }
}

/// True when no element of t's memory (a oneDNN layout's padding included) is NaN or infinite.
bool all_finite_f32(TensorImpl* t) {
  const auto* l = layout_of(t);
  const int64_t n = l ? static_cast<int64_t>(l->desc().get_size() / sizeof(float)) : t->numel();
  const float* p = static_cast<const float*>(l ? t->opaque_data() : t->data());
  std::atomic<bool> ok{true};
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
    // x - x is 0 for finite x and NaN otherwise, and a sum of those is NaN iff one is: two
    // vector ops per 4 floats, no branch per element.
    constexpr int64_t kChunk = 4096;
    for (int64_t c = b; c < e && ok.load(std::memory_order_relaxed); c += kChunk) {
      const int64_t end = std::min(e, c + kChunk);
      int64_t i = c;
      bool bad = false;
#if defined(__SSE2__)
      __m128 acc0 = _mm_setzero_ps(), acc1 = _mm_setzero_ps();
      for (; i + 8 <= end; i += 8) {
        const __m128 v0 = _mm_loadu_ps(p + i), v1 = _mm_loadu_ps(p + i + 4);
        acc0 = _mm_add_ps(acc0, _mm_sub_ps(v0, v0));
        acc1 = _mm_add_ps(acc1, _mm_sub_ps(v1, v1));
      }
      const __m128 acc = _mm_add_ps(acc0, acc1);
      bad = _mm_movemask_ps(_mm_cmpunord_ps(acc, acc)) != 0;
#endif
      for (; i < end; ++i) bad |= (p[i] - p[i]) != 0.0f;
      if (bad) ok.store(false, std::memory_order_relaxed);
    }
  });
  return ok.load();
}

/// relu in place over all of t's memory; keeps NaN (PyTorch's relu propagates it).
void relu_memory_f32(TensorImpl* t) {
  const auto* l = layout_of(t);
  const int64_t n = l ? static_cast<int64_t>(l->desc().get_size() / sizeof(float)) : t->numel();
  float* p = static_cast<float*>(l ? t->opaque_data() : t->data());
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = p[i] < 0.0f ? 0.0f : p[i];
  });
}

/// conv2d and conv2d_relu (relu = true: max(conv, 0) in the same pass, a oneDNN post-op).
/// oneDNN's fused relu maps NaN to 0 where PyTorch's relu keeps it, and a NaN output needs a
/// non-finite input: with one anywhere (rare: a diverged run), the conv runs without the post-op
/// and a NaN-keeping relu follows. Checking the inputs costs far less than a pass over the
/// (larger) output.
void conv_forward_impl(const KernelArgs& a, bool relu) {
  const char* name = relu ? "conv2d_relu" : "conv2d";
  HEARTH_CHECK(a.num_inputs == 2 || a.num_inputs == 3, ValueError, name, ": expected (input, weight[, bias]), got ",
               a.num_inputs, " inputs");
  TensorImpl* x = dnn_operand(a.inputs[0]);
  TensorImpl* w = dnn_operand(a.inputs[1]);
  TensorImpl* b = a.num_inputs == 3 && a.inputs[2].defined() ? strided_impl(a.inputs[2]) : nullptr;
  TensorImpl* y = strided_impl(a.outputs[0]);
  const Geom g = make_geom(x, w, y, conv_attrs(a));
  for (TensorImpl* t : {x, w, y}) check_contiguous(t, "convolution operand");
  if (b) {
    check_contiguous(b, "bias");
    HEARTH_CHECK(b->numel() == g.O, ShapeError, "bias of shape ", b->sizes(), " does not match ", g.O,
                 " output channels");
    check_dtypes({x, w, b, y});
  } else {
    check_dtypes({x, w, y});
  }
  if (y->numel() == 0) return;
  // No input channels (x is empty, y is the bias): oneDNN rejects zero-sized dims.
  if (x->numel() != 0 && onednn_dtype(x->dtype())) {
    const bool fuse = relu && x->dtype() == kFloat32 && all_finite_f32(x) && all_finite_f32(w) &&
                      (!b || all_finite_f32(b));
    if (try_onednn(Kind::kForward, x->dtype(), g, b != nullptr, fuse,
                   b ? std::array<TensorImpl*, kMaxOperands>{x, w, b, y}
                     : std::array<TensorImpl*, kMaxOperands>{x, w, y, nullptr})) {
      if (relu && !fuse) {
        if (y->dtype() == kFloat32) {
          relu_memory_f32(y);
        } else {
          plain(y);
          HEARTH_CPU_DISPATCH_FLOATING(y->dtype(), name, { relu_inplace(ptr<scalar_t>(y), y->numel()); });
        }
      }
      return;
    }
  }
  plain(x);
  plain(w);
  HEARTH_CPU_DISPATCH_FLOATING(x->dtype(), name, {
    ref_forward<scalar_t>(g, ptr<scalar_t>(x), ptr<scalar_t>(w), ptr<scalar_t>(b), ptr<scalar_t>(y));
    if (relu) relu_inplace(ptr<scalar_t>(y), y->numel());
  });
}

void conv2d_kernel(const KernelArgs& a) { conv_forward_impl(a, false); }
void conv2d_relu_kernel(const KernelArgs& a) { conv_forward_impl(a, true); }

void conv2d_backward_input_kernel(const KernelArgs& a) {
  TensorImpl* gy = dnn_operand(a.inputs[0]);
  TensorImpl* w = dnn_operand(a.inputs[1]);
  TensorImpl* gx = strided_impl(a.outputs[0]);
  const Geom g = make_geom(gx, w, gy, conv_attrs(a));
  for (TensorImpl* t : {gy, w, gx}) check_contiguous(t, "convolution operand");
  check_dtypes({gy, w, gx});
  if (gx->numel() == 0) return;
  if (gy->numel() == 0 || w->numel() == 0) {
    HEARTH_CPU_DISPATCH_FLOATING(gx->dtype(), "conv2d_backward_input",
                                 { std::fill_n(ptr<scalar_t>(gx), gx->numel(), scalar_t(0.0f)); });
    return;
  }
  if (try_onednn(Kind::kBackwardData, gx->dtype(), g, false, false, {gy, w, gx, nullptr})) return;
  plain(gy);
  plain(w);
  HEARTH_CPU_DISPATCH_FLOATING(gx->dtype(), "conv2d_backward_input", {
    ref_backward_input<scalar_t>(g, ptr<scalar_t>(gy), ptr<scalar_t>(w), ptr<scalar_t>(gx));
  });
}

void conv2d_backward_weight_kernel(const KernelArgs& a) {
  TensorImpl* gy = dnn_operand(a.inputs[0]);
  TensorImpl* x = dnn_operand(a.inputs[1]);
  TensorImpl* gw = strided_impl(a.outputs[0]);
  TensorImpl* gb = a.outputs[1].defined() ? strided_impl(a.outputs[1]) : nullptr;
  const Geom g = make_geom(x, gw, gy, conv_attrs(a));
  for (TensorImpl* t : {gy, x, gw}) check_contiguous(t, "convolution operand");
  if (gb) {
    check_contiguous(gb, "grad_bias");
    HEARTH_CHECK(gb->numel() == g.O, ShapeError, "grad_bias of shape ", gb->sizes(), " does not match ", g.O,
                 " output channels");
    check_dtypes({gy, x, gw, gb});
  } else {
    check_dtypes({gy, x, gw});
  }
  if (gy->numel() == 0 || x->numel() == 0) {  // an empty batch: the gradients are zero
    HEARTH_CPU_DISPATCH_FLOATING(gw->dtype(), "conv2d_backward_weight", {
      std::fill_n(ptr<scalar_t>(gw), gw->numel(), scalar_t(0.0f));
      if (gb) std::fill_n(ptr<scalar_t>(gb), gb->numel(), scalar_t(0.0f));
    });
    return;
  }
  if (gw->numel() == 0) return;
  if (try_onednn(Kind::kBackwardWeights, x->dtype(), g, gb != nullptr, false, {x, gy, gw, gb})) return;
  plain(gy);
  plain(x);
  HEARTH_CPU_DISPATCH_FLOATING(x->dtype(), "conv2d_backward_weight", {
    ref_backward_weight<scalar_t>(g, ptr<scalar_t>(gy), ptr<scalar_t>(x), ptr<scalar_t>(gw), ptr<scalar_t>(gb));
  });
}

}  // namespace

void register_conv(PluginRegistrar& r) {
  r.kernel("conv2d", "cpu", conv2d_kernel);
  r.kernel("conv2d_relu", "cpu", conv2d_relu_kernel);
  r.kernel("conv2d_backward_input", "cpu", conv2d_backward_input_kernel);
  r.kernel("conv2d_backward_weight", "cpu", conv2d_backward_weight_kernel);
}

}  // namespace hearth::cpu
