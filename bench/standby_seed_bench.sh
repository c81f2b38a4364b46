#!/usr/bin/env bash
# bench/standby_seed_bench.sh: how a new PostgreSQL standby gets its first copy (issue 15),
# side by side in one run through dbaasd's API: copied from the running primary
# (pg_basebackup, when the instance has no backup) against made from its newest backup
# (restored from the repository, the archived WAL since in its pg_wal, then streaming).
# Each run: PATCH {replicas: 1} -> the job answered, and -> the standby streams; then
# PATCH {replicas: 0}. The backup is taken once, after the copies; pgbench writes for
# WRITE_SECONDS between it and the seeded standbys, so they replay that WAL.
#
# Usage (as root, from the repository root):
#   bench/standby_seed_bench.sh
#   SCALE=10 RUNS=1 bench/standby_seed_bench.sh      # quick
#
# Environment: SCALE=50 (pgbench, ~750 MB), RUNS=3, WRITE_SECONDS=10, BENCH_DIR=/var/tmp,
#   DBAASD=build/release/apps/dbaasd/dbaasd
#
# Output: Markdown on stdout.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/dbaasd_lib.sh
source "$REPO_ROOT/bench/dbaasd_lib.sh"
SCALE=${SCALE:-50}
RUNS=${RUNS:-3}
WRITE_SECONDS=${WRITE_SECONDS:-10}
((EUID == 0)) || { echo "run as root (each instance runs as an OS user of its own)" >&2; exit 1; }
PG_BIN=$(pg_config --bindir 2>/dev/null || true)
[[ -x $PG_BIN/pgbench ]] || PG_BIN=/usr/lib/postgresql/15/bin

start_dbaasd standby-seed-bench
trap 'set +e; kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null
  "$REPO_ROOT/scripts/remove-instance-users.sh" "$work"; rm -rf "$work"' EXIT

streaming() {
  api GET /instances/pg | jq -e '.instance | (.members | length) == 2
    and (.members[1].replication.state // "") == "streaming"' >/dev/null
}
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# One standby made and removed; prints "answered streaming source".
one_standby() {
  local t0 answer answered source
  t0=$(now)
  answer=$(api PATCH /instances/pg '{"replicas":1}')
  answered=$(seconds_since "$t0")
  source=$(jq -r '.added[0] | .source + (if .note then " (" + .note + ")" else "" end)' <<<"$answer")
  until streaming; do sleep 0.05; done
  echo "$answered $(seconds_since "$t0") ${source// /_}"
  api PATCH /instances/pg '{"replicas":0}' >/dev/null
}

log "pgbench -i -s $SCALE"
api POST /instances '{"name":"pg","type":"postgresql","superuserAccess":true}' >/dev/null
uri=$(api GET "/instances/pg?showSecrets=true" | jq -r .instance.connection.uri)
"$PG_BIN/pgbench" -i -q -s "$SCALE" "$uri" >/dev/null 2>&1
size=$("$PG_BIN/psql" -X -qAt "$uri" -c "select pg_size_pretty(pg_database_size('app'))")

copied_answer=() copied_stream=() seeded_answer=() seeded_stream=()
for run in $(seq "$RUNS"); do
  read -r a s src <<<"$(one_standby)"
  [[ $src == copied_from_the_primary* ]] || { echo "expected a copy, got $src" >&2; exit 1; }
  copied_answer+=("$a") copied_stream+=("$s")
  log "run $run: copied from the primary: answered $a s, streaming $s s"
done
api POST /instances/pg/backup '{"backupName":"base"}' >/dev/null
"$PG_BIN/pgbench" -n -c 2 -T "$WRITE_SECONDS" "$uri" >/dev/null 2>&1
for run in $(seq "$RUNS"); do
  read -r a s src <<<"$(one_standby)"
  [[ $src == from_backup_base ]] || { echo "expected the backup, got $src" >&2; exit 1; }
  seeded_answer+=("$a") seeded_stream+=("$s")
  log "run $run: from the backup: answered $a s, streaming $s s"
done

cat <<MD
## A standby's first copy (bench/standby_seed_bench.sh, SCALE=$SCALE ($size), RUNS=$RUNS)

| | job answered (median) | streaming (median) |
|---|---|---|
| copied from the primary (pg_basebackup) | $(median "${copied_answer[@]}") s | $(median "${copied_stream[@]}") s |
| from the newest backup (repository restore + ${WRITE_SECONDS} s of pgbench WAL since) | $(median "${seeded_answer[@]}") s | $(median "${seeded_stream[@]}") s |

Every run: copied ${copied_answer[*]} / ${copied_stream[*]} s; from the backup ${seeded_answer[*]} / ${seeded_stream[*]} s.
MD
