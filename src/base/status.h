// Status and Result<T>: errors as values across layer boundaries.
//
// A Status is either ok or carries a code and a message. Messages are short, lowercase and
// name what failed on what (e.g. "open '/repo/config.json': No such file or directory").
// A hint, when there is one, says what the user can do about it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace dbaas {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // bad input from the caller; nothing was changed
  kNotFound,            // a named object does not exist
  kAlreadyExists,       // a name is taken
  kCorruption,          // stored data failed a check (hash, magic, bounds)
  kIoError,             // the operating system refused (errno-based)
  kBusy,                // a lock is held by someone else; try again later
  kFailedPrecondition,  // the state does not allow this operation
  kInternal,            // a bug
  kAborted,             // cut off before it finished (the daemon stopped)
};

std::string_view StatusCodeName(StatusCode code);
// A stable identifier of the code ("invalid_argument"), for what is stored (a failed job's
// code in the catalog); parsed back by ParseStatusCodeId.
std::string_view StatusCodeId(StatusCode code);
std::optional<StatusCode> ParseStatusCodeId(std::string_view id);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message, std::string hint = {})
      : code_(code), message_(std::move(message)), hint_(std::move(hint)) {}

  static Status Ok() { return {}; }
  static Status InvalidArgument(std::string msg, std::string hint = {}) {
    return {StatusCode::kInvalidArgument, std::move(msg), std::move(hint)};
  }
  static Status NotFound(std::string msg, std::string hint = {}) {
    return {StatusCode::kNotFound, std::move(msg), std::move(hint)};
  }
  static Status AlreadyExists(std::string msg, std::string hint = {}) {
    return {StatusCode::kAlreadyExists, std::move(msg), std::move(hint)};
  }
  static Status Corruption(std::string msg, std::string hint = {}) {
    return {StatusCode::kCorruption, std::move(msg), std::move(hint)};
  }
  static Status IoError(std::string msg, std::string hint = {}) {
    return {StatusCode::kIoError, std::move(msg), std::move(hint)};
  }
  static Status Busy(std::string msg, std::string hint = {}) {
    return {StatusCode::kBusy, std::move(msg), std::move(hint)};
  }
  static Status FailedPrecondition(std::string msg, std::string hint = {}) {
    return {StatusCode::kFailedPrecondition, std::move(msg), std::move(hint)};
  }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& hint() const { return hint_; }

  // "corruption: pack 'ab12..': bad footer magic (hint: run 'dbaas repo verify')".
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context: `.
  Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string hint_;
};

// Maps an errno value to a Status, once, here: "<what> '<path>': <strerror>".
Status ErrnoStatus(std::string_view what, std::string_view path, int err);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(state_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(state_);
  }
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  T value_or(T fallback) const& { return ok() ? value() : std::move(fallback); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace dbaas

#define DBAAS_CONCAT_INNER(a, b) a##b
#define DBAAS_CONCAT(a, b) DBAAS_CONCAT_INNER(a, b)

// Returns from the enclosing function when `expr` (a Status) is not ok.
#define RETURN_IF_ERROR(expr) RETURN_IF_ERROR_IMPL(DBAAS_CONCAT(_status_, __LINE__), expr)
#define RETURN_IF_ERROR_IMPL(tmp, expr) \
  do {                                  \
    ::dbaas::Status tmp = (expr);       \
    if (!tmp.ok()) return tmp;          \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MakeX());` binds the value or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(DBAAS_CONCAT(_result_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()
