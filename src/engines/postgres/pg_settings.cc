#include "engines/postgres/pg_settings.h"

#include <algorithm>
#include <iterator>
#include <string_view>

#include <fmt/format.h>

namespace dbaas::engines {
namespace {

// PostgreSQL 15 parameters, as `postgres --describe-config` names them (lower-case).
//
// Left out on purpose, among others:
//   - anything that runs a command or loads code: *_command, archive_library,
//     *_preload_libraries, dynamic_library_path, jit_provider, extension_destdir;
//   - where the server listens and keeps files: listen_addresses, port, unix_socket_*,
//     data_directory, hba_file, ident_file, config_file, external_pid_file, krb_server_keyfile,
//     ssl and ssl_*, log_directory, log_filename, logging_collector, log_destination (dbaas
//     reads the server's output), syslog_*;
//   - crash safety and backups: fsync, full_page_writes, wal_sync_method, data_sync_retry,
//     wal_level (backups need replica), archive_mode, max_wal_senders, max_replication_slots
//     and max_slot_wal_keep_size (backups hold a replication slot), recovery_*,
//     primary_conninfo and the other standby settings;
//   - what dbaas sets or relies on: password_encryption (pg_hba.conf asks for
//     scram-sha-256), idle_session_timeout (a backup's session is idle between
//     pg_backup_start and pg_backup_stop), default_transaction_read_only and search_path
//     (dbaas's own sessions call unqualified functions);
//   - developer and recovery switches: session_replication_role, lo_compat_privileges,
//     exit_on_error, restart_after_crash.
constexpr std::string_view kAllowed[] = {
    // Memory.
    "autovacuum_work_mem",
    "effective_cache_size",
    "hash_mem_multiplier",
    "huge_pages",
    "logical_decoding_work_mem",
    "maintenance_work_mem",
    "shared_buffers",
    "temp_buffers",
    "temp_file_limit",
    "wal_buffers",
    "work_mem",
    // Connections and locks.
    "authentication_timeout",
    "client_connection_check_interval",
    "deadlock_timeout",
    "max_connections",
    "max_locks_per_transaction",
    "max_pred_locks_per_page",
    "max_pred_locks_per_relation",
    "max_pred_locks_per_transaction",
    "max_prepared_transactions",
    "tcp_keepalives_count",
    "tcp_keepalives_idle",
    "tcp_keepalives_interval",
    "tcp_user_timeout",
    // Timeouts.
    "idle_in_transaction_session_timeout",
    "lock_timeout",
    "statement_timeout",
    // Background writer, asynchronous I/O and parallel query.
    "backend_flush_after",
    "bgwriter_delay",
    "bgwriter_flush_after",
    "bgwriter_lru_maxpages",
    "bgwriter_lru_multiplier",
    "effective_io_concurrency",
    "maintenance_io_concurrency",
    "max_parallel_maintenance_workers",
    "max_parallel_workers",
    "max_parallel_workers_per_gather",
    "max_worker_processes",
    "parallel_leader_participation",
    // WAL and checkpoints. synchronous_commit and commit_delay trade the last commits on a
    // crash for speed; neither makes the data or a backup inconsistent.
    "archive_timeout",
    "checkpoint_completion_target",
    "checkpoint_flush_after",
    "checkpoint_timeout",
    "checkpoint_warning",
    "commit_delay",
    "commit_siblings",
    "max_wal_size",
    "min_wal_size",
    "synchronous_commit",
    "wal_compression",
    "wal_writer_delay",
    "wal_writer_flush_after",
    // Vacuum.
    "autovacuum",
    "autovacuum_analyze_scale_factor",
    "autovacuum_analyze_threshold",
    "autovacuum_freeze_max_age",
    "autovacuum_max_workers",
    "autovacuum_multixact_freeze_max_age",
    "autovacuum_naptime",
    "autovacuum_vacuum_cost_delay",
    "autovacuum_vacuum_cost_limit",
    "autovacuum_vacuum_insert_scale_factor",
    "autovacuum_vacuum_insert_threshold",
    "autovacuum_vacuum_scale_factor",
    "autovacuum_vacuum_threshold",
    "vacuum_cost_delay",
    "vacuum_cost_limit",
    "vacuum_cost_page_dirty",
    "vacuum_cost_page_hit",
    "vacuum_cost_page_miss",
    "vacuum_failsafe_age",
    "vacuum_freeze_min_age",
    "vacuum_freeze_table_age",
    "vacuum_multixact_failsafe_age",
    "vacuum_multixact_freeze_min_age",
    "vacuum_multixact_freeze_table_age",
    // Planner.
    "constraint_exclusion",
    "cpu_index_tuple_cost",
    "cpu_operator_cost",
    "cpu_tuple_cost",
    "cursor_tuple_fraction",
    "default_statistics_target",
    "enable_async_append",
    "enable_bitmapscan",
    "enable_gathermerge",
    "enable_hashagg",
    "enable_hashjoin",
    "enable_incremental_sort",
    "enable_indexonlyscan",
    "enable_indexscan",
    "enable_material",
    "enable_memoize",
    "enable_mergejoin",
    "enable_nestloop",
    "enable_parallel_append",
    "enable_parallel_hash",
    "enable_partition_pruning",
    "enable_partitionwise_aggregate",
    "enable_partitionwise_join",
    "enable_seqscan",
    "enable_sort",
    "enable_tidscan",
    "from_collapse_limit",
    "geqo",
    "geqo_effort",
    "geqo_generations",
    "geqo_pool_size",
    "geqo_seed",
    "geqo_selection_bias",
    "geqo_threshold",
    "jit",
    "jit_above_cost",
    "jit_inline_above_cost",
    "jit_optimize_above_cost",
    "join_collapse_limit",
    "min_parallel_index_scan_size",
    "min_parallel_table_scan_size",
    "parallel_setup_cost",
    "parallel_tuple_cost",
    "plan_cache_mode",
    "random_page_cost",
    "recursive_worktable_factor",
    "seq_page_cost",
    // Statement behaviour and compatibility.
    "array_nulls",
    "backslash_quote",
    "bytea_output",
    "check_function_bodies",
    "client_min_messages",
    "default_toast_compression",
    "default_transaction_deferrable",
    "default_transaction_isolation",
    "escape_string_warning",
    "gin_fuzzy_search_limit",
    "gin_pending_list_limit",
    "quote_all_identifiers",
    "row_security",
    "standard_conforming_strings",
    "synchronize_seqscans",
    "transform_null_equals",
    "xmlbinary",
    "xmloption",
    // Locale and formatting.
    "client_encoding",
    "datestyle",
    "default_text_search_config",
    "extra_float_digits",
    "intervalstyle",
    "lc_messages",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
    "timezone",
    "timezone_abbreviations",
    // What is logged (not where: that stays the server's output, which dbaas reads).
    "log_autovacuum_min_duration",
    "log_checkpoints",
    "log_connections",
    "log_disconnections",
    "log_duration",
    "log_error_verbosity",
    "log_executor_stats",
    "log_line_prefix",
    "log_lock_waits",
    "log_min_duration_sample",
    "log_min_duration_statement",
    "log_min_error_statement",
    "log_min_messages",
    "log_parameter_max_length",
    "log_parameter_max_length_on_error",
    "log_parser_stats",
    "log_planner_stats",
    "log_statement",
    "log_statement_sample_rate",
    "log_statement_stats",
    "log_temp_files",
    "log_timezone",
    "log_transaction_sample_rate",
    // Statistics.
    "compute_query_id",
    "stats_fetch_consistency",
    "track_activities",
    "track_activity_query_size",
    "track_commit_timestamp",
    "track_counts",
    "track_functions",
    "track_io_timing",
    "track_wal_io_timing",
};

// What fits between the quotes of one postgresql.conf line (QuoteConfValue doubles quotes
// and backslashes; a line break or NUL would end the value early).
bool ValueFits(const std::string& value) {
  return value.find_first_of("\n\r\0", 0, 3) == std::string::npos && value.size() <= 1024;
}

}  // namespace

const std::vector<std::string>& AllowedPgSettings() {
  static const std::vector<std::string> kSorted = [] {
    std::vector<std::string> names(std::begin(kAllowed), std::end(kAllowed));
    std::sort(names.begin(), names.end());
    return names;
  }();
  return kSorted;
}

Status ValidatePgSettings(const std::map<std::string, std::string>& config) {
  const std::vector<std::string>& allowed = AllowedPgSettings();
  for (const auto& [key, value] : config) {
    // PostgreSQL folds parameter names to lower case: MAX_CONNECTIONS is max_connections.
    std::string name = key;
    std::transform(name.begin(), name.end(), name.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; });
    bool name_ok = !name.empty() && name.size() < 64;
    for (char c : name)
      name_ok &= (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    if (!name_ok) {
      return Status::InvalidArgument(fmt::format("'{}' is not a PostgreSQL setting name", key));
    }
    // Known and refused, or unknown: the same answer, so that the message does not depend on
    // whether the name happens to exist in this release.
    if (!std::binary_search(allowed.begin(), allowed.end(), name)) {
      return Status::InvalidArgument(fmt::format("setting '{}' cannot be set on an instance", key),
                                     "docs/SECURITY.md lists the settings an instance accepts");
    }
    if (!ValueFits(value)) {
      return Status::InvalidArgument(fmt::format("value of setting '{}' is not allowed", key),
                                     "values are one line of at most 1024 bytes");
    }
  }
  return Status::Ok();
}

}  // namespace dbaas::engines
