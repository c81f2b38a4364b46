// What the agent's route handlers share (pod_agent.cc, pod_agent_restore.cc): its error
// bodies, JSON answers, and where a restore keeps its parts on the volume.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "http/message.h"

namespace dbaas::agent {

// {"error": {"code", "message", "hint"}}, as dbaasd's API answers.
inline nlohmann::json ErrorBody(const std::string& code, const Status& st) {
  nlohmann::json error = {{"code", code}, {"message", st.message()}};
  if (!st.hint().empty()) error["hint"] = st.hint();
  return {{"error", std::move(error)}};
}

// Names from the volume may not be UTF-8 (a file a tenant named): replaced, never thrown on.
inline void SendJson(http::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

// The query parameter `key` as a count of bytes: required, not negative.
inline Result<uint64_t> ByteCountParam(const http::Request& req, const char* key) {
  ASSIGN_OR_RETURN(int64_t value, http::IntParam(req, key, -1));
  if (value < 0) {
    return Status::InvalidArgument(fmt::format(
        "query parameter {} must be a number of bytes, not '{}'", key, req.get_param_value(key)));
  }
  return static_cast<uint64_t>(value);
}

// On the volume (--data): the restore from a volume copy finished; the copy's own directory
// while the restore runs; the log files staged for it; a point-in-time restore's copy of
// the source's archive (a repository holding that archive alone).
constexpr char kRestoredMarker[] = ".restored";
constexpr char kVolumeCopy[] = ".volume-copy";
// On the volume while the daemon wants the server down (POST /v1/stop until /v1/start): a
// pod restarted meanwhile opens the instance without starting its server.
constexpr char kStoppedMarker[] = ".stopped";
constexpr char kRestoreStaging[] = ".restore-staging";
constexpr char kRestoreArchive[] = ".restore-archive";

}  // namespace dbaas::agent
