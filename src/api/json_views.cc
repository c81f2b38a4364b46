#include "api/json_views.h"

#include <fmt/format.h>

#include "control/cron.h"
#include "control/stored_facts.h"
#include "control/validation.h"
#include "http/error_codes.h"

namespace dbaas::api {

using nlohmann::json;

namespace {

// The original design's names for where an instance's data lives (a namespace per instance,
// its StatefulSet's first PVC); the Kubernetes runtime makes them real.
std::string NamespaceOf(const std::string& instance) { return "dbaas-" + instance; }

std::string PvcNameOf(const std::string& instance, const std::string& type) {
  return fmt::format("data-{}-{}-local-0", instance, type);
}

// The original design's backup statuses; the catalog's own state goes out as `state`. A
// backup that fails is removed (its job says why), so none is listed as failed.
const char* DesignStatusOf(catalog::BackupState state) {
  switch (state) {
    case catalog::BackupState::kCreating:
      return "inProgress";
    case catalog::BackupState::kReady:
      return "completed";
    case catalog::BackupState::kDeleting:
      return "deleting";
  }
  return "inProgress";
}

}  // namespace

json BranchedFromJson(const catalog::RestoredFrom& from) {
  return {{"instance", from.source_instance},
          {"backupName", from.backup_name.empty() ? json(nullptr) : json(from.backup_name)},
          {"at", from.branch_point.empty() ? json(nullptr) : json(from.branch_point)},
          {"method", from.branch_method},
          {"branchedAt", from.restored_at}};
}

namespace {

json MemberJson(const control::MemberView& m) {
  json j = {{"name", m.name},
            {"role", m.role},
            {"state", m.state},
            {"host", m.host},
            {"port", m.port},
            {"timeline", m.timeline},
            {"lsn", m.lsn.empty() ? json(nullptr) : json(m.lsn)},
            {"replication", nullptr}};
  if (m.replication) {
    const engines::ReplicaLink& r = *m.replication;
    j["replication"] = {{"state", r.state},        {"syncState", r.sync_state},
                        {"sentLsn", r.sent_lsn},   {"writeLsn", r.write_lsn},
                        {"flushLsn", r.flush_lsn}, {"replayLsn", r.replay_lsn},
                        {"lagBytes", r.lag_bytes}, {"lagSeconds", r.lag_seconds}};
  }
  return j;
}

}  // namespace

json InstanceJson(const control::InstanceView& view, bool show_secrets) {
  const catalog::InstanceRecord& r = view.record;
  json j = {{"name", r.name},
            {"type", r.type},
            {"status", catalog::NameOf(view.status)},
            {"size", r.size},
            {"config", r.config},
            {"createdAt", r.created_at},
            {"updatedAt", r.updated_at},
            {"restarts", view.restarts}};
  if (!view.status_message.empty()) j["statusMessage"] = view.status_message;
  if (view.connection) {
    const engines::ConnectionInfo& c = *view.connection;
    json conn = {{"host", c.host}, {"port", c.port},         {"socket", c.socket},
                 {"user", c.user}, {"database", c.database}, {"uri", c.Uri(show_secrets)}};
    if (show_secrets) conn["password"] = c.password;
    if (!view.standby_endpoints.empty() && c.type == "postgresql") {
      std::vector<engines::HostPort> all = {{c.host, c.port}};
      all.insert(all.end(), view.standby_endpoints.begin(), view.standby_endpoints.end());
      // The connection follows the primary across failovers, with no proxy.
      conn["uri"] = c.MultiHostUri(show_secrets, all, "read-write");
      // Standbys first; the primary last, for when none answers.
      std::vector<engines::HostPort> read = view.standby_endpoints;
      read.push_back({c.host, c.port});
      conn["uriReadOnly"] = c.MultiHostUri(show_secrets, read, "prefer-standby");
    }
    // The superuser's login, for an instance made with superuser access, with secrets only.
    if (show_secrets && view.superuser) {
      const engines::ConnectionInfo& su = *view.superuser;
      conn["superuser"] = {{"user", su.user}, {"password", su.password}, {"uri", su.Uri(true)}};
    }
    j["connection"] = std::move(conn);
  } else {
    j["connection"] = nullptr;
  }
  // Sizes are recorded, and enforced where the runtime can (`enforced`); usage is measured
  // every --volume-check-interval while the instance runs (null before).
  json volume = {{"sizeBytes", r.size.empty() ? json(nullptr) : json(control::SizeBytes(r.size))},
                 {"usedBytes", nullptr},
                 {"exclusiveBytes", nullptr},
                 {"enforced", false}};
  if (view.volume) {
    volume["usedBytes"] = view.volume->used_bytes;
    volume["exclusiveBytes"] = view.volume->exclusive_bytes;
    volume["enforced"] = view.volume->enforced;
  }
  j["volume"] = std::move(volume);
  j["replicas"] = r.replication.replicas;
  j["synchronous"] = r.replication.synchronous;
  j["primary"] = r.replication.empty() ? json(nullptr) : json(r.primary());
  j["failovers"] = r.replication.failovers;
  j["members"] = json::array();
  for (const control::MemberView& m : view.members) j["members"].push_back(MemberJson(m));
  if (r.restored_from && r.restored_from->is_branch()) {
    j["branchedFrom"] = BranchedFromJson(*r.restored_from);
  } else if (r.restored_from) {
    j["restoredFrom"] = {{"sourceInstance", r.restored_from->source_instance},
                         {"backupName", r.restored_from->backup_name},
                         {"restoredAt", r.restored_from->restored_at}};
  }
  return j;
}

json BackupJson(const catalog::BackupRecord& b) {
  json j = {{"backupName", b.name},
            {"namespace", NamespaceOf(b.instance)},
            {"pvcName", PvcNameOf(b.instance, b.instance_type)},
            {"instanceName", b.instance},
            {"instanceType", b.instance_type},
            {"status", DesignStatusOf(b.status)},
            {"state", catalog::NameOf(b.status)},
            {"createdAt", b.created_at},
            {"size", control::BackupVolumeSize(b)},
            {"dataBytes", b.size},
            {"storedBytes", b.stored_bytes},
            {"snapshotId", b.snapshot_id},
            {"retentionDays", b.retention_days ? json(*b.retention_days) : json(nullptr)},
            {"expiresAt", b.expires_at.empty() ? json(nullptr) : json(b.expires_at)},
            {"pinned", b.pinned},
            {"schedule", b.schedule_id.empty() ? json(nullptr) : json(b.schedule_id)},
            {"drill", b.drill},
            {"copies", b.copies.is_object() ? b.copies : json::object()},
            {"local", b.local}};
  // The member of a replicated instance it was taken on, when a standby.
  if (b.info.is_object() && b.info.contains("member") && b.info["member"].is_string()) {
    j["member"] = b.info["member"];
  }
  // What the backup recorded about itself, where its engine knows it.
  const engines::BackupFacts f = control::StoredFacts(b.info);
  auto text = [&](const char* key, const std::string& v) {
    if (!v.empty()) j[key] = v;
  };
  auto number = [&](const char* key, const auto& v) {
    if (v) j[key] = *v;
  };
  text("serverVersion", f.server_version);
  text("snapshotKind", f.snapshot_kind);
  text("volumeSnapshot", f.volume_snapshot);
  text("volumeSnapshotContent", f.volume_snapshot_content);
  number("durationSeconds", f.duration_seconds);
  number("timeline", f.timeline);
  if (f.engine == "postgresql" || f.engine.empty()) {
    text("startLsn", f.start_lsn);
    text("stopLsn", f.stop_lsn);
  } else {
    text("binlogPosition", f.stop_lsn);  // MariaDB's backups are a point in the binlog
    text("gtidPosition", f.gtid_position);
  }
  number("secondsInBackupMode", f.seconds_in_backup_mode);
  text("method", f.method);
  number("checkpointLsn", f.checkpoint_lsn);
  number("endLsn", f.end_lsn);
  number("secondsWritesBlocked", f.seconds_writes_blocked);
  return j;
}

json EventJson(const catalog::EventRecord& e) {
  auto or_null = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  return {{"id", e.id},
          {"at", e.at},
          {"level", e.level},
          {"instance", or_null(e.instance)},
          {"jobId", or_null(e.job)},
          {"message", e.message}};
}

json JobJson(const catalog::JobRecord& r) {
  json j = {{"id", r.id},
            {"type", r.kind},
            {"instance", r.instance},
            {"status", catalog::NameOf(r.status)},
            {"progress", r.progress},
            {"request", r.request},
            {"createdAt", r.created_at},
            {"startedAt", r.started_at.empty() ? json(nullptr) : json(r.started_at)},
            {"finishedAt", r.finished_at.empty() ? json(nullptr) : json(r.finished_at)}};
  if (r.error_code) {
    j["error"] = {{"code", http::WireCode(*r.error_code)}, {"message", r.error_message}};
    if (r.result.contains("hint")) j["error"]["hint"] = r.result["hint"];
  } else if (!r.result.empty()) {
    j["result"] = r.result;
  }
  return j;
}

json ErrorJson(const std::string& code, const std::string& message, const std::string& hint) {
  json error = {{"code", code}, {"message", message}};
  if (!hint.empty()) error["hint"] = hint;
  return {{"success", false}, {"error", std::move(error)}};
}
json RestorePointJson(const catalog::RestorePointRecord& p) {
  json j = {{"name", p.name},
            {"instance", p.instance},
            {"lsn", p.lsn},
            {"walArchive", p.wal_archive},
            {"createdAt", p.created_at}};
  if (!p.gtid.empty()) j["gtid"] = p.gtid;  // MariaDB's; lsn is then its binlog position
  return j;
}

json ScheduleJson(const catalog::ScheduleRecord& s) {
  json next = nullptr;
  if (auto cron = control::CronSchedule::Parse(s.cron, s.time_zone); cron.ok()) {
    if (auto at = cron->NextAfter(catalog::TimePointOf(s.last_slot_at))) {
      next = catalog::FormatRfc3339(*at);
    }
  }
  auto text_or_null = [](const std::string& t) { return t.empty() ? json(nullptr) : json(t); };
  return {{"id", s.id},
          {"instanceName", s.instance},
          {"cron", s.cron},
          {"timeZone", s.time_zone},
          {"retentionDays", s.retention_days ? json(*s.retention_days) : json(nullptr)},
          {"keepDaily", s.keep_daily},
          {"keepWeekly", s.keep_weekly},
          {"keepMonthly", s.keep_monthly},
          {"verify", s.verify},
          {"repositories", s.repositories},
          {"repository", text_or_null(s.repository)},
          {"createdAt", s.created_at},
          {"nextRunAt", next},
          {"lastRunAt", text_or_null(s.last_run_at)},
          {"lastStatus", text_or_null(s.last_status)},
          {"lastMessage", text_or_null(s.last_message)}};
}

}  // namespace dbaas::api
