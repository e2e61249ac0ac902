// Neural-network building blocks: modules, layers, functional ops, initialization.
#pragma once

#include "hearth/nn/conv.h"
#include "hearth/nn/functional.h"
#include "hearth/nn/init.h"
#include "hearth/nn/layers.h"
#include "hearth/nn/loss.h"
#include "hearth/nn/misc.h"
#include "hearth/nn/module.h"
#include "hearth/nn/summary.h"
#include "hearth/nn/norm.h"
#include "hearth/nn/pimpl.h"
#include "hearth/nn/toplevel.h"
