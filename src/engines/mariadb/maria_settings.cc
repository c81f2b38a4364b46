#include "engines/mariadb/maria_settings.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace dbaas::engines {
namespace {

struct AllowedOption {
  std::string_view name;  // as `mariadbd --verbose --help` spells it
  bool on_off;            // a boolean: skip-, disable- and enable- apply to it
};

// MariaDB 10.11 server options.
//
// Left out on purpose, among others:
//   - where the server listens and keeps files, who it runs as: bind-address, port, socket,
//     extra-port, skip-networking, datadir, basedir, tmpdir, pid-file, user, chroot, every
//     *-file, *-dir, *-path and *-home-dir option, log-error, log-bin and the other binlog
//     and relay log names, log-basename;
//   - what loads code or runs SQL: plugin-load, plugin-load-add, plugin-dir, plugin-*
//     (every plugin option has a plugin- alias), init-file, init-connect, init-slave,
//     event-scheduler, allow-suspicious-udfs;
//   - authentication and SQL access to files: skip-grant-tables, skip-name-resolve (dbaas
//     sets it), secure-file-priv, local-infile, symbolic-links, old-passwords, secure-auth,
//     ssl and ssl-*, require-secure-transport;
//   - crash safety: innodb-doublewrite, innodb-flush-method, innodb-force-recovery,
//     innodb-fast-shutdown, innodb-read-only, tc-heuristic-recover, sync-frm, debug-*;
//   - what an existing datadir cannot change: innodb-page-size, innodb-data-file-path,
//     innodb-undo-tablespaces, lower-case-table-names (tables already named with capitals
//     would no longer be found);
//   - what dbaas's own sessions rely on: autocommit, transaction-read-only, read-only,
//     thread-handling (no-threads), default-storage-engine (backups are consistent for
//     InnoDB).
constexpr AllowedOption kAllowed[] = {
    // InnoDB. innodb-flush-log-at-trx-commit trades the last commits on a crash for speed;
    // it does not make the data or a backup inconsistent.
    {"innodb-adaptive-flushing", true},
    {"innodb-adaptive-flushing-lwm", false},
    {"innodb-adaptive-hash-index", true},
    {"innodb-autoinc-lock-mode", false},
    {"innodb-buffer-pool-dump-at-shutdown", true},
    {"innodb-buffer-pool-dump-pct", false},
    {"innodb-buffer-pool-load-at-startup", true},
    {"innodb-buffer-pool-size", false},
    {"innodb-change-buffering", false},
    {"innodb-compression-default", true},
    {"innodb-compression-level", false},
    {"innodb-deadlock-detect", true},
    {"innodb-default-row-format", false},
    {"innodb-file-per-table", true},
    {"innodb-flush-log-at-timeout", false},
    {"innodb-flush-log-at-trx-commit", false},
    {"innodb-flush-neighbors", false},
    {"innodb-ft-enable-stopword", true},
    {"innodb-ft-max-token-size", false},
    {"innodb-ft-min-token-size", false},
    {"innodb-io-capacity", false},
    {"innodb-io-capacity-max", false},
    {"innodb-lock-wait-timeout", false},
    {"innodb-log-buffer-size", false},
    {"innodb-log-file-size", false},
    {"innodb-lru-scan-depth", false},
    {"innodb-max-dirty-pages-pct", false},
    {"innodb-max-dirty-pages-pct-lwm", false},
    {"innodb-old-blocks-pct", false},
    {"innodb-old-blocks-time", false},
    {"innodb-online-alter-log-max-size", false},
    {"innodb-open-files", false},
    {"innodb-print-all-deadlocks", true},
    {"innodb-purge-batch-size", false},
    {"innodb-purge-threads", false},
    {"innodb-read-io-threads", false},
    {"innodb-rollback-on-timeout", true},
    {"innodb-sort-buffer-size", false},
    {"innodb-stats-auto-recalc", true},
    {"innodb-stats-on-metadata", true},
    {"innodb-stats-persistent", true},
    {"innodb-stats-persistent-sample-pages", false},
    {"innodb-stats-transient-sample-pages", false},
    {"innodb-strict-mode", true},
    {"innodb-write-io-threads", false},
    // Memory, caches and other storage engines' buffers.
    {"aria-pagecache-buffer-size", false},
    {"aria-sort-buffer-size", false},
    {"bulk-insert-buffer-size", false},
    {"join-buffer-size", false},
    {"key-buffer-size", false},
    {"max-heap-table-size", false},
    {"myisam-sort-buffer-size", false},
    {"query-cache-limit", false},
    {"query-cache-min-res-unit", false},
    {"query-cache-size", false},
    {"query-cache-strip-comments", true},
    {"query-cache-type", false},
    {"query-cache-wlock-invalidate", true},
    {"read-buffer-size", false},
    {"read-rnd-buffer-size", false},
    {"sort-buffer-size", false},
    {"stored-program-cache", false},
    {"table-definition-cache", false},
    {"table-open-cache", false},
    {"table-open-cache-instances", false},
    {"thread-cache-size", false},
    {"tmp-disk-table-size", false},
    {"tmp-memory-table-size", false},
    {"tmp-table-size", false},
    // Connections, packets and timeouts.
    {"back-log", false},
    {"connect-timeout", false},
    {"host-cache-size", false},
    {"interactive-timeout", false},
    {"lock-wait-timeout", false},
    {"max-allowed-packet", false},
    {"max-connect-errors", false},
    {"max-connections", false},
    {"max-prepared-stmt-count", false},
    {"max-statement-time", false},
    {"max-user-connections", false},
    {"net-buffer-length", false},
    {"net-read-timeout", false},
    {"net-write-timeout", false},
    {"wait-timeout", false},
    // SQL behaviour, character sets and time.
    {"character-set-server", false},
    {"collation-server", false},
    {"default-time-zone", false},
    {"default-week-format", false},
    {"div-precision-increment", false},
    {"explicit-defaults-for-timestamp", true},
    {"ft-max-word-len", false},
    {"ft-min-word-len", false},
    {"group-concat-max-len", false},
    {"lc-time-names", false},
    {"max-error-count", false},
    {"max-length-for-sort-data", false},
    {"max-recursive-iterations", false},
    {"max-sort-length", false},
    {"max-sp-recursion-depth", false},
    {"sql-mode", false},
    {"transaction-isolation", false},
    // Optimizer.
    {"eq-range-index-dive-limit", false},
    {"histogram-size", false},
    {"histogram-type", false},
    {"join-cache-level", false},
    {"optimizer-prune-level", false},
    {"optimizer-search-depth", false},
    {"optimizer-switch", false},
    {"optimizer-use-condition-selectivity", false},
    {"use-stat-tables", false},
    // What is logged (not where: the log files keep their names in the datadir).
    {"general-log", true},
    {"log-output", false},
    {"log-queries-not-using-indexes", true},
    {"log-slow-admin-statements", true},
    {"log-slow-rate-limit", false},
    {"log-slow-verbosity", false},
    {"log-warnings", false},
    {"long-query-time", false},
    {"min-examined-row-limit", false},
    {"performance-schema", true},
    {"slow-query-log", true},
};

// my_getopt's special prefixes. maximum- sets the ceiling of a session variable and
// autoset- asks for an automatic value; neither is something a tenant needs, so both are
// refused rather than reasoned about.
enum class Prefix { kNone, kLoose, kSwitch, kRefused };

Prefix PrefixOf(std::string_view name, std::size_t* length) {
  struct Special {
    std::string_view word;
    Prefix kind;
  };
  static constexpr Special kSpecial[] = {
      {"loose-", Prefix::kLoose},   {"skip-", Prefix::kSwitch},     {"disable-", Prefix::kSwitch},
      {"enable-", Prefix::kSwitch}, {"maximum-", Prefix::kRefused}, {"autoset-", Prefix::kRefused}};
  for (const Special& s : kSpecial) {
    if (name.starts_with(s.word)) {
      *length = s.word.size();
      return s.kind;
    }
  }
  return Prefix::kNone;
}

const AllowedOption* FindAllowed(std::string_view name) {
  for (const AllowedOption& option : kAllowed) {
    if (option.name == name) return &option;
  }
  return nullptr;
}

// mariadbd reads the option file without quoting rules everything shares: a value stays
// plain so that it means one thing to every reader.
bool ValueIsPlain(const std::string& value) {
  bool plain = value.size() <= 1024;
  for (char c : value) {
    plain &= (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-' || c == '.' || c == ',' || c == ':' || c == '+';
  }
  return plain;
}

Status Refused(const std::string& key, std::string hint) {
  return Status::InvalidArgument(fmt::format("option '{}' cannot be set on an instance", key),
                                 std::move(hint));
}

}  // namespace

const std::vector<std::string>& AllowedMariaSettings() {
  static const std::vector<std::string> kSorted = [] {
    std::vector<std::string> names;
    for (const AllowedOption& option : kAllowed) names.emplace_back(option.name);
    std::sort(names.begin(), names.end());
    return names;
  }();
  return kSorted;
}

Status ValidateMariaSettings(const std::map<std::string, std::string>& config) {
  for (const auto& [key, value] : config) {
    // mariadbd compares names without regard to case and takes '_' for '-'.
    std::string name = key;
    for (char& c : name) {
      if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
      if (c == '_') c = '-';
    }
    bool name_ok = !name.empty() && name.size() < 64 && name[0] >= 'a' && name[0] <= 'z';
    for (char c : name) name_ok &= (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!name_ok) {
      return Status::InvalidArgument(fmt::format("'{}' is not a MariaDB option name", key),
                                     "options are written like max_connections");
    }
    // Take the prefixes off as mariadbd does: any number, in any order (loose-skip-x,
    // skip-loose-x). The option is looked up only once none is left, and must then be an
    // allowed name in full: mariadbd would resolve an abbreviation against all its options,
    // so "skip-grant-table" is skip-grant-tables to it, and "plugin-load-ad" plugin-load-add.
    std::string_view option = name;
    int switches = 0;
    for (;;) {
      std::size_t length = 0;
      Prefix prefix = PrefixOf(option, &length);
      if (prefix == Prefix::kNone) break;
      if (prefix == Prefix::kRefused) {
        return Refused(key, "maximum- and autoset- prefixes are not accepted");
      }
      if (prefix == Prefix::kSwitch) ++switches;
      option.remove_prefix(length);
    }
    const AllowedOption* allowed = FindAllowed(option);
    if (allowed == nullptr) {
      return Refused(key, "docs/SECURITY.md lists the options an instance accepts");
    }
    // skip-x=1 sets a number option to 0 where mariadbd takes it at all; and with two
    // switches the last one wins (skip-enable-x turns x on), which no one means.
    if (switches > (allowed->on_off ? 1 : 0)) {
      return Refused(key, "skip-, disable- and enable- apply, once, to on/off options only");
    }
    if (!ValueIsPlain(value)) {
      return Status::InvalidArgument(
          fmt::format("value of option '{}' is not allowed", key),
          "values are numbers, sizes (128M) or words of letters, digits and _-.,:+");
    }
  }
  return Status::Ok();
}

}  // namespace dbaas::engines
