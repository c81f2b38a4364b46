#include "control/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace dbaas::control {
namespace {

using prometheus::Histogram;

// Seconds from a fraction of a second to an hour: backups and restores of small and large
// databases alike fall in a bucket that tells them apart.
Histogram::BucketBoundaries DurationBuckets() {
  return {0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
}

const char* Result(bool ok) { return ok ? "success" : "failure"; }

}  // namespace

ServiceMetrics::ServiceMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto counter = [&](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
  };
  auto histogram = [&](const char* name, const char* help) {
    return &prometheus::BuildHistogram().Name(name).Help(help).Register(*registry_);
  };
  backups_ = counter("dbaas_backups_total", "Backups that ended, by instance and result");
  restores_ = counter("dbaas_restores_total", "Restores that ended, by source instance and result");
  drills_ = counter("dbaas_drills_total", "Restore drills that ended, by instance and result");
  expired_ = counter("dbaas_backups_expired_total", "Backups deleted by retention, by instance");
  alerts_ = counter("dbaas_alerts_total", "Alert deliveries to webhooks, by kind and result");
  backup_seconds_ =
      histogram("dbaas_backup_duration_seconds", "Duration of successful backups, by instance");
  restore_seconds_ = histogram("dbaas_restore_duration_seconds",
                               "Time to a usable instance of successful restores, by source");
  drill_rto_seconds_ = histogram("dbaas_drill_rto_seconds",
                                 "Restore drills' time to a usable instance, by instance");
}

ServiceMetrics::~ServiceMetrics() = default;

void ServiceMetrics::BackupEnded(const std::string& instance, bool ok, double seconds) {
  backups_->Add({{"instance", instance}, {"result", Result(ok)}}).Increment();
  if (ok) backup_seconds_->Add({{"instance", instance}}, DurationBuckets()).Observe(seconds);
}

void ServiceMetrics::RestoreEnded(const std::string& source_instance, bool ok, double seconds) {
  restores_->Add({{"instance", source_instance}, {"result", Result(ok)}}).Increment();
  if (ok) {
    restore_seconds_->Add({{"instance", source_instance}}, DurationBuckets()).Observe(seconds);
  }
}

void ServiceMetrics::DrillEnded(const std::string& instance, bool ok, double rto_seconds) {
  drills_->Add({{"instance", instance}, {"result", Result(ok)}}).Increment();
  if (ok) drill_rto_seconds_->Add({{"instance", instance}}, DurationBuckets()).Observe(rto_seconds);
}

void ServiceMetrics::BackupsExpired(const std::string& instance, int count) {
  expired_->Add({{"instance", instance}}).Increment(count);
}

void ServiceMetrics::AlertEnded(const std::string& kind, bool delivered) {
  alerts_->Add({{"kind", kind}, {"result", delivered ? "delivered" : "failed"}}).Increment();
}

std::string ServiceMetrics::Render(const MetricsState& state) const {
  // The state lives in a registry of its own, made for this scrape: instances that are gone
  // leave no stale series behind.
  prometheus::Registry now;
  auto gauge = [&](const char* name, const char* help) -> prometheus::Family<prometheus::Gauge>& {
    return prometheus::BuildGauge().Name(name).Help(help).Register(now);
  };
  auto& last_good = gauge("dbaas_last_good_backup_timestamp_seconds",
                          "Creation time of the newest good backup (ready, drill not failed)");
  auto& size = gauge("dbaas_backup_size_bytes", "Logical bytes of the newest good backup");
  auto& stored =
      gauge("dbaas_backup_stored_bytes", "Bytes the newest good backup added to the repository");
  auto& count = gauge("dbaas_backups", "Backups kept, by instance");
  auto& failed =
      gauge("dbaas_backups_drill_failed", "Backups whose last restore drill failed, by instance");
  auto& rto = gauge("dbaas_last_drill_rto_seconds",
                    "Time to a usable instance in the newest drilled backup's last drill");
  auto& volume_used =
      gauge("dbaas_instance_volume_used_bytes", "Bytes the instance's files use, last measured");
  auto& volume_size = gauge("dbaas_instance_volume_size_bytes", "The instance's volume size");
  auto& archiving = gauge("dbaas_log_archiving_failing",
                          "1 while the instance's WAL or binlog cannot be archived");
  auto& failovers = gauge("dbaas_failovers", "Times a standby took over from a failed primary");
  auto& streaming =
      gauge("dbaas_replication_streaming", "1 while the standby streams from the primary");
  auto& lag_bytes = gauge("dbaas_replication_lag_bytes",
                          "WAL bytes the standby has not replayed yet (as its primary sees it)");
  auto& lag_seconds =
      gauge("dbaas_replication_lag_seconds", "The standby's replay lag (0 when idle)");
  for (const auto& [name, s] : state.instances) {
    prometheus::Labels labels = {{"instance", name}};
    archiving.Add(labels).Set(s.log_archiving_failing ? 1 : 0);
    if (!s.standbys.empty() || s.failovers > 0) failovers.Add(labels).Set(s.failovers);
    for (const auto& [member, standby] : s.standbys) {
      prometheus::Labels of = {{"instance", name}, {"member", member}};
      streaming.Add(of).Set(standby.streaming ? 1 : 0);
      if (standby.streaming) {
        lag_bytes.Add(of).Set(static_cast<double>(standby.lag_bytes));
        lag_seconds.Add(of).Set(standby.lag_seconds);
      }
    }
    if (s.last_good_backup_unix > 0) {
      last_good.Add(labels).Set(s.last_good_backup_unix);
      size.Add(labels).Set(static_cast<double>(s.last_backup_bytes));
      stored.Add(labels).Set(static_cast<double>(s.last_backup_stored_bytes));
    }
    count.Add(labels).Set(s.backups);
    failed.Add(labels).Set(s.failed_drill_backups);
    if (s.last_drill_rto_seconds >= 0) rto.Add(labels).Set(s.last_drill_rto_seconds);
    if (s.volume_used_bytes) volume_used.Add(labels).Set(static_cast<double>(*s.volume_used_bytes));
    if (s.volume_size_bytes > 0) {
      volume_size.Add(labels).Set(static_cast<double>(s.volume_size_bytes));
    }
  }
  gauge("dbaas_repository_logical_bytes", "Sum of the snapshots' file sizes")
      .Add({})
      .Set(static_cast<double>(state.repository_logical_bytes));
  gauge("dbaas_repository_stored_bytes", "Bytes of the repository's packs on disk")
      .Add({})
      .Set(static_cast<double>(state.repository_stored_bytes));
  gauge("dbaas_data_root_used_bytes", "Used bytes of the data root's filesystem")
      .Add({})
      .Set(static_cast<double>(state.data_root_used_bytes));
  gauge("dbaas_data_root_size_bytes", "Size of the data root's filesystem")
      .Add({})
      .Set(static_cast<double>(state.data_root_total_bytes));
  gauge("dbaas_jobs_in_flight", "Jobs queued or running")
      .Add({})
      .Set(static_cast<double>(state.jobs_in_flight));
  gauge("dbaas_schedules", "Backup schedules").Add({}).Set(static_cast<double>(state.schedules));
  if (!state.remotes.empty()) {
    auto& lag =
        gauge("dbaas_repository_copy_lag_seconds",
              "Age of the oldest ready backup still waiting for its copy in the remote repository");
    auto& sent =
        gauge("dbaas_repository_bytes_sent_total",
              "Bytes sent to the remote repository since the daemon started (snapshots and WAL)");
    auto& failures = gauge("dbaas_repository_copy_failures_total",
                           "Failed operations on the remote repository since the daemon started");
    auto& last = gauge("dbaas_repository_last_success_timestamp_seconds",
                       "When an operation on the remote repository last succeeded");
    for (const auto& [name, r] : state.remotes) {
      prometheus::Labels labels = {{"repository", name}};
      lag.Add(labels).Set(r.copy_lag_seconds);
      sent.Add(labels).Set(static_cast<double>(r.bytes_sent));
      failures.Add(labels).Set(static_cast<double>(r.failures));
      if (r.last_success_unix > 0) last.Add(labels).Set(r.last_success_unix);
    }
  }

  prometheus::TextSerializer text;
  return text.Serialize(registry_->Collect()) + text.Serialize(now.Collect());
}

}  // namespace dbaas::control
