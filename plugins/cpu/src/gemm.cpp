// GEMM for the CPU plugin: cached oneDNN 2.6 matmul primitives (f32, bf16, f16; 16-bit types through
// f32 where this CPU has no primitive for them) and a blocked f64 loop.
#include "gemm.h"

#include "hearth/half.h"
#include "onednn_prim.h"
#include "scratch_buffer.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hearth::cpu {
namespace {

using dnnl::memory;
using mdt = memory::data_type;

dnnl::engine& cpu_engine() { return dnn::engine(); }
dnnl::stream& cpu_stream() { return dnn::stream(); }

std::size_t elem_size(int dtype) { return dtype == kGemmF64 ? 8 : dtype == kGemmF32 ? 4 : 2; }

// ---- 16-bit helpers (round to nearest even, NaN stays NaN) --------------------------------------
inline float bf2f(uint16_t v) { return detail::bits_to_float(uint32_t(v) << 16); }
inline uint16_t f2bf(float f) { return BFloat16::from_float(f); }
inline float h2f(uint16_t v) { return Half::to_float(v); }
inline uint16_t f2h(float f) { return Half::from_float(f); }
bool is_16bit(int dtype) { return dtype == kGemmBF16 || dtype == kGemmF16; }

// ---- the problem after normalisation ------------------------------------------------------------
struct Mat {
  const char* p;
  int64_t bs, rs, cs;
};

struct Problem {
  int64_t batch, M, N, K;
  Mat a, b, c;
  float alpha, beta;
  int dtype;
  const void* bias;
};

// Strides of a size-1 dimension carry no information but make oneDNN pick slow paths (or reject
// the descriptor); give them the values a dense layout would have.
void normalize_2d(int64_t rows, int64_t cols, int64_t& rs, int64_t& cs) {
  if (cols == 1) cs = 1;
  if (rows == 1) rs = (cs == 1) ? cols : 1;
  if (rows == 1 && cols == 1) rs = cs = 1;
}

// Usable by oneDNN's brgemm kernels as is: dense row-major or dense column-major.
bool dense_2d(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  return (cs == 1 && rs == cols) || (rs == 1 && cs == rows);
}
// Expressible as a oneDNN memory descriptor at all (positive strides; a zero stride only where
// its dimension is 1, which normalisation already rewrote).
bool plain_2d(int64_t rs, int64_t cs) { return rs > 0 && cs > 0; }

// ---- cache key ----------------------------------------------------------------------------------
constexpr int kKeyLen = 17;
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

int64_t fbits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return int64_t(u);
}

Key make_key(const Problem& p) {
  return Key{{p.batch, p.M, p.N, p.K, p.a.bs, p.a.rs, p.a.cs, p.b.bs, p.b.rs, p.b.cs, p.c.bs, p.c.rs,
              p.c.cs, fbits(p.alpha), fbits(p.beta), int64_t(p.dtype), p.bias ? 1 : 0}};
}

// ---- plans --------------------------------------------------------------------------------------
// Everything about how to run one key, immutable once built, shared by all threads.
struct Plan {
  bool loop = false;                   // run a 2-D primitive once per batch entry, in order
  bool packA = false, packB = false;   // copy the operand into a dense row-major temporary first
  bool packC = false;                  // compute into a dense f32 temporary T, then C = T + beta*C
  bool bias_arg = false;               // bias through DNNL_ARG_BIAS (only when alpha == 1)
  int bias_post_op = -1;               // else: index of the binary-add post-op carrying the bias
  int64_t nA = 1, nB = 1;              // batch extent of A / B in the primitive (1 = broadcast)
  dnnl::matmul prim;
  memory::desc mdA, mdB, mdC, mdBias, mdScratch;
  std::size_t scratch_bytes = 0;
  std::string impl;
  bool via_f32 = false;  // 16-bit operands oneDNN has no primitive for here: widen, f32 plan, round
};

mdt onednn_type(int dtype) { return dtype == kGemmBF16 ? mdt::bf16 : dtype == kGemmF16 ? mdt::f16 : mdt::f32; }

// Builds the primitive for the given choices; returns false if oneDNN rejects the descriptors.
bool build_primitive(const Problem& p, Plan& pl) {
  const mdt t = onednn_type(p.dtype);
  const bool batched = !pl.loop && p.batch > 1;
  const int64_t M = p.M, N = p.N, K = p.K;
  auto md = [&](int64_t nb, int64_t rows, int64_t cols, int64_t bs, int64_t rs, int64_t cs, mdt ty) {
    if (!batched) return memory::desc({rows, cols}, ty, {rs, cs});
    if (nb == 1) bs = rows * cols;  // unused for a broadcast dim, but brgemm wants the dense value
    return memory::desc({nb, rows, cols}, ty, {bs, rs, cs});
  };
  try {
    pl.nA = batched ? (p.a.bs == 0 ? 1 : p.batch) : 1;
    pl.nB = batched ? (p.b.bs == 0 ? 1 : p.batch) : 1;
    const int64_t nC = batched ? p.batch : 1;
    pl.mdA = pl.packA ? md(pl.nA, M, K, M * K, K, 1, t) : md(pl.nA, M, K, p.a.bs, p.a.rs, p.a.cs, t);
    pl.mdB = pl.packB ? md(pl.nB, K, N, K * N, N, 1, t) : md(pl.nB, K, N, p.b.bs, p.b.rs, p.b.cs, t);
    // A packed C is f32 even for bf16 so that the final C = T + beta*C rounds only once.
    pl.mdC = pl.packC ? md(nC, M, N, M * N, N, 1, mdt::f32) : md(nC, M, N, p.c.bs, p.c.rs, p.c.cs, t);

    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    // oneDNN 2.6 applies output scales to (A@B + bias), so with alpha != 1 the bias must come
    // after the scale, as a binary post-op.
    if (p.alpha != 1.f) attr.set_output_scales(0, {p.alpha});
    dnnl::post_ops po;
    int n_po = 0;
    if (p.beta != 0.f && !pl.packC) {
      po.append_sum(p.beta);
      ++n_po;
    }
    pl.bias_arg = p.bias && p.alpha == 1.f;
    pl.bias_post_op = -1;
    if (p.bias) {
      pl.mdBias = batched ? memory::desc({1, 1, N}, t, {N, N, 1}) : memory::desc({1, N}, t, {N, 1});
      if (!pl.bias_arg) {
        po.append_binary(dnnl::algorithm::binary_add, pl.mdBias);
        pl.bias_post_op = n_po++;
      }
    }
    if (n_po) attr.set_post_ops(po);

    auto d = pl.bias_arg ? dnnl::matmul::desc(pl.mdA, pl.mdB, pl.mdBias, pl.mdC)
                         : dnnl::matmul::desc(pl.mdA, pl.mdB, pl.mdC);
    dnnl::matmul::primitive_desc pd(d, attr, cpu_engine());
    pl.mdScratch = pd.scratchpad_desc();
    pl.scratch_bytes = pl.mdScratch.get_size();
    pl.impl = pd.impl_info_str();
    pl.prim = dnnl::matmul(pd);
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

std::shared_ptr<Plan> make_plan(const Problem& p) {
  auto pl = std::make_shared<Plan>();
  // oneDNN cannot broadcast both operands over the batch, nor write every batch to one C.
  pl->loop = p.batch > 1 && ((p.a.bs == 0 && p.b.bs == 0) || p.c.bs == 0);
  const bool batched = !pl->loop && p.batch > 1;
  // Batch strides must be positive for a oneDNN descriptor (0 is handled by broadcast dims).
  auto bs_ok = [&](int64_t bs, bool can_bcast) { return !batched || bs > 0 || (bs == 0 && can_bcast); };
  pl->packA = !plain_2d(p.a.rs, p.a.cs) || !bs_ok(p.a.bs, true);
  pl->packB = !plain_2d(p.b.rs, p.b.cs) || !bs_ok(p.b.bs, true);
  pl->packC = !plain_2d(p.c.rs, p.c.cs) || !bs_ok(p.c.bs, false);
  bool ok = build_primitive(p, *pl);
  // oneDNN's reference matmul (strides its JIT kernels do not take, e.g. a column-major C or a
  // non-unit inner stride) is 10-100x slower than packing: pack whatever is not dense and retry.
  if (!ok || pl->impl.rfind("ref", 0) == 0) {
    Plan alt = *pl;
    // A batch stride other than the dense one (or a broadcast) also counts as not dense.
    auto bs_dense = [&](int64_t bs, int64_t size) { return !batched || bs == 0 || bs == size; };
    alt.packA = alt.packA || !dense_2d(p.M, p.K, p.a.rs, p.a.cs) || !bs_dense(p.a.bs, p.M * p.K);
    alt.packB = alt.packB || !dense_2d(p.K, p.N, p.b.rs, p.b.cs) || !bs_dense(p.b.bs, p.K * p.N);
    alt.packC = alt.packC || !(p.c.cs == 1 && p.c.rs == p.N) || !bs_dense(p.c.bs, p.M * p.N);
    if (!ok || alt.packA != pl->packA || alt.packB != pl->packB || alt.packC != pl->packC) {
      if (build_primitive(p, alt)) {
        *pl = std::move(alt);
        ok = true;
      }
    }
  }
  if (!ok && is_16bit(p.dtype)) {
    // No bf16/f16 matmul on this ISA (bf16 needs AVX-512 in oneDNN 2.6, f16 more): compute in f32.
    pl->via_f32 = true;
    pl->impl = "via-f32";
    return pl;
  }
  if (!ok) throw std::runtime_error("hearth gemm: oneDNN could not create a matmul primitive");
  std::string desc = "onednn:" + pl->impl;
  if (pl->loop) desc += "+loop";
  if (pl->packA) desc += "+packA";
  if (pl->packB) desc += "+packB";
  if (pl->packC) desc += "+packC";
  pl->impl = std::move(desc);
  return pl;
}

// Shared plan cache. Plans are found through a per-thread front cache first, so the mutex is only
// taken on a thread's first use of a shape.
struct SharedCache {
  std::mutex mu;
  std::unordered_map<Key, std::shared_ptr<Plan>, KeyHash> map;
  std::atomic<uint64_t> generation{0};
};
SharedCache& shared_cache() {
  static auto* c = new SharedCache;  // leaked: see cpu_engine()
  return *c;
}
constexpr std::size_t kMaxSharedPlans = 4096;
constexpr std::size_t kMaxLocalPlans = 1024;

// Per-thread: memory objects and the argument map, so that a cache hit allocates nothing.
struct Local {
  std::shared_ptr<Plan> plan;
  memory mA, mB, mC, mBias, mS;
  // For the C API's execute: the C++ one copies its argument map into a fresh vector every call.
  std::vector<dnnl_exec_arg_t> args;
  // Handles last bound (A, B, C, bias, scratchpad): rebinding costs ~20 ns each inside oneDNN.
  void* bound[5] = {nullptr, nullptr, nullptr, nullptr, nullptr};
  void bind(int slot, const memory& m, void* h) {
    if (bound[slot] != h) {
      m.set_data_handle(h);
      bound[slot] = h;
    }
  }
};
struct LocalCache {
  uint64_t generation = 0;
  std::unordered_map<Key, Local, KeyHash> map;
  // Most callers repeat the previous shape (a training loop): check that before hashing.
  Key last_key{};
  Local* last = nullptr;
};

std::shared_ptr<Plan> get_shared_plan(const Key& key, const Problem& p) {
  auto& sc = shared_cache();
  {
    std::lock_guard<std::mutex> lk(sc.mu);
    auto it = sc.map.find(key);
    if (it != sc.map.end()) return it->second;
  }
  // Build outside the lock: primitive creation takes milliseconds and must not serialise threads.
  auto plan = make_plan(p);
  std::lock_guard<std::mutex> lk(sc.mu);
  if (sc.map.size() >= kMaxSharedPlans) sc.map.clear();
  auto [it, inserted] = sc.map.emplace(key, plan);
  return it->second;
}

Local& get_local(const Problem& p) {
  thread_local LocalCache lc;
  const uint64_t gen = shared_cache().generation.load(std::memory_order_acquire);
  if (lc.generation != gen) {
    lc.map.clear();
    lc.last = nullptr;
    lc.generation = gen;
  }
  const Key key = make_key(p);
  if (lc.last && lc.last_key == key) return *lc.last;
  auto it = lc.map.find(key);
  if (it != lc.map.end()) {
    lc.last_key = key;
    lc.last = &it->second;
    return it->second;
  }
  if (lc.map.size() >= kMaxLocalPlans) {
    lc.map.clear();
    lc.last = nullptr;
  }
  Local loc;
  loc.plan = get_shared_plan(key, p);
  const Plan& pl = *loc.plan;
  if (pl.via_f32) {  // no primitive: run_via_f32 looks up the f32 problem's own plan
    Local& stored = lc.map.emplace(key, std::move(loc)).first->second;
    lc.last_key = key;
    lc.last = &stored;
    return stored;
  }
  auto& eng = cpu_engine();
  loc.mA = memory(pl.mdA, eng, nullptr);
  loc.mB = memory(pl.mdB, eng, nullptr);
  loc.mC = memory(pl.mdC, eng, nullptr);
  loc.mS = memory(pl.mdScratch, eng, nullptr);
  loc.args = {{DNNL_ARG_SRC, loc.mA.get()}, {DNNL_ARG_WEIGHTS, loc.mB.get()}, {DNNL_ARG_DST, loc.mC.get()},
              {DNNL_ARG_SCRATCHPAD, loc.mS.get()}};
  if (p.bias) {
    loc.mBias = memory(pl.mdBias, eng, nullptr);
    const int arg = pl.bias_arg ? DNNL_ARG_BIAS : DNNL_ARG_ATTR_MULTIPLE_POST_OP(pl.bias_post_op) | DNNL_ARG_SRC_1;
    loc.args.push_back({arg, loc.mBias.get()});
  }
  Local& stored = lc.map.emplace(key, std::move(loc)).first->second;
  lc.last_key = key;
  lc.last = &stored;
  return stored;
}

// ---- per-thread temporaries ---------------------------------------------------------------------
using Buffer = ScratchBuffer;
struct Temps {
  Buffer a, b, c, scratch;
};
Temps& temps() {
  thread_local Temps t;
  return t;
}

// dst (nb x rows x cols, dense) <- src with arbitrary strides.
template <class T>
void pack3(const char* src, int64_t nb, int64_t rows, int64_t cols, int64_t bs, int64_t rs, int64_t cs,
           void* dst_v) {
  const T* s = reinterpret_cast<const T*>(src);
  T* d = static_cast<T*>(dst_v);
  const bool par = nb * rows * cols > (1 << 15);
#pragma omp parallel for collapse(2) if (par) schedule(static)
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t r = 0; r < rows; ++r) {
      const T* sr = s + b * bs + r * rs;
      T* dr = d + (b * rows + r) * cols;
      if (cs == 1)
        std::memcpy(dr, sr, sizeof(T) * cols);
      else
        for (int64_t c = 0; c < cols; ++c) dr[c] = sr[c * cs];
    }
}

void pack(int dtype, const Mat& m, int64_t nb, int64_t rows, int64_t cols, void* dst) {
  if (elem_size(dtype) == 4)
    pack3<float>(m.p, nb, rows, cols, m.bs, m.rs, m.cs, dst);
  else
    pack3<uint16_t>(m.p, nb, rows, cols, m.bs, m.rs, m.cs, dst);
}

// C (strided, nb batches) = T (dense f32) + beta * C.
template <class T, class Load, class Store>
void scatter(const float* t, const Mat& c, int64_t nb, int64_t M, int64_t N, float beta, Load ld, Store st) {
  T* C = reinterpret_cast<T*>(const_cast<char*>(c.p));
  const bool par = nb * M * N > (1 << 15);
#pragma omp parallel for collapse(2) if (par) schedule(static)
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t i = 0; i < M; ++i) {
      const float* tr = t + (b * M + i) * N;
      T* cr = C + b * c.bs + i * c.rs;
      if (beta == 0.f)
        for (int64_t j = 0; j < N; ++j) cr[j * c.cs] = st(tr[j]);
      else
        for (int64_t j = 0; j < N; ++j) cr[j * c.cs] = st(tr[j] + beta * ld(cr[j * c.cs]));
    }
}

void scatter_c(int dtype, const float* t, const Mat& c, int64_t nb, int64_t M, int64_t N, float beta) {
  if (dtype == kGemmF32)
    scatter<float>(t, c, nb, M, N, beta, [](float v) { return v; }, [](float v) { return v; });
  else if (dtype == kGemmBF16)
    scatter<uint16_t>(t, c, nb, M, N, beta, bf2f, f2bf);
  else
    scatter<uint16_t>(t, c, nb, M, N, beta, h2f, f2h);
}

// dst (nb x rows x cols, dense f32) <- a strided 16-bit operand, widened exactly.
void widen(int dtype, const Mat& m, int64_t nb, int64_t rows, int64_t cols, float* dst) {
  const uint16_t* s = reinterpret_cast<const uint16_t*>(m.p);
  const bool bf = dtype == kGemmBF16;
  const bool par = nb * rows * cols > (1 << 15);
#pragma omp parallel for collapse(2) if (par) schedule(static)
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t r = 0; r < rows; ++r) {
      const uint16_t* sr = s + b * m.bs + r * m.rs;
      float* dr = dst + (b * rows + r) * cols;
      if (bf)
        for (int64_t c = 0; c < cols; ++c) dr[c] = bf2f(sr[c * m.cs]);
      else
        for (int64_t c = 0; c < cols; ++c) dr[c] = h2f(sr[c * m.cs]);
    }
}

void run_via_f32(const Problem& p);

void run_onednn(const Problem& p) {
  Local& loc = get_local(p);
  const Plan& pl = *loc.plan;
  if (pl.via_f32) return run_via_f32(p);
  Temps& tmp = temps();
  const std::size_t es = elem_size(p.dtype);
  const int64_t iters = pl.loop ? p.batch : 1;
  const int64_t nC = pl.loop ? 1 : p.batch;
  void* scratch = pl.scratch_bytes ? tmp.scratch.get(pl.scratch_bytes) : nullptr;
  loc.bind(4, loc.mS, scratch);
  if (p.bias) loc.bind(3, loc.mBias, const_cast<void*>(p.bias));
  auto& s = cpu_stream();
  for (int64_t it = 0; it < iters; ++it) {
    Mat a = p.a, b = p.b, c = p.c;
    if (pl.loop) {
      a.p += it * a.bs * int64_t(es);
      b.p += it * b.bs * int64_t(es);
      c.p += it * c.bs * int64_t(es);
    }
    void* pa = const_cast<char*>(a.p);
    void* pb = const_cast<char*>(b.p);
    void* pc = const_cast<char*>(c.p);
    if (pl.packA) {
      pa = tmp.a.get(std::size_t(pl.nA * p.M * p.K) * es);
      pack(p.dtype, a, pl.nA, p.M, p.K, pa);
    }
    if (pl.packB) {
      pb = tmp.b.get(std::size_t(pl.nB * p.K * p.N) * es);
      pack(p.dtype, b, pl.nB, p.K, p.N, pb);
    }
    if (pl.packC) pc = tmp.c.get(std::size_t(nC * p.M * p.N) * sizeof(float));
    loc.bind(0, loc.mA, pa);
    loc.bind(1, loc.mB, pb);
    loc.bind(2, loc.mC, pc);
    dnnl::error::wrap_c_api(
        dnnl_primitive_execute(pl.prim.get(), s.get(), int(loc.args.size()), loc.args.data()),
        "could not execute a matmul primitive");
    s.wait();  // a no-op with oneDNN's OpenMP runtime, but callers expect C to be written
    if (pl.packC) scatter_c(p.dtype, static_cast<const float*>(pc), c, nC, p.M, p.N, p.beta);
  }
  tmp.a.trim();
  tmp.b.trim();
  tmp.c.trim();
  tmp.scratch.trim();
}

// ---- 16-bit operands without a oneDNN primitive -----------------------------------------------
// The f32 problem over dense widened copies: A, B (and bias) widened exactly, C accumulated in an
// f32 temporary T that starts as C when beta != 0, so every batch order and beta rule is the f32
// path's, and the result is rounded to 16 bits once.
struct Widened {
  ScratchBuffer a, b, c, bias;
};
Widened& widened() {
  thread_local Widened w;
  return w;
}

Problem f32_problem(const Problem& p, const float* a, const float* b, float* t, const float* bias) {
  Problem q = p;
  q.dtype = kGemmF32;
  const int64_t nA = p.a.bs == 0 ? 1 : p.batch, nB = p.b.bs == 0 ? 1 : p.batch;
  const int64_t nC = p.c.bs == 0 ? 1 : p.batch;
  q.a = {reinterpret_cast<const char*>(a), nA == 1 ? 0 : p.M * p.K, p.K, 1};
  q.b = {reinterpret_cast<const char*>(b), nB == 1 ? 0 : p.K * p.N, p.N, 1};
  q.c = {reinterpret_cast<const char*>(t), nC == 1 ? 0 : p.M * p.N, p.N, 1};
  normalize_2d(q.M, q.K, q.a.rs, q.a.cs);
  normalize_2d(q.K, q.N, q.b.rs, q.b.cs);
  normalize_2d(q.M, q.N, q.c.rs, q.c.cs);
  q.bias = bias;
  return q;
}

void run_via_f32(const Problem& p) {
  Widened& w = widened();
  const int64_t nA = p.a.bs == 0 ? 1 : p.batch, nB = p.b.bs == 0 ? 1 : p.batch;
  const int64_t nC = p.c.bs == 0 ? 1 : p.batch;
  auto* a = static_cast<float*>(w.a.get(std::size_t(nA * p.M * p.K) * sizeof(float)));
  auto* b = static_cast<float*>(w.b.get(std::size_t(nB * p.K * p.N) * sizeof(float)));
  auto* t = static_cast<float*>(w.c.get(std::size_t(nC * p.M * p.N) * sizeof(float)));
  widen(p.dtype, p.a, nA, p.M, p.K, a);
  widen(p.dtype, p.b, nB, p.K, p.N, b);
  if (p.beta != 0.f) widen(p.dtype, p.c, nC, p.M, p.N, t);
  float* bias = nullptr;
  if (p.bias) {
    bias = static_cast<float*>(w.bias.get(std::size_t(p.N) * sizeof(float)));
    widen(p.dtype, Mat{static_cast<const char*>(p.bias), 0, p.N, 1}, 1, 1, p.N, bias);
  }
  run_onednn(f32_problem(p, a, b, t, bias));
  scatter_c(p.dtype, t, p.c, nC, p.M, p.N, 0.f);
  w.a.trim();
  w.b.trim();
  w.c.trim();
}

// ---- f64: blocked loop ------------------------------------------------------------------------
// Row block x column block of C accumulated in registers/L1 over all K, with op(B) packed dense so
// the inner loop is a contiguous, vectorisable axpy.
constexpr int64_t kRB = 4, kNB = 256;

void f64_rows(const Problem& p, int64_t b, const double* Bp, int64_t i0, int64_t i1) {
  const double* A = reinterpret_cast<const double*>(p.a.p) + b * p.a.bs;
  double* C = reinterpret_cast<double*>(const_cast<char*>(p.c.p)) + b * p.c.bs;
  const double* bias = static_cast<const double*>(p.bias);
  const double alpha = p.alpha, beta = p.beta;
  const int64_t N = p.N, K = p.K;
  alignas(64) double acc[kRB][kNB];
  for (int64_t n0 = 0; n0 < N; n0 += kNB) {
    const int64_t nb = std::min(kNB, N - n0);
    const int64_t rows = i1 - i0;
    for (int64_t r = 0; r < rows; ++r) std::fill(acc[r], acc[r] + nb, 0.0);
    for (int64_t k = 0; k < K; ++k) {
      const double* brow = Bp + k * N + n0;
      for (int64_t r = 0; r < rows; ++r) {
        const double a = A[(i0 + r) * p.a.rs + k * p.a.cs];
        double* ar = acc[r];
#pragma omp simd
        for (int64_t j = 0; j < nb; ++j) ar[j] += a * brow[j];
      }
    }
    for (int64_t r = 0; r < rows; ++r) {
      double* cr = C + (i0 + r) * p.c.rs;
      for (int64_t j = 0; j < nb; ++j) {
        double v = alpha * acc[r][j];
        if (bias) v += bias[n0 + j];
        double& cv = cr[(n0 + j) * p.c.cs];
        cv = beta == 0.0 ? v : v + beta * cv;
      }
    }
  }
}

void run_f64(const Problem& p) {
  const int64_t nbB = p.b.bs == 0 ? 1 : p.batch;
  std::vector<double> Bp(std::size_t(nbB * p.K * p.N));
  pack3<double>(p.b.p, nbB, p.K, p.N, p.b.bs, p.b.rs, p.b.cs, Bp.data());
  const int64_t rblocks = (p.M + kRB - 1) / kRB;
  auto bptr = [&](int64_t b) { return Bp.data() + (p.b.bs == 0 ? 0 : b) * p.K * p.N; };
  const bool par = p.batch * p.M * p.N * p.K > (1 << 15);
  if (p.batch > 1 && p.c.bs == 0) {
    // Every batch entry writes the same C: apply them in order.
    for (int64_t b = 0; b < p.batch; ++b) {
#pragma omp parallel for if (par) schedule(static)
      for (int64_t rb = 0; rb < rblocks; ++rb)
        f64_rows(p, b, bptr(b), rb * kRB, std::min(p.M, (rb + 1) * kRB));
    }
    return;
  }
#pragma omp parallel for collapse(2) if (par) schedule(static)
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t rb = 0; rb < rblocks; ++rb) f64_rows(p, b, bptr(b), rb * kRB, std::min(p.M, (rb + 1) * kRB));
}

// ---- K == 0: C = beta*C + bias ------------------------------------------------------------------
template <class T, class Load, class Store>
void run_k0_t(const Problem& p, Load ld, Store st) {
  const T* bias = static_cast<const T*>(p.bias);
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t i = 0; i < p.M; ++i) {
      T* cr = reinterpret_cast<T*>(const_cast<char*>(p.c.p)) + b * p.c.bs + i * p.c.rs;
      for (int64_t j = 0; j < p.N; ++j) {
        double v = bias ? double(ld(bias[j])) : 0.0;
        if (p.beta != 0.f) v += double(p.beta) * double(ld(cr[j * p.c.cs]));
        cr[j * p.c.cs] = st(v);
      }
    }
}
void run_k0(const Problem& p) {
  auto id = [](auto v) { return v; };
  if (p.dtype == kGemmF64)
    run_k0_t<double>(p, id, [](double v) { return v; });
  else if (p.dtype == kGemmF32)
    run_k0_t<float>(p, id, [](double v) { return float(v); });
  else if (p.dtype == kGemmBF16)
    run_k0_t<uint16_t>(p, bf2f, [](double v) { return f2bf(float(v)); });
  else
    run_k0_t<uint16_t>(p, h2f, [](double v) { return f2h(float(v)); });
}

// Validates and normalises; returns false when there is nothing to compute.
bool prepare(const GemmArgs& g, Problem& p) {
  auto bad = [](const char* what) { throw std::invalid_argument(std::string("hearth gemm: ") + what); };
  if (g.batch < 0 || g.M < 0 || g.N < 0 || g.K < 0) bad("negative dimension");
  if (g.dtype != kGemmF32 && g.dtype != kGemmF64 && !is_16bit(g.dtype)) bad("unsupported dtype");
  if (g.batch == 0 || g.M == 0 || g.N == 0) return false;
  if (!g.C) bad("C is null");
  if (g.K > 0 && (!g.A || !g.B)) bad("A or B is null");
  p.batch = g.batch;
  p.M = g.M;
  p.N = g.N;
  p.K = g.K;
  p.a = {static_cast<const char*>(g.A), g.a_bs, g.a_rs, g.a_cs};
  p.b = {static_cast<const char*>(g.B), g.b_bs, g.b_rs, g.b_cs};
  p.c = {static_cast<const char*>(g.C), g.c_bs, g.c_rs, g.c_cs};
  p.alpha = g.alpha;
  p.beta = g.beta;
  p.dtype = g.dtype;
  p.bias = g.bias;
  if (p.batch == 1) p.a.bs = p.b.bs = p.c.bs = 0;
  normalize_2d(p.M, p.K, p.a.rs, p.a.cs);
  normalize_2d(p.K, p.N, p.b.rs, p.b.cs);
  normalize_2d(p.M, p.N, p.c.rs, p.c.cs);
  // Column-major C: compute C^T = B^T A^T instead, which oneDNN writes row-major. (Not with a
  // bias, which would then run along C^T's rows; packing handles that case.)
  if (p.c.rs == 1 && p.c.cs != 1 && !p.bias && p.K > 0) {
    std::swap(p.M, p.N);
    std::swap(p.a, p.b);
    std::swap(p.a.rs, p.a.cs);
    std::swap(p.b.rs, p.b.cs);
    std::swap(p.c.rs, p.c.cs);
  }
  return true;
}

}  // namespace

void gemm(const GemmArgs& args) {
  (void)max_threads();  // its OpenMP loops and oneDNN size their teams from this thread's setting
  Problem p;
  if (!prepare(args, p)) return;
  if (p.K == 0) return run_k0(p);
  if (p.dtype == kGemmF64) return run_f64(p);
  try {
    run_onednn(p);
  } catch (const dnnl::error& e) {
    throw std::runtime_error(std::string("hearth gemm: oneDNN failed: ") + e.what());
  }
}

std::string gemm_impl(const GemmArgs& args) {
  Problem p;
  if (!prepare(args, p)) return "trivial";
  if (p.K == 0) return "trivial";
  if (p.dtype == kGemmF64) return "ref:f64";
  const Plan& pl = *get_local(p).plan;
  if (!pl.via_f32) return pl.impl;
  static const float dummy = 0.f;  // the f32 plan's key depends on shapes and strides only
  float* d = const_cast<float*>(&dummy);
  return "via-f32:" + get_local(f32_problem(p, d, d, d, p.bias ? d : nullptr)).plan->impl;
}

std::size_t gemm_cache_size() {
  auto& sc = shared_cache();
  std::lock_guard<std::mutex> lk(sc.mu);
  return sc.map.size();
}

void gemm_clear_cache() {
  auto& sc = shared_cache();
  std::lock_guard<std::mutex> lk(sc.mu);
  sc.map.clear();
  sc.generation.fetch_add(1, std::memory_order_acq_rel);
}

}  // namespace hearth::cpu
