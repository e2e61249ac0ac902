// TensorDataset, the default collate, and load_dataset: the "dataset" component front end.
#include <sstream>

#include "hearth/data.h"
#include "hearth/functions.h"
#include "hearth/plugin.h"

namespace hearth::data {

TensorDataset::TensorDataset(Tensor data, Tensor targets)
    : data_(std::move(data)), targets_(std::move(targets)) {
  HEARTH_CHECK(data_.dim() >= 1 && targets_.dim() >= 1, ShapeError, "TensorDataset: 0-dim data or targets");
  HEARTH_CHECK(data_.size(0) == targets_.size(0), ShapeError, "TensorDataset: ", data_.size(0),
               " data rows but ", targets_.size(0), " targets");
  n_ = static_cast<size_t>(data_.size(0));
}

Example TensorDataset::get(size_t index) const {
  HEARTH_CHECK(index < n_, IndexError, "TensorDataset: index ", index, " out of range for size ", n_);
  return {data_.select(0, static_cast<int64_t>(index)), targets_.select(0, static_cast<int64_t>(index))};
}

namespace {
Tensor stack_checked(const std::vector<Example>& ex, const std::vector<int64_t>& idx, bool target) {
  std::vector<Tensor> ts;
  ts.reserve(ex.size());
  const char* what = target ? "target" : "data";
  for (size_t i = 0; i < ex.size(); ++i) {
    const Tensor& t = target ? ex[i].target : ex[i].data;
    const int64_t at = i < idx.size() ? idx[i] : static_cast<int64_t>(i);
    HEARTH_CHECK(t.defined(), ValueError, "collate: sample ", at, " has no ", what);
    if (!ts.empty()) {
      const Tensor& f = ts.front();
      HEARTH_CHECK(t.sizes() == f.sizes(), ShapeError, "collate: sample ", at, " has ", what, " shape ",
                   t.sizes(), " but sample ", idx.empty() ? 0 : idx[0], " has ", f.sizes(),
                   " (ragged batch; pass a collate_fn that pads or drops)");
      HEARTH_CHECK(t.dtype() == f.dtype(), DTypeError, "collate: sample ", at, " has ", what, " dtype ",
                   dtype_name(t.dtype()), " but sample ", idx.empty() ? 0 : idx[0], " has ", dtype_name(f.dtype()));
    }
    ts.push_back(t);
  }
  return stack(ts, 0);
}
}  // namespace

Batch default_collate(std::vector<Example>& examples, const std::vector<int64_t>& indices) {
  HEARTH_CHECK(!examples.empty(), ValueError, "collate: empty batch (no samples to stack)");
  Batch b;
  b.data = stack_checked(examples, indices, false);
  b.target = stack_checked(examples, indices, true);
  b.indices = indices;
  return b;
}

std::shared_ptr<Dataset> load_dataset(const std::string& spec, bool train) {
  const auto colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  const std::string arg = colon == std::string::npos ? std::string() : spec.substr(colon + 1);
  HEARTH_CHECK(!name.empty(), ValueError, "dataset spec '", spec, "' has no name");
  auto factory = find_component_as<DatasetFactory>("dataset", name);
  if (!factory) {
    std::ostringstream known;
    for (const auto& n : component_names("dataset")) known << (known.tellp() > 0 ? ", " : "") << n;
    HEARTH_CHECK(false, ValueError, "unknown dataset '", name, "' in spec '", spec,
                 "'; registered: ", known.str().empty() ? "(none; is the hearth-idx plugin built?)" : known.str());
  }
  auto ds = factory(arg, train);
  HEARTH_CHECK(ds, InternalError, "dataset '", name, "' factory returned null");
  return ds;
}

}  // namespace hearth::data
