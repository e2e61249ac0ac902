// summary() and profile(): forward hooks on every leaf layer collect output shapes and
// mult-adds during one no-grad forward.
#include "hearth/nn/summary.h"

#include <cstdio>
#include <map>
#include <sstream>

#include "hearth/functions.h"

namespace hearth::nn {

namespace {

int64_t count_params(const Module& m, bool trainable_only) {
  int64_t n = 0;
  for (const auto& [name, p] : m.named_parameters(/*recurse=*/false))
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

std::string shape_str(IntArrayRef s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

/// Hooks every leaf module, runs the model, removes the hooks (also on error).
std::vector<LayerSummary> trace(Module& model, const std::vector<Tensor>& inputs,
                                const std::function<void(const std::vector<Tensor>&)>& run) {
  HEARTH_CHECK(!inputs.empty(), ValueError, "summary: at least one input shape is needed");
  HEARTH_CHECK(run || inputs.size() == 1, ValueError, "summary: ", inputs.size(),
               " inputs need a `run` function that calls the model with them");
  std::vector<LayerSummary> layers;
  std::map<Module*, size_t> index;
  std::vector<std::pair<std::shared_ptr<Module>, unsigned>> hooked;
  struct Unhook {
    std::vector<std::pair<std::shared_ptr<Module>, unsigned>>& h;
    ~Unhook() {
      for (auto& [m, id] : h) m->remove_forward_hook(id);
    }
  } unhook{hooked};
  for (auto& [name, m] : model.named_modules()) {
    if (!m->children().empty()) continue;  // containers: their leaves are reported
    const std::string nm = name.empty() ? m->type_name() : name;
    const unsigned id = m->register_forward_hook([&layers, &index, nm](Module& mod, const Tensor& in, const Tensor& out) {
      auto [it, fresh] = index.emplace(&mod, layers.size());
      if (fresh) {
        LayerSummary s;
        s.name = nm;
        s.type = mod.type_name();
        s.kernel = mod.kernel_repr();
        s.params = count_params(mod, false);
        layers.push_back(s);
      }
      LayerSummary& s = layers[it->second];
      s.output_shape = DimVector(out.sizes().begin(), out.sizes().end());
      s.mult_adds += mod.mult_adds(in, out);
      ++s.calls;
    });
    hooked.emplace_back(m, id);
  }
  NoGradGuard ng;
  if (run) run(inputs);
  else (void)model(inputs[0]);
  return layers;
}

}  // namespace

std::string clever_format(double v, int precision) {
  const char* suffix = "";
  double x = v;
  if (v >= 1e12) { x = v / 1e12; suffix = "T"; }
  else if (v >= 1e9) { x = v / 1e9; suffix = "G"; }
  else if (v >= 1e6) { x = v / 1e6; suffix = "M"; }
  else if (v >= 1e3) { x = v / 1e3; suffix = "K"; }
  else { suffix = "B"; }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%s", precision, x, suffix);
  return buf;
}

ModelSummary summary(Module& model, const std::vector<DimVector>& input_shapes,
                     const std::function<void(const std::vector<Tensor>&)>& run, const TensorOptions& options) {
  std::vector<Tensor> inputs;
  // Inputs on the model's device unless told otherwise.
  TensorOptions opts = options;
  if (!opts.has_device()) {
    auto ps = model.parameters();
    if (!ps.empty()) opts = opts.device(ps[0].device());
  }
  for (const auto& s : input_shapes) inputs.push_back(zeros(s, opts));
  ModelSummary r;
  r.layers = trace(model, inputs, run);
  for (const auto& [n, p] : model.named_parameters()) {
    r.total_params += p.numel();
    if (p.requires_grad()) r.trainable_params += p.numel();
  }
  for (const auto& l : r.layers) r.total_mult_adds += l.mult_adds;
  return r;
}

std::pair<int64_t, int64_t> profile(Module& model, const std::vector<Tensor>& inputs,
                                    const std::function<void(const std::vector<Tensor>&)>& run) {
  auto layers = trace(model, inputs, run);
  int64_t macs = 0, params = 0;
  for (const auto& l : layers) macs += l.mult_adds;
  for (const auto& [n, p] : model.named_parameters()) params += p.numel();
  return {macs, params};
}

std::string ModelSummary::table() const {
  struct Row { std::string a, b, c, d, e; };
  std::vector<Row> rows{{"Layer (type)", "Kernel", "Output shape", "Param #", "Mult-adds"}};
  for (const auto& l : layers)
    rows.push_back({l.name + " (" + l.type + ")", l.kernel.empty() ? "-" : l.kernel, shape_str(l.output_shape),
                    std::to_string(l.params), std::to_string(l.mult_adds)});
  size_t w[5] = {0, 0, 0, 0, 0};
  for (const auto& r : rows) {
    w[0] = std::max(w[0], r.a.size());
    w[1] = std::max(w[1], r.b.size());
    w[2] = std::max(w[2], r.c.size());
    w[3] = std::max(w[3], r.d.size());
    w[4] = std::max(w[4], r.e.size());
  }
  const size_t total = w[0] + w[1] + w[2] + w[3] + w[4] + 8;
  std::ostringstream os;
  auto line = [&](char c) { os << std::string(total, c) << "\n"; };
  auto pad = [](const std::string& s, size_t n, bool right) {
    return right ? std::string(n - s.size(), ' ') + s : s + std::string(n - s.size(), ' ');
  };
  line('=');
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    os << pad(r.a, w[0], false) << "  " << pad(r.b, w[1], false) << "  " << pad(r.c, w[2], false) << "  "
       << pad(r.d, w[3], true) << "  " << pad(r.e, w[4], true) << "\n";
    if (i == 0) line('-');
  }
  line('=');
  os << "Total params: " << total_params << " (" << clever_format(static_cast<double>(total_params)) << ")\n"
     << "Trainable params: " << trainable_params << "\n"
     << "Non-trainable params: " << total_params - trainable_params << "\n"
     << "Total mult-adds: " << total_mult_adds << " (" << clever_format(static_cast<double>(total_mult_adds)) << ")\n";
  line('=');
  return os.str();
}

}  // namespace hearth::nn
