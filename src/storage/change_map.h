// What a snapshot's caller knows of where files changed since the parent snapshot: a
// database's log names the pages it changed (engines/postgres/pg_wal_blocks.h), so an
// incremental reads those and takes every other chunk from the parent without reading it.
//
// The storage layer knows nothing of pages or logs: the map answers per file with byte
// ranges, or "read it whole". A file the map does not vouch for is read whole, as is every
// file when there is no map.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/manifest.h"

namespace dbaas::storage {

struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

class ChangeMap {
 public:
  virtual ~ChangeMap() = default;

  // `now` differs from `parent` (the same path in the parent snapshot) in size or times.
  // The ranges of it that may have changed since the parent was made, or nullopt to read it
  // whole. Bytes past the parent's size are read anyway.
  virtual std::optional<std::vector<ByteRange>> ChangedRanges(const TreeEntry& now,
                                                              const TreeEntry& parent) const = 0;

  // For the checking mode (CreateOptions::check_change_map): a chunk of `path` at `offset`
  // reads differently now from what the snapshot stores for it (the parent's chunk where
  // the map left it out, or that chunk patched with what the map named). True when the map
  // may leave such a difference out (a page changed after the snapshot began, which the
  // caller's own log brings back on restore); false is a miss, reported.
  virtual bool DifferenceExplained(std::string_view path, uint64_t offset,
                                   std::span<const uint8_t> stored,
                                   std::span<const uint8_t> now) const = 0;
};

// What the caller offers for a parent: a map, or why there is none (recorded in the
// snapshot's warnings; its changed files are then read whole).
struct ChangeMapOffer {
  std::unique_ptr<ChangeMap> map;
  std::string why_not;
};

}  // namespace dbaas::storage
