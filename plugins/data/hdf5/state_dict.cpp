// hearth-hdf5's state-dict file format ("state_dict_format:hdf5"): one dataset per key named by the
// flat dotted key, as h5py users expect; bfloat16 and bool stored as uint16 / uint8 with a `dtype`
// attribute; metadata as string attributes of the root group. Validated before allocating.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "h5_util.h"
#include "isolate.h"
#include "hearth/checkpoint.h"
#include "hearth/functions.h"
#include "hearth/plugin.h"

namespace hearth_hdf5 {
namespace {

using hearth::FormatError;
using hearth::ScalarType;

constexpr const char* kDtypeAttr = "dtype";

[[noreturn]] void fail(const std::string& file, const std::string& field, const std::string& msg) {
  throw FormatError("HDF5 file '" + file + "': field '" + field + "': " + msg);
}

/// IEEE half, little-endian: HDF5 1.10 has no predefined one (h5py builds the same type).
hid_t half_type() {
  static hid_t t = [] {
    hid_t h = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(h, 15, 10, 5, 0, 10);
    H5Tset_size(h, 2);
    H5Tset_ebias(h, 15);
    H5Tlock(h);  // a process-lifetime type: H5Tclose would refuse it anyway
    return h;
  }();
  return t;
}

/// Whether a dtype can be stored (checked before taking the HDF5 lock: no HDF5 call here).
bool has_file_type(ScalarType t) {
  switch (t) {
    case hearth::kFloat32: case hearth::kFloat64: case hearth::kFloat16: case hearth::kBFloat16:
    case hearth::kInt64: case hearth::kInt32: case hearth::kInt16: case hearth::kInt8: case hearth::kUInt8:
    case hearth::kBool: return true;
    default: return false;
  }
}

/// The HDF5 type in the file and in memory (native order) for a dtype. Callers hold the H5Lock
/// (the half type is created on first use).
hid_t file_type(ScalarType t) {
  switch (t) {
    case hearth::kFloat32: return H5T_IEEE_F32LE;
    case hearth::kFloat64: return H5T_IEEE_F64LE;
    case hearth::kFloat16: return half_type();
    case hearth::kBFloat16: return H5T_STD_U16LE;
    case hearth::kInt64: return H5T_STD_I64LE;
    case hearth::kInt32: return H5T_STD_I32LE;
    case hearth::kInt16: return H5T_STD_I16LE;
    case hearth::kInt8: return H5T_STD_I8LE;
    case hearth::kUInt8: return H5T_STD_U8LE;
    case hearth::kBool: return H5T_STD_U8LE;
    default: return -1;
  }
}
hid_t mem_type(ScalarType t) {
  switch (t) {
    case hearth::kFloat32: return H5T_NATIVE_FLOAT;
    case hearth::kFloat64: return H5T_NATIVE_DOUBLE;
    case hearth::kFloat16: return half_type();  // x86 and arm64 hosts are little-endian
    case hearth::kBFloat16: return H5T_NATIVE_UINT16;
    case hearth::kInt64: return H5T_NATIVE_INT64;
    case hearth::kInt32: return H5T_NATIVE_INT32;
    case hearth::kInt16: return H5T_NATIVE_INT16;
    case hearth::kInt8: return H5T_NATIVE_INT8;
    case hearth::kUInt8: return H5T_NATIVE_UINT8;
    case hearth::kBool: return H5T_NATIVE_UINT8;
    default: return -1;
  }
}

void check(herr_t rc, const std::string& file, const std::string& field, const std::string& what) {
  if (rc < 0) fail(file, field, what + ": " + h5_error());
}

/// A variable-length UTF-8 string type (h5py reads such attributes as str).
Hid vlen_string_type() {
  Hid t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

void write_string_attr(hid_t obj, const std::string& name, const std::string& value, const std::string& file) {
  Hid type = vlen_string_type();
  Hid space(H5Screate(H5S_SCALAR), H5Sclose);
  Hid attr(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!attr.ok()) fail(file, name, "cannot create the attribute: " + h5_error());
  const char* p = value.c_str();
  check(H5Awrite(attr.get(), type.get(), &p), file, name, "cannot write the attribute");
}

/// A string attribute's value, or nullopt if the attribute is not a string.
std::optional<std::string> read_string_attr(hid_t attr, const std::string& file, const std::string& field) {
  Hid type(H5Aget_type(attr), H5Tclose);
  if (!type.ok() || H5Tget_class(type.get()) != H5T_STRING) return std::nullopt;
  Hid space(H5Aget_space(attr), H5Sclose);
  if (!space.ok() || H5Sget_simple_extent_npoints(space.get()) != 1)
    fail(file, field, "a string attribute must hold one string");
  if (H5Tis_variable_str(type.get()) > 0) {
    Hid mt = vlen_string_type();
    H5Tset_cset(mt.get(), H5Tget_cset(type.get()));
    char* p = nullptr;
    check(H5Aread(attr, mt.get(), &p), file, field, "cannot read the attribute");
    std::string out = p ? p : "";
    H5free_memory(p);
    return out;
  }
  const size_t n = H5Tget_size(type.get());
  if (n == 0 || n > (size_t{1} << 30)) fail(file, field, "string attribute of " + std::to_string(n) + " bytes");
  std::string out(n, '\0');
  Hid mt(H5Tcopy(type.get()), H5Tclose);
  check(H5Aread(attr, mt.get(), out.data()), file, field, "cannot read the attribute");
  out.resize(std::strlen(out.c_str()));  // fixed-length strings are NUL- or space-padded
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

struct Entry {
  hearth::TensorFileEntry info;
  std::string path;  ///< the dataset's path in the file ("/0.weight")
};

/// The dtype a dataset holds, from its element type and its `dtype` attribute. FormatError
/// ("wrong dtype") where they disagree or the type has no hearth dtype.
ScalarType dataset_dtype(hid_t d, const std::string& file, const std::string& key) {
  Hid type(H5Dget_type(d), H5Tclose);
  if (!type.ok()) fail(file, key, "cannot read the element type: " + h5_error());
  const H5T_class_t cls = H5Tget_class(type.get());
  const size_t size = H5Tget_size(type.get());
  const bool is_unsigned = cls == H5T_INTEGER && H5Tget_sign(type.get()) == H5T_SGN_NONE;
  std::string stored;
  ScalarType dt = hearth::kUInt8;
  bool known = true;
  if (cls == H5T_FLOAT) {
    stored = "float" + std::to_string(size * 8);
    if (size == 4) dt = hearth::kFloat32;
    else if (size == 8) dt = hearth::kFloat64;
    else if (size == 2) {
      size_t spos, epos, esize, mpos, msize;
      if (H5Tget_fields(type.get(), &spos, &epos, &esize, &mpos, &msize) < 0 || esize != 5 || msize != 10)
        fail(file, key, "wrong dtype: a 16-bit float that is not IEEE half (exponent " + std::to_string(esize) +
                            " bits, mantissa " + std::to_string(msize) + " bits)");
      dt = hearth::kFloat16;
    } else known = false;
  } else if (cls == H5T_INTEGER) {
    stored = (is_unsigned ? "uint" : "int") + std::to_string(size * 8);
    if (!is_unsigned && size == 8) dt = hearth::kInt64;
    else if (!is_unsigned && size == 4) dt = hearth::kInt32;
    else if (!is_unsigned && size == 2) dt = hearth::kInt16;
    else if (!is_unsigned && size == 1) dt = hearth::kInt8;
    else if (is_unsigned && size == 1) dt = hearth::kUInt8;
    else if (is_unsigned && size == 2) dt = hearth::kBFloat16;  // only with dtype="bfloat16", checked below
    else known = false;
  } else if (cls == H5T_ENUM && size == 1) {
    stored = "enum8";  // numpy bool as h5py writes it (FALSE = 0, TRUE = 1)
    dt = hearth::kBool;
  } else {
    stored = cls == H5T_STRING ? "string" : cls == H5T_COMPOUND ? "compound" : "class " + std::to_string(static_cast<int>(cls));
    known = false;
  }
  if (!known)
    fail(file, key, "wrong dtype: element type " + stored +
                        " has no hearth dtype (float16/32/64, int8/16/32/64, uint8; uint16 + dtype=bfloat16; uint8 + dtype=bool)");
  // The `dtype` attribute names what the bytes mean where HDF5 has no type for it.
  std::optional<std::string> attr;
  if (H5Aexists(d, kDtypeAttr) > 0) {
    Hid a(H5Aopen(d, kDtypeAttr, H5P_DEFAULT), H5Aclose);
    if (!a.ok()) fail(file, key + "." + kDtypeAttr, "cannot open the attribute: " + h5_error());
    attr = read_string_attr(a.get(), file, key + "." + kDtypeAttr);
    if (!attr) fail(file, key + "." + kDtypeAttr, "wrong dtype: the attribute is not a string");
  }
  if (dt == hearth::kBFloat16 && attr != "bfloat16")
    fail(file, key, "wrong dtype: uint16 data needs the attribute dtype=\"bfloat16\" (hearth has no uint16)");
  if (attr) {
    ScalarType want;
    try {
      want = hearth::dtype_from_name(*attr);
    } catch (const hearth::Error&) {
      fail(file, key + "." + kDtypeAttr, "wrong dtype: unknown dtype '" + *attr + "'");
    }
    const bool ok = want == dt || (want == hearth::kBool && (dt == hearth::kUInt8 || dt == hearth::kInt8));
    if (!ok)
      fail(file, key + "." + kDtypeAttr,
           "wrong dtype: attribute says " + *attr + " but the data is stored as " + stored);
    dt = want;
  }
  return dt;
}

class Hdf5DirectReader final : public hearth::TensorFileReader {
 public:
  explicit Hdf5DirectReader(const std::string& path) : path_(path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) fail(path, "file", std::string("cannot open: ") + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) fail(path, "file", "not a regular file");
    file_size_ = static_cast<uint64_t>(st.st_size);
    H5Lock lock;
    const htri_t is = H5Fis_hdf5(path.c_str());
    if (is == 0) fail(path, "file", "not an HDF5 file (no HDF5 signature; truncated or another format)");
    if (is < 0) fail(path, "file", "cannot read (" + h5_error() + ")");
    Hid f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!f.ok()) fail(path, "file", "cannot open as HDF5, truncated or corrupt (" + h5_error() + ")");
    file_ = std::move(f);
    try {
      read_metadata();
      walk("/", "");
    } catch (...) {
      file_.reset();  // closed here, under the lock (the member would be closed after it is released)
      throw;
    }
    for (const auto& e : entries_) infos_.push_back(e.info);
  }
  ~Hdf5DirectReader() override {
    H5Lock lock;
    file_.reset();
  }

  const std::vector<hearth::TensorFileEntry>& entries() const override { return infos_; }
  const std::map<std::string, std::string>& metadata() const override { return metadata_; }

  void read(size_t index, void* host_dst) override {
    HEARTH_CHECK(index < entries_.size(), IndexError, "HDF5 file '", path_, "': no tensor ", index);
    const Entry& e = entries_[index];
    if (e.info.nbytes == 0) return;
    H5Lock lock;
    Hid d(H5Dopen2(file_.get(), e.path.c_str(), H5P_DEFAULT), H5Dclose);
    if (!d.ok()) fail(path_, e.info.name, "cannot open the dataset: " + h5_error());
    hid_t mt = mem_type(e.info.dtype);
    Hid native;
    if (e.info.dtype == hearth::kBool) {  // an h5py enum bool reads in its own (1-byte) type
      Hid ft(H5Dget_type(d.get()), H5Tclose);
      if (H5Tget_class(ft.get()) == H5T_ENUM) {
        native = Hid(H5Tget_native_type(ft.get(), H5T_DIR_ASCEND), H5Tclose);
        mt = native.get();
      } else if (H5Tget_sign(ft.get()) == H5T_SGN_2) {
        mt = H5T_NATIVE_INT8;
      }
    }
    if (H5Dread(d.get(), mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, host_dst) < 0)
      fail(path_, e.info.name, "read failed (truncated or corrupt data?): " + h5_error());
    if (e.info.dtype == hearth::kBool) {  // hearth bools are 0 or 1
      auto* p = static_cast<unsigned char*>(host_dst);
      for (size_t i = 0; i < e.info.nbytes; ++i) p[i] = p[i] != 0;
    }
  }

 private:
  void read_metadata() {
    H5O_info_t oi;
    Hid root(H5Gopen2(file_.get(), "/", H5P_DEFAULT), H5Gclose);
    if (!root.ok() || H5Oget_info2(root.get(), &oi, H5O_INFO_NUM_ATTRS) < 0)
      fail(path_, "/", "cannot read the root group: " + h5_error());
    for (hsize_t i = 0; i < oi.num_attrs; ++i) {
      Hid a(H5Aopen_by_idx(root.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
      if (!a.ok()) fail(path_, "/", "cannot open root attribute " + std::to_string(i) + ": " + h5_error());
      const ssize_t n = H5Aget_name(a.get(), 0, nullptr);
      if (n < 0) fail(path_, "/", "cannot read an attribute name: " + h5_error());
      std::string name(static_cast<size_t>(n), '\0');
      H5Aget_name(a.get(), static_cast<size_t>(n) + 1, name.data());
      // Only string attributes are metadata; h5py users' numeric attributes are ignored.
      if (auto v = read_string_attr(a.get(), path_, "/." + name)) metadata_[name] = std::move(*v);
    }
  }

  /// Datasets of group `gpath` in creation order where the file tracks it (hearth's files do),
  /// else by name; groups recurse with their names joined by '.'.
  void walk(const std::string& gpath, const std::string& prefix) {
    if (++depth_ > 32) fail(path_, gpath, "groups nested more than 32 deep");
    Hid g(H5Gopen2(file_.get(), gpath.c_str(), H5P_DEFAULT), H5Gclose);
    if (!g.ok()) fail(path_, gpath, "cannot open the group: " + h5_error());
    H5G_info_t info;
    if (H5Gget_info(g.get(), &info) < 0) fail(path_, gpath, "cannot read the group: " + h5_error());
    if (info.nlinks > 10'000'000) fail(path_, gpath, std::to_string(info.nlinks) + " members is too many");
    H5_index_t index = H5_INDEX_CRT_ORDER;
    {
      Hid gcpl(H5Gget_create_plist(g.get()), H5Pclose);
      unsigned flags = 0;
      if (!gcpl.ok() || H5Pget_link_creation_order(gcpl.get(), &flags) < 0 || !(flags & H5P_CRT_ORDER_INDEXED))
        index = H5_INDEX_NAME;
    }
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      const ssize_t n = H5Lget_name_by_idx(g.get(), ".", index, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      if (n < 0) fail(path_, gpath, "cannot read member " + std::to_string(i) + ": " + h5_error());
      std::string name(static_cast<size_t>(n), '\0');
      H5Lget_name_by_idx(g.get(), ".", index, H5_ITER_INC, i, name.data(), static_cast<size_t>(n) + 1, H5P_DEFAULT);
      const std::string child = (gpath == "/" ? "/" : gpath + "/") + name;
      const std::string key = prefix + name;
      H5O_info_t oi;
      if (H5Oget_info_by_name2(file_.get(), child.c_str(), &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
        fail(path_, key, "cannot open (dangling link or corrupt file): " + h5_error());
      if (oi.type == H5O_TYPE_GROUP) walk(child, key + ".");
      else if (oi.type == H5O_TYPE_DATASET) add_dataset(child, key);
      // Named types are not tensors.
    }
    --depth_;
  }

  void add_dataset(const std::string& dpath, const std::string& key) {
    Hid d(H5Dopen2(file_.get(), dpath.c_str(), H5P_DEFAULT), H5Dclose);
    if (!d.ok()) fail(path_, key, "cannot open the dataset: " + h5_error());
    Entry e;
    e.path = dpath;
    e.info.name = key;
    e.info.dtype = dataset_dtype(d.get(), path_, key);
    Hid space(H5Dget_space(d.get()), H5Sclose);
    if (!space.ok()) fail(path_, key, "cannot read the dataspace: " + h5_error());
    const H5S_class_t sc = H5Sget_simple_extent_type(space.get());
    if (sc == H5S_NULL) fail(path_, key, "wrong shape: an empty (null) dataspace holds no tensor");
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0 || rank > 32) fail(path_, key, "wrong shape: rank " + std::to_string(rank));
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    if (rank > 0 && H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0)
      fail(path_, key, "cannot read the dims: " + h5_error());
    uint64_t numel = 1;
    for (hsize_t v : dims) {
      if (v > static_cast<hsize_t>(std::numeric_limits<int64_t>::max()))
        fail(path_, key, "wrong shape: dim " + std::to_string(v) + " too large");
      e.info.shape.push_back(static_cast<int64_t>(v));
    }
    for (hsize_t v : dims)
      if (v != 0 && numel > (uint64_t{1} << 62) / v)
        fail(path_, key, "wrong shape: " + dims_str(dims) + " has too many elements");
      else
        numel *= v;
    for (hsize_t v : dims)
      if (v == 0) numel = 0;
    const uint64_t esz = hearth::element_size(e.info.dtype);
    if (numel > (uint64_t{1} << 62) / esz) fail(path_, key, "wrong shape: " + dims_str(dims) + " is too large");
    e.info.nbytes = static_cast<size_t>(numel * esz);
    // The data must be stored, inside the file, and as large as it claims (compressed: within
    // kMaxCompressionRatio): checked before anything is allocated or read (issue 16).
    if (numel > 0)
      if (const std::string why = storage_problem(d.get(), e.info.nbytes, file_size_); !why.empty())
        fail(path_, key, why + " (" + dims_str(dims) + " tensor)");
    entries_.push_back(std::move(e));
  }

  std::string path_;
  uint64_t file_size_ = 0;
  Hid file_;
  std::vector<Entry> entries_;
  std::vector<hearth::TensorFileEntry> infos_;
  std::map<std::string, std::string> metadata_;
  int depth_ = 0;
};

/// The reader hearth uses: Hdf5DirectReader runs in a child process (isolate.h) and reads every
/// tensor into memory shared with this one; a libhdf5 crash or hang there is a FormatError here.
/// The file's declared sizes were validated against its storage before the child allocated them.
class Hdf5IsolatedReader final : public hearth::TensorFileReader {
 public:
  explicit Hdf5IsolatedReader(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) fail(path, "file", std::string("cannot open: ") + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) fail(path, "file", "not a regular file");
    const uint64_t file_size = static_cast<uint64_t>(st.st_size);
    // Data a file can back: its own size uncompressed, kMaxCompressionRatio times it compressed.
    const uint64_t budget = std::min<uint64_t>(file_size * kMaxCompressionRatio, uint64_t{1} << 40);
    IsolatedResult r;
    {
      H5Lock lock;
      r = run_isolated(path, file_size, budget, [&](ChildIO& io) {
        Hdf5DirectReader in(path);
        ManifestWriter m;
        uint64_t total = 0;
        m.u64(in.entries().size());
        for (const auto& e : in.entries()) {
          m.str(e.name);
          m.u64(static_cast<uint64_t>(e.dtype));
          m.u64(e.shape.size());
          for (int64_t d : e.shape) m.u64(static_cast<uint64_t>(d));
          m.u64(e.nbytes);
          m.u64(total);
          total += e.nbytes;
        }
        m.u64(in.metadata().size());
        for (const auto& [k, v] : in.metadata()) {
          m.str(k);
          m.str(v);
        }
        auto* dst = static_cast<unsigned char*>(io.data(total));
        uint64_t at = 0;
        for (size_t i = 0; i < in.entries().size(); ++i) {
          in.read(i, dst + at);
          at += in.entries()[i].nbytes;
        }
        io.manifest(m.bytes());
      });
    }
    data_ = r.data;
    ManifestReader m(r.manifest);
    const uint64_t n = m.u64();
    for (uint64_t i = 0; i < n; ++i) {
      hearth::TensorFileEntry e;
      e.name = m.str();
      e.dtype = static_cast<ScalarType>(m.u64());
      const uint64_t rank = m.u64();
      HEARTH_CHECK(rank <= 64, FormatError, "HDF5 reader: bad manifest");
      for (uint64_t k = 0; k < rank; ++k) e.shape.push_back(static_cast<int64_t>(m.u64()));
      e.nbytes = static_cast<size_t>(m.u64());
      const uint64_t off = m.u64();
      HEARTH_CHECK(off <= r.data_size && e.nbytes <= r.data_size - off, FormatError, "HDF5 reader: bad manifest");
      offsets_.push_back(off);
      entries_.push_back(std::move(e));
    }
    const uint64_t nm = m.u64();
    for (uint64_t i = 0; i < nm; ++i) {
      std::string k = m.str();
      metadata_[k] = m.str();
    }
  }

  const std::vector<hearth::TensorFileEntry>& entries() const override { return entries_; }
  const std::map<std::string, std::string>& metadata() const override { return metadata_; }
  void read(size_t index, void* host_dst) override {
    HEARTH_CHECK(index < entries_.size(), IndexError, "HDF5 file: no tensor ", index);
    if (entries_[index].nbytes) std::memcpy(host_dst, data_.get() + offsets_[index], entries_[index].nbytes);
  }

 private:
  std::vector<hearth::TensorFileEntry> entries_;
  std::vector<uint64_t> offsets_;
  std::map<std::string, std::string> metadata_;
  std::shared_ptr<const unsigned char> data_;
};

class Hdf5Format final : public hearth::TensorFileFormat {
 public:
  std::string name() const override { return "hdf5"; }
  std::vector<std::string> extensions() const override { return {".h5", ".hdf5"}; }
  bool sniff(const unsigned char* head, size_t n) const override {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    for (size_t off : {size_t{0}, size_t{512}, size_t{1024}})
      if (n >= off + 8 && std::memcmp(head + off, sig, 8) == 0) return true;
    return false;
  }

  void save(const std::string& path, const hearth::TensorList& host_tensors,
            const std::map<std::string, std::string>& metadata) const override {
    for (const auto& [name, t] : host_tensors) {
      if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
        fail(path, name, "an HDF5 dataset name cannot be empty, '.', '..' or contain '/'");
      if (!has_file_type(t.dtype())) fail(path, name, std::string("no HDF5 type for dtype ") + hearth::dtype_name(t.dtype()));
    }
    hearth::write_file_atomically(path, [&](const std::string& tmp) {
      H5Lock lock;
      // Creation order tracked and indexed, so keys read back in state_dict order.
      Hid fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
      check(H5Pset_link_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED), path, "file",
            "cannot set up the file");
      Hid f(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT), H5Fclose);
      if (!f.ok()) fail(path, "file", "cannot create temporary file '" + tmp + "': " + h5_error());
      for (const auto& [name, t] : host_tensors) {
        std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
        Hid space(dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                  H5Sclose);
        if (!space.ok()) fail(path, name, "cannot create the dataspace: " + h5_error());
        Hid d(H5Dcreate2(f.get(), name.c_str(), file_type(t.dtype()), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
              H5Dclose);
        if (!d.ok()) fail(path, name, "cannot create the dataset: " + h5_error());
        if (t.numel() > 0)
          check(H5Dwrite(d.get(), mem_type(t.dtype()), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()), path, name,
                "cannot write the data");
        if (t.dtype() == hearth::kBFloat16 || t.dtype() == hearth::kBool)
          write_string_attr(d.get(), kDtypeAttr, hearth::dtype_name(t.dtype()), path);
      }
      for (const auto& [k, v] : metadata) write_string_attr(f.get(), k, v, path);
      if (H5Fclose(f.release()) < 0) fail(path, "file", "cannot close temporary file '" + tmp + "': " + h5_error());
    });
  }

  std::unique_ptr<hearth::TensorFileReader> open(const std::string& path) const override {
    if (isolation_enabled()) return std::make_unique<Hdf5IsolatedReader>(path);
    return std::make_unique<Hdf5DirectReader>(path);
  }
};

const hearth::TensorFileFormat* hdf5_format() {
  static const Hdf5Format f;
  return &f;
}

}  // namespace

void register_state_dict_format(hearth::PluginRegistrar& r) {
  hearth::TensorFileFormatFactory f = &hdf5_format;
  r.component(hearth::kTensorFileFormatComponent, "hdf5", reinterpret_cast<const void*>(f));
}

}  // namespace hearth_hdf5
