// Standard base64 (RFC 4648, with padding), as Kubernetes uses for Secret data and
// kubeconfig certificates.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dbaas {

std::string Base64Encode(std::string_view bytes);
// nullopt unless `text` is valid padded base64 (whitespace between groups is allowed, as in
// PEM-like fields wrapped by editors).
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace dbaas
