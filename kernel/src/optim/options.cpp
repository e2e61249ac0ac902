// Optimizer options by name, and the typed structs' key functions: defining optimizer_name()
// here puts their vtables and type_info in libhearth only, so a plugin's dynamic_cast to
// AdamOptions sees the same type as the front end that made the object.
#include "hearth/optim/options.h"

#include <cmath>
#include <sstream>

#include "hearth/error.h"

namespace hearth::optim {

OptimizerOptions::~OptimizerOptions() = default;

namespace {
std::string field_list(const OptimizerOptions& o) {
  std::string s;
  for (const auto& f : o.fields()) s += (s.empty() ? "" : ", ") + f.name;
  return s;
}
}  // namespace

double OptimizerOptions::get(std::string_view name) const {
  for (const auto& f : fields())
    if (f.name == name) return f.value;
  HEARTH_CHECK(false, ValueError, optimizer_name(), " has no option '", name, "' (options: ", field_list(*this), ")");
  return 0;
}

bool OptimizerOptions::has(std::string_view name) const {
  for (const auto& f : fields())
    if (f.name == name) return true;
  return false;
}

void OptimizerOptions::set(std::string_view name, double value) {
  HEARTH_CHECK(set_field(name, value), ValueError, optimizer_name(), " has no option '", name,
               "' (options: ", field_list(*this), ")");
}

std::string OptimizerOptions::repr() const {
  std::ostringstream os;
  os.precision(17);
  bool first = true;
  for (const auto& f : fields()) {
    os << (first ? "" : ", ") << f.name << "=";
    first = false;
    if (f.kind == OptionField::Kind::Bool)
      os << (f.value != 0 ? "true" : "false");
    else if (f.kind == OptionField::Kind::Int)
      os << static_cast<int64_t>(f.value);
    else
      os << f.value;
  }
  return os.str();
}

std::string SGDOptions::optimizer_name() const { return "sgd"; }
std::string AdamOptions::optimizer_name() const { return "adam"; }
std::string AdamWOptions::optimizer_name() const { return "adamw"; }
std::string RMSpropOptions::optimizer_name() const { return "rmsprop"; }
std::string AdagradOptions::optimizer_name() const { return "adagrad"; }

}  // namespace hearth::optim
