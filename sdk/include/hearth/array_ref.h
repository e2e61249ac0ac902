// Non-owning views of int64 lists (shapes, strides, dims), like LibTorch's IntArrayRef.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <vector>

#include "hearth/detail/small_vector.h"

namespace hearth {

/// Shape and stride storage: inline for up to 6 dims.
using DimVector = detail::SmallVector<int64_t, 6>;

/// A borrowed list of int64 (pointer + length). Valid only while the source lives; a braced
/// list bound to a function parameter lives for the whole call.
class IntArrayRef {
 public:
  IntArrayRef() = default;
  IntArrayRef(const int64_t* p, size_t n) : data_(p), size_(n) {}
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winit-list-lifetime"
  // Borrowing a braced list is the point (as in LibTorch): it lives for the full expression.
  IntArrayRef(const std::initializer_list<int64_t>& il) : data_(il.begin()), size_(il.size()) {}
#pragma GCC diagnostic pop
  IntArrayRef(const std::vector<int64_t>& v) : data_(v.data()), size_(v.size()) {}
  IntArrayRef(const DimVector& v) : data_(v.data()), size_(v.size()) {}
  template <size_t N>
  IntArrayRef(const std::array<int64_t, N>& a) : data_(a.data()), size_(N) {}
  IntArrayRef(const int64_t& single) : data_(&single), size_(1) {}

  const int64_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t operator[](size_t i) const { return data_[i]; }
  const int64_t* begin() const { return data_; }
  const int64_t* end() const { return data_ + size_; }
  int64_t front() const { return data_[0]; }
  int64_t back() const { return data_[size_ - 1]; }
  std::vector<int64_t> vec() const { return {begin(), end()}; }
  IntArrayRef slice(size_t start, size_t n) const { return {data_ + start, n}; }
  IntArrayRef slice(size_t start) const { return {data_ + start, size_ - start}; }
  bool equals(IntArrayRef o) const {
    if (size_ != o.size_) return false;
    for (size_t i = 0; i < size_; ++i) if (data_[i] != o.data_[i]) return false;
    return true;
  }
  bool operator==(IntArrayRef o) const { return equals(o); }

 private:
  const int64_t* data_ = nullptr;
  size_t size_ = 0;
};

/// Prints like PyTorch's torch.Size: [2, 3, 4].
inline std::ostream& operator<<(std::ostream& os, IntArrayRef a) {
  os << '[';
  for (size_t i = 0; i < a.size(); ++i) os << (i ? ", " : "") << a[i];
  return os << ']';
}

}  // namespace hearth
