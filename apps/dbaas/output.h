// Output helpers shared by the CLI's commands: human sizes, tables, JSON, errors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace dbaas::cli {

enum class OutputFormat { kTable, kJson };

std::string HumanBytes(uint64_t bytes);

// Prints rows under a header, columns padded to their widest cell.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

void PrintJson(const nlohmann::json& j);

// Prints "error: <message>" and the hint to stderr; returns the exit code for the status.
int ReportError(const Status& status, OutputFormat format);

}  // namespace dbaas::cli
