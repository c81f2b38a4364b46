// The settings allowlists, without servers: what a tenant may put into postgresql.conf and
// my.cnf, including the spellings the servers themselves resolve.
#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "engines/mariadb/maria_settings.h"
#include "engines/postgres/pg_settings.h"

namespace dbaas::engines {
namespace {

Status Pg(const std::string& key, const std::string& value = "1") {
  return ValidatePgSettings({{key, value}});
}

Status Maria(const std::string& key, const std::string& value = "1") {
  return ValidateMariaSettings({{key, value}});
}

TEST(PgSettingsTest, AcceptsTuningInAnyCase) {
  EXPECT_TRUE(ValidatePgSettings({{"work_mem", "8MB"},
                                  {"MAX_CONNECTIONS", "300"},
                                  {"Shared_Buffers", "1GB"},
                                  {"DateStyle", "ISO, DMY"},
                                  {"log_line_prefix", "%m [%p] %q%u@%d "},
                                  {"statement_timeout", "30s"},
                                  {"synchronous_commit", "off"},
                                  {"autovacuum_naptime", "30s"}})
                  .ok());
  EXPECT_TRUE(ValidatePgSettings({}).ok());
}

TEST(PgSettingsTest, RefusesWhatRunsCommandsLoadsCodeOrMovesFiles) {
  for (const char* key : {"recovery_end_command",
                          "archive_cleanup_command",
                          "ssl_passphrase_command",
                          "archive_command",
                          "Archive_Command",
                          "restore_command",
                          "archive_library",
                          "dynamic_library_path",
                          "shared_preload_libraries",
                          "local_preload_libraries",
                          "session_preload_libraries",
                          "jit_provider",
                          "listen_addresses",
                          "port",
                          "unix_socket_directories",
                          "data_directory",
                          "hba_file",
                          "ident_file",
                          "config_file",
                          "include",
                          "include_dir",
                          "include_if_exists",
                          "ssl",
                          "ssl_cert_file",
                          "ssl_key_file",
                          "log_directory",
                          "log_filename",
                          "logging_collector",
                          "external_pid_file",
                          "krb_server_keyfile",
                          "primary_conninfo",
                          "recovery_target_time"}) {
    Status s = Pg(key);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(s.message(), "setting '" + std::string(key) + "' cannot be set on an instance");
    EXPECT_NE(s.hint().find("docs/SECURITY.md"), std::string::npos) << key;
  }
}

TEST(PgSettingsTest, RefusesWhatBreaksCrashSafetyOrBackups) {
  for (const char* key : {"fsync", "full_page_writes", "wal_level", "archive_mode",
                          "max_wal_senders", "max_replication_slots", "max_slot_wal_keep_size",
                          "password_encryption", "idle_session_timeout", "data_sync_retry",
                          "wal_sync_method", "search_path", "default_transaction_read_only"}) {
    EXPECT_EQ(Pg(key, "off").code(), StatusCode::kInvalidArgument) << key;
  }
}

TEST(PgSettingsTest, UnknownNamesGetTheSameAnswerAsRefusedOnes) {
  EXPECT_EQ(Pg("no_such_setting").message(),
            "setting 'no_such_setting' cannot be set on an instance");
  EXPECT_FALSE(Pg("work_me").ok());   // PostgreSQL takes no abbreviations either
  EXPECT_FALSE(Pg("sort_mem").ok());  // an old alias of work_mem: spell it work_mem
  EXPECT_FALSE(Pg("auto_explain.log_min_duration").ok());  // a library nobody loaded
}

TEST(PgSettingsTest, RefusesBadNamesAndValues) {
  for (const std::string& key : {std::string(), std::string("work-mem"), std::string("a b"),
                                 std::string("x=y"), std::string("#"), std::string(64, 'a')}) {
    EXPECT_EQ(Pg(key).code(), StatusCode::kInvalidArgument) << key;
  }
  EXPECT_NE(Pg("a b").message().find("is not a PostgreSQL setting name"), std::string::npos);
  for (const std::string& value : {std::string("1MB\nlisten_addresses = '*'"), std::string("1MB\r"),
                                   std::string("1MB\0x", 5), std::string(1025, 'a')}) {
    EXPECT_EQ(Pg("work_mem", value).code(), StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(Pg("log_line_prefix", std::string(1024, 'a')).ok());
  // Quotes and backslashes are fine: QuoteConfValue doubles them.
  EXPECT_TRUE(Pg("log_line_prefix", "it's \\ quoted").ok());
}

TEST(PgSettingsTest, AllowedListIsSortedLowerCaseAndHasNoCommands) {
  const auto& names = AllowedPgSettings();
  ASSERT_FALSE(names.empty());
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
  for (const std::string& name : names) {
    EXPECT_TRUE(Pg(name).ok()) << name;
    EXPECT_EQ(name.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), std::string::npos) << name;
    for (const char* part : {"command", "librar", "directory", "ssl", "recovery", "listen"}) {
      EXPECT_EQ(name.find(part), std::string::npos) << name;
    }
    EXPECT_FALSE(name.ends_with("_file")) << name;
  }
}

TEST(MariaSettingsTest, AcceptsTuningSpelledAsMariadbdResolvesIt) {
  EXPECT_TRUE(ValidateMariaSettings({{"innodb_buffer_pool_size", "1G"},
                                     {"innodb-log-file-size", "256M"},
                                     {"MAX_CONNECTIONS", "300"},
                                     {"sql_mode", "STRICT_TRANS_TABLES,NO_ZERO_DATE"},
                                     {"default-time-zone", "+00:00"},
                                     {"character_set_server", "utf8mb4"}})
                  .ok());
  for (const char* key :
       {"innodb_buffer_pool_size", "innodb-buffer-pool-size", "loose-innodb-buffer-pool-size",
        "loose_innodb_buffer_pool_size", "LOOSE-INNODB-BUFFER-POOL-SIZE"}) {
    EXPECT_TRUE(Maria(key, "1G").ok()) << key;
  }
}

TEST(MariaSettingsTest, SwitchPrefixesOnlyForOnOffOptions) {
  for (const char* key :
       {"slow_query_log", "skip-slow-query-log", "disable_slow_query_log", "enable-slow-query-log",
        "loose-skip-slow-query-log", "skip-loose-slow-query-log", "skip_performance_schema"}) {
    EXPECT_TRUE(Maria(key).ok()) << key;
  }
  // skip-max-connections is no switch; two switches mean whatever the last one says.
  for (const char* key : {"skip-max-connections", "enable-innodb-buffer-pool-size",
                          "skip-enable-slow-query-log", "skip-skip-slow-query-log"}) {
    Status s = Maria(key);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(s.message(), "option '" + std::string(key) + "' cannot be set on an instance");
  }
  // maximum- would only set the ceiling a session may raise a variable to.
  for (const char* key : {"maximum-max-connections", "maximum-sort-buffer-size",
                          "loose-maximum-sort-buffer-size", "autoset-table-open-cache"}) {
    EXPECT_EQ(Maria(key).code(), StatusCode::kInvalidArgument) << key;
  }
}

TEST(MariaSettingsTest, RefusesTheBypassesOfTheOldDenylist) {
  for (const char* key :
       {"loose-bind-address", "LOOSE_BIND_ADDRESS", "loose_skip_grant_tables", "skip-grant-table",
        "skip-grant-tables", "skip_grant_tables", "plugin-load-ad", "plugin_load_add",
        "plugin-load", "plugin-innodb-buffer-pool-size", "enable-local-infile",
        "loose-local-infile", "init-connect", "init_file"}) {
    Status s = Maria(key, "0");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << key;
    EXPECT_NE(s.hint().find("docs/SECURITY.md"), std::string::npos) << key;
  }
}

TEST(MariaSettingsTest, RefusesWhatTheInstanceOwns) {
  for (const char* key : {"bind-address",
                          "port",
                          "socket",
                          "datadir",
                          "basedir",
                          "tmpdir",
                          "plugin-dir",
                          "secure-file-priv",
                          "local-infile",
                          "log-bin",
                          "log_error",
                          "general-log-file",
                          "slow-query-log-file",
                          "pid-file",
                          "user",
                          "symbolic-links",
                          "ssl-key",
                          "ssl",
                          "innodb-data-home-dir",
                          "innodb-doublewrite",
                          "innodb-flush-method",
                          "innodb-force-recovery",
                          "lower-case-table-names",
                          "skip-networking",
                          "skip-name-resolve",
                          "event-scheduler",
                          "autocommit"}) {
    EXPECT_EQ(Maria(key).code(), StatusCode::kInvalidArgument) << key;
  }
}

TEST(MariaSettingsTest, RefusesAbbreviations) {
  // mariadbd would take each of these for the option it abbreviates; we take none.
  for (const char* key : {"innodb-buffer-pool-siz", "innodb_buffer_pool", "max-conn",
                          "loose-innodb-buffer-pool-siz", "skip-slow-query", "slow-query"}) {
    EXPECT_EQ(Maria(key).code(), StatusCode::kInvalidArgument) << key;
  }
}

TEST(MariaSettingsTest, RefusesBadNamesAndValues) {
  for (const char* key :
       {"", "!include", "a b", "a=b", "_x", "-x", "1x", "a.b", "skip-", "loose-"}) {
    EXPECT_FALSE(Maria(key).ok()) << key;
  }
  EXPECT_NE(Maria("a b").message().find("is not a MariaDB option name"), std::string::npos);
  for (const std::string& value :
       {std::string("1\n[client]"), std::string("1\r"), std::string("1\0x", 3),
        std::string("/etc/passwd"), std::string("a b"), std::string("x;y"), std::string("'q'"),
        std::string("#"), std::string(1025, 'a')}) {
    EXPECT_EQ(Maria("sql_mode", value).code(), StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(Maria("sql_mode", std::string(1024, 'A')).ok());
}

TEST(MariaSettingsTest, AllowedListResolvesToItself) {
  const auto& names = AllowedMariaSettings();
  ASSERT_FALSE(names.empty());
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
  for (const std::string& name : names) {
    EXPECT_TRUE(Maria(name).ok()) << name;
    // A name that began with a prefix word would be taken apart before the lookup.
    for (const char* prefix : {"loose-", "skip-", "disable-", "enable-", "maximum-", "autoset-"}) {
      EXPECT_FALSE(name.starts_with(prefix)) << name;
    }
    for (const char* part : {"plugin", "ssl", "bind", "socket", "init-", "infile", "grant"}) {
      EXPECT_EQ(name.find(part), std::string::npos) << name;
    }
    EXPECT_FALSE(name.ends_with("-file") || name.ends_with("-dir")) << name;
  }
}

}  // namespace
}  // namespace dbaas::engines
