// The op registry behind the dispatcher, shared by the dispatcher and the plugin loader.
#pragma once

#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "hearth/dispatcher.h"

namespace hearth::detail {

class OpRegistry {
 public:
  OpDef* find(std::string_view name);  // null if absent
  /// Declares an op; throws PluginError if the name exists with another signature.
  OpDef* declare(const OpSchema& schema);
  std::vector<std::string> names();
  std::mutex& mutex() { return mu_; }

 private:
  std::mutex mu_;
  std::deque<OpDef> defs_;  // stable addresses: handles point into it
  std::unordered_map<std::string, OpDef*> by_name_;
};

OpRegistry& op_registry();
/// Declares the kernel's built-in ops (op_table.cpp). Called once by op_registry().
void declare_builtin_ops(OpRegistry& reg);
/// True once load_plugins() has run its default discovery (used by the slow kernel lookup).
bool plugins_loaded();

}  // namespace hearth::detail
