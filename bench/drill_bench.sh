#!/usr/bin/env bash
# bench/drill_bench.sh: restore drills (issue #7). A fresh dbaasd on a temporary data root, a
# PostgreSQL instance loaded with `pgbench -i -s SCALE`, one backup; then, RUNS times each,
# side by side:
#   drill   POST /instances/:name/backups/:backup/verify: the service restores into a scratch
#           instance, runs pg_verifybackup on its files before it starts, pg_amcheck
#           --heapallindexed over every database once it runs, counts the rows of every table,
#           removes the scratch instance (its time to usable is the RTO);
#   script  the original design's restore test as a client script would do it through the
#           API: POST .../restore into a new instance, pg_amcheck --heapallindexed on it,
#           count(*) of the four pgbench tables with psql, DELETE the instance.
# The drill does more (pg_verifybackup, which a script cannot run on a copy the API has
# already started); both must find the same row count.
#
# Usage (as root): SCALE=70 RUNS=3 bench/drill_bench.sh
# Environment: SCALE [20], RUNS [3], DBAASD [build/release/apps/dbaasd/dbaasd],
#   BENCH_DIR [/var/tmp] (needs ~5 x the pgbench data free).
# Output: a Markdown table on stdout, also saved to bench/results/drill-<date>.md.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
SCALE=${SCALE:-20}
RUNS=${RUNS:-3}
source "$SCRIPT_DIR/dbaasd_lib.sh"
pgbin=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
start_dbaasd drill-bench
connect_env() {  # exports libpq variables for instance $1
  local c
  c=$(api GET "/instances/$1?showSecrets=true" | jq .instance.connection)
  export PGHOST=$(jq -r '.socket | sub("/[^/]*$"; "")' <<<"$c") PGPORT=$(jq -r .port <<<"$c") \
    PGUSER=$(jq -r .user <<<"$c") PGPASSWORD=$(jq -r .password <<<"$c") PGDATABASE=$(jq -r .database <<<"$c")
}

log "instance + pgbench -i -s $SCALE"
api POST /instances '{"name":"src","type":"postgresql"}' >/dev/null
connect_env src
"$pgbin/pgbench" -i -q -s "$SCALE" >/dev/null 2>&1
api POST /instances/src/backup '{"backupName":"b"}' >/dev/null
size=$(api GET /instances/src/backups/b | jq .backup.size)

drill_s=() rto_s=() verify_s=() script_s=() drill_rows="" script_rows=""
for run in $(seq "$RUNS"); do
  log "run $run: drill"
  t0=$(now)
  d=$(api POST /instances/src/backups/b/verify)
  drill_s+=("$(echo "$(now) - $t0" | bc)")
  [ "$(jq -r .passed <<<"$d")" = true ] || { echo "drill failed: $d" >&2; exit 1; }
  rto_s+=("$(jq .drill.rtoSeconds <<<"$d")")
  verify_s+=("$(jq .drill.fileCheckSeconds <<<"$d")")
  drill_rows=$(jq .drill.rows <<<"$d")

  log "run $run: script (restore, pg_amcheck, counts, delete)"
  t0=$(now)
  api POST /instances/src/restore '{"backupName":"b","newInstanceName":"check"}' >/dev/null
  connect_env check
  "$pgbin/pg_amcheck" --all --install-missing --heapallindexed >/dev/null
  script_rows=0
  for t in pgbench_accounts pgbench_branches pgbench_tellers pgbench_history; do
    script_rows=$((script_rows + $("$pgbin/psql" -XAtc "select count(*) from $t")))
  done
  api DELETE /instances/check >/dev/null
  script_s+=("$(echo "$(now) - $t0" | bc)")
done
[ "$drill_rows" = "$script_rows" ] || { echo "row counts differ: $drill_rows vs $script_rows" >&2; exit 1; }

md=$(median "${drill_s[@]}") mr=$(median "${rto_s[@]}") ms=$(median "${script_s[@]}")
mv=$(median "${verify_s[@]}")
mkdir -p "$REPO_ROOT/bench/results"
out="$REPO_ROOT/bench/results/drill-$(date -u +%Y%m%d-%H%M).md"
{
  echo "Restore drill, pgbench scale $SCALE ($(echo "$size / 1000000" | bc) MB backed up), $RUNS runs, medians; $(date -u +%FT%TZ)"
  echo
  echo "| | wall (runs) | rows checked |"
  echo "|---|---|---|"
  echo "| drill (POST .../verify) | **$(printf %.2f "$md") s** ($(printf '%.2f ' "${drill_s[@]}")) | $drill_rows |"
  echo "| of which restore to usable (RTO) | $(printf %.2f "$mr") s ($(printf '%.2f ' "${rto_s[@]}")) | |"
  echo "| of which pg_verifybackup before the start | $(printf %.2f "$mv") s ($(printf '%.2f ' "${verify_s[@]}")) | |"
  echo "| script: restore + pg_amcheck + counts + delete | $(printf %.2f "$ms") s ($(printf '%.2f ' "${script_s[@]}")) | $script_rows |"
  echo
  echo "ratio drill / script: $(echo "scale=2; $md / $ms" | bc)"
} | tee "$out"
