// Python-style number formatting for module printouts (PyTorch's repr text).
#pragma once

#include <sstream>
#include <string>

namespace hearth::nn::detail_repr {

/// A double as Python's str() prints it: "1e-05", "0.1", "2.0".
inline std::string py_float(double v) {
  std::ostringstream os;
  os << v;
  std::string s = os.str();
  if (s.find_first_of(".e") == std::string::npos && s.find("inf") == std::string::npos &&
      s.find("nan") == std::string::npos)
    s += ".0";
  return s;
}

}  // namespace hearth::nn::detail_repr
