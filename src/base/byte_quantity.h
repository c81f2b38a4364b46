// Sizes as users write them: a Kubernetes quantity of bytes ("10Gi", "512Mi", "1G").
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace dbaas {

// Digits with an optional Ki, Mi, Gi, Ti, K, M, G or T suffix, at most 1 PiB; nullopt
// for anything else.
std::optional<uint64_t> ParseByteQuantity(std::string_view size);

}  // namespace dbaas
