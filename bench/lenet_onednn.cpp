// The oneDNN ceiling for bench_lenet: lenet's training step (or its forward) as bare oneDNN 2.6
// primitives, each in the layout oneDNN prefers (format_tag::any), ReLU fused into the convs and
// fc1 as post-ops, max pool with its workspace, one reorder to plain before the flatten (and back
// for its gradient). Each primitive runs in step order and is timed alone; the sum of their best
// times is the "sum of oneDNN's per-layer times" issue 4 compares a step against. Each conv uses
// the algorithm the CPU plugin picks for it (conv.cpp): Winograd for a 3x3 conv with channels in
// multiples of 16 where oneDNN has it (conv2 on AVX-512), direct otherwise or with
// HEARTH_CPU_CONV_ALGO=direct.
#include "lenet_onednn.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lenet_bench {
namespace {

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

struct Layer {
  std::string name;
  std::function<void()> run;
  bool backward = false;
};

void fill(memory& m) {
  float* p = static_cast<float*>(m.get_data_handle());
  const size_t n = m.get_desc().get_size() / sizeof(float);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<float>((i * 7919) % 13) * 0.05f - 0.3f;
}

/// The CPU plugin's choice for a 3x3, stride-1, padding-1 conv of C -> O channels (conv.cpp).
algorithm conv_algorithm(const engine& eng, prop_kind pk, const primitive_attr& attr, const memory::desc& src,
                         int64_t N, int64_t C, int64_t O, int64_t H) {
  const char* env = std::getenv("HEARTH_CPU_CONV_ALGO");
  if ((env && std::string_view(env) == "direct") || C % 16 != 0 || O % 16 != 0) return algorithm::convolution_direct;
  try {
    const memory::dims st{1, 1}, pad{1, 1};
    convolution_forward::primitive_desc pd(
        convolution_forward::desc(pk, algorithm::convolution_winograd, src,
                                  memory::desc({O, C, 3, 3}, dt::f32, tag::any), memory::desc({O}, dt::f32, tag::a),
                                  memory::desc({N, O, H, H}, dt::f32, tag::any), st, pad, pad),
        attr, eng);
    return std::string_view(pd.impl_info_str()).substr(0, 3) == "ref" ? algorithm::convolution_direct
                                                                       : algorithm::convolution_winograd;
  } catch (const error&) {
    return algorithm::convolution_direct;
  }
}

}  // namespace

std::vector<LayerTime> onednn_lenet(int64_t N, int iters, bool training) {
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  std::vector<Layer> layers;
  std::vector<memory> keep;  // every buffer lives as long as the layers
  auto mem = [&](const memory::desc& d) {
    keep.emplace_back(d, eng);
    fill(keep.back());
    return keep.back();
  };
  auto exec = [&](auto prim, std::unordered_map<int, memory> args) {
    return [prim, args, &s]() mutable { prim.execute(s, args); };
  };
  const prop_kind pk = training ? prop_kind::forward_training : prop_kind::forward_inference;
  const memory::dims st{1, 1}, pad{1, 1}, k2{2, 2}, pad0{0, 0};
  post_ops relu_po;
  relu_po.append_eltwise(1.0f, algorithm::eltwise_relu, 0.f, 0.f);
  primitive_attr relu_attr;
  relu_attr.set_post_ops(relu_po);

  // ---- conv (+relu) / pool pairs ----
  struct ConvPool {
    convolution_forward::primitive_desc fwd;
    pooling_forward::primitive_desc pool;
    memory src, wei, bias, dst, pdst, ws;
    algorithm alg = algorithm::convolution_direct;
  };
  auto conv_pool = [&](const char* name, int64_t C, int64_t O, int64_t H, const memory::desc* src_in,
                       const memory* src_mem) {
    ConvPool cp;
    const memory::desc src = src_in ? *src_in : memory::desc({N, C, H, H}, dt::f32, tag::any);
    cp.alg = conv_algorithm(eng, pk, relu_attr, src, N, C, O, H);
    cp.fwd = convolution_forward::primitive_desc(
        convolution_forward::desc(pk, cp.alg, src,
                                  memory::desc({O, C, 3, 3}, dt::f32, tag::any), memory::desc({O}, dt::f32, tag::a),
                                  memory::desc({N, O, H, H}, dt::f32, tag::any), st, pad, pad),
        relu_attr, eng);
    cp.src = src_mem ? *src_mem : mem(cp.fwd.src_desc());
    cp.wei = mem(cp.fwd.weights_desc());
    cp.bias = mem(memory::desc({O}, dt::f32, tag::a));
    cp.dst = mem(cp.fwd.dst_desc());
    layers.push_back({std::string(name) + (cp.alg == algorithm::convolution_winograd ? " wino" : "") + " fwd (+relu)",
                      exec(convolution_forward(cp.fwd), {{DNNL_ARG_SRC, cp.src},
                                                         {DNNL_ARG_WEIGHTS, cp.wei},
                                                         {DNNL_ARG_BIAS, cp.bias},
                                                         {DNNL_ARG_DST, cp.dst}})});
    cp.pool = pooling_forward::primitive_desc(
        pooling_forward::desc(pk, algorithm::pooling_max, cp.fwd.dst_desc(),
                              memory::desc({N, O, H / 2, H / 2}, dt::f32, tag::any), k2, k2, pad0, pad0),
        eng);
    cp.pdst = mem(cp.pool.dst_desc());
    std::unordered_map<int, memory> pa{{DNNL_ARG_SRC, cp.dst}, {DNNL_ARG_DST, cp.pdst}};
    if (training) {
      cp.ws = mem(cp.pool.workspace_desc());
      pa.emplace(DNNL_ARG_WORKSPACE, cp.ws);
    }
    layers.push_back({std::string(name) == "conv1" ? "pool1 fwd" : "pool2 fwd", exec(pooling_forward(cp.pool), pa)});
    return cp;
  };
  ConvPool c1 = conv_pool("conv1", 1, 32, 28, nullptr, nullptr);
  const memory::desc p1 = c1.pool.dst_desc();
  ConvPool c2 = conv_pool("conv2", 32, 64, 14, &p1, &c1.pdst);

  // ---- flatten: the blocked pool2 output to plain [N, 3136] ----
  const memory::desc flat4({N, 64, 7, 7}, dt::f32, tag::nchw);
  memory flat = mem(flat4);
  layers.push_back({"reorder to plain (flatten)", exec(reorder(c2.pdst, flat), {{DNNL_ARG_FROM, c2.pdst},
                                                                                {DNNL_ARG_TO, flat}})});
  // ---- fc1 (+relu), fc2: matmul with PyTorch's [out, in] weights read transposed ----
  auto linear = [&](const char* name, const memory& x, int64_t in, int64_t out, bool relu) {
    const memory::desc xd({N, in}, dt::f32, tag::ab), wd({in, out}, dt::f32, tag::ba), bd({1, out}, dt::f32, tag::ab),
        yd({N, out}, dt::f32, tag::ab);
    matmul::primitive_desc pd(matmul::desc(xd, wd, bd, yd), relu ? relu_attr : primitive_attr(), eng);
    memory xm(xd, eng, x.get_data_handle());
    memory w = mem(wd), b = mem(bd), y = mem(yd);
    layers.push_back({std::string(name) + (relu ? " fwd (+relu)" : " fwd"),
                      exec(matmul(pd), {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b},
                                        {DNNL_ARG_DST, y}})});
    return std::make_pair(w, y);
  };
  auto [w1, h1] = linear("fc1", flat, 3136, 128, true);
  auto [w2, h2] = linear("fc2", h1, 128, 10, false);
  (void)h2;
  if (training) {
    // ---- linear backward: dX = dY W, dW = dY^T X (bias gradient: a column sum, not counted) ----
    auto mm = [&](const char* name, int64_t M, int64_t K, int64_t Nn, tag bt) {
      const memory::desc a({M, K}, dt::f32, tag::ab), b({K, Nn}, dt::f32, bt), c({M, Nn}, dt::f32, tag::ab);
      matmul::primitive_desc pd(matmul::desc(a, b, c), eng);
      memory am = mem(a), bm = mem(b), cm = mem(c);
      layers.push_back({name, exec(matmul(pd), {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}}),
                        true});
    };
    mm("fc2 bwd-data", N, 10, 128, tag::ab);
    mm("fc2 bwd-weights", 10, N, 128, tag::ab);
    {
      const memory::desc d({N, 128}, dt::f32, tag::ab);
      eltwise_forward::primitive_desc hint(
          eltwise_forward::desc(prop_kind::forward_training, algorithm::eltwise_relu_use_dst_for_bwd, d, 0.f), eng);
      eltwise_backward::primitive_desc pd(
          eltwise_backward::desc(algorithm::eltwise_relu_use_dst_for_bwd, d, d, 0.f), eng, hint);
      memory y = mem(d), dy = mem(d), dx = mem(d);
      layers.push_back({"fc1 relu bwd", exec(eltwise_backward(pd), {{DNNL_ARG_DST, y}, {DNNL_ARG_DIFF_DST, dy},
                                                                    {DNNL_ARG_DIFF_SRC, dx}}),
                        true});
    }
    mm("fc1 bwd-data", N, 128, 3136, tag::ab);
    mm("fc1 bwd-weights", 128, N, 3136, tag::ab);
    memory gflat = mem(flat4), gp2 = mem(c2.pool.dst_desc());
    layers.push_back({"reorder to blocked (flatten grad)", exec(reorder(gflat, gp2), {{DNNL_ARG_FROM, gflat},
                                                                                     {DNNL_ARG_TO, gp2}}),
                      true});
    // ---- pool backward, relu backward (from the saved output), conv backward ----
    auto conv_back = [&](const char* name, ConvPool& cp, const memory& g_pool_out, bool data, int64_t C, int64_t O,
                         int64_t H) {
      pooling_backward::primitive_desc pb(
          pooling_backward::desc(algorithm::pooling_max, cp.fwd.dst_desc(), cp.pool.dst_desc(), k2, k2, pad0, pad0),
          eng, cp.pool);
      memory gconv = mem(pb.diff_src_desc());
      layers.push_back({std::string(name) == "conv2" ? "pool2 bwd" : "pool1 bwd",
                        exec(pooling_backward(pb), {{DNNL_ARG_DIFF_DST, g_pool_out},
                                                    {DNNL_ARG_WORKSPACE, cp.ws},
                                                    {DNNL_ARG_DIFF_SRC, gconv}}),
                        true});
      const memory::desc yd = cp.fwd.dst_desc();
      eltwise_forward::primitive_desc hint(
          eltwise_forward::desc(prop_kind::forward_training, algorithm::eltwise_relu_use_dst_for_bwd, yd, 0.f), eng);
      eltwise_backward::primitive_desc rb(
          eltwise_backward::desc(algorithm::eltwise_relu_use_dst_for_bwd, yd, yd, 0.f), eng, hint);
      memory gmask = mem(rb.diff_src_desc());
      layers.push_back({std::string(name) + " relu bwd",
                        exec(eltwise_backward(rb), {{DNNL_ARG_DST, cp.dst}, {DNNL_ARG_DIFF_DST, gconv},
                                                    {DNNL_ARG_DIFF_SRC, gmask}}),
                        true});
      const memory::desc src = cp.fwd.src_desc(), wei({O, C, 3, 3}, dt::f32, tag::any),
                         dst({N, O, H, H}, dt::f32, tag::any);
      memory gsrc;
      if (data) {
        convolution_backward_data::primitive_desc bd(
            convolution_backward_data::desc(cp.alg, memory::desc({N, C, H, H}, dt::f32, tag::any),
                                            wei, dst, st, pad, pad),
            eng, cp.fwd);
        gsrc = mem(bd.diff_src_desc());
        memory w = bd.weights_desc() == cp.fwd.weights_desc() ? cp.wei : mem(bd.weights_desc());
        memory gy = bd.diff_dst_desc() == gmask.get_desc() ? gmask : mem(bd.diff_dst_desc());
        layers.push_back({std::string(name) + (cp.alg == algorithm::convolution_winograd ? " wino" : "") + " bwd-data",
                          exec(convolution_backward_data(bd), {{DNNL_ARG_DIFF_DST, gy},
                                                               {DNNL_ARG_WEIGHTS, w},
                                                               {DNNL_ARG_DIFF_SRC, gsrc}}),
                          true});
      }
      convolution_backward_weights::primitive_desc bw(
          convolution_backward_weights::desc(cp.alg, src, wei,
                                             memory::desc({O}, dt::f32, tag::a), dst, st, pad, pad),
          eng, cp.fwd);
      memory gw = mem(bw.diff_weights_desc()), gb = mem(memory::desc({O}, dt::f32, tag::a));
      memory gy = bw.diff_dst_desc() == gmask.get_desc() ? gmask : mem(bw.diff_dst_desc());
      layers.push_back({std::string(name) + (cp.alg == algorithm::convolution_winograd ? " wino" : "") +
                            " bwd-weights (+bias)",
                        exec(convolution_backward_weights(bw), {{DNNL_ARG_SRC, cp.src},
                                                                {DNNL_ARG_DIFF_DST, gy},
                                                                {DNNL_ARG_DIFF_WEIGHTS, gw},
                                                                {DNNL_ARG_DIFF_BIAS, gb}}),
                        true});
      return gsrc;
    };
    memory g1 = conv_back("conv2", c2, gp2, true, 32, 64, 14);
    // conv1's input needs no gradient: no bwd-data. g1 is pool1's output gradient.
    memory gp1 = g1.get_desc() == c1.pool.dst_desc() ? g1 : mem(c1.pool.dst_desc());
    conv_back("conv1", c1, gp1, false, 1, 32, 28);
  }
  std::vector<double> best(layers.size(), 1e30);
  for (int it = 0; it < iters + 3; ++it) {
    for (size_t i = 0; i < layers.size(); ++i) {
      auto t0 = std::chrono::steady_clock::now();
      layers[i].run();
      s.wait();
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (it >= 3) best[i] = std::min(best[i], sec);
    }
  }
  std::vector<LayerTime> out;
  for (size_t i = 0; i < layers.size(); ++i) out.push_back({layers[i].name, best[i] * 1e3, layers[i].backward});
  return out;
}

}  // namespace lenet_bench
