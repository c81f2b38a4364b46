#include "base/status.h"

#include <cstring>

#include <fmt/format.h>

namespace dbaas {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid argument";
    case StatusCode::kNotFound:
      return "not found";
    case StatusCode::kAlreadyExists:
      return "already exists";
    case StatusCode::kCorruption:
      return "corruption";
    case StatusCode::kIoError:
      return "i/o error";
    case StatusCode::kBusy:
      return "busy";
    case StatusCode::kFailedPrecondition:
      return "failed precondition";
    case StatusCode::kInternal:
      return "internal error";
    case StatusCode::kAborted:
      return "aborted";
  }
  return "unknown";
}

namespace {
constexpr std::pair<StatusCode, std::string_view> kIds[] = {
    {StatusCode::kOk, "ok"},
    {StatusCode::kInvalidArgument, "invalid_argument"},
    {StatusCode::kNotFound, "not_found"},
    {StatusCode::kAlreadyExists, "already_exists"},
    {StatusCode::kCorruption, "corruption"},
    {StatusCode::kIoError, "io_error"},
    {StatusCode::kBusy, "busy"},
    {StatusCode::kFailedPrecondition, "failed_precondition"},
    {StatusCode::kInternal, "internal"},
    // The word jobs cut off by a daemon's stop have always been stored with.
    {StatusCode::kAborted, "interrupted"},
};
}  // namespace

std::string_view StatusCodeId(StatusCode code) {
  for (const auto& [c, id] : kIds) {
    if (c == code) return id;
  }
  return "internal";
}

std::optional<StatusCode> ParseStatusCodeId(std::string_view id) {
  for (const auto& [c, word] : kIds) {
    if (word == id) return c;
  }
  return std::nullopt;
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out = fmt::format("{}: {}", StatusCodeName(code_), message_);
  if (!hint_.empty()) out += fmt::format(" (hint: {})", hint_);
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, fmt::format("{}: {}", context, message_), hint_);
}

Status ErrnoStatus(std::string_view what, std::string_view path, int err) {
  std::string msg = fmt::format("{} '{}': {}", what, path, std::strerror(err));
  switch (err) {
    case ENOENT:
      return Status::NotFound(std::move(msg));
    case EEXIST:
      return Status::AlreadyExists(std::move(msg));
    case EACCES:
    case EPERM:
      return Status::IoError(std::move(msg), "check the permissions of the path");
    case ENOSPC:
      return Status::IoError(std::move(msg), "free some space on that filesystem");
    case EWOULDBLOCK:
      return Status::Busy(std::move(msg));
    default:
      return Status::IoError(std::move(msg));
  }
}

}  // namespace dbaas
