// Optimizers, learning-rate schedulers, SWA and gradient clipping (issue #5; docs/optim.md).
// The update rules and schedules live in the hearth-optim plugin and are found by name.
#pragma once

#include "hearth/nn/clip_grad.h"
#include "hearth/optim/lr_scheduler.h"
#include "hearth/optim/optimizer.h"
#include "hearth/optim/options.h"
#include "hearth/optim/swa.h"
