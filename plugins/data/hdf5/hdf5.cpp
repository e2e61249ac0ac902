// hearth-hdf5: images and labels from HDF5 datasets by key (C API), read lazily per worker thread
// with runs of consecutive indices as one hyperslab; registers the "hdf5" dataset (SEED C2) and,
// from state_dict.cpp, the "hdf5" state-dict file format.
#include <hdf5.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "hearth/data.h"
#include "hearth/data/label_source.h"
#include "hearth/functions.h"
#include "hearth/plugin.h"
#include "h5_util.h"
#include "isolate.h"

namespace hearth_hdf5 {
void register_state_dict_format(hearth::PluginRegistrar& r);
}

namespace {

using namespace hearth_hdf5;
using hearth::FormatError;
using hearth::Tensor;
using hearth::data::Example;
namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& file, const std::string& field, const std::string& msg) {
  throw FormatError("HDF5 file '" + file + "', field " + field + ": " + msg);
}

/// Up to 12 member names of group `g`, for "missing key" messages.
std::string members(hid_t g) {
  H5G_info_t info;
  if (H5Gget_info(g, &info) < 0) return "?";
  std::string out;
  for (hsize_t i = 0; i < info.nlinks && i < 12; ++i) {
    char name[256] = {0};
    if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0) continue;
    out += (out.empty() ? "" : ", ") + std::string(name);
  }
  if (info.nlinks > 12) out += ", ...";
  return out.empty() ? "nothing" : out;
}

/// One dataset's shape and element type, checked (the caller holds the H5Lock).
struct Field {
  std::string key;
  std::vector<hsize_t> dims;
  hearth::ScalarType dtype = hearth::kUInt8;
};

/// Opens `key` (a path like "train/images") in `file_id` as a dataset, or fails naming it.
Hid open_dataset(hid_t file_id, const std::string& file, const std::string& key) {
  // Walk the path one component at a time: H5Lexists fails on a missing intermediate group.
  std::string prefix;
  size_t pos = 0;
  while (pos <= key.size()) {
    const size_t slash = key.find('/', pos);
    const std::string part = key.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    pos = slash == std::string::npos ? key.size() + 1 : slash + 1;
    if (part.empty()) continue;
    const std::string parent = prefix.empty() ? "/" : prefix;
    prefix += (prefix.empty() ? "" : "/") + part;
    if (H5Lexists(file_id, prefix.c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      Hid g(H5Oopen(file_id, parent.c_str(), H5P_DEFAULT), H5Oclose);
      fail(file, key, "missing key: no '" + part + "' in '" + parent + "' (it has: " +
                          (g.ok() ? members(g.get()) : std::string("?")) + ")");
    }
  }
  if (prefix.empty()) fail(file, key, "empty key");
  Hid obj(H5Oopen(file_id, key.c_str(), H5P_DEFAULT), H5Oclose);
  if (!obj.ok()) fail(file, key, "cannot open: " + h5_error());
  if (H5Iget_type(obj.get()) != H5I_DATASET) fail(file, key, "is a group or named type, not a dataset");
  Hid d(H5Dopen2(file_id, key.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.ok()) fail(file, key, "cannot open the dataset: " + h5_error());
  return d;
}

/// Shape and element type of `key`; `images` selects the image rules (rank 3 or 4, uint8 or
/// float32) over the label rules (rank 1, any integer type, read as int64).
Field inspect(hid_t file_id, const std::string& file, const std::string& key, bool images) {
  Field f;
  f.key = key;
  Hid d = open_dataset(file_id, file, key);
  Hid space(H5Dget_space(d.get()), H5Sclose);
  if (!space.ok()) fail(file, key, "cannot read the dataspace: " + h5_error());
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail(file, key, "cannot read the dataspace: " + h5_error());
  f.dims.resize(static_cast<size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(space.get(), f.dims.data(), nullptr) < 0)
    fail(file, key, "cannot read the dims: " + h5_error());
  if (images && rank != 3 && rank != 4)
    fail(file, key, "wrong rank: " + std::to_string(rank) + " dims (" + dims_str(f.dims) +
                        "); images need N×H×W or N×C×H×W");
  if (!images && rank != 1)
    fail(file, key, "wrong rank: " + std::to_string(rank) + " dims (" + dims_str(f.dims) + "); labels need N");

  Hid type(H5Dget_type(d.get()), H5Tclose);
  if (!type.ok()) fail(file, key, "cannot read the element type: " + h5_error());
  const H5T_class_t cls = H5Tget_class(type.get());
  const size_t size = H5Tget_size(type.get());
  const bool is_unsigned = cls == H5T_INTEGER && H5Tget_sign(type.get()) == H5T_SGN_NONE;
  auto type_name = [&]() -> std::string {
    switch (cls) {
      case H5T_INTEGER: return (is_unsigned ? "uint" : "int") + std::to_string(size * 8);
      case H5T_FLOAT: return "float" + std::to_string(size * 8);
      case H5T_STRING: return "string";
      case H5T_COMPOUND: return "compound";
      case H5T_ENUM: return "enum";
      case H5T_ARRAY: return "array";
      default: return "class " + std::to_string(static_cast<int>(cls));
    }
  };
  if (images) {
    if (cls == H5T_INTEGER && size == 1 && is_unsigned) f.dtype = hearth::kUInt8;
    else if (cls == H5T_FLOAT && size == 4) f.dtype = hearth::kFloat32;
    else fail(file, key, "unsupported element type " + type_name() + " (images: uint8 or float32)");
  } else {
    if (cls != H5T_INTEGER) fail(file, key, "unsupported element type " + type_name() + " (labels: integers)");
    f.dtype = hearth::kInt64;
  }
  // Per-sample size: no overflow in element counts or bytes (a sample is allocated per read).
  uint64_t per = hearth::element_size(f.dtype);
  for (size_t i = 1; i < f.dims.size(); ++i) {
    if (f.dims[i] != 0 && per > (uint64_t{1} << 40) / f.dims[i])
      fail(file, key, "a sample of " + dims_str(f.dims) + " is too large");
    per *= f.dims[i];
  }
  if (f.dims[0] > (uint64_t{1} << 62)) fail(file, key, "count " + std::to_string(f.dims[0]) + " too large");
  return f;
}

/// Bytes read at a time when a dataset is read through at load.
constexpr uint64_t kSlab = uint64_t{64} << 20;

/// Checks that `d` stores what its shape declares, then reads all of it in slabs (into a scratch
/// buffer that is dropped): a file libhdf5 cannot read whole fails here, at load, not in a worker.
void read_through(hid_t d, const Field& f, const std::string& file, uint64_t file_size) {
  // Sizes in the file's element type (labels may be stored narrower than the int64 they become).
  Hid ftype(H5Dget_type(d), H5Tclose);
  const uint64_t fsz = ftype.ok() ? H5Tget_size(ftype.get()) : 0;
  if (fsz == 0) fail(file, f.key, "cannot read the element type: " + h5_error());
  const uint64_t esz = f.dtype == hearth::kUInt8 ? 1 : f.dtype == hearth::kFloat32 ? 4 : 8;
  uint64_t row = 1;
  for (size_t i = 1; i < f.dims.size(); ++i) row *= f.dims[i];  // inspect() bounded a sample's size
  const uint64_t per = row * esz;
  if (f.dims[0] != 0 && row * std::max(esz, fsz) > ~uint64_t{0} / 2 / f.dims[0])
    fail(file, f.key, "too large: " + dims_str(f.dims));
  if (const std::string why = storage_problem(d, row * fsz * f.dims[0], file_size); !why.empty())
    fail(file, f.key, why);
  if (f.dims[0] == 0 || per == 0) return;
  const hid_t mem_type = f.dtype == hearth::kUInt8 ? H5T_NATIVE_UINT8 : f.dtype == hearth::kFloat32 ? H5T_NATIVE_FLOAT
                                                                                                     : H5T_NATIVE_INT64;
  const uint64_t rows_per = std::max<uint64_t>(1, kSlab / per);
  std::vector<unsigned char> buf(static_cast<size_t>(std::min<uint64_t>(rows_per, f.dims[0]) * per));
  Hid fspace(H5Dget_space(d), H5Sclose);
  if (!fspace.ok()) fail(file, f.key, "cannot read the dataspace: " + h5_error());
  std::vector<hsize_t> start(f.dims.size(), 0), count(f.dims);
  for (uint64_t r = 0; r < f.dims[0]; r += rows_per) {
    start[0] = r;
    count[0] = std::min<uint64_t>(rows_per, f.dims[0] - r);
    if (H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr) < 0)
      fail(file, f.key, "cannot select rows: " + h5_error());
    Hid mspace(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), H5Sclose);
    if (!mspace.ok() || H5Dread(d, mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, buf.data()) < 0)
      fail(file, f.key, "rows " + std::to_string(r) + ".." + std::to_string(r + count[0] - 1) +
                            " cannot be read (corrupt or truncated data?): " + h5_error());
  }
}

struct Keys {
  std::string train_images = "train/images", train_labels = "train/labels";
  std::string test_images = "test/images", test_labels = "test/labels";
};

/// "FILE" or "FILE?train_images=K&train_labels=K&test_images=K&test_labels=K".
std::pair<std::string, Keys> parse_spec(const std::string& arg) {
  const size_t q = arg.find('?');
  std::pair<std::string, Keys> out{arg.substr(0, q), Keys{}};
  HEARTH_CHECK(!out.first.empty(), ValueError, "hdf5 dataset: spec needs a file (hdf5:FILE[?train_images=K&...])");
  if (q == std::string::npos) return out;
  const std::string query = arg.substr(q + 1);
  size_t pos = 0;
  while (pos <= query.size()) {
    const size_t amp = std::min(query.find('&', pos), query.size());
    const std::string kv = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (kv.empty()) continue;
    const size_t eq = kv.find('=');
    const std::string k = kv.substr(0, eq), v = eq == std::string::npos ? "" : kv.substr(eq + 1);
    HEARTH_CHECK(!v.empty(), ValueError, "hdf5 dataset: '", kv, "' in spec 'hdf5:", arg, "' needs a key (", k, "=KEY)");
    Keys& K = out.second;
    if (k == "train_images") K.train_images = v;
    else if (k == "train_labels") K.train_labels = v;
    else if (k == "test_images") K.test_images = v;
    else if (k == "test_labels") K.test_labels = v;
    else HEARTH_CHECK(false, ValueError, "hdf5 dataset: unknown option '", k, "' in spec 'hdf5:", arg,
                      "' (known: train_images, train_labels, test_images, test_labels)");
  }
  return out;
}

/// Opens `file` read-only, or fails: not HDF5, truncated or otherwise unreadable.
Hid open_file(const std::string& file) {
  const htri_t is = H5Fis_hdf5(file.c_str());
  if (is == 0) fail(file, "file", "not an HDF5 file (no HDF5 signature; truncated or another format)");
  if (is < 0) fail(file, "file", "cannot read (" + h5_error() + ")");
  // No data sieve: a shuffled batch reads scattered rows, and HDF5's default 64 KiB sieve would
  // read 64 KiB for each (a 784-byte image): 2.5× slower. Runs of rows are read directly anyway.
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl.ok() || H5Pset_sieve_buf_size(fapl.get(), 0) < 0) fail(file, "file", "cannot set up access: " + h5_error());
  Hid f(H5Fopen(file.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  if (!f.ok()) fail(file, "file", "cannot open as HDF5, truncated or corrupt (" + h5_error() + ")");
  return f;
}

class Hdf5Dataset;

/// A thread's record of the datasets it opened handles for; on thread exit it closes them, so a
/// worker's handles live exactly as long as the worker (SEED C2).
struct ThreadSlot {
  std::vector<std::weak_ptr<const Hdf5Dataset>> used;
  ~ThreadSlot();
};
thread_local ThreadSlot t_slot;

/// The images and labels of one split. Each thread that reads opens the file on first use and
/// keeps its handles (SEED C2): nothing is open before the readers start, so no reader ever
/// inherits another's open file (h5py's trap with forked workers).
class Hdf5Dataset : public hearth::data::Dataset,
                    public hearth::data::LabelSource,
                    public std::enable_shared_from_this<Hdf5Dataset> {
 public:
  Hdf5Dataset(std::string file, Field images, Field labels)
      : file_(std::move(file)), images_(std::move(images)), labels_(std::move(labels)) {
    if (images_.dims.size() == 3) sample_sizes_.push_back(1);  // N×H×W → N×1×H×W, as for IDX
    for (size_t i = 1; i < images_.dims.size(); ++i) sample_sizes_.push_back(static_cast<int64_t>(images_.dims[i]));
  }
  ~Hdf5Dataset() override {
    H5Lock lock;
    for (auto& [slot, h] : open_) close(h);
  }

  size_t size() const override { return static_cast<size_t>(images_.dims[0]); }

  std::string labels_origin() const override { return "HDF5 file '" + file_ + "', dataset '" + labels_.key + "'"; }
  Tensor labels(size_t n) const override {
    n = std::min<size_t>(n, size());
    Tensor out = hearth::empty({static_cast<int64_t>(n)}, hearth::TensorOptions(hearth::kInt64));
    if (n == 0) return out;
    std::vector<int64_t> rows(n);
    for (size_t i = 0; i < n; ++i) rows[i] = static_cast<int64_t>(i);
    H5Lock lock;
    read(handles().labels, labels_, H5T_NATIVE_INT64, rows, out.data_ptr());  // labels only, one hyperslab
    return out;
  }

  Example get(size_t index) const override { return std::move(get_batch({static_cast<int64_t>(index)})[0]); }

  std::vector<Example> get_batch(const std::vector<int64_t>& indices, std::stop_token stop = {}) const override {
    for (int64_t i : indices)
      HEARTH_CHECK(i >= 0 && static_cast<uint64_t>(i) < images_.dims[0], IndexError, "hdf5 dataset '", file_,
                   "': index ", i, " out of range for size ", images_.dims[0]);
    // Read the distinct indices in ascending order; runs of consecutive ones are one hyperslab
    // each, and all of them go in one H5Dread per dataset.
    std::vector<int64_t> rows(indices);
    std::sort(rows.begin(), rows.end());
    rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
    hearth::DimVector isz;
    isz.push_back(static_cast<int64_t>(rows.size()));
    for (int64_t d : sample_sizes_) isz.push_back(d);
    Tensor images = hearth::empty(isz, hearth::TensorOptions(images_.dtype));
    Tensor labels = hearth::empty({static_cast<int64_t>(rows.size())}, hearth::TensorOptions(hearth::kInt64));
    if (!rows.empty()) {
      H5Lock lock;
      const Handles& h = handles();
      read(h.images, images_, images_.dtype == hearth::kUInt8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT, rows,
           images.data_ptr());
      read(h.labels, labels_, H5T_NATIVE_INT64, rows, labels.data_ptr());
    }
    std::vector<Example> out;
    out.reserve(indices.size());
    for (int64_t i : indices) {
      const int64_t r = std::lower_bound(rows.begin(), rows.end(), i) - rows.begin();
      out.push_back({images.select(0, r), labels.select(0, r)});
    }
    return out;
  }

 private:
  friend struct ThreadSlot;
  struct Handles {
    hid_t file = -1, images = -1, labels = -1;
  };
  static void close(Handles& h) {
    if (h.images >= 0) H5Dclose(h.images);
    if (h.labels >= 0) H5Dclose(h.labels);
    if (h.file >= 0) H5Fclose(h.file);
    h = Handles{};
  }

  /// This thread's handles, opened on first use (caller holds the H5Lock).
  const Handles& handles() const {
    if (auto it = open_.find(&t_slot); it != open_.end()) return it->second;
    // The file was valid at load; it may have changed since, so failures are still FormatErrors.
    Hid f = open_file(file_);
    Hid im = open_dataset(f.get(), file_, images_.key);
    Hid lb = open_dataset(f.get(), file_, labels_.key);
    t_slot.used.push_back(weak_from_this());
    // Into the map only once all three are open (a failure above closes what was opened).
    Handles& h = open_[&t_slot];
    h.file = f.release();
    h.images = im.release();
    h.labels = lb.release();
    return h;
  }

  /// Reads the samples `rows` (sorted, distinct) of dataset `d` into dst as `mem_type`.
  void read(hid_t d, const Field& f, hid_t mem_type, const std::vector<int64_t>& rows, void* dst) const {
    const size_t rank = f.dims.size();
    Hid fspace(H5Dget_space(d), H5Sclose);
    if (!fspace.ok()) fail(file_, f.key, "cannot read the dataspace: " + h5_error());
    // The file may have changed since load: check the shape again (cheap) before reading.
    std::vector<hsize_t> now(rank);
    if (H5Sget_simple_extent_ndims(fspace.get()) != static_cast<int>(rank) ||
        H5Sget_simple_extent_dims(fspace.get(), now.data(), nullptr) < 0 || now != f.dims)
      fail(file_, f.key, "the dataset changed since it was opened (was " + dims_str(f.dims) + ")");
    std::vector<hsize_t> start(rank, 0), count(f.dims);
    size_t k = 0;
    bool first = true;
    while (k < rows.size()) {
      size_t e = k + 1;
      while (e < rows.size() && rows[e] == rows[e - 1] + 1) ++e;
      start[0] = static_cast<hsize_t>(rows[k]);
      count[0] = static_cast<hsize_t>(e - k);
      if (H5Sselect_hyperslab(fspace.get(), first ? H5S_SELECT_SET : H5S_SELECT_OR, start.data(), nullptr,
                              count.data(), nullptr) < 0)
        fail(file_, f.key, "cannot select samples " + std::to_string(rows[k]) + ".." + std::to_string(rows[e - 1]) +
                               ": " + h5_error());
      first = false;
      k = e;
    }
    std::vector<hsize_t> mdims(f.dims);
    mdims[0] = rows.size();
    Hid mspace(H5Screate_simple(static_cast<int>(rank), mdims.data(), nullptr), H5Sclose);
    if (!mspace.ok()) fail(file_, f.key, "cannot make the memory dataspace: " + h5_error());
    if (H5Dread(d, mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, dst) < 0)
      fail(file_, f.key, "read of " + std::to_string(rows.size()) + " samples from " + std::to_string(rows.front()) +
                             " failed (corrupt or truncated data?): " + h5_error());
  }

  std::string file_;
  Field images_, labels_;
  hearth::DimVector sample_sizes_;
  // Handles per reading thread, under the HDF5 mutex. Keyed by the thread's slot, which removes
  // its entries when the thread ends.
  mutable std::map<const ThreadSlot*, Handles> open_;
};

ThreadSlot::~ThreadSlot() {
  // Datasets still alive: close this thread's handles. The shared_ptrs are released after the
  // lock, since the last one runs ~Hdf5Dataset, which takes the lock itself.
  std::vector<std::shared_ptr<const Hdf5Dataset>> alive;
  {
    H5Lock lock;
    for (auto& w : used) {
      auto ds = w.lock();
      if (!ds) continue;  // destroyed: its destructor closed every thread's handles
      if (auto it = ds->open_.find(this); it != ds->open_.end()) {
        Hdf5Dataset::close(it->second);
        ds->open_.erase(it);
      }
      alive.push_back(std::move(ds));
    }
  }
}

std::shared_ptr<hearth::data::Dataset> hdf5_factory(const std::string& arg, bool train) {
  // Named variables, not a structured binding: the lambdas below capture them (clang-14 refuses).
  const auto spec = parse_spec(arg);
  const std::string& file = spec.first;
  const Keys& keys = spec.second;
  std::error_code ec;
  HEARTH_CHECK(fs::exists(file, ec), ValueError, "hdf5 dataset: no such file '", file, "'");
  // libhdf5 would answer a folder with its own error stack ("unable to open file"): say it plainly.
  HEARTH_CHECK(!fs::is_directory(file, ec), ValueError, "hdf5 dataset: '", file,
               "' is a folder, not an HDF5 file (for a folder of IDX files use idx:", file, ")");
  HEARTH_CHECK(fs::is_regular_file(file, ec), ValueError, "hdf5 dataset: '", file, "' is not a regular file");
  const std::string& ik = train ? keys.train_images : keys.test_images;
  const std::string& lk = train ? keys.train_labels : keys.test_labels;
  Field images, labels;
  const uint64_t file_size = fs::file_size(file);
  // Shapes, types and storage checked, then every byte of both datasets read once, in a child
  // process when isolation is on (isolate.h): libhdf5 crashes or hangs on some hostile files, and
  // a file it reads through whole there is one the workers' batch reads can trust. Nothing is
  // allocated here for the data until a batch is read.
  auto check = [&]() -> std::string {
    Hid f = open_file(file);
    Field fi = inspect(f.get(), file, ik, true), fl = inspect(f.get(), file, lk, false);
    for (const Field* fd : {&fi, &fl}) {
      Hid d = open_dataset(f.get(), file, fd->key);
      read_through(d.get(), *fd, file, file_size);
    }
    ManifestWriter m;
    for (const Field* fd : {&fi, &fl}) {
      m.u64(static_cast<uint64_t>(fd->dtype));
      m.u64(fd->dims.size());
      for (hsize_t v : fd->dims) m.u64(v);
    }
    return m.bytes();
  };
  {
    H5Lock lock;
    std::string manifest;
    if (isolation_enabled()) {
      // The child reads in slabs of at most kSlab bytes: that, not the file, bounds its memory.
      manifest = run_isolated(file, file_size, 2 * kSlab, [&](ChildIO& io) { io.manifest(check()); }).manifest;
    } else {
      manifest = check();
    }
    ManifestReader m(manifest);
    for (auto [fd, key] : {std::pair{&images, ik}, std::pair{&labels, lk}}) {
      fd->key = key;
      fd->dtype = static_cast<hearth::ScalarType>(m.u64());
      const uint64_t rank = m.u64();
      HEARTH_CHECK(rank <= 4, FormatError, "hdf5 dataset: bad reader manifest");
      for (uint64_t i = 0; i < rank; ++i) fd->dims.push_back(m.u64());
    }
  }
  if (images.dims[0] != labels.dims[0])
    fail(file, lk, std::to_string(labels.dims[0]) + " labels but '" + ik + "' has " + std::to_string(images.dims[0]) +
                       " images");
  return std::make_shared<Hdf5Dataset>(file, std::move(images), std::move(labels));
}

void register_hdf5(hearth::PluginRegistrar& r) {
  hearth::data::DatasetFactory f = &hdf5_factory;
  r.component("dataset", "hdf5", reinterpret_cast<const void*>(f));
  hearth_hdf5::register_state_dict_format(r);  // state_dict.cpp: HDF5 state dicts and checkpoints
}

}  // namespace

HEARTH_PLUGIN("hearth-hdf5", "0.1.0", register_hdf5)
