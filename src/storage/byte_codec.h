// Little-endian fields of the repository's binary formats (packs, manifests, chunk lists,
// page patches, archived WAL headers): appended to a string or stored at a place, read
// from a place the caller has bounds-checked, or read back with every read checked.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace dbaas::storage {

template <typename T>
void PutLe(std::string& out, T v) {
  static_assert(std::is_integral_v<T>);
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));  // little endian: the only byte order we build for
  out.append(bytes, sizeof(T));
}

template <typename T>
void StoreLe(uint8_t* at, T v) {
  static_assert(std::is_integral_v<T>);
  std::memcpy(at, &v, sizeof(T));
}

template <typename T>
T GetLe(const uint8_t* at) {
  static_assert(std::is_integral_v<T>);
  T v;
  std::memcpy(&v, at, sizeof(T));
  return v;
}

class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}
  template <typename T>
  bool Read(T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (data_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(&v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool Bytes(size_t n, std::string_view& out) {
    if (data_.size() - pos_ < n) return false;
    out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  size_t left() const { return data_.size() - pos_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace dbaas::storage
