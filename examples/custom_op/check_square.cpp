// Loads hearth-example-square from a directory and checks "example_square" against x * x; given
// an installed hearth's plugin directory, also checks that this program runs on that install's
// libhearth and that its default plugins (hearth-cpu, hearth-testdev) load from there.
//   usage: check_square PLUGIN_DIR [EXPECTED_DEFAULT_PLUGIN_DIR]
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "hearth/hearth.h"
#include "hearth/plugin.h"

namespace {

/// The C++ front end a plugin's users would write (README.md): custom ops have no typed
/// function in the SDK, so the caller allocates the output and calls the op by handle.
hearth::Tensor example_square(const hearth::Tensor& x) {
  static const hearth::OpHandle op = hearth::find_op("example_square");  // resolved once
  hearth::Tensor y = hearth::empty(x.sizes(), x.options());
  hearth::KernelArgs args;
  args.inputs = &x;
  args.num_inputs = 1;
  args.outputs = &y;
  args.num_outputs = 1;
  args.device = x.device();
  op.call(args);
  return y;
}

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "check_square: FAILED: %s\n", what.c_str());
    ++failures;
  }
}

template <typename T>
void check_values(hearth::ScalarType dtype) {
  std::vector<T> v = {1.5, -2, 0, 3, -0.25, 7};
  hearth::Tensor x = hearth::from_blob(v.data(), {2, 3}, dtype);  // no copy, no kernel needed
  hearth::Tensor y = example_square(x);
  check(y.dtype() == dtype && y.sizes() == x.sizes(), "result dtype/shape");
  for (size_t i = 0; i < v.size(); ++i)
    check(y.template data_ptr<T>()[i] == v[i] * v[i], "y[" + std::to_string(i) + "] of " + hearth::dtype_name(dtype));
  // A non-contiguous view: the transpose, shape [3, 2].
  hearth::Tensor yt = example_square(x.t());
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 2; ++j) {
      T want = v[j * 3 + i] * v[j * 3 + i];
      check(yt.template data_ptr<T>()[i * 2 + j] == want, "transposed y[" + std::to_string(i) + "][" +
                                                             std::to_string(j) + "]");
    }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: check_square PLUGIN_DIR [EXPECTED_DEFAULT_PLUGIN_DIR]\n");
    return 2;
  }
  namespace fs = std::filesystem;
  try {
    hearth::load_plugins({argv[1]});  // what `hearth --plugin-dir DIR` does
    const std::string plugin = (fs::canonical(argv[1]) / "hearth-example-square.so").string();
    bool loaded = false;
    for (const auto& r : hearth::plugin_records()) {
      std::printf("%s: %s%s%s\n", r.file.c_str(), r.status.c_str(), r.error.empty() ? "" : ": ",
                  r.error.c_str());
      if (r.file == plugin && r.status == "loaded") loaded = true;
    }
    check(loaded, "hearth-example-square.so loaded from " + std::string(argv[1]));

    if (argc == 3) {
      // default_plugin_dir() is next to the libhearth this program runs on.
      const std::string def = fs::canonical(argv[2]).string();
      check(hearth::default_plugin_dir() == def,
            "libhearth is the installed one: default plugin dir " + hearth::default_plugin_dir() + ", want " + def);
      for (const char* name : {"hearth-cpu", "hearth-testdev"}) {
        bool ok = false;
        for (const auto& r : hearth::plugin_records())
          ok |= r.name == name && r.status == "loaded" && fs::path(r.file).parent_path() == def;
        check(ok, std::string(name) + " loaded from the installed plugin directory");
      }
    }

    check_values<float>(hearth::kFloat32);
    check_values<double>(hearth::kFloat64);
    try {
      example_square(hearth::empty({2}, hearth::kInt64));
      check(false, "int64 input must throw");
    } catch (const hearth::DTypeError& e) {
      check(std::string(e.what()).find("example_square") != std::string::npos, "error names the op");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "check_square: error: %s\n", e.what());
    return 1;
  }
  if (failures) return 1;
  std::printf("example_square OK\n");
  return 0;
}
