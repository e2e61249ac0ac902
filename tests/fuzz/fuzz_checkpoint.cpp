// Fuzz target: a training checkpoint (safetensors; its metadata: counters, RNG states, optimizer
// state, model keys) loaded into Sequential(Linear(4, 3)) and SGD with momentum, as
// `hearth train --resume` loads one.
#include "fuzz_util.h"
#include "hearth/checkpoint.h"
#include "hearth/hearth.h"
#include "hearth/nn.h"
#include "hearth/optim.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto model = [] {
    return hearth::nn::Sequential(hearth::nn::Linear(4, 3)).ptr();
  }();
  static auto opt = hearth::optim::create("sgd", model->parameters(),
                                          std::map<std::string, double>{{"lr", 0.05}, {"momentum", 0.9}});
  const std::string p = hearth::fuzz::scratch("ckpt.safetensors");
  hearth::fuzz::write_file(p, data, size);
  hearth::fuzz::expect_clean([&] {
    (void)hearth::is_training_checkpoint(p);
    hearth::TrainingState st;
    st.model = model.get();
    st.optimizer = opt.get();
    hearth::CheckpointLoadOptions o;
    o.restore_rng = false;  // the process's generators stay as they are between inputs
    hearth::load_training_checkpoint(p, st, o);
  });
  return 0;
}
