// The one header users include, as LibTorch's torch/torch.h: tensors, ops, devices, plugins,
// nn modules (with LibTorch's holders and options), optimizers, data, checkpoints, save/load.
// A LibTorch program ports with this include and `namespace torch = hearth;` (docs/libtorch.md).
#pragma once

#include "hearth/arg.h"
#include "hearth/autograd.h"
#include "hearth/checkpoint.h"
#include "hearth/device.h"
#include "hearth/dispatcher.h"
#include "hearth/data.h"
#include "hearth/dtype.h"
#include "hearth/error.h"
#include "hearth/functions.h"
#include "hearth/generator.h"
#include "hearth/nn.h"
#include "hearth/onnx_math.h"
#include "hearth/optim.h"
#include "hearth/ordered_dict.h"
#include "hearth/plugin.h"
#include "hearth/profiler.h"
#include "hearth/save_load.h"
#include "hearth/scalar.h"
#include "hearth/serialize.h"
#include "hearth/tensor.h"
#include "hearth/threads.h"
#include "hearth/version.h"
