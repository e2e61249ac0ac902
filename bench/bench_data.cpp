// bench_data: issue 6's data goals — Fashion-MNIST load time (gzip, no cache; goal <= 0.5 s) and
// DataLoader throughput (batch 64, ToFloat + Normalize, 2 workers; goal >= 200k samples/s).
// Run: build/bin/bench_data [--workers N] [--epochs K]   (needs dataset-fashion-mnist or $HEARTH_DATA)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "hearth/hearth.h"

using namespace hearth;
using namespace hearth::data;

int main(int argc, char** argv) {
  size_t workers = 2;
  int epochs = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--workers")) workers = std::strtoul(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--epochs")) epochs = std::atoi(argv[i + 1]);
  }
  try {
    load_plugins();  // discovery is not part of the load time
    std::printf("isa: %s (cap: %s)\n", plugin_property("cpu.isa").c_str(), plugin_property("cpu.isa.cap").c_str());
    auto t0 = std::chrono::steady_clock::now();
    auto train = load_dataset("fashion-mnist", true);
    double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("load fashion-mnist train (%zu samples): %.3f s (goal <= 0.5 s)\n", train->size(), load_s);

    DataLoaderOptions o;
    o.batch_size = 64;
    o.shuffle = true;
    o.num_workers = workers;
    o.transform = std::make_shared<Compose>(std::vector<std::shared_ptr<const Transform>>{
        std::make_shared<ToFloat>(), std::make_shared<Normalize>(std::vector<double>{0.2860}, std::vector<double>{0.3530})});
    DataLoader dl(train, o);
    size_t n = 0;
    auto t1 = std::chrono::steady_clock::now();
    for (int e = 0; e < epochs; ++e)
      for (const Batch& b : dl) n += static_cast<size_t>(b.data.size(0));
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    std::printf("DataLoader batch 64, ToFloat+Normalize, %zu workers: %.0f samples/s (goal >= 200000)\n", workers,
                n / s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_data: %s\n", e.what());
    return 1;
  }
}
