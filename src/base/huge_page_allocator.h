// An allocator for large arrays that are filled at once and then read at random (a
// repository's blob index): an allocation of 2 MiB or more is a mapping of its own, advised
// onto transparent huge pages where the kernel allows them (madvise mode, Debian's default),
// so filling it takes a few faults instead of one per 4 KiB page. On this project's VMs a
// page fault costs several microseconds; they were 40% of opening a repository of 170,000
// blobs. A mapping of its own rather than malloc's: malloc serves such sizes from its heap
// once it has freed a large block, and the advice would stay on heap memory after the free.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>

namespace dbaas {

template <typename T>
class HugePageAllocator {
 public:
  using value_type = T;
  static constexpr size_t kHugePage = size_t{2} << 20;

  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT(google-explicit-constructor)

  T* allocate(size_t n) {
    if (n > SIZE_MAX / sizeof(T)) throw std::bad_array_new_length();
    const size_t bytes = n * sizeof(T);
    if (bytes < kHugePage) {
      return static_cast<T*>(::operator new (bytes, std::align_val_t{alignof(T)}));
    }
    // Mapped one huge page larger and trimmed to a 2 MiB boundary: an unaligned mapping's
    // first and last pieces could only have 4 KiB pages.
    const size_t length = MappedLength(bytes);
    void* map = ::mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) throw std::bad_alloc();
    const uintptr_t start = reinterpret_cast<uintptr_t>(map);
    const uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
    if (aligned > start) ::munmap(map, aligned - start);
    if (start + kHugePage > aligned) {
      ::munmap(reinterpret_cast<void*>(aligned + length), start + kHugePage - aligned);
    }
    void* p = reinterpret_cast<void*>(aligned);
    ::madvise(p, length, MADV_HUGEPAGE);  // advice only: without it, 4 KiB pages
    return static_cast<T*>(p);
  }

  void deallocate(T* p, size_t n) noexcept {
    const size_t bytes = n * sizeof(T);
    if (bytes < kHugePage) {
      ::operator delete (p, std::align_val_t{alignof(T)});
    } else {
      ::munmap(p, MappedLength(bytes));
    }
  }

  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const {
    return true;
  }

 private:
  static size_t MappedLength(size_t bytes) {
    return (bytes + kHugePage - 1) / kHugePage * kHugePage;
  }
};

}  // namespace dbaas
