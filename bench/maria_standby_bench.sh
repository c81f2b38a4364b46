#!/usr/bin/env bash
# bench/maria_standby_bench.sh: MariaDB standbys (issue 15) through dbaasd's API with real
# MariaDB 10.11 servers:
#   make:       PATCH replicas 1 -> the standby made and started (from a backup taken for
#               it: the job's time), then streaming;
#   switchover: POST /instances/:name/switchover -> a write commits on the new primary
#               (the instance's port, as GET /instances/:name gives it);
#   lag:        the standby's Seconds_Behind_Master and unapplied relay bytes (the member
#               status), sampled every 0.5 s while mariadb-slap writes.
# Medians and the worst over ROUNDS switchovers.
#
# Usage (as root, from the repository root):
#   bench/maria_standby_bench.sh
#   ROUNDS=3 bench/maria_standby_bench.sh     # quick
#
# Environment: ROUNDS=10, ROWS=200000 (rows loaded first), BENCH_DIR=/var/tmp, KEEP=1 (keep
#   the work directory),
#   DBAASD=build/release/apps/dbaasd/dbaasd
#
# Output: Markdown on stdout.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/dbaasd_lib.sh
source "$REPO_ROOT/bench/dbaasd_lib.sh"
ROUNDS=${ROUNDS:-10}
ROWS=${ROWS:-200000}
((EUID == 0)) || { echo "run as root (each instance runs as an OS user of its own)" >&2; exit 1; }

start_dbaasd maria-standby-bench
trap 'set +e; kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null
  "$REPO_ROOT/scripts/remove-instance-users.sh" "$work"
  if [[ -n ${KEEP:-} ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi' EXIT

inst() { api GET "/instances/shop$1"; }
streaming() {
  inst "" | jq -e '.instance | (.members | length) == 2 and .members[0].name == .primary
    and all(.members[]; .state == "running")
    and (.members[1].replication.state // "") == "streaming"' >/dev/null
}
wait_streaming() { for _ in $(seq 600); do streaming && return 0; sleep 0.1; done; return 1; }
sql() {  # through the instance's connection as GET shows it now
  local c
  c=$(inst "?showSecrets=true" | jq -r '.instance.connection | "\(.port) \(.password)"')
  mariadb -h 127.0.0.1 -P "${c% *}" -u app -p"${c#* }" app -e "$1"
}
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

log "instance with $ROWS rows"
api POST /instances '{"name":"shop","type":"mariadb"}' >/dev/null
sql "create table t (id int primary key auto_increment, v varchar(100));
     insert into t (v) select repeat('x', 100) from seq_1_to_$ROWS" >/dev/null

log "a standby (no backup yet: one is taken for it)"
t0=$(now)
api PATCH /instances/shop '{"replicas":1}' >/dev/null
made=$(seconds_since "$t0")
wait_streaming || { echo "the standby never replicated" >&2; exit 1; }
streams=$(seconds_since "$t0")

log "replication lag under mariadb-slap for 20 s"
c=$(inst "?showSecrets=true" | jq -r '.instance.connection | "\(.port) \(.password)"')
timeout 20 mariadb-slap -h 127.0.0.1 -P "${c% *}" -u app -p"${c#* }" --create-schema=app \
  --concurrency=4 --iterations=100000 --number-of-queries=100000000 \
  --query="insert into t (v) values (repeat('y', 100))" >/dev/null 2>&1 &
slap=$!
lag_bytes=() lag_seconds=()
while kill -0 "$slap" 2>/dev/null; do
  sample=$(inst "" | jq -r '.instance.members[1].replication | "\(.lagBytes // 0) \(.lagSeconds // 0)"')
  lag_bytes+=("${sample% *}") lag_seconds+=("${sample#* }")
  sleep 0.5
done
wait "$slap" 2>/dev/null || true

switchovers=()
for round in $(seq "$ROUNDS"); do
  wait_streaming || { echo "round $round: the standby does not replicate" >&2; exit 1; }
  t0=$(now)
  api POST /instances/shop/switchover '{}' >/dev/null ||
    { echo "round $round: the switchover failed: $(tail -3 "$work/dbaasd.log")" >&2; exit 1; }
  until sql "insert into t (v) values ('after')" >/dev/null 2>&1; do sleep 0.05; done
  switchovers+=("$(seconds_since "$t0")")
  log "round $round: switchover ${switchovers[-1]} s"
done
rows_primary=$(sql "select count(*) from t" | tail -1)

max() { printf '%s\n' "$@" | sort -g | tail -1; }
cat <<MD
## MariaDB standbys (bench/maria_standby_bench.sh, ROUNDS=$ROUNDS, ROWS=$ROWS)

| | median | worst |
|---|---|---|
| standby made from a backup taken for it (PATCH replicas 1 answered) | $made s | |
| ... and replicating | $streams s | |
| switchover: request -> a write commits on the new primary | $(median "${switchovers[@]}") s | $(max "${switchovers[@]}") s |
| replication lag under mariadb-slap -c 4, unapplied relay bytes | $(median "${lag_bytes[@]}") | $(max "${lag_bytes[@]}") |
| replication lag, Seconds_Behind_Master | $(median "${lag_seconds[@]}") | $(max "${lag_seconds[@]}") |

The primary holds $rows_primary rows after the rounds.
MD
