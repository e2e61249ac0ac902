// SDK version and the ABI identity a plugin must match to be loaded.
#pragma once

#include <cstddef>  // defines _GLIBCXX_USE_CXX11_ABI for the tag below

#define HEARTH_VERSION_MAJOR 0
#define HEARTH_VERSION_MINOR 4
#define HEARTH_VERSION_PATCH 0
#define HEARTH_VERSION_STRING "0.4.0"

/// Bumped whenever HearthPluginInfo, PluginRegistrar or KernelArgs change incompatibly. (The
/// sdk-MAJOR.MINOR part of the tag covers every other SDK type: 0.2 added autograd state to
/// TensorImpl and Dataset::get_batch; 0.3 moved opaque layouts onto the storage; 0.4 added view
/// links to AutogradMeta, the dispatcher's hook word, module holders and scheduler rule specs.)
#define HEARTH_PLUGIN_ABI_VERSION 1u

#define HEARTH_STR2_(x) #x
#define HEARTH_STR_(x) HEARTH_STR2_(x)
#if defined(__clang__)
#define HEARTH_COMPILER_TAG_ "clang-" HEARTH_STR_(__clang_major__)
#elif defined(__GNUC__)
#define HEARTH_COMPILER_TAG_ "gcc-" HEARTH_STR_(__GNUC__)
#else
#define HEARTH_COMPILER_TAG_ "unknown"
#endif
#if defined(_GLIBCXX_USE_CXX11_ABI) && _GLIBCXX_USE_CXX11_ABI
#define HEARTH_CXXABI_TAG_ "cxx11abi"
#else
#define HEARTH_CXXABI_TAG_ "oldabi"
#endif
/// e.g. "gcc-12/cxx11abi/sdk-0.1"
#define HEARTH_ABI_TAG \
  HEARTH_COMPILER_TAG_ "/" HEARTH_CXXABI_TAG_ "/sdk-" HEARTH_STR_(HEARTH_VERSION_MAJOR) "." HEARTH_STR_(HEARTH_VERSION_MINOR)
