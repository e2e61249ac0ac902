// Helper of checkpoint_kill_test: saves training checkpoints into DIR in a loop (step 1, 2, ...),
// every parameter filled with the step number, until killed; "once STEP" saves one and exits.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "hearth/checkpoint.h"
#include "hearth/hearth.h"
#include "hearth/nn.h"

using namespace hearth;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s DIR loop|once [STEP] [.safetensors|.h5]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1], mode = argv[2];
  const long first = argc > 3 ? std::atol(argv[3]) : 1;
  const std::string ext = argc > 4 ? argv[4] : ".safetensors";
  try {
    // About 16 MB of parameters, so a save takes long enough to be killed in the middle.
    auto model = std::make_shared<nn::SequentialImpl>(std::initializer_list<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::LinearImpl>(1024, 2048), std::make_shared<nn::LinearImpl>(2048, 1024)});
    CheckpointManager mgr(dir, 2, ext);
    {
      NoGradGuard ng;
      for (auto& p : model->parameters()) p.fill_(0.0);  // plugins loaded before "ready"
    }
    std::printf("ready\n");  // the parent times its kill from here, not from the process start
    std::fflush(stdout);
    for (long step = first;; ++step) {
      {
        NoGradGuard ng;
        for (auto& p : model->parameters()) p.fill_(static_cast<double>(step));
      }
      TrainingState s;
      s.model = model.get();
      s.global_step = step;
      s.epoch = step / 10;
      s.extra["step"] = std::to_string(step);
      mgr.save(s);
      std::printf("saved %ld\n", step);
      std::fflush(stdout);
      if (mode == "once") return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "checkpoint_kill_helper: %s\n", e.what());
    return 1;
  }
}
