// The one header users include: tensors, ops, devices, plugins.
#pragma once

#include "hearth/autograd.h"
#include "hearth/checkpoint.h"
#include "hearth/device.h"
#include "hearth/dispatcher.h"
#include "hearth/data.h"
#include "hearth/dtype.h"
#include "hearth/error.h"
#include "hearth/functions.h"
#include "hearth/generator.h"
#include "hearth/plugin.h"
#include "hearth/profiler.h"
#include "hearth/scalar.h"
#include "hearth/serialize.h"
#include "hearth/tensor.h"
#include "hearth/threads.h"
#include "hearth/version.h"
