// hearth-models: mlp and lenet exactly as ../shared/bench/SPEC.md builds them (so PyTorch's
// state-dict keys), and resnet18 with torchvision's module names and initialization.
#include <hearth/nn.h>
#include <hearth/nn/conv.h>
#include <hearth/nn/models.h>
#include <hearth/nn/norm.h>
#include <hearth/plugin.h>

#include <cmath>

namespace {

using namespace hearth;
using namespace hearth::nn;
using ModulePtr = std::shared_ptr<Module>;

ModulePtr make_mlp(const ModelArgs& a) {
  check_model_args(a, "mlp", {"in_features", "num_classes"});
  const int64_t in = model_arg_int(a, "mlp", "in_features", 784), classes = model_arg_int(a, "mlp", "num_classes", 10);
  return std::make_shared<SequentialImpl>(std::initializer_list<ModulePtr>{
      std::make_shared<FlattenImpl>(), std::make_shared<LinearImpl>(in, 256), std::make_shared<ReLUImpl>(),
      std::make_shared<LinearImpl>(256, 128), std::make_shared<ReLUImpl>(), std::make_shared<LinearImpl>(128, classes)});
}

ModulePtr make_lenet(const ModelArgs& a) {
  check_model_args(a, "lenet", {"in_channels", "num_classes"});
  const int64_t in = model_arg_int(a, "lenet", "in_channels", 1), classes = model_arg_int(a, "lenet", "num_classes", 10);
  // 28x28 input: two 2x2 pools leave 7x7 maps of 64 channels.
  return std::make_shared<SequentialImpl>(std::initializer_list<ModulePtr>{
      std::make_shared<Conv2dImpl>(in, 32, 3, 1, 1), std::make_shared<ReLUImpl>(), std::make_shared<MaxPool2dImpl>(2),
      std::make_shared<Conv2dImpl>(32, 64, 3, 1, 1), std::make_shared<ReLUImpl>(), std::make_shared<MaxPool2dImpl>(2),
      std::make_shared<FlattenImpl>(), std::make_shared<LinearImpl>(64 * 7 * 7, 128), std::make_shared<ReLUImpl>(),
      std::make_shared<LinearImpl>(128, classes)});
}

/// torchvision's BasicBlock: conv-bn-relu-conv-bn, plus the (downsampled) input, then relu.
class BasicBlock : public Module {
 public:
  BasicBlock(int64_t in, int64_t out, int64_t stride) {
    conv1 = register_module("conv1", std::make_shared<Conv2dImpl>(in, out, 3, stride, 1, 1, 1, false));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2dImpl>(out));
    relu = register_module("relu", std::make_shared<ReLUImpl>(true));
    conv2 = register_module("conv2", std::make_shared<Conv2dImpl>(out, out, 3, 1, 1, 1, 1, false));
    bn2 = register_module("bn2", std::make_shared<BatchNorm2dImpl>(out));
    if (stride != 1 || in != out) {
      downsample = register_module("downsample", std::make_shared<SequentialImpl>(std::initializer_list<ModulePtr>{
                                                     std::make_shared<Conv2dImpl>(in, out, 1, stride, 0, 1, 1, false),
                                                     std::make_shared<BatchNorm2dImpl>(out)}));
    }
  }
  std::string type_name() const override { return "BasicBlock"; }
  Tensor forward(const Tensor& x) override {
    Tensor out = (*relu)((*bn1)((*conv1)(x)));
    out = (*bn2)((*conv2)(out));
    out = out + (downsample ? (*downsample)(x) : x);
    return (*relu)(out);
  }
  std::shared_ptr<Conv2dImpl> conv1, conv2;
  std::shared_ptr<BatchNorm2dImpl> bn1, bn2;
  std::shared_ptr<ReLUImpl> relu;
  std::shared_ptr<SequentialImpl> downsample;
};

class ResNet : public Module {
 public:
  ResNet(int64_t in_channels, int64_t num_classes) {
    conv1 = register_module("conv1", std::make_shared<Conv2dImpl>(in_channels, 64, 7, 2, 3, 1, 1, false));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2dImpl>(64));
    relu = register_module("relu", std::make_shared<ReLUImpl>(true));
    maxpool = register_module("maxpool", std::make_shared<MaxPool2dImpl>(3, 2, 1));
    const int64_t widths[4] = {64, 128, 256, 512};
    int64_t in = 64;
    for (int i = 0; i < 4; ++i) {
      auto layer = std::make_shared<SequentialImpl>();
      layer->push_back(std::make_shared<BasicBlock>(in, widths[i], i == 0 ? 1 : 2));
      layer->push_back(std::make_shared<BasicBlock>(widths[i], widths[i], 1));
      layers[i] = register_module("layer" + std::to_string(i + 1), layer);
      in = widths[i];
    }
    avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2dImpl>(1));
    fc = register_module("fc", std::make_shared<LinearImpl>(512, num_classes));
    // torchvision: kaiming_normal_(fan_out, relu) for convolutions, BatchNorm weight 1, bias 0.
    apply([](Module& m) {
      if (auto* c = dynamic_cast<Conv2dImpl*>(&m)) init::kaiming_normal_(c->weight, 0.0, "fan_out", "relu");
      if (auto* b = dynamic_cast<BatchNorm2dImpl*>(&m)) {
        init::ones_(b->weight);
        init::zeros_(b->bias);
      }
    });
  }
  std::string type_name() const override { return "ResNet"; }
  Tensor forward(const Tensor& x) override {
    Tensor h = (*maxpool)((*relu)((*bn1)((*conv1)(x))));
    for (auto& l : layers) h = (*l)(h);
    return (*fc)((*avgpool)(h).flatten(1));
  }
  std::shared_ptr<Conv2dImpl> conv1;
  std::shared_ptr<BatchNorm2dImpl> bn1;
  std::shared_ptr<ReLUImpl> relu;
  std::shared_ptr<MaxPool2dImpl> maxpool;
  std::shared_ptr<SequentialImpl> layers[4];
  std::shared_ptr<AdaptiveAvgPool2dImpl> avgpool;
  std::shared_ptr<LinearImpl> fc;
};

ModulePtr make_resnet18(const ModelArgs& a) {
  check_model_args(a, "resnet18", {"in_channels", "num_classes"});
  return std::make_shared<ResNet>(model_arg_int(a, "resnet18", "in_channels", 3),
                                  model_arg_int(a, "resnet18", "num_classes", 1000));
}

void register_models(PluginRegistrar& r) {
  r.component("model", "mlp", reinterpret_cast<const void*>(static_cast<ModelFactory>(&make_mlp)));
  r.component("model", "lenet", reinterpret_cast<const void*>(static_cast<ModelFactory>(&make_lenet)));
  r.component("model", "resnet18", reinterpret_cast<const void*>(static_cast<ModelFactory>(&make_resnet18)));
}

}  // namespace

HEARTH_PLUGIN("hearth-models", "0.2.0", register_models)
