// OrderedDict: LibTorch's insertion-ordered map (named_parameters(), named_buffers(),
// named_children()). Items derive from std::pair so `auto& [name, t]` and `.first` keep working
// beside LibTorch's item.key() / item.value().
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hearth/error.h"

namespace hearth {

template <typename Key, typename Value>
class OrderedDict {
 public:
  /// One entry: LibTorch's key() / value() / pair(), and std::pair's first / second.
  class Item : public std::pair<Key, Value> {
   public:
    Item(Key key, Value value) : std::pair<Key, Value>(std::move(key), std::move(value)) {}
    const Key& key() const noexcept { return this->first; }
    Value& value() noexcept { return this->second; }
    const Value& value() const noexcept { return this->second; }
    const std::pair<Key, Value>& pair() const noexcept { return *this; }
    Value& operator*() noexcept { return this->second; }
    const Value& operator*() const noexcept { return this->second; }
    Value* operator->() noexcept { return &this->second; }
    const Value* operator->() const noexcept { return &this->second; }
  };
  using Iterator = typename std::vector<Item>::iterator;
  using ConstIterator = typename std::vector<Item>::const_iterator;

  /// key_description names the keys in error messages ("Parameter", "Module").
  explicit OrderedDict(std::string key_description = "Key") : key_description_(std::move(key_description)) {}
  OrderedDict(std::initializer_list<Item> items) : OrderedDict() {
    for (const auto& i : items) insert(i.key(), i.value());
  }

  /// Inserts a new key (ValueError if it exists, as LibTorch) and returns its value.
  template <typename V>
  Value& insert(Key key, V&& value) {
    HEARTH_CHECK(!index_.count(key), ValueError, key_description_, " '", key, "' already defined");
    index_.emplace(key, items_.size());
    items_.emplace_back(std::move(key), Value(std::forward<V>(value)));
    return items_.back().value();
  }
  /// Inserts or overwrites.
  Value& update_or_insert(Key key, Value value) {
    if (auto* v = find(key)) return *v = std::move(value);
    return insert(std::move(key), std::move(value));
  }
  void update(const OrderedDict& other) {
    for (const auto& i : other) update_or_insert(i.key(), i.value());
  }

  Value* find(const Key& key) noexcept {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &items_[it->second].value();
  }
  const Value* find(const Key& key) const noexcept {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &items_[it->second].value();
  }
  bool contains(const Key& key) const noexcept { return index_.count(key) != 0; }

  /// The value of a key; ValueError naming it if absent.
  Value& operator[](const Key& key) {
    auto* v = find(key);
    HEARTH_CHECK(v, ValueError, key_description_, " '", key, "' is not defined");
    return *v;
  }
  const Value& operator[](const Key& key) const { return const_cast<OrderedDict&>(*this)[key]; }
  Value& at(const Key& key) { return (*this)[key]; }
  const Value& at(const Key& key) const { return (*this)[key]; }
  /// The item at a position; IndexError if out of range.
  Item& operator[](size_t index) {
    HEARTH_CHECK(index < items_.size(), IndexError, "OrderedDict: index ", index, " is out of bounds for size ",
                 items_.size());
    return items_[index];
  }
  const Item& operator[](size_t index) const { return const_cast<OrderedDict&>(*this)[index]; }
  /// Literal positions (`dict[0]`) pick the index overload, not the key one.
  Item& operator[](int index) { return (*this)[static_cast<size_t>(index)]; }
  const Item& operator[](int index) const { return (*this)[static_cast<size_t>(index)]; }

  Item& front() { return (*this)[size_t{0}]; }
  Item& back() { return (*this)[items_.size() - 1]; }
  Iterator begin() { return items_.begin(); }
  Iterator end() { return items_.end(); }
  ConstIterator begin() const { return items_.begin(); }
  ConstIterator end() const { return items_.end(); }
  size_t size() const noexcept { return items_.size(); }
  bool is_empty() const noexcept { return items_.empty(); }
  bool empty() const noexcept { return items_.empty(); }
  void clear() {
    items_.clear();
    index_.clear();
  }
  void reserve(size_t n) { items_.reserve(n); }

  const std::vector<Item>& items() const noexcept { return items_; }
  std::vector<Key> keys() const {
    std::vector<Key> out;
    for (const auto& i : items_) out.push_back(i.key());
    return out;
  }
  std::vector<Value> values() const {
    std::vector<Value> out;
    for (const auto& i : items_) out.push_back(i.value());
    return out;
  }
  std::vector<std::pair<Key, Value>> pairs() const { return {items_.begin(), items_.end()}; }
  /// hearth's named lists (TensorList) are vectors of pairs: an OrderedDict converts to one.
  operator std::vector<std::pair<Key, Value>>() const { return pairs(); }  // NOLINT

  const std::string& key_description() const noexcept { return key_description_; }

 private:
  std::vector<Item> items_;
  std::unordered_map<Key, size_t> index_;
  std::string key_description_ = "Key";
};

}  // namespace hearth
