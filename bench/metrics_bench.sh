#!/usr/bin/env bash
# bench/metrics_bench.sh: what a service call costs as backups accumulate. A fresh dbaasd on
# a temporary data root, one small PostgreSQL instance, BACKUPS backups of it, each timed
# (POST .../backup, synchronous: the first ten against the last ten shows whether a backup
# gets slower with the number of backups kept); then SAMPLES scrapes each way:
#   cold  the first scrape after a backup: the daemon reads the repository's sizes again
#         (its pack files and the snapshots' headers; every scrape did this before the
#         sizes were kept);
#   warm  a scrape with nothing changed since the last one: catalog rows only.
# Then one backup deleted (the API answers after the repository's gc).
# Printed with the number of backups at the time, so that the growth shows across runs
# (e.g. BACKUPS=50 and BACKUPS=400).
#
# Usage (as root): BACKUPS=400 bench/metrics_bench.sh
# Environment: BACKUPS [200], SAMPLES [10], DBAASD [build/release/apps/dbaasd/dbaasd],
#   BENCH_DIR [/var/tmp].
# Output: a Markdown table on stdout, also saved to bench/results/metrics-<date>.md.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
BACKUPS=${BACKUPS:-200}
SAMPLES=${SAMPLES:-10}
source "$SCRIPT_DIR/dbaasd_lib.sh"
start_dbaasd metrics-bench
scrape_ms() {  # one GET /metrics, its time in ms
  curl -sf -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$port/metrics" | awk '{printf "%.2f\n", $1 * 1000}'
}

log "instance + $BACKUPS backups"
api POST /instances '{"name":"src","type":"postgresql"}' >/dev/null
n=0 backup_s=()
for i in $(seq "$BACKUPS"); do
  t0=$(now)
  api POST /instances/src/backup "{\"backupName\":\"b$i\"}" >/dev/null
  backup_s+=("$(echo "$(now) - $t0" | bc)")
  n=$i
  ((i % 50 == 0)) && log "$i backups"
done

cold=() warm=()
for s in $(seq "$SAMPLES"); do
  api POST /instances/src/backup "{\"backupName\":\"s$s\"}" >/dev/null
  n=$((n + 1))
  cold+=("$(scrape_ms)")
  warm+=("$(scrape_ms)")
done
snapshots=$(find "$work/data/repository/snapshots" -name '*.manifest' -o -name '*.json' | wc -l)
# A delete collects the repository's garbage before it answers (every manifest read).
t0=$(now)
api DELETE /instances/src/backups/b1 >/dev/null
delete_s=$(echo "$(now) - $t0" | bc)

mc=$(median "${cold[@]}") mw=$(median "${warm[@]}")
first10=$(median "${backup_s[@]:0:10}") last10=$(median "${backup_s[@]: -10}")
mkdir -p "$REPO_ROOT/bench/results"
out="$REPO_ROOT/bench/results/metrics-$(date -u +%Y%m%d-%H%M).md"
{
  echo "GET /metrics with $n backups ($snapshots snapshots), $SAMPLES scrapes each, medians; $(date -u +%FT%TZ)"
  echo
  echo "| scrape | median | samples (ms) |"
  echo "|---|---|---|"
  echo "| cold (first after a backup: sizes read again) | **$mc ms** | ${cold[*]} |"
  echo "| warm (nothing changed: catalog only) | **$mw ms** | ${warm[*]} |"
  echo
  echo "ratio cold / warm: $(echo "scale=1; $mc / $mw" | bc)"
  echo
  echo "delete of one backup with $n kept (DELETE .../backups/b1, gc included): $(printf %.3f "$delete_s") s"
  echo
  echo "backup (POST .../backup), median of the first 10: $(printf %.3f "$first10") s; of the last 10 (backups $((BACKUPS - 9))-$BACKUPS): $(printf %.3f "$last10") s"
} | tee "$out"
