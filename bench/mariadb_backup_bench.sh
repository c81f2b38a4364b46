#!/usr/bin/env bash
# bench/mariadb_backup_bench.sh: the benchmark of issue #5 (MariaDB instances with
# consistent backup and restore). This project's backup of a running MariaDB 10.11
# instance, by reflink clones and by its mariadb-backup method, against plain
# `mariadb-backup --backup` (+ --prepare, --copy-back) on the same ~1 GB of data, under the
# same write load, side by side in one run. See /work/shared/BASELINE.md for reference
# figures and bench/maria_bench_tool.cc for what each column means.
#
# Usage (as root, from the repository root, after scripts/build.sh release):
#   bench/mariadb_backup_bench.sh
#   SIZE_MB=100 RUNS=1 bench/mariadb_backup_bench.sh        # quick smoke run
#
# Environment:
#   SIZE_MB=1024   data loaded into the instance (~1 KiB rows)
#   RUNS=3         backups per method; the median by wall time is reported
#   WRITERS=2      connections doing autocommit single-row UPDATEs during the backups
#   BENCH_DIR=/var/tmp/dbaas-maria-bench   work dir: holds the XFS image (sparse, ~4x SIZE_MB)
#   TOOL=build/release/bench/dbaas_maria_bench_tool
#
# Without root (or mkfs.xfs, or a loop device) the run happens in BENCH_DIR as it is and the
# reflink row is left out (the report says so).
#
# Output: the Markdown report on stdout, also saved to bench/results/mariadb-backup-<date>.md;
# progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-3}
WRITERS=${WRITERS:-2}
BENCH_DIR=${BENCH_DIR:-/var/tmp/dbaas-maria-bench}
TOOL=${TOOL:-build/release/bench/dbaas_maria_bench_tool}
[ -x "$TOOL" ] || { echo "error: $TOOL not built (scripts/build.sh release)" >&2; exit 1; }

# shellcheck source=bench/lib.sh
source bench/lib.sh
work=""
cleanup() {
  [ -n "$work" ] && scripts/remove-instance-users.sh "$work"  # the instances' OS users go with them
  xfs_work_dir_cleanup "$BENCH_DIR"
}
trap cleanup EXIT
work=$(xfs_work_dir "$BENCH_DIR" "$((SIZE_MB * 6 + 4096))")

report=$(mktemp)
{
  echo "# MariaDB backup benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo);" \
    "MariaDB $(mariadbd --version | awk '{print $3}'); work dir on $(stat -f -c %T "$(dirname "$work")")."
  echo "Command: SIZE_MB=$SIZE_MB RUNS=$RUNS WRITERS=$WRITERS bench/mariadb_backup_bench.sh"
  echo
  "$TOOL" --dir "$work" --size-mb "$SIZE_MB" --runs "$RUNS" --writers "$WRITERS"
} | tee "$report"
mkdir -p bench/results
cp "$report" "bench/results/mariadb-backup-$(date -u +%Y%m%d-%H%M).md"
rm -f "$report"
scripts/remove-instance-users.sh "$work"  # before the records go with the directory
rm -rf "$work"
