// Shared pieces of hearth's fuzz targets: a scratch file per process and the one rule every target
// enforces — a hostile input may raise a hearth::Error, nothing else (no crash, no other exception).
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "hearth/error.h"

namespace hearth::fuzz {

/// A path in this process's scratch directory (made once, under $TMPDIR or /tmp).
inline std::string scratch(const std::string& leaf) {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("hearth_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return (dir / leaf).string();
}

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

/// Runs f; a hearth::Error is the expected way to refuse an input. Anything else escapes, and
/// the fuzzer (or the replay test) reports it.
template <typename F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const hearth::Error&) {
  }
}

}  // namespace hearth::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
