#include "control/validation.h"

#include <chrono>
#include <ctime>

#include <fmt/format.h>

#include "base/byte_quantity.h"

namespace dbaas::control {

Status ValidateSize(const std::string& size) {
  if (size.empty() || ParseByteQuantity(size)) return Status::Ok();
  return Status::InvalidArgument(fmt::format("size '{}' is not a quantity of bytes", size),
                                 "write it like 10Gi, 512Mi or 1G (at most 1 PiB)");
}

uint64_t SizeBytes(const std::string& size) { return ParseByteQuantity(size).value_or(0); }

Status ValidateRetentionDays(std::optional<int> days) {
  if (!days || (*days >= 1 && *days <= 36500)) return Status::Ok();
  return Status::InvalidArgument(fmt::format("retentionDays {} is out of range", *days),
                                 "give 1 to 36500 days");
}

Status ValidateJobId(const std::string& id) {
  bool ok = id.size() == 16;
  for (char c : id) ok &= (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  if (ok) return Status::Ok();
  return Status::InvalidArgument("a job id is 16 lowercase hex digits");
}

std::string DefaultBackupName(const std::string& instance) {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  std::string stamp = fmt::format("{:04}{:02}{:02}-{:02}{:02}{:02}", tm.tm_year + 1900,
                                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  // "-backup-" + stamp is 23 characters; a label has at most 63.
  std::string base = instance.substr(0, 40);
  while (!base.empty() && base.back() == '-') base.pop_back();
  return fmt::format("{}-backup-{}", base, stamp);
}

}  // namespace dbaas::control
