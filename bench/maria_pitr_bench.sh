#!/usr/bin/env bash
# bench/maria_pitr_bench.sh: the benchmark of issue 20 (MariaDB point-in-time recovery).
# A MariaDB 10.11 instance with ~SIZE_MB of data, backed up, then LOAD_S seconds of a steady
# write load (autocommit single-row UPDATEs) while its binlogs are drained into the
# repository every second as dbaasd does (binlogArchiveSeconds = RPO_S): the drain's
# throughput and the recovery point (the age of the newest archived commit, sampled every
# second). Then the backup is restored as taken, and to a time 90% into the load (the
# backup plus the binlog replayed). Beside it, in the same run, PostgreSQL's WAL drain on
# the same machine (bench/wal_archive_bench.sh, archive part only).
#
# Usage (as root, from the repository root, after scripts/build.sh release):
#   bench/maria_pitr_bench.sh                         # 1 GiB, 10 minutes of load (~20 min)
#   SIZE_MB=100 LOAD_S=60 RPO_S=10 bench/maria_pitr_bench.sh   # quick
#
# Environment:
#   SIZE_MB=1024 LOAD_S=600 RPO_S=60 WRITERS=2
#   BENCH_DIR=/var/tmp/dbaas-maria-pitr-bench   work dir (an XFS image: reflink backups)
#   SKIP_PG=1   leave out the PostgreSQL WAL drain row
#
# Output: the Markdown report on stdout, also saved to bench/results/maria-pitr-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-1024}
LOAD_S=${LOAD_S:-600}
RPO_S=${RPO_S:-60}
WRITERS=${WRITERS:-2}
BENCH_DIR=${BENCH_DIR:-/var/tmp/dbaas-maria-pitr-bench}
TOOL=${TOOL:-build/release/bench/dbaas_maria_pitr_bench_tool}
[ -x "$TOOL" ] || { echo "error: $TOOL not built (scripts/build.sh release)" >&2; exit 1; }

# shellcheck source=bench/lib.sh
source bench/lib.sh
work=""
cleanup() {
  [ -n "$work" ] && scripts/remove-instance-users.sh "$work"  # the instances' OS users go with them
  xfs_work_dir_cleanup "$BENCH_DIR"
}
trap cleanup EXIT
work=$(xfs_work_dir "$BENCH_DIR" "$((SIZE_MB * 8 + 8192))")

report=$(mktemp)
{
  echo "# MariaDB point-in-time recovery benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo);" \
    "MariaDB $(mariadbd --version | awk '{print $3}'); work dir on $(stat -f -c %T "$(dirname "$work")")."
  echo "Command: SIZE_MB=$SIZE_MB LOAD_S=$LOAD_S RPO_S=$RPO_S WRITERS=$WRITERS bench/maria_pitr_bench.sh"
  echo
  "$TOOL" --dir "$work" --size-mb "$SIZE_MB" --load-seconds "$LOAD_S" --rpo-seconds "$RPO_S" \
    --writers "$WRITERS"
  if [ -z "${SKIP_PG-}" ]; then
    echo
    echo "PostgreSQL's WAL on the same machine, same run (bench/wal_archive_bench.sh, archive part):"
    echo
    SKIP_RPO=1 SKIP_PGBACKREST=1 SEGMENTS=32 bench/wal_archive_bench.sh 2>/dev/null |
      grep -E "^\| (tool|dbaasd's drain)|^\|---" || echo "(the WAL benchmark did not run)"
  fi
} | tee "$report"
mkdir -p bench/results
cp "$report" "bench/results/maria-pitr-$(date -u +%Y%m%d-%H%M).md"
rm -f "$report"
scripts/remove-instance-users.sh "$work"
rm -rf "$work"
