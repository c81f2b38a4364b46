// The states of instances, backups and jobs: one enum each, and the one pair of functions
// that turns a state into its word and back. The word is what the catalog stores and what
// the API shows (the original design's), so there is one spelling of each.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace dbaas::catalog {

enum class InstanceState {
  kCreating,   // being made; a crash discards it
  kRestoring,  // being made from a backup; a crash discards it
  kRunning,    // its server should run (the API shows "failed" while it does not)
  kFailed,     // its server could not be started, or its delete failed
  kDeleting,   // being removed; a crash finishes the delete
};

enum class BackupState {
  kCreating,  // being taken; listed once it is ready
  kReady,
  kDeleting,  // its snapshot is being removed; a crash finishes it
};

enum class JobState {
  kQueued,
  kRunning,
  kSucceeded,
  kFailed,
  kCancelled,  // queued when the daemon stopped
};

std::string_view NameOf(InstanceState s);
std::string_view NameOf(BackupState s);
std::string_view NameOf(JobState s);

std::optional<InstanceState> ParseInstanceState(std::string_view word);
std::optional<BackupState> ParseBackupState(std::string_view word);
std::optional<JobState> ParseJobState(std::string_view word);

// Whether the job has ended (succeeded, failed or cancelled).
inline bool Finished(JobState s) { return s != JobState::kQueued && s != JobState::kRunning; }

}  // namespace dbaas::catalog

// States print as their words in messages: "instance 'db' is deleting".
template <>
struct fmt::formatter<dbaas::catalog::InstanceState> : fmt::formatter<std::string_view> {
  auto format(dbaas::catalog::InstanceState s, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(dbaas::catalog::NameOf(s), ctx);
  }
};
template <>
struct fmt::formatter<dbaas::catalog::BackupState> : fmt::formatter<std::string_view> {
  auto format(dbaas::catalog::BackupState s, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(dbaas::catalog::NameOf(s), ctx);
  }
};
template <>
struct fmt::formatter<dbaas::catalog::JobState> : fmt::formatter<std::string_view> {
  auto format(dbaas::catalog::JobState s, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(dbaas::catalog::NameOf(s), ctx);
  }
};
