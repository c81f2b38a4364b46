// A growable byte buffer whose start is aligned for direct I/O (O_DIRECT wants the
// memory, the file offset and the length aligned to the device's logical block; 4096
// covers every block size Linux filesystems use).
#pragma once

#include <cstdint>
#include <cstring>
#include <new>
#include <span>

namespace dbaas {

class AlignedBuffer {
 public:
  static constexpr size_t kAlignment = 4096;

  AlignedBuffer() = default;
  ~AlignedBuffer() { Free(); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<const uint8_t> span() const { return {data_, size_}; }
  void clear() { size_ = 0; }

  void Append(std::span<const uint8_t> bytes) {
    Reserve(size_ + bytes.size());
    if (!bytes.empty()) std::memcpy(data_ + size_, bytes.data(), bytes.size());
    size_ += bytes.size();
  }

  // Zero-fills up to the next multiple of kAlignment (a direct write of a file's tail).
  void PadToAlignment() {
    size_t padded = RoundUp(size_);
    Reserve(padded);
    std::memset(data_ + size_, 0, padded - size_);
    size_ = padded;
  }

 private:
  static size_t RoundUp(size_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

  void Reserve(size_t n) {
    if (n <= capacity_) return;
    size_t capacity = RoundUp(n > 2 * capacity_ ? n : 2 * capacity_);
    auto* grown = static_cast<uint8_t*>(::operator new (capacity, std::align_val_t{kAlignment}));
    if (size_ > 0) std::memcpy(grown, data_, size_);
    Free();
    data_ = grown;
    capacity_ = capacity;
  }

  void Free() {
    if (data_ != nullptr) ::operator delete (data_, std::align_val_t{kAlignment});
    data_ = nullptr;
    capacity_ = 0;
  }

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace dbaas
