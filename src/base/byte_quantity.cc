#include "base/byte_quantity.h"

#include <utility>

namespace dbaas {

std::optional<uint64_t> ParseByteQuantity(std::string_view size) {
  constexpr uint64_t kMaxSize = 1ull << 50;
  size_t digits = 0;
  uint64_t value = 0;
  while (digits < size.size() && size[digits] >= '0' && size[digits] <= '9') {
    if (digits == 16) return std::nullopt;  // past any size a volume has
    value = value * 10 + static_cast<uint64_t>(size[digits] - '0');
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  std::string_view suffix = size.substr(digits);
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {{"", 1},
                                                                     {"K", 1000},
                                                                     {"M", 1000000},
                                                                     {"G", 1000000000},
                                                                     {"T", 1000000000000},
                                                                     {"Ki", 1ull << 10},
                                                                     {"Mi", 1ull << 20},
                                                                     {"Gi", 1ull << 30},
                                                                     {"Ti", 1ull << 40}};
  for (const auto& [name, factor] : kUnits) {
    if (suffix == name) {
      if (value > kMaxSize / factor) return std::nullopt;
      return value * factor;
    }
  }
  return std::nullopt;
}

}  // namespace dbaas
