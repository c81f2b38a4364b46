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

// Prints what a verification found (`repo verify`, `remote verify`): the errors on stderr,
// then the counts. Returns the exit code: 0, or 5 when it found errors.
int PrintVerifyReport(OutputFormat format, uint64_t packs, uint64_t blobs, uint64_t bytes,
                      uint64_t snapshots, const std::vector<std::string>& errors);

// Prints "error: <message>" and the hint to stderr; returns the exit code for the status.
int ReportError(const Status& status, OutputFormat format);

}  // namespace dbaas::cli
