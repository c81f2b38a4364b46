// Checks of user input the service does before it touches anything.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/status.h"

namespace dbaas::control {

// Empty, or a Kubernetes quantity of bytes: digits with an optional Ki, Mi, Gi, Ti, K, M,
// G or T suffix ("10Gi"), at most 1 PiB.
Status ValidateSize(const std::string& size);
// The bytes a valid non-empty size stands for.
uint64_t SizeBytes(const std::string& size);
// 1 to 36500 days.
Status ValidateRetentionDays(std::optional<int> days);
// Job ids are 16 lowercase hex digits.
Status ValidateJobId(const std::string& id);
// <instance>-backup-<yyyymmdd-hhmmss> in UTC, the instance part cut so the whole stays a
// DNS-1123 label.
std::string DefaultBackupName(const std::string& instance);

}  // namespace dbaas::control
