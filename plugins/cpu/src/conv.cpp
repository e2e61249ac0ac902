// Convolution kernels of hearth-cpu: oneDNN forward / backward-data / backward-weights for float32
// and bfloat16 (primitives cached per shape), a direct reference loop for float64 and float16
// and for geometries oneDNN rejects.
#include <oneapi/dnnl/dnnl.hpp>

#include <array>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.h"
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
// Activations stay plain NCHW between ops for now (no opaque-layout tensors yet), but oneDNN's fast
// kernels want blocked layouts (nChw16c, blocked weights): the primitives are created with
// format_tag::any and each kernel call reorders its operands into the chosen layout and its result
// back. Measured on lenet's conv2 this is 1.5-2x faster than oneDNN's plain-layout (im2col+gemm)
// path even with the reorders; for 1-channel inputs oneDNN keeps src plain and nothing is reordered.
// Keeping activations blocked across conv -> relu -> pool (issue 4's opaque layouts) would remove
// the reorders: the place for it is Operand::user below, which would then be the tensor's layout.

enum class Kind : int64_t { kForward = 0, kBackwardData = 1, kBackwardWeights = 2 };

// Leaked on purpose, like gemm.cpp's: plugins are never unloaded.
dnnl::engine& engine() {
  static auto* e = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *e;
}
dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

/// One primitive argument: as the caller holds it (plain) and as the primitive wants it.
struct Operand {
  int arg = 0;
  bool output = false;
  memory::desc user, prim;
  bool reordered = false;
  dnnl::reorder reorder;  // user -> prim for inputs, prim -> user for outputs
  std::size_t reorder_scratch = 0;
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

Key make_key(Kind kind, mdt dt, const Geom& g, bool bias) {
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
              0}};
}

void add_operand(Plan& p, int arg, bool output, const memory::desc& user, const memory::desc& prim) {
  Operand op;
  op.arg = arg;
  op.output = output;
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
  }
  p.operands.push_back(std::move(op));
}

/// Builds the plan, or returns null when oneDNN has no implementation (the caller falls back to
/// the reference loop).
std::shared_ptr<Plan> make_plan(Kind kind, mdt dt, const Geom& g, bool bias) {
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
    const auto alg = dnnl::algorithm::convolution_direct;
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    auto& e = engine();
    // The backward primitives need the forward one as a hint (it fixes the layouts they pair with).
    auto fwd_desc = bias && kind == Kind::kForward
                        ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, a_src, a_wei, u_bias,
                                                          a_dst, strides, dil, pl, pr)
                        : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, a_src, a_wei, a_dst,
                                                          strides, dil, pl, pr);
    dnnl::convolution_forward::primitive_desc fwd_pd(fwd_desc, attr, e);
    auto plan = std::make_shared<Plan>();
    if (kind == Kind::kForward) {
      add_operand(*plan, DNNL_ARG_SRC, false, u_src, fwd_pd.src_desc());
      add_operand(*plan, DNNL_ARG_WEIGHTS, false, u_wei, fwd_pd.weights_desc());
      if (bias) add_operand(*plan, DNNL_ARG_BIAS, false, u_bias, u_bias);
      add_operand(*plan, DNNL_ARG_DST, true, u_dst, fwd_pd.dst_desc());
      plan->scratch_bytes = fwd_pd.scratchpad_desc().get_size();
      plan->impl = fwd_pd.impl_info_str();
      plan->prim = dnnl::convolution_forward(fwd_pd);
    } else if (kind == Kind::kBackwardData) {
      dnnl::convolution_backward_data::desc d(alg, a_src, a_wei, a_dst, strides, dil, pl, pr);
      dnnl::convolution_backward_data::primitive_desc pd(d, attr, e, fwd_pd);
      add_operand(*plan, DNNL_ARG_DIFF_DST, false, u_dst, pd.diff_dst_desc());
      add_operand(*plan, DNNL_ARG_WEIGHTS, false, u_wei, pd.weights_desc());
      add_operand(*plan, DNNL_ARG_DIFF_SRC, true, u_src, pd.diff_src_desc());
      plan->scratch_bytes = pd.scratchpad_desc().get_size();
      plan->impl = pd.impl_info_str();
      plan->prim = dnnl::convolution_backward_data(pd);
    } else {
      auto d = bias ? dnnl::convolution_backward_weights::desc(alg, a_src, a_wei, u_bias, a_dst, strides, dil, pl, pr)
                    : dnnl::convolution_backward_weights::desc(alg, a_src, a_wei, a_dst, strides, dil, pl, pr);
      dnnl::convolution_backward_weights::primitive_desc pd(d, attr, e, fwd_pd);
      add_operand(*plan, DNNL_ARG_SRC, false, u_src, pd.src_desc());
      add_operand(*plan, DNNL_ARG_DIFF_DST, false, u_dst, pd.diff_dst_desc());
      add_operand(*plan, DNNL_ARG_DIFF_WEIGHTS, true, u_wei, pd.diff_weights_desc());
      if (bias) add_operand(*plan, DNNL_ARG_DIFF_BIAS, true, u_bias, u_bias);
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

std::shared_ptr<Plan> get_plan(Kind kind, mdt dt, const Geom& g, bool bias) {
  const Key key = make_key(kind, dt, g, bias);
  auto& c = cache();
  {
    std::lock_guard<std::mutex> lk(c.mu);
    auto it = c.map.find(key);
    if (it != c.map.end()) return it->second;
  }
  // Created outside the lock: it takes milliseconds and must not serialize other threads.
  auto plan = make_plan(kind, dt, g, bias);
  std::lock_guard<std::mutex> lk(c.mu);
  if (c.map.size() >= kMaxPlans) c.map.clear();
  return c.map.emplace(key, std::move(plan)).first->second;
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

/// Runs the plan on the caller's plain buffers (one per operand, in the plan's order).
void run_plan(const Plan& p, const std::array<void*, kMaxOperands>& user_ptrs) {
  auto& e = engine();
  auto& s = stream();
  Temps& t = temps();
  std::unordered_map<int, memory> args;
  std::vector<std::pair<const Operand*, std::pair<memory, memory>>> outs;  // (prim, user) pairs
  auto run_reorder = [&](const Operand& op, memory& from, memory& to) {
    std::unordered_map<int, memory> ra{{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    if (op.reorder_scratch)
      ra.emplace(DNNL_ARG_SCRATCHPAD, memory({{static_cast<memory::dim>(op.reorder_scratch)}, mdt::u8, tag::a}, e,
                                             t.reorder_scratch.get(op.reorder_scratch)));
    op.reorder.execute(s, ra);
  };
  for (std::size_t i = 0; i < p.operands.size(); ++i) {
    const Operand& op = p.operands[i];
    memory user(op.user, e, user_ptrs[i]);
    if (!op.reordered) {
      args.emplace(op.arg, user);
      continue;
    }
    memory prim(op.prim, e, t.operand[i].get(op.prim.get_size()));
    if (op.output)
      outs.push_back({&op, {prim, user}});
    else
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

mdt onednn_type(ScalarType t) { return t == kBFloat16 ? mdt::bf16 : mdt::f32; }
bool onednn_dtype(ScalarType t) { return t == kFloat32 || t == kBFloat16; }

/// Tries oneDNN; false when it declined the shape (then the caller runs the reference loop).
bool try_onednn(Kind kind, ScalarType dt, const Geom& g, bool bias, const std::array<void*, kMaxOperands>& ptrs) {
  if (!onednn_dtype(dt)) return false;
  auto plan = get_plan(kind, onednn_type(dt), g, bias);
  if (!plan) return false;
  try {
    run_plan(*plan, ptrs);
  } catch (const dnnl::error& e) {
    HEARTH_CHECK(false, Error, "oneDNN convolution (", plan->impl, ") failed: ", e.what());
  }
  return true;
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

void conv2d_kernel(const KernelArgs& a) {
  HEARTH_CHECK(a.num_inputs == 2 || a.num_inputs == 3, ValueError, "expected (input, weight[, bias]), got ",
               a.num_inputs, " inputs");
  TensorImpl* x = strided_impl(a.inputs[0]);
  TensorImpl* w = strided_impl(a.inputs[1]);
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
  if (x->numel() != 0 && try_onednn(Kind::kForward, x->dtype(), g, b != nullptr,
                                    b ? std::array<void*, kMaxOperands>{x->data(), w->data(), b->data(), y->data()}
                                      : std::array<void*, kMaxOperands>{x->data(), w->data(), y->data(), nullptr}))
    return;
  HEARTH_CPU_DISPATCH_FLOATING(x->dtype(), "conv2d", {
    ref_forward<scalar_t>(g, ptr<scalar_t>(x), ptr<scalar_t>(w), ptr<scalar_t>(b), ptr<scalar_t>(y));
  });
}

void conv2d_backward_input_kernel(const KernelArgs& a) {
  TensorImpl* gy = strided_impl(a.inputs[0]);
  TensorImpl* w = strided_impl(a.inputs[1]);
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
  if (try_onednn(Kind::kBackwardData, gx->dtype(), g, false, {gy->data(), w->data(), gx->data(), nullptr})) return;
  HEARTH_CPU_DISPATCH_FLOATING(gx->dtype(), "conv2d_backward_input", {
    ref_backward_input<scalar_t>(g, ptr<scalar_t>(gy), ptr<scalar_t>(w), ptr<scalar_t>(gx));
  });
}

void conv2d_backward_weight_kernel(const KernelArgs& a) {
  TensorImpl* gy = strided_impl(a.inputs[0]);
  TensorImpl* x = strided_impl(a.inputs[1]);
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
  if (try_onednn(Kind::kBackwardWeights, x->dtype(), g, gb != nullptr,
                 {x->data(), gy->data(), gw->data(), gb ? gb->data() : nullptr}))
    return;
  HEARTH_CPU_DISPATCH_FLOATING(x->dtype(), "conv2d_backward_weight", {
    ref_backward_weight<scalar_t>(g, ptr<scalar_t>(gy), ptr<scalar_t>(x), ptr<scalar_t>(gw), ptr<scalar_t>(gb));
  });
}

}  // namespace

void register_conv(PluginRegistrar& r) {
  r.kernel("conv2d", "cpu", conv2d_kernel);
  r.kernel("conv2d_backward_input", "cpu", conv2d_backward_input_kernel);
  r.kernel("conv2d_backward_weight", "cpu", conv2d_backward_weight_kernel);
}

}  // namespace hearth::cpu
