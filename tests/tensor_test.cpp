// Tensors: metadata, every view op (SEED B1, B12), reshape view-vs-copy, basic vs advanced
// indexing, from_blob sharing (B5), the overlapping-write error (G1), devices (B8), printing.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "hearth/hearth.h"

using namespace hearth;
using namespace hearth::indexing;

namespace {

Tensor iota(IntArrayRef shape, ScalarType dt = kFloat32) {
  return arange(checked_numel(shape), TensorOptions(dt)).reshape(shape);
}

bool shares_storage(const Tensor& a, const Tensor& b) {
  return a.impl()->storage().get() == b.impl()->storage().get();
}

}  // namespace

TEST(Tensor, FactoryMetadata) {
  Tensor t = empty({2, 3}, kFloat64);
  EXPECT_EQ(t.dim(), 2);
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.dtype(), kFloat64);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.strides()[0], 3);
  EXPECT_EQ(t.strides()[1], 1);
  EXPECT_EQ(t.storage_offset(), 0);
  EXPECT_EQ(t.element_size(), 8u);
}

TEST(Tensor, UndefinedTensorThrows) {
  Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_THROW(t.sizes(), ValueError);
}

TEST(Tensor, Factories) {
  EXPECT_TRUE(equal(zeros({2, 2}), tensor({{0.f, 0.f}, {0.f, 0.f}})));
  EXPECT_TRUE(equal(ones({3}, kInt32), tensor({1, 1, 1}, kInt32)));
  EXPECT_TRUE(equal(full({2}, 7), tensor({7, 7})));
  EXPECT_EQ(full({2}, 7).dtype(), kInt64);
  EXPECT_EQ(full({2}, 7.5).dtype(), kFloat32);
  EXPECT_EQ(full({2}, true).dtype(), kBool);
  EXPECT_TRUE(equal(arange(5), tensor({0, 1, 2, 3, 4})));
  EXPECT_EQ(arange(5).dtype(), kInt64);
  EXPECT_TRUE(allclose(arange(0.0, 1.0, 0.25), tensor({0.0, 0.25, 0.5, 0.75})));
  EXPECT_TRUE(allclose(linspace(0, 1, 5), tensor({0.0, 0.25, 0.5, 0.75, 1.0})));
  EXPECT_TRUE(equal(eye(2, 3), tensor({{1.f, 0.f, 0.f}, {0.f, 1.f, 0.f}})));
  EXPECT_THROW(tensor({{1, 2}, {3}}), ShapeError);  // ragged
  EXPECT_THROW(empty({-1}), ShapeError);
  EXPECT_THROW(empty({int64_t{1} << 40, int64_t{1} << 40}), ShapeError);  // overflow
}

TEST(Tensor, RandomIsSeededAndDeviceIndependent) {
  Generator g1(42), g2(42);
  Tensor a = rand({1000}, {}, &g1), b = rand({1000}, {}, &g2);
  EXPECT_TRUE(equal(a, b));
  EXPECT_GE(a.min().item<float>(), 0.f);
  EXPECT_LT(a.max().item<float>(), 1.f);
  Tensor n = randn({20000}, kFloat64, &g1);
  EXPECT_NEAR(n.mean().item<double>(), 0.0, 0.03);
  EXPECT_NEAR(n.std().item<double>(), 1.0, 0.03);
  Tensor p = randperm(100, kInt64, &g1);
  EXPECT_TRUE(equal(std::get<0>(std::make_tuple(p.sum())), scalar_tensor(int64_t{4950})));
  Tensor r = randint(3, 7, {1000}, kInt64, &g1);
  EXPECT_GE(r.min().item<int64_t>(), 3);
  EXPECT_LE(r.max().item<int64_t>(), 6);
  // The same stream on testdev gives the same numbers (counter-based generator).
  Generator g3(42);
  Tensor c = rand({1000}, Device("testdev"), &g3);
  EXPECT_TRUE(equal(c.cpu(), a));
  manual_seed(7);
  Tensor x = rand({5});
  manual_seed(7);
  EXPECT_TRUE(equal(rand({5}), x));
}

// ---- SEED B5: values copy, from_blob shares ----
TEST(Tensor, FromBlobSharesMemory) {  // SEED B5
  std::vector<float> buf{1, 2, 3, 4, 5, 6};
  Tensor t = from_blob(buf.data(), {2, 3});
  EXPECT_EQ(t.data_ptr<float>(), buf.data());
  t.index_put_({0, 1}, 20.f);
  EXPECT_EQ(buf[1], 20.f);
  buf[5] = 60.f;
  EXPECT_EQ(t.index({1, 2}).item<float>(), 60.f);
  bool deleted = false;
  {
    Tensor d = from_blob(buf.data(), {6}, [&](void*) { deleted = true; });
    EXPECT_FALSE(deleted);
  }
  EXPECT_TRUE(deleted);
}

TEST(Tensor, TensorFromValuesCopies) {  // SEED B5
  std::vector<double> v{1, 2, 3};
  Tensor t = tensor(v);
  v[0] = 100;
  EXPECT_EQ(t.index({0}).item<double>(), 1.0);
  EXPECT_EQ(t.dtype(), kFloat64);
}

// ---- SEED B1, B12: views share storage and version counter; writes show through ----
struct ViewCase {
  const char* name;
  std::function<Tensor(const Tensor&)> make;
};

TEST(Views, EveryViewSharesStorageVersionAndWrites) {  // SEED B12
  const std::vector<ViewCase> cases = {
      {"as_strided", [](const Tensor& t) { return t.as_strided({2, 2}, {1, 2}, 1); }},
      {"detach", [](const Tensor& t) { return t.detach(); }},
      {"diagonal", [](const Tensor& t) { return t.diagonal(); }},
      {"expand", [](const Tensor& t) { return t.index({Slice(0, 1)}).expand({3, 4}); }},
      {"expand_as", [](const Tensor& t) { return t.index({Slice(0, 1)}).expand_as(t); }},
      {"movedim", [](const Tensor& t) { return t.movedim(0, 1); }},
      {"narrow", [](const Tensor& t) { return t.narrow(1, 1, 2); }},
      {"permute", [](const Tensor& t) { return t.permute({1, 0}); }},
      {"select", [](const Tensor& t) { return t.select(0, 1); }},
      {"squeeze", [](const Tensor& t) { return t.unsqueeze(0).squeeze(); }},
      {"squeeze_dim", [](const Tensor& t) { return t.unsqueeze(1).squeeze(1); }},
      {"transpose", [](const Tensor& t) { return t.transpose(0, 1); }},
      {"t", [](const Tensor& t) { return t.t(); }},
      {"unflatten", [](const Tensor& t) { return t.unflatten(1, {2, 2}); }},
      {"unfold", [](const Tensor& t) { return t.unfold(1, 2, 2); }},  // step 1 would overlap: G1
      {"unsqueeze", [](const Tensor& t) { return t.unsqueeze(2); }},
      {"view", [](const Tensor& t) { return t.view({4, 3}); }},
      {"view_as", [](const Tensor& t) { return t.view_as(zeros({2, 6})); }},
      {"reshape_view", [](const Tensor& t) { return t.reshape({-1}); }},
      {"flatten", [](const Tensor& t) { return t.flatten(); }},
      {"unbind", [](const Tensor& t) { return t.unbind(0)[1]; }},
      {"split", [](const Tensor& t) { return t.split(2, 1)[1]; }},
      {"split_with_sizes", [](const Tensor& t) { return t.split_with_sizes({1, 3}, 1)[1]; }},
      {"chunk", [](const Tensor& t) { return t.chunk(2, 0)[1]; }},
      {"slice", [](const Tensor& t) { return t.slice(1, 0, 4, 2); }},
      {"index_basic", [](const Tensor& t) { return t.index({1, Slice(1, None)}); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Tensor base = iota({3, 4});
    EXPECT_THROW(base.unfold(1, 2, 1).fill_(0), ValueError);  // overlapping windows (SEED G1)
    Tensor v = c.make(base);
    EXPECT_TRUE(shares_storage(base, v));
    const uint32_t before = base._version();
    // Writes through the view show in the base and bump the shared version counter.
    Tensor target = v;
    if (std::string(c.name) == "expand" || std::string(c.name) == "expand_as") {
      EXPECT_THROW(target.fill_(-1), ValueError);  // SEED G1: overlapping write refused
      continue;
    }
    target.fill_(-1.0);
    EXPECT_GT(base._version(), before);
    EXPECT_EQ(v._version(), base._version());
    EXPECT_LT(base.min().item<float>(), 0.f);
    // And writes to the base show in the view.
    base.fill_(5.0);
    EXPECT_EQ(v.max().item<float>(), 5.f);
  }
}

TEST(Views, GeometryMatchesPyTorch) {
  Tensor t = iota({2, 3, 4});
  EXPECT_EQ(t.transpose(0, 2).strides(), IntArrayRef({1, 4, 12}));
  EXPECT_EQ(t.permute({2, 0, 1}).sizes(), IntArrayRef({4, 2, 3}));
  EXPECT_EQ(t.select(1, 2).storage_offset(), 8);
  EXPECT_EQ(t.narrow(2, 1, 2).storage_offset(), 1);
  EXPECT_EQ(t.diagonal(0, 1, 2).sizes(), IntArrayRef({2, 3}));
  EXPECT_EQ(t.diagonal(0, 1, 2).strides(), IntArrayRef({12, 5}));
  EXPECT_EQ(t.diagonal(1, 1, 2).storage_offset(), 1);
  EXPECT_EQ(t.unfold(2, 2, 2).sizes(), IntArrayRef({2, 3, 2, 2}));
  EXPECT_EQ(t.unfold(2, 2, 2).strides(), IntArrayRef({12, 4, 2, 1}));
  EXPECT_EQ(t.expand({5, 2, 3, 4}).strides(), IntArrayRef({0, 12, 4, 1}));
  EXPECT_EQ(t.movedim({0, 1}, {2, 0}).sizes(), IntArrayRef({3, 4, 2}));
  EXPECT_EQ(t.unsqueeze(-1).sizes(), IntArrayRef({2, 3, 4, 1}));
  EXPECT_EQ(t.chunk(3, 2).size(), 2u);  // PyTorch: chunks of 2 -> 2 pieces
  EXPECT_EQ(t.slice(2, -3, None, 2).sizes(), IntArrayRef({2, 3, 2}));
  EXPECT_EQ(t.slice(2, -3, None, 2).storage_offset(), 1);
  EXPECT_EQ(t.squeeze().sizes(), IntArrayRef({2, 3, 4}));
  EXPECT_TRUE(t.contiguous().is_same(t));  // SEED B1: contiguous() of a contiguous tensor is itself
  EXPECT_THROW(t.t(), ShapeError);
}

TEST(Views, ViewOnIncompatibleStridesFailsClearly) {  // SEED B1
  Tensor t = iota({3, 4}).t();
  try {
    t.view({12});
    FAIL() << "view of a transposed tensor must fail";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("reshape"), std::string::npos) << msg;
    EXPECT_NE(msg.find("contiguous"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[4, 3]"), std::string::npos) << msg;
  }
  EXPECT_THROW(iota({3, 4}).view({5, -1}), ShapeError);
  EXPECT_THROW(iota({3, 4}).view({-1, -1}), ShapeError);
  EXPECT_NO_THROW(t.contiguous().view({12}));
}

TEST(Views, ReshapeViewWhenPossibleElseCopy) {  // SEED B1
  Tensor t = iota({3, 4});
  Tensor v = t.reshape({2, 6});
  EXPECT_TRUE(shares_storage(t, v));
  Tensor tt = t.t();
  Tensor c = tt.reshape({12});
  EXPECT_FALSE(shares_storage(tt, c));
  EXPECT_TRUE(equal(c, tensor({0.f, 4.f, 8.f, 1.f, 5.f, 9.f, 2.f, 6.f, 10.f, 3.f, 7.f, 11.f})));
  // flatten follows reshape.
  EXPECT_TRUE(shares_storage(t, t.flatten()));
  EXPECT_FALSE(shares_storage(tt, tt.flatten()));
  // A non-contiguous tensor whose dims still merge: a view.
  Tensor s = iota({4, 6}).slice(1, 0, 6, 2);  // strides (6, 2)
  EXPECT_TRUE(shares_storage(s, s.reshape({4, 3, 1})));
  // Expanded dims of stride 0 merge into a view too.
  Tensor e = iota({1, 3}).expand({4, 3});
  EXPECT_TRUE(shares_storage(e, e.reshape({2, 2, 3})));
}

TEST(Views, ErrorsNameTheProblem) {
  Tensor t = iota({2, 3});
  EXPECT_THROW(t.select(0, 2), IndexError);
  EXPECT_THROW(t.select(2, 0), IndexError);
  EXPECT_THROW(t.narrow(1, 2, 2), IndexError);
  EXPECT_THROW(t.permute({0, 0}), ShapeError);
  EXPECT_THROW(t.expand({3, 3}), ShapeError);
  EXPECT_THROW(t.as_strided({3, 3}, {3, 1}), ShapeError);  // past the storage
  EXPECT_THROW(t.unflatten(1, {2, 2}), ShapeError);
  EXPECT_THROW(t.split_with_sizes({1, 1}, 1), ShapeError);
  EXPECT_NO_THROW(t.select(-1, -3));
}

// ---- indexing: basic = views, advanced = copies (SEED B12) ----
TEST(Indexing, BasicIndexingGivesViews) {
  Tensor t = iota({2, 3, 4});
  Tensor a = t.index({1, Slice(None, None, 2), Ellipsis});
  EXPECT_TRUE(shares_storage(t, a));
  EXPECT_EQ(a.sizes(), IntArrayRef({2, 4}));
  EXPECT_TRUE(equal(a.index({1, 3}), scalar_tensor(23.f)));
  Tensor b = t.index({None, Ellipsis, 0});
  EXPECT_EQ(b.sizes(), IntArrayRef({1, 2, 3}));
  EXPECT_TRUE(shares_storage(t, b));
  EXPECT_EQ(t.index({true}).sizes(), IntArrayRef({1, 2, 3, 4}));
  EXPECT_EQ(t.index({false}).sizes(), IntArrayRef({0, 2, 3, 4}));
  EXPECT_TRUE(equal(t[1][2], t.index({1, 2})));
  EXPECT_THROW(t.index({0, 0, 0, 0}), IndexError);
  EXPECT_THROW(t.index({Ellipsis, 0, Ellipsis}), IndexError);
}

TEST(Indexing, AdvancedIndexingCopies) {
  Tensor t = iota({3, 4});
  Tensor idx = tensor({2, 0});
  Tensor r = t.index({idx});
  EXPECT_FALSE(shares_storage(t, r));
  EXPECT_TRUE(equal(r, tensor({{8.f, 9.f, 10.f, 11.f}, {0.f, 1.f, 2.f, 3.f}})));
  // Two index tensors broadcast together: picks t[2,1] and t[0,3].
  EXPECT_TRUE(equal(t.index({idx, tensor({1, 3})}), tensor({9.f, 3.f})));
  // Index in the middle keeps its place; negative indices count from the end.
  Tensor u = iota({2, 3, 4});
  Tensor m = u.index({Slice(), tensor({-1, 0})});
  EXPECT_EQ(m.sizes(), IntArrayRef({2, 2, 4}));
  EXPECT_TRUE(equal(m.index({1, 0}), tensor({20.f, 21.f, 22.f, 23.f})));
  // Non-adjacent index tensors move the result dims to the front (NumPy rule).
  Tensor n = u.index({tensor({1}), Slice(), tensor({2})});
  EXPECT_EQ(n.sizes(), IntArrayRef({1, 3}));
  EXPECT_TRUE(equal(n, tensor({{14.f, 18.f, 22.f}})));
  // Masks.
  Tensor mask = t.gt(Scalar(6.0));
  Tensor sel = t.index({mask});
  EXPECT_TRUE(equal(sel, tensor({7.f, 8.f, 9.f, 10.f, 11.f})));
  EXPECT_TRUE(equal(t.masked_select(mask), sel));
  EXPECT_FALSE(shares_storage(t, sel));
  EXPECT_THROW(t.index({tensor({3})}), IndexError);
  EXPECT_THROW(t.index({tensor({1.5f})}), IndexError);
}

TEST(Indexing, IndexPutWritesThrough) {
  Tensor t = zeros({3, 4});
  t.index_put_({tensor({0, 2}), tensor({1, 3})}, 5.0);
  EXPECT_EQ(t.sum().item<float>(), 10.f);
  EXPECT_EQ(t.index({2, 3}).item<float>(), 5.f);
  t.index_put_({t.gt(Scalar(1.0))}, -1.0);
  EXPECT_EQ(t.sum().item<float>(), -2.f);
  t.index_put_({Slice(), 0}, tensor({1.f, 2.f, 3.f}));
  EXPECT_TRUE(equal(t.select(1, 0), tensor({1.f, 2.f, 3.f})));
  Tensor u = zeros({2, 3, 4});
  u.index_put_({Slice(), tensor({2, 0})}, ones({2, 2, 4}));
  EXPECT_EQ(u.sum().item<float>(), 16.f);
  EXPECT_EQ(u.index({1, 1}).sum().item<float>(), 0.f);
}

// ---- SEED G1: overlapping writes ----
TEST(Overlap, InPlaceWriteIntoExpandedTensorRaises) {  // SEED G1
  Tensor e = ones({1, 3}).expand({4, 3});
  for (auto fn : std::vector<std::function<void()>>{[&] { e.add_(ones({4, 3})); }, [&] { e.fill_(2); },
                                                    [&] { e.copy_(zeros({4, 3})); }, [&] { e.mul_(2.0); },
                                                    [&] { e.relu_(); }}) {
    try {
      fn();
      FAIL() << "expected an overlap error";
    } catch (const ValueError& err) {
      EXPECT_NE(std::string(err.what()).find("clone()"), std::string::npos) << err.what();
    }
  }
  Tensor c = e.clone();
  EXPECT_NO_THROW(c.add_(ones({4, 3})));
  EXPECT_EQ(c.sum().item<float>(), 24.f);
}

TEST(Overlap, PartialOverlapBetweenInputAndOutputRaises) {
  Tensor x = arange(6, kFloat32);
  EXPECT_THROW(x.index({Slice(1, None)}).add_(x.index({Slice(None, -1)})), ValueError);
  Tensor m = arange(9, kFloat32).reshape({3, 3});
  EXPECT_THROW(m.copy_(m.t()), ValueError);
  // The same view, or disjoint parts of one storage, are fine.
  EXPECT_NO_THROW(x.add_(x));
  EXPECT_NO_THROW(x.index({Slice(0, 3)}).copy_(x.index({Slice(3, 6)})));
  EXPECT_TRUE(equal(x.index({Slice(0, 3)}), x.index({Slice(3, 6)})));
}

// ---- SEED B3: dtype rules ----
TEST(Dtypes, PromotionAndLossyInPlace) {  // SEED B3
  Tensor i = tensor({1, 2, 3});               // int64
  Tensor f = tensor({0.5f, 0.5f, 0.5f});      // float32
  EXPECT_EQ((i + f).dtype(), kFloat32);
  EXPECT_EQ((i * 2).dtype(), kInt64);
  EXPECT_EQ((i * 2.5).dtype(), kFloat32);
  EXPECT_EQ((i / 2).dtype(), kFloat32);       // true division
  EXPECT_EQ(tensor({1}, kUInt8).add(tensor({1}, kInt8)).dtype(), kInt16);
  EXPECT_EQ(ones({2}, kFloat16).add(ones({2}, kBFloat16)).dtype(), kFloat32);
  // 0-dim tensors do not promote dimensioned ones within a category.
  EXPECT_EQ(ones({2}, kFloat32).add(scalar_tensor(1.0, kFloat64)).dtype(), kFloat32);
  EXPECT_EQ(ones({2}, kInt32).add(scalar_tensor(1.0, kFloat64)).dtype(), kFloat64);
  // Lossy in-place: float result into an int tensor.
  Tensor j = tensor({1, 2});
  EXPECT_THROW(j.add_(f.index({Slice(0, 2)})), DTypeError);
  EXPECT_THROW(j.mul_(1.5), DTypeError);
  EXPECT_NO_THROW(f.add_(i));
  EXPECT_TRUE(equal(f, tensor({1.5f, 2.5f, 3.5f})));
  // to(dtype) converts; same dtype returns itself.
  EXPECT_TRUE(f.to(kFloat32).is_same(f));
  EXPECT_TRUE(equal(tensor({1.7, -1.7}).to(kInt32), tensor({1, -1}, kInt32)));
  EXPECT_EQ(tensor({1.7}).item<int64_t>(), 1);
}

TEST(Dtypes, HalfAndBFloat16RoundTrip) {
  Tensor x = tensor({0.1, 1.0, 65504.0, 1e-7, -2.5});
  Tensor h = x.to(kFloat16).to(kFloat64);
  EXPECT_NEAR(h.index({0}).item<double>(), 0.0999755859375, 1e-12);
  EXPECT_EQ(h.index({2}).item<double>(), 65504.0);
  EXPECT_NEAR(h.index({3}).item<double>(), 1.1920928955078125e-07, 1e-15);  // subnormal
  Tensor b = x.to(kBFloat16).to(kFloat64);
  EXPECT_EQ(b.index({0}).item<double>(), 0.10009765625);
  EXPECT_EQ(b.index({4}).item<double>(), -2.5);
}

// ---- devices (SEED B8, A1-trap b) via testdev ----
TEST(Devices, ToDeviceCopiesAndMixingRaises) {  // SEED B8
  Tensor c = iota({2, 3});
  Tensor d = c.to(Device("testdev"));
  EXPECT_EQ(d.device().str(), "testdev:0");
  EXPECT_TRUE(c.is_cpu());  // the original is unchanged
  EXPECT_FALSE(shares_storage(c, d));
  EXPECT_TRUE(equal(d.cpu(), c));
  EXPECT_TRUE(d.to(Device("testdev")).is_same(d));
  // testdev keeps its memory scrambled: raw bytes differ from the host copy.
  EXPECT_NE(std::memcmp(d.data_ptr(), c.data_ptr(), c.nbytes()), 0);
  // Ops run on testdev through its own kernels.
  EXPECT_TRUE(equal((d + d).cpu(), c * 2));
  EXPECT_TRUE(equal(d.t().contiguous().cpu(), c.t().contiguous()));
  // testdev has no cat kernel: the composite path (copies into narrow views) runs there.
  EXPECT_TRUE(equal(cat({d, d.t().contiguous().t()}, 1).cpu(), cat({c, c}, 1)));
  try {
    (void)(c + d);
    FAIL() << "mixing devices must raise";
  } catch (const DeviceError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("cpu"), std::string::npos) << msg;
    EXPECT_NE(msg.find("testdev:0"), std::string::npos) << msg;
    EXPECT_NE(msg.find("register"), std::string::npos) << msg;  // hints at unregistered parameters
  }
  // testdev:1 is another device of the same type.
  Tensor d1 = d.to(Device("testdev:1"));
  EXPECT_TRUE(equal(d1.cpu(), c));
  EXPECT_THROW(d1 + d, DeviceError);
  // Like torch.device("cuda:7"), naming a missing device is fine; using it is not.
  EXPECT_THROW(empty({2}, Device("testdev:7")), DeviceError);
  EXPECT_THROW(Device("nosuchdevice"), DeviceError);
  // An op testdev has no kernel for names the op and lists the devices that have one.
  try {
    (void)d.sigmoid();
    FAIL();
  } catch (const DeviceError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("sigmoid"), std::string::npos) << msg;
    EXPECT_NE(msg.find("kernels exist for: cpu"), std::string::npos) << msg;
  }
}

TEST(Devices, CopyAcrossDevicesIntoView) {
  Tensor d = zeros({2, 3}, Device("testdev"));
  d.select(0, 1).copy_(tensor({1.f, 2.f, 3.f}));
  EXPECT_TRUE(equal(d.cpu(), tensor({{0.f, 0.f, 0.f}, {1.f, 2.f, 3.f}})));
  Tensor h = zeros({3});
  h.copy_(d.select(0, 1));
  EXPECT_TRUE(equal(h, tensor({1.f, 2.f, 3.f})));
}

// ---- item and printing ----
TEST(Tensor, ItemAndPrinting) {
  EXPECT_EQ(tensor({3.5f}).item<float>(), 3.5f);
  EXPECT_THROW(tensor({1, 2}).item<int64_t>(), ValueError);
  std::ostringstream os;
  os << tensor({{1.f, 2.f}, {3.f, 4.f}});
  EXPECT_EQ(os.str(), "tensor([[1., 2.],\n        [3., 4.]])");
  EXPECT_EQ(tensor({1, 2, 3}).toString(), "tensor([1, 2, 3])");
  EXPECT_EQ(tensor({1.5, 2.25}).toString(), "tensor([1.5000, 2.2500])");  // literals give float32
  EXPECT_EQ(tensor({1.5, 2.25}, kFloat64).toString(), "tensor([1.5000, 2.2500], dtype=float64)");
  EXPECT_EQ(tensor({true, false}).toString(), "tensor([ True, False])");
  EXPECT_EQ(scalar_tensor(2.5).toString(), "tensor(2.5000)");
  EXPECT_EQ(zeros({0}).toString(), "tensor([])");
  EXPECT_EQ(arange(2000).toString(), "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])");
  EXPECT_EQ(arange(2000).view({2, 1000}).toString(),
            "tensor([[   0,    1,    2,  ...,  997,  998,  999],\n        [1000, 1001, 1002,  ..., 1997, 1998, 1999]])");
  EXPECT_EQ(ones({2}, Device("testdev")).toString(), "tensor([1., 1.], device='testdev:0')");
}

// ---- SEED B4 / B6 basics without autograd: copy_ bumps versions, detach shares them ----
TEST(Tensor, VersionCounterSharedByViewsAndDetach) {  // SEED B6
  Tensor t = zeros({4});
  Tensor v = t.index({Slice(1, 3)});
  Tensor d = t.detach();
  const uint32_t v0 = t._version();
  v.copy_(ones({2}));
  EXPECT_EQ(t._version(), v0 + 1);
  EXPECT_EQ(d._version(), t._version());
  d.add_(1.0);
  EXPECT_EQ(v._version(), v0 + 2);
  Tensor c = t.clone();
  EXPECT_FALSE(shares_storage(c, t));
  EXPECT_EQ(c._version(), 0u);
}

// ---- opaque backend layouts (DESIGN "Tensors") ----
namespace {
/// A stand-in for a backend's private layout: float32 elements stored in reverse order.
class ReversedLayout final : public OpaqueLayout {
 public:
  std::string name() const override { return "test:reversed"; }
  DeviceTypeId device_type() const override { return kCPUType; }
  size_t nbytes(IntArrayRef sizes, ScalarType dtype) const override {
    return static_cast<size_t>(checked_numel(sizes)) * hearth::element_size(dtype);
  }
  void to_strided(const void* src, void* dst, IntArrayRef sizes, ScalarType) const override {
    const int64_t n = checked_numel(sizes);
    const float* s = static_cast<const float*>(src);
    float* d = static_cast<float*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = s[n - 1 - i];
    ++conversions;
  }
  mutable int conversions = 0;
};

Tensor make_reversed(const std::shared_ptr<ReversedLayout>& layout) {
  // Storage holds 5,4,3,2,1,0: logically the tensor is arange(6).reshape(2,3).
  Tensor t = tensor({5.f, 4.f, 3.f, 2.f, 1.f, 0.f}).view({2, 3});
  t.impl()->set_opaque_layout(layout);
  return t;
}
}  // namespace

TEST(OpaqueLayout, ConvertedWhenAnythingElseTouchesIt) {
  auto layout = std::make_shared<ReversedLayout>();
  const Tensor expect = arange(6, kFloat32).view({2, 3});
  // Metadata that does not need strides leaves it alone.
  Tensor a = make_reversed(layout);
  EXPECT_TRUE(a.has_opaque_layout());
  EXPECT_EQ(a.sizes(), IntArrayRef({2, 3}));
  EXPECT_EQ(a.numel(), 6);
  EXPECT_EQ(layout->conversions, 0);
  // strides(), data_ptr(), views, ops and device moves each see the strided values.
  for (auto use : std::vector<std::function<Tensor(const Tensor&)>>{
           [](const Tensor& t) { (void)t.strides(); return t; },
           [](const Tensor& t) { (void)t.data_ptr(); return t; },
           [](const Tensor& t) { return t.t().contiguous().t(); },
           [](const Tensor& t) { return t.add(zeros({2, 3})); },
           [](const Tensor& t) { return t.to(Device("testdev")).cpu(); },
       }) {
    Tensor t = make_reversed(layout);
    const uint32_t version = t._version();
    Tensor r = use(t);
    EXPECT_FALSE(t.has_opaque_layout());
    EXPECT_EQ(t._version(), version);  // converting is not a write
    EXPECT_TRUE(t.is_contiguous());
    EXPECT_TRUE(equal(r, expect));
  }
  EXPECT_EQ(layout->conversions, 5);
}

TEST(Memory, HostCachingAllocatorReusesLargeBlocks) {  // SEED F3
  const Device cpu(kCPUType);
  empty_cache(cpu);
  const MemoryStats before = memory_stats(cpu);
  void* first;
  {
    Tensor big = empty({1 << 20}, kFloat32);  // 4 MiB
    first = big.data_ptr();
    EXPECT_GE(memory_stats(cpu).allocated, before.allocated + (size_t{4} << 20));
    EXPECT_GE(memory_stats(cpu).peak, memory_stats(cpu).allocated);
  }
  const MemoryStats freed = memory_stats(cpu);
  EXPECT_EQ(freed.allocated, before.allocated);
  EXPECT_GE(freed.reserved, freed.allocated + (size_t{4} << 20));  // kept in the cache
  Tensor again = empty({1 << 20}, kFloat32);
  EXPECT_EQ(again.data_ptr(), first);  // served from the cache: no new page faults
  again = Tensor();
  empty_cache(cpu);
  EXPECT_EQ(memory_stats(cpu).reserved, memory_stats(cpu).allocated);
}

TEST(Memory, HostCacheServesASmallerRequestFromABiggerBlockUpToTwiceItsSize) {  // SEED F3
  // A freed batch-1000 activation serves the next, smaller one (no fresh page faults); a block
  // more than twice the request stays for a better fit. The bigger block is accounted whole,
  // and goes back to the cache whole.
  const Device cpu(kCPUType);
  empty_cache(cpu);
  const MemoryStats before = memory_stats(cpu);
  constexpr size_t MiB = size_t{1} << 20;
  void* block;
  {
    Tensor big = empty({static_cast<int64_t>(8 * MiB)}, kUInt8);
    block = big.data_ptr();
  }
  {
    Tensor tiny = empty({static_cast<int64_t>(2 * MiB)}, kUInt8);  // 8 MiB > 2 x 2 MiB: not this block
    EXPECT_NE(tiny.data_ptr(), block);
    Tensor half = empty({static_cast<int64_t>(5 * MiB)}, kUInt8);  // rounded to 6 MiB: 8 <= 12, reused
    EXPECT_EQ(half.data_ptr(), block);
    EXPECT_EQ(memory_stats(cpu).allocated, before.allocated + 8 * MiB + 2 * MiB);
  }
  EXPECT_EQ(memory_stats(cpu).allocated, before.allocated);
  Tensor exact = empty({static_cast<int64_t>(8 * MiB)}, kUInt8);  // the 8 MiB block is cached again
  EXPECT_EQ(exact.data_ptr(), block);
  exact = Tensor();
  empty_cache(cpu);
  EXPECT_EQ(memory_stats(cpu).reserved, memory_stats(cpu).allocated);
  EXPECT_EQ(memory_stats(cpu).allocated, before.allocated);
}

TEST(Memory, HostCacheKeepsBlocksFrom256KiB) {  // SEED F3
  // lenet's pool 2 output, its indices and the flatten are ~800 KB at batch 64: glibc trimmed
  // and refaulted them every step, so blocks from 256 KiB up are cached too (whole pages).
  const Device cpu(kCPUType);
  empty_cache(cpu);
  void* first;
  {
    Tensor t = empty({200 * 1024}, kFloat32);  // 800 KiB
    first = t.data_ptr();
  }
  EXPECT_GE(memory_stats(cpu).reserved, memory_stats(cpu).allocated + 800 * 1024);
  Tensor again = empty({200 * 1024}, kFloat32);
  EXPECT_EQ(again.data_ptr(), first);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(again.data_ptr()) % 64, 0u);
  again = Tensor();
  empty_cache(cpu);
  EXPECT_EQ(memory_stats(cpu).reserved, memory_stats(cpu).allocated);
}
