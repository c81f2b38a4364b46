#include "catalog/states.h"

#include <array>
#include <utility>

namespace dbaas::catalog {
namespace {

template <class E, size_t N>
using Words = std::array<std::pair<E, std::string_view>, N>;

constexpr Words<InstanceState, 5> kInstanceWords = {{{InstanceState::kCreating, "creating"},
                                                     {InstanceState::kRestoring, "restoring"},
                                                     {InstanceState::kRunning, "running"},
                                                     {InstanceState::kFailed, "failed"},
                                                     {InstanceState::kDeleting, "deleting"}}};
constexpr Words<BackupState, 3> kBackupWords = {{{BackupState::kCreating, "creating"},
                                                 {BackupState::kReady, "ready"},
                                                 {BackupState::kDeleting, "deleting"}}};
constexpr Words<JobState, 5> kJobWords = {{{JobState::kQueued, "queued"},
                                           {JobState::kRunning, "running"},
                                           {JobState::kSucceeded, "succeeded"},
                                           {JobState::kFailed, "failed"},
                                           {JobState::kCancelled, "cancelled"}}};

template <class E, size_t N>
std::string_view WordOf(const Words<E, N>& words, E state) {
  for (const auto& [s, word] : words) {
    if (s == state) return word;
  }
  return "unknown";
}

template <class E, size_t N>
std::optional<E> StateOf(const Words<E, N>& words, std::string_view word) {
  for (const auto& [s, w] : words) {
    if (w == word) return s;
  }
  return std::nullopt;
}

}  // namespace

std::string_view NameOf(InstanceState s) { return WordOf(kInstanceWords, s); }
std::string_view NameOf(BackupState s) { return WordOf(kBackupWords, s); }
std::string_view NameOf(JobState s) { return WordOf(kJobWords, s); }

std::optional<InstanceState> ParseInstanceState(std::string_view word) {
  return StateOf(kInstanceWords, word);
}
std::optional<BackupState> ParseBackupState(std::string_view word) {
  return StateOf(kBackupWords, word);
}
std::optional<JobState> ParseJobState(std::string_view word) { return StateOf(kJobWords, word); }

}  // namespace dbaas::catalog
