// The API's JSON shapes, kept compatible with the original design's responses
// (docs/api/openapi.yaml describes each).
#pragma once

#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "control/service.h"

namespace dbaas::api {

// An instance; `show_secrets` adds the password and puts it in the URI.
nlohmann::json InstanceJson(const control::InstanceView& view, bool show_secrets);
// A backup: backupName, namespace, pvcName, instanceType, status, createdAt, size, ...
// A branch's parent and the point it branched from.
nlohmann::json BranchedFromJson(const catalog::RestoredFrom& from);
nlohmann::json BackupJson(const catalog::BackupRecord& backup);
nlohmann::json JobJson(const catalog::JobRecord& job);
nlohmann::json EventJson(const catalog::EventRecord& event);
nlohmann::json RestorePointJson(const catalog::RestorePointRecord& point);
// A schedule with its next run (nextRunAt) and its last run's outcome.
nlohmann::json ScheduleJson(const catalog::ScheduleRecord& schedule);
// {"success":false,"error":{"code","message"[,"hint"]}}
nlohmann::json ErrorJson(const std::string& code, const std::string& message,
                         const std::string& hint = {});

}  // namespace dbaas::api
