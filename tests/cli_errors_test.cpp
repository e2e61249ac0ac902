// Issue #15: the `hearth` command's errors come before the work and say the right thing
// (unknown command, backend, plugin dir, dataset folders, foreign weight files, labels outside the
// model's classes, unwritable outputs), and its cosmetics (help defaults, source paths in
// messages, the progress bar on narrow terminals, metrics.csv, ckpt convert --help).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "hearth/hearth.h"
#include "test_util.h"

namespace fs = std::filesystem;
using hearth::test::contains;
using hearth::test::RunResult;
using hearth::test::TempDir;

namespace {

const std::string kHearth = std::string(HEARTH_BUILD_DIR) + "/bin/hearth";
const char* kQuick = "--model mlp --train-limit 256 --test-limit 128 --progress lines --log-every 2";

RunResult run_hearth(const std::string& args, const std::string& env = "") {
  return hearth::test::run_command(env + " HEARTH_PLUGIN_PATH= '" + kHearth + "' " + args);
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

/// An IDX folder of n blank 28×28 images per split, labels i % 10 except `bad_label` at `bad_index`
/// of the training split.
void write_idx_dir(const std::string& dir, int n, int bad_index, int bad_label) {
  fs::create_directories(dir);
  for (const std::string split : {"train", "t10k"}) {
    write_bytes(dir + "/" + split + "-images-idx3-ubyte",
                std::string("\0\0\x08\x03", 4) + be32(n) + be32(28) + be32(28) + std::string(size_t(n) * 784, '\0'));
    std::string labels = std::string("\0\0\x08\x01", 4) + be32(n);
    for (int i = 0; i < n; ++i) labels += static_cast<char>(split == "train" && i == bad_index ? bad_label : i % 10);
    write_bytes(dir + "/" + split + "-labels-idx1-ubyte", labels);
  }
}

/// Every error is one line.
void expect_one_line(const RunResult& r) { EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err; }

}  // namespace

TEST(CliErrors, MistypedCommandSuggestsTheNearestOne) {
  RunResult r = run_hearth("trian --epochs 1");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "unknown command 'trian'; did you mean 'train'?")) << r.err;
  expect_one_line(r);
  RunResult far = run_hearth("xyzzy");
  EXPECT_EQ(far.code, 2);
  EXPECT_FALSE(contains(far.err, "did you mean")) << far.err;
}

TEST(CliErrors, HelpShowsDefaultsAsWritten) {
  RunResult r = run_hearth("train --help");
  ASSERT_EQ(r.code, 0) << r.err;
  // --lr and --momentum default per optimizer (their help says so); numbers shown are as written.
  EXPECT_TRUE(contains(r.out, "sgd: 0.05")) << r.out;
  EXPECT_TRUE(contains(r.out, "--weight-decay arg (=0)")) << r.out;
  EXPECT_FALSE(contains(r.out, "0000000")) << r.out;
}

TEST(CliErrors, CkptConvertHelpShowsOnlyItsOptions) {
  for (const char* sub : {"inspect", "convert", "diff"}) {
    RunResult r = run_hearth(std::string("ckpt ") + sub + " --help");
    ASSERT_EQ(r.code, 0) << sub << r.err;
    EXPECT_FALSE(contains(r.out, "--args")) << r.out;
    EXPECT_TRUE(contains(r.out, "--plugin-dir")) << r.out;
  }
}

TEST(CliErrors, SourceLocationsAreRelativeToTheSourceTree) {
  const std::string root = fs::canonical(fs::path(HEARTH_TEST_DATA_DIR) / "..").string();
  auto where = [](const std::string& file) {
    const std::string m = hearth::detail::format_error(file.c_str(), 12, "boom");
    return m.substr(m.rfind('['));
  };
  EXPECT_EQ(where(root + "/onnx/src/importer.cpp"), "[onnx/src/importer.cpp:12]");
  EXPECT_EQ(where(root + "/bench/bench_ops.cpp"), "[bench/bench_ops.cpp:12]");
  EXPECT_EQ(where(root + "/kernel/src/tensor.cpp"), "[kernel/src/tensor.cpp:12]");
  EXPECT_EQ(where("../plugins/cpu/src/unary.cpp"), "[plugins/cpu/src/unary.cpp:12]");  // ccache's CCACHE_BASEDIR
  EXPECT_EQ(where("/home/someone/my-plugin/src/op.cpp"), "[op.cpp:12]");
  // And what the command prints carries no absolute path.
  RunResult r = run_hearth("summary --backend nosuch");
  EXPECT_EQ(r.code, 1);
  EXPECT_FALSE(contains(r.err, root)) << r.err;
  EXPECT_TRUE(std::regex_search(r.err, std::regex("\\[kernel/src/[a-z_]+\\.cpp:[0-9]+\\]"))) << r.err;
}

TEST(CliErrors, UnavailableBackendSaysWhy) {
  RunResult r = run_hearth("summary --model mlp --backend cuda");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "backend 'cuda' is not available (available backends: ")) << r.err;
  EXPECT_TRUE(contains(r.err, "no plugin provides device type 'cuda'")) << r.err;
  expect_one_line(r);
  // A plugin meant to provide it that failed to load: its own reason.
  TempDir d;
  write_bytes(d / "hearth-mydev.so", "not a shared library");
  RunResult p = run_hearth("summary --model mlp --backend mydev --plugin-dir " + d.str());
  EXPECT_EQ(p.code, 1);
  EXPECT_TRUE(contains(p.err, "plugin '" + d / "hearth-mydev.so" + "' failed to load: ")) << p.err;
  EXPECT_FALSE(contains(p.err, "no plugin provides")) << p.err;
  expect_one_line(p);
}

TEST(CliErrors, MissingPluginDirIsAnError) {
  for (const char* cmd : {"summary --model mlp", "train", "ckpt inspect x.safetensors", "bench --iters 1"}) {
    RunResult r = run_hearth(std::string(cmd) + " --plugin-dir /nonexistent/hearth-plugins");
    EXPECT_EQ(r.code, 1) << cmd << r.out << r.err;
    EXPECT_TRUE(contains(r.err, "--plugin-dir '/nonexistent/hearth-plugins': no such directory")) << r.err;
    expect_one_line(r);
  }
}

TEST(CliErrors, DatasetFoldersAndFilesAreNamed) {
  TempDir d;
  RunResult idx = run_hearth("train --model mlp --dataset idx:" + d.str("missing"));
  EXPECT_EQ(idx.code, 1);
  EXPECT_TRUE(contains(idx.err, "no such folder '" + d.str("missing") + "'")) << idx.err;
  expect_one_line(idx);
  if (!hearth::find_component("dataset", "hdf5")) GTEST_FAIL() << "hearth-hdf5 not built";
  RunResult h5 = run_hearth("train --model mlp --dataset hdf5:" + d.str());
  EXPECT_EQ(h5.code, 1);
  EXPECT_TRUE(contains(h5.err, "'" + d.str() + "' is a folder, not an HDF5 file")) << h5.err;
  EXPECT_FALSE(contains(h5.err, "H5F")) << h5.err;  // no raw libhdf5 text
  expect_one_line(h5);
}

TEST(CliErrors, ForeignWeightFilesSayWhatTheyLookLike) {
  TempDir d;
  struct Case {
    const char* file;
    std::string bytes;
    const char* looks;
  };
  const std::vector<Case> cases = {
      // ONNX ModelProto: ir_version 8, producer_name "pytorch", ...
      {"model.bin", std::string("\x08\x08\x12\x07pytorch\x1a\x03" "2.1", 14) + std::string(64, '\0'), "looks like ONNX"},
      {"a.npy", std::string("\x93NUMPY\x01\x00v\x00{'descr': '<f4'}", 26), "looks like a NumPy .npy array"},
      {"model.pt", std::string("PK\x03\x04", 4) + std::string(26, '\0') + "archive/data.pkl", "looks like a PyTorch torch.save"},
      {"old.pth", std::string("\x80\x02\x8a\x0a", 4) + std::string(40, 'x'), "looks like a Python pickle"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    write_bytes(d / c.file, c.bytes);
    RunResult r = run_hearth("ckpt inspect " + d / c.file);
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_TRUE(contains(r.err, "'" + d / c.file + "': not a safetensors or HDF5 file (" + c.looks)) << r.err;
    EXPECT_FALSE(contains(r.err, "header_length")) << r.err;
    expect_one_line(r);
  }
  // A real ONNX file, as `hearth export` writes it, given as weights.
  RunResult ex = run_hearth("export --model mlp --input 1,1,28,28 --out " + d / "mlp.onnx");
  ASSERT_EQ(ex.code, 0) << ex.err;
  RunResult r = run_hearth("eval --model mlp --test-limit 10 --weights " + d / "mlp.onnx");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "not a safetensors or HDF5 file (looks like ONNX")) << r.err;
}

TEST(CliErrors, LabelsOutsideTheModelsClassesFailBeforeTraining) {
  TempDir d;
  write_idx_dir(d / "data", 300, 17, 200);
  RunResult r = run_hearth(std::string("train ") + kQuick + " --dataset idx:" + d / "data");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "IDX file '" + d / "data/train-labels-idx1-ubyte" + "' (training split)")) << r.err;
  EXPECT_TRUE(contains(r.err, "label 200 at index 17 is outside the model's 10 classes (0..9)")) << r.err;
  EXPECT_FALSE(contains(r.err, "nll_loss")) << r.err;
  EXPECT_FALSE(contains(r.out, "step")) << r.out;  // before any training step
  expect_one_line(r);
  // With the labels in range the same data trains.
  write_idx_dir(d / "good", 300, 17, 7);
  RunResult ok = run_hearth(std::string("train ") + kQuick + " --dataset idx:" + d / "good");
  EXPECT_EQ(ok.code, 0) << ok.err;
}

TEST(CliErrors, UnwritableOutputsFailBeforeTraining) {
  TempDir d;
  write_bytes(d / "file", "x");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--metrics-json " + d / "nodir/m.json", "--metrics-json '" + d / "nodir/m.json" + "': no such directory"},
      {"--metrics-json " + d.str(), "is a directory, not a file"},
      {"--log-dir " + d / "file/logs", "--log-dir '" + d / "file/logs" + "': cannot create the directory"},
      {"--checkpoint-dir " + d / "file/ck", "--checkpoint-dir '" + d / "file/ck" + "': cannot create the directory"},
  };
  for (const auto& [opt, msg] : cases) {
    SCOPED_TRACE(opt);
    RunResult r = run_hearth(std::string("train ") + kQuick + " " + opt);
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_TRUE(contains(r.err, msg)) << r.err;
    EXPECT_FALSE(contains(r.out, "epoch")) << r.out;  // nothing trained
    expect_one_line(r);
  }
  RunResult e = run_hearth("eval --model mlp --weights " + d / "none.safetensors --dump-logits " + d / "nodir/l.st");
  EXPECT_EQ(e.code, 1);
  EXPECT_TRUE(contains(e.err, "--dump-logits")) << e.err;
}

TEST(CliErrors, ProgressBarFitsANarrowTerminal) {
  RunResult r = run_hearth(std::string("train --model mlp --train-limit 512 --test-limit 64 --progress bar --log-every 1"),
                           "COLUMNS=40");
  ASSERT_EQ(r.code, 0) << r.err;
  // Each redraw (between carriage returns) stays within 39 columns, so "\r" can overwrite it.
  std::string seg;
  int draws = 0;
  for (char c : r.out) {
    if (c == '\r' || c == '\n') {
      if (seg.rfind("\x1b[Kepoch", 0) == 0 && contains(seg, "loss") && !contains(seg, "train_loss")) {
        ++draws;
        std::string visible = std::regex_replace(seg, std::regex("\x1b\\[K"), "");
        EXPECT_LE(visible.size(), 39u) << visible;
      }
      seg.clear();
    } else {
      seg += c;
    }
  }
  EXPECT_GE(draws, 4);
  // A wide terminal gets the whole bar.
  RunResult wide = run_hearth("train --model mlp --train-limit 128 --test-limit 64 --progress bar --log-every 1",
                              "COLUMNS=120");
  ASSERT_EQ(wide.code, 0) << wide.err;
  EXPECT_TRUE(contains(wide.out, "] 2/2  loss ")) << wide.out;
  EXPECT_TRUE(contains(wide.out, "samples/s  ETA ")) << wide.out;
}

// SEED D3: metrics logs a user can plot.
TEST(CliErrors, MetricsCsvHasOneRowKindPerMeaningWithTestLoss) {
  TempDir d;
  RunResult r = run_hearth(std::string("train ") + kQuick + " --epochs 2 --log-dir " + d / "logs");
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream f(d / "logs/metrics.csv");
  std::string line;
  std::getline(f, line);
  EXPECT_EQ(line, "kind,step,epoch,loss,lr,samples_per_second,test_loss,test_accuracy");
  int steps = 0, epochs = 0;
  while (std::getline(f, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.push_back("");
    ASSERT_EQ(cells.size(), 8u) << line;
    if (cells[0] == "step") {
      ++steps;
      EXPECT_TRUE(cells[6].empty() && cells[7].empty()) << line;
    } else {
      ASSERT_EQ(cells[0], "epoch") << line;
      ++epochs;
      EXPECT_EQ(cells[2], std::to_string(epochs)) << line;
      EXPECT_GT(std::stod(cells[6]), 0) << line;  // test loss
      const double acc = std::stod(cells[7]);
      EXPECT_TRUE(acc >= 0 && acc <= 1) << line;
    }
  }
  EXPECT_EQ(epochs, 2);
  EXPECT_EQ(steps, 4);  // 4 batches of 64 per epoch, one row every 2 steps
}
