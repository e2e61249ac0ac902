// hearth-idx: reads IDX files (raw or gzip) straight into tensor memory, validating the header
// against the file before allocating; registers the "idx" and "fashion-mnist" datasets.
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>

#include "hearth/data.h"
#include "hearth/data/label_source.h"
#include "hearth/functions.h"
#include "hearth/plugin.h"

namespace {

using hearth::FormatError;
using hearth::Tensor;
namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& file, const std::string& field, const std::string& msg) {
  throw FormatError("IDX file '" + file + "', field " + field + ": " + msg);
}

struct IdxType {
  hearth::ScalarType dtype;
  const char* name;
};
bool idx_type(uint8_t code, IdxType* out) {
  switch (code) {
    case 0x08: *out = {hearth::kUInt8, "ubyte"}; return true;
    case 0x09: *out = {hearth::kInt8, "byte"}; return true;
    case 0x0B: *out = {hearth::kInt16, "short"}; return true;
    case 0x0C: *out = {hearth::kInt32, "int"}; return true;
    case 0x0D: *out = {hearth::kFloat32, "float"}; return true;
    case 0x0E: *out = {hearth::kFloat64, "double"}; return true;
    default: return false;
  }
}

struct GzCloser {
  void operator()(gzFile f) const { if (f) gzclose(f); }
};
using GzPtr = std::unique_ptr<std::remove_pointer_t<gzFile>, GzCloser>;

/// Reads exactly n bytes, or throws naming the field (short read = truncated file).
void read_exact(gzFile f, void* dst, uint64_t n, const std::string& file, const char* field) {
  auto* p = static_cast<unsigned char*>(dst);
  while (n > 0) {
    const unsigned chunk = static_cast<unsigned>(std::min<uint64_t>(n, 1u << 30));
    const int got = gzread(f, p, chunk);
    if (got <= 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      fail(file, field, std::string("truncated or corrupt (") +
                            (errnum != Z_OK && msg && *msg ? msg : "unexpected end of file") + ", " +
                            std::to_string(n) + " bytes missing)");
    }
    p += got;
    n -= static_cast<uint64_t>(got);
  }
}

uint32_t be32(const unsigned char* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

/// The whole IDX file as a tensor of its dims and element type.
Tensor read_idx(const std::string& file) {
  // File size, gzip magic and (for gzip) the ISIZE trailer: known before any allocation.
  std::FILE* raw = std::fopen(file.c_str(), "rb");
  if (!raw) fail(file, "file", "cannot open");
  unsigned char head[2] = {0, 0}, trailer[4] = {0, 0, 0, 0};
  std::fseek(raw, 0, SEEK_END);
  const long fsize = std::ftell(raw);
  std::fseek(raw, 0, SEEK_SET);
  const size_t nhead = std::fread(head, 1, 2, raw);
  const bool gzip = nhead == 2 && head[0] == 0x1f && head[1] == 0x8b;
  if (gzip) {
    if (fsize < 18) { std::fclose(raw); fail(file, "gzip", "truncated gzip stream (" + std::to_string(fsize) + " bytes)"); }
    std::fseek(raw, fsize - 4, SEEK_SET);
    if (std::fread(trailer, 1, 4, raw) != 4) { std::fclose(raw); fail(file, "gzip", "cannot read the trailer"); }
  }
  std::fclose(raw);

  GzPtr f(gzopen(file.c_str(), "rb"));
  if (!f) fail(file, "file", "cannot open");
  gzbuffer(f.get(), 1u << 20);
  unsigned char magic[4];
  read_exact(f.get(), magic, 4, file, "magic");
  if (magic[0] != 0 || magic[1] != 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "bad magic %02x %02x %02x %02x (expected 00 00 TYPE NDIM)", magic[0], magic[1],
                  magic[2], magic[3]);
    fail(file, "magic", buf);
  }
  IdxType type;
  if (!idx_type(magic[2], &type)) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "unsupported type code 0x%02x (supported: 08 09 0B 0C 0D 0E)", magic[2]);
    fail(file, "type", buf);
  }
  const int ndim = magic[3];
  if (ndim < 1 || ndim > 4) fail(file, "ndim", std::to_string(ndim) + " dimensions (supported: 1 to 4)");
  unsigned char dimbuf[16];
  read_exact(f.get(), dimbuf, 4 * static_cast<uint64_t>(ndim), file, "dims");
  hearth::DimVector sizes;
  const uint64_t esize = hearth::element_size(type.dtype);
  uint64_t payload = esize, strided = esize;
  for (int d = 0; d < ndim; ++d) {
    const uint32_t n = be32(dimbuf + 4 * d);
    sizes.push_back(static_cast<int64_t>(n));
    // Dims are < 2^32 each; stop before the product overflows 2^62. Zero dims count as 1 here:
    // [0, 2^32-1, 2^32-1] holds no element, but its strides would still overflow (issue 16).
    const uint64_t m = n == 0 ? 1 : n;
    if (strided > (uint64_t{1} << 62) / m) fail(file, "dims", "element count overflows");
    strided *= m;
    payload *= n;
  }
  const uint64_t total = 4 + 4 * static_cast<uint64_t>(ndim) + payload;
  if (!gzip) {
    if (total > static_cast<uint64_t>(fsize))
      fail(file, "dims", "header counts " + std::to_string(total) + " bytes but the file has " + std::to_string(fsize));
    if (total < static_cast<uint64_t>(fsize))
      fail(file, "dims", "header counts " + std::to_string(total) + " bytes but the file has " +
                             std::to_string(fsize) + " (trailing data)");
  } else {
    const uint32_t isize = uint32_t{trailer[0]} | (uint32_t{trailer[1]} << 8) | (uint32_t{trailer[2]} << 16) |
                           (uint32_t{trailer[3]} << 24);
    if (isize != static_cast<uint32_t>(total))
      fail(file, "dims", "header counts " + std::to_string(total) + " bytes but the gzip trailer says " +
                             std::to_string(isize) + " (wrong counts or truncated gzip)");
    // A gzip stream compresses at most ~1032:1; a smaller file cannot hold the counted bytes.
    if (total / 1032 > static_cast<uint64_t>(fsize))
      fail(file, "dims", "header counts " + std::to_string(total) + " bytes, more than a " + std::to_string(fsize) +
                             "-byte gzip file can hold");
  }

  Tensor t = hearth::empty(sizes, hearth::TensorOptions(type.dtype));
  read_exact(f.get(), t.data_ptr(), payload, file, "data");
  if (gzip) {
    unsigned char extra;
    if (gzread(f.get(), &extra, 1) != 0) fail(file, "data", "data after the counted elements");
    int errnum = 0;
    const char* msg = gzerror(f.get(), &errnum);
    if (errnum != Z_OK) fail(file, "gzip", std::string("corrupt stream: ") + (msg ? msg : "?"));
  }
  // IDX is big-endian; swap multi-byte elements in place.
  if (esize > 1) {
    auto* p = static_cast<unsigned char*>(t.data_ptr());
    const uint64_t n = payload / esize;
    for (uint64_t i = 0; i < n; ++i, p += esize)
      for (uint64_t a = 0, b = esize - 1; a < b; ++a, --b) std::swap(p[a], p[b]);
  }
  return t;
}

/// DIR/NAME if it exists, else DIR/NAME.gz.
std::string find_file(const std::string& dir, const std::string& name) {
  for (const std::string& cand : {dir + "/" + name, dir + "/" + name + ".gz"})
    if (fs::is_regular_file(cand)) return cand;
  throw hearth::ValueError("IDX dataset: neither " + name + " nor " + name + ".gz in '" + dir + "'");
}

/// An IDX split in memory that also says which file its labels came from (for the trainer's
/// label check).
class IdxDataset final : public hearth::data::TensorDataset, public hearth::data::LabelSource {
 public:
  IdxDataset(Tensor images, Tensor labels, std::string labels_file)
      : TensorDataset(std::move(images), std::move(labels)), labels_file_(std::move(labels_file)) {}
  std::string labels_origin() const override { return "IDX file '" + labels_file_ + "'"; }
  Tensor labels(size_t n) const override { return targets().narrow(0, 0, static_cast<int64_t>(n)); }

 private:
  std::string labels_file_;
};

std::shared_ptr<hearth::data::Dataset> open_idx_dir(const std::string& dir, bool train) {
  HEARTH_CHECK(!dir.empty(), ValueError, "idx dataset: spec needs a folder (idx:DIR)");
  std::error_code ec;
  HEARTH_CHECK(fs::exists(dir, ec), ValueError, "idx dataset: no such folder '", dir, "'");
  HEARTH_CHECK(fs::is_directory(dir, ec), ValueError, "idx dataset: '", dir,
               "' is a file, not a folder (idx:DIR names the folder that holds train-images-idx3-ubyte[.gz] and "
               "the other IDX files)");
  const std::string prefix = train ? "train" : "t10k";
  const std::string img_file = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::string lbl_file = find_file(dir, prefix + "-labels-idx1-ubyte");
  Tensor images = read_idx(img_file);
  Tensor labels = read_idx(lbl_file);
  if (images.dim() < 3) fail(img_file, "ndim", std::to_string(images.dim()) + " dims (images need N×H×W or N×C×H×W)");
  if (labels.dim() != 1) fail(lbl_file, "ndim", std::to_string(labels.dim()) + " dims (labels need N)");
  if (hearth::is_floating_point(labels.dtype())) fail(lbl_file, "type", "labels must be integers");
  if (images.size(0) != labels.size(0))
    fail(lbl_file, "count", std::to_string(labels.size(0)) + " labels but '" + img_file + "' has " +
                                std::to_string(images.size(0)) + " images");
  // N×H×W → N×1×H×W: one channel, as the models expect.
  if (images.dim() == 3) images = images.unsqueeze(1);
  return std::make_shared<IdxDataset>(images, labels.to(hearth::kInt64), lbl_file);
}

std::shared_ptr<hearth::data::Dataset> idx_factory(const std::string& arg, bool train) {
  return open_idx_dir(arg, train);
}

std::shared_ptr<hearth::data::Dataset> fashion_mnist_factory(const std::string& arg, bool train) {
  std::string dir = arg;
  if (dir.empty()) {
    if (const char* env = std::getenv("HEARTH_DATA"); env && *env) {
      dir = env;
      if (fs::is_directory(dir + "/fashion-mnist")) dir += "/fashion-mnist";
    } else {
      dir = "/usr/share/datasets/fashion-mnist";  // Debian's dataset-fashion-mnist
    }
  }
  std::error_code ec;
  HEARTH_CHECK(fs::is_directory(dir, ec), ValueError, "fashion-mnist dataset: no such folder '", dir,
               "' (install Debian's dataset-fashion-mnist, set $HEARTH_DATA, or use --dataset idx:DIR)");
  return open_idx_dir(dir, train);
}

void register_idx(hearth::PluginRegistrar& r) {
  hearth::data::DatasetFactory idx = &idx_factory, fm = &fashion_mnist_factory;
  r.component("dataset", "idx", reinterpret_cast<const void*>(idx));
  r.component("dataset", "fashion-mnist", reinterpret_cast<const void*>(fm));
}

}  // namespace

HEARTH_PLUGIN("hearth-idx", "0.1.0", register_idx)
