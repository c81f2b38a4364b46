#include "base/names.h"

#include <fmt/format.h>

namespace dbaas {

bool IsDns1123Label(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  for (char c : name) {
    if (!alnum(c) && c != '-') return false;
  }
  return alnum(name.front()) && alnum(name.back());
}

bool IsDns1123Subdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (size_t start = 0;;) {
    size_t dot = name.find('.', start);
    if (!IsDns1123Label(name.substr(start, dot == std::string_view::npos ? dot : dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

Status ValidateName(std::string_view what, std::string_view name) {
  if (IsDns1123Label(name)) return Status::Ok();
  return Status::InvalidArgument(
      fmt::format("{} '{}' is not valid", what, name),
      "use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit");
}

}  // namespace dbaas
