#include "output.h"

#include <algorithm>
#include <cstdio>
#include <iostream>

#include <fmt/format.h>

namespace dbaas::cli {

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, kUnits[unit]);
}

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(header.size());
  for (size_t c = 0; c < header.size(); ++c) widths[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      widths[c] = std::max(widths[c], row[c].size());
    }
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += c + 1 == row.size() ? row[c] : fmt::format("{:<{}}  ", row[c], widths[c]);
    }
    std::cout << line << "\n";
  };
  print_row(header);
  for (const auto& row : rows) print_row(row);
}

// File names in messages and warnings are bytes, not always UTF-8: replaced, never thrown on.
void PrintJson(const nlohmann::json& j) {
  std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

int ReportError(const Status& status, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    nlohmann::json j = {{"success", false},
                        {"error",
                         {{"code", std::string(StatusCodeName(status.code()))},
                          {"message", status.message()},
                          {"hint", status.hint()}}}};
    std::cerr << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  } else {
    std::cerr << "error: " << status.message() << "\n";
    if (!status.hint().empty()) std::cerr << "hint: " << status.hint() << "\n";
  }
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return 2;
    case StatusCode::kNotFound:
      return 3;
    case StatusCode::kBusy:
      return 4;
    case StatusCode::kCorruption:
      return 5;
    default:
      return 1;
  }
}

int PrintVerifyReport(OutputFormat format, uint64_t packs, uint64_t blobs, uint64_t bytes,
                      uint64_t snapshots, const std::vector<std::string>& errors) {
  if (format == OutputFormat::kJson) {
    PrintJson({{"ok", errors.empty()},
               {"packs", packs},
               {"blobs", blobs},
               {"bytes", bytes},
               {"snapshots", snapshots},
               {"errors", errors}});
  } else {
    for (const auto& e : errors) std::cerr << "error: " << e << "\n";
    std::cout << fmt::format("{}: {} packs, {} blobs, {} checked, {} snapshots, {} errors\n",
                             errors.empty() ? "ok" : "FAILED", packs, blobs, HumanBytes(bytes),
                             snapshots, errors.size());
  }
  return errors.empty() ? 0 : 5;
}

}  // namespace dbaas::cli
