// What the agent's route handlers share (pod_agent.cc, pod_agent_restore.cc): its error
// bodies, JSON answers, and where a restore keeps its parts on the volume.
#pragma once

#include <cstddef>
#include <string>

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

inline void SendJson(http::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

// On the volume (--data): the restore from a volume copy finished; the copy's own directory
// while the restore runs; the log files staged for it.
constexpr char kRestoredMarker[] = ".restored";
constexpr char kVolumeCopy[] = ".volume-copy";
constexpr char kRestoreStaging[] = ".restore-staging";

}  // namespace dbaas::agent
