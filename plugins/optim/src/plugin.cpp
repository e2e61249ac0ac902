// hearth-optim: registers the optimizers (component kind "optimizer") and learning-rate
// schedules (kind "lr_scheduler") that the SDK's typed front ends resolve by name.
#include "hearth/optim/lr_scheduler.h"
#include "hearth/plugin.h"

namespace hearth_optim {
using hearth::optim::OptimizerAlgorithm;
using hearth::optim::SchedulerRule;
const OptimizerAlgorithm* sgd_rule();
const OptimizerAlgorithm* adam_rule();
const OptimizerAlgorithm* adamw_rule();
const OptimizerAlgorithm* rmsprop_rule();
const OptimizerAlgorithm* adagrad_rule();
const SchedulerRule* steplr_rule();
const SchedulerRule* multisteplr_rule();
const SchedulerRule* exponentiallr_rule();
const SchedulerRule* cosineannealinglr_rule();
const SchedulerRule* linearlr_rule();
const SchedulerRule* onecyclelr_rule();
const SchedulerRule* swalr_rule();
}  // namespace hearth_optim

namespace {

void register_optim(hearth::PluginRegistrar& r) {
  using namespace hearth_optim;
  using hearth::optim::kOptimizerComponent;
  using hearth::optim::kSchedulerComponent;
  using hearth::optim::OptimizerFactory;
  using hearth::optim::SchedulerFactory;
  auto opt = [&](const char* name, OptimizerFactory f) {
    r.component(kOptimizerComponent, name, reinterpret_cast<const void*>(f));
  };
  auto sched = [&](const char* name, SchedulerFactory f) {
    r.component(kSchedulerComponent, name, reinterpret_cast<const void*>(f));
  };
  opt("sgd", &sgd_rule);
  opt("adam", &adam_rule);
  opt("adamw", &adamw_rule);
  opt("rmsprop", &rmsprop_rule);
  opt("adagrad", &adagrad_rule);
  sched("steplr", &steplr_rule);
  sched("multisteplr", &multisteplr_rule);
  sched("exponentiallr", &exponentiallr_rule);
  sched("cosineannealinglr", &cosineannealinglr_rule);
  sched("linearlr", &linearlr_rule);
  sched("onecyclelr", &onecyclelr_rule);
  sched("swalr", &swalr_rule);
}

}  // namespace

HEARTH_PLUGIN("hearth-optim", "0.1.0", register_optim)
