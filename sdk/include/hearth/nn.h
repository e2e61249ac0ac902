// Neural-network building blocks: modules, layers, functional ops, initialization.
#pragma once

#include "hearth/nn/conv.h"
#include "hearth/nn/functional.h"
#include "hearth/nn/init.h"
#include "hearth/nn/layers.h"
#include "hearth/nn/module.h"
