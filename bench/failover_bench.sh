#!/usr/bin/env bash
# bench/failover_bench.sh: how long an instance with a synchronous standby is without a
# primary (issue 15), through dbaasd's API with real PostgreSQL 15 servers under pgbench:
#   failover:   the primary's postmaster killed (kill -9, its in-place restart blocked by
#               taking its port) -> the instance's multi-host URI reaches a read-write
#               primary (a new connection every 50 ms, connect_timeout 1); then the port is
#               released and the time to the first commit (synchronous with one standby:
#               once the old primary has rejoined) is taken too;
#   switchover: POST /instances/:name/switchover -> the first write that commits;
#   rejoin:     the failover -> the old primary streams again as a standby (pg_rewind);
#   lag:        the standby's replay lag (pg_stat_replication, /metrics) sampled every
#               0.5 s while pgbench writes, before the first failover.
# Each round is one failover and one switchover; medians and the worst over ROUNDS.
#
# Usage (as root, from the repository root):
#   bench/failover_bench.sh
#   ROUNDS=3 bench/failover_bench.sh          # quick
#
# Environment:
#   ROUNDS=10            failovers (and switchovers) timed
#   FAILOVER_DELAY=1     dbaasd's --failover-delay: how long a primary may not answer
#   SCALE=10             pgbench scale;  CLIENTS=4  pgbench clients during the lag sample
#   BENCH_DIR=/var/tmp   DBAASD=build/release/apps/dbaasd/dbaasd
#
# Output: Markdown on stdout.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/dbaasd_lib.sh
source "$REPO_ROOT/bench/dbaasd_lib.sh"
ROUNDS=${ROUNDS:-10}
FAILOVER_DELAY=${FAILOVER_DELAY:-1}
SCALE=${SCALE:-10}
CLIENTS=${CLIENTS:-4}
((EUID == 0)) || { echo "run as root (each instance runs as an OS user of its own)" >&2; exit 1; }
PG_BIN=$(pg_config --bindir 2>/dev/null || true)
[[ -x $PG_BIN/pgbench ]] || PG_BIN=/usr/lib/postgresql/15/bin

start_dbaasd failover-bench --failover-delay "$FAILOVER_DELAY"
blocker=
trap 'set +e; [[ -n $blocker ]] && kill "$blocker" 2>/dev/null; kill -TERM $pid 2>/dev/null
  wait $pid 2>/dev/null; "$REPO_ROOT/scripts/remove-instance-users.sh" "$work"; rm -rf "$work"' EXIT

inst() { api GET "/instances/ha$1"; }
# Every member running and every standby streaming in the quorum.
streaming() {
  inst "" | jq -e '.instance | (.members | length) == 2 and .members[0].name == .primary
    and all(.members[]; .state == "running")
    and (.members[1].replication.syncState // "") == "quorum"' >/dev/null
}
wait_streaming() { for _ in $(seq 600); do streaming && return 0; sleep 0.1; done; return 1; }
# Seconds from $1 until `sql` through the URI succeeds (a new connection every 50 ms).
until_ok() {
  local from=$1 sql=$2
  until "$PG_BIN/psql" -X -q "$uri&connect_timeout=1" -c "$sql" >/dev/null 2>&1; do
    sleep 0.05
  done
  awk -v a="$from" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
}
# A read-write session (the URI asks for one): a primary is there.
until_primary() { until_ok "$1" "select 1"; }
# A commit: in synchronous mode with one standby, only once a standby confirms it.
until_writable() { until_ok "$1" "insert into beats values (now())"; }

log "instance with a synchronous standby"
api POST /instances '{"name":"ha","type":"postgresql","replicas":1,"synchronous":true}' >/dev/null
wait_streaming || { echo "the standby never streamed" >&2; exit 1; }
uri=$(inst "?showSecrets=true" | jq -r .instance.connection.uri)
"$PG_BIN/pgbench" -i -q -s "$SCALE" "$uri" >/dev/null 2>&1
"$PG_BIN/psql" -X -q "$uri" -c "create table beats (at timestamptz)" >/dev/null

log "replication lag under pgbench -c $CLIENTS for 20 s"
"$PG_BIN/pgbench" -n -c "$CLIENTS" -T 20 "$uri" >"$work/pgbench.out" 2>&1 &
bench=$!
lag_bytes=() lag_seconds=()
while kill -0 "$bench" 2>/dev/null; do
  sample=$(inst "" | jq -r '.instance.members[1].replication | "\(.lagBytes // 0) \(.lagSeconds // 0)"')
  lag_bytes+=("${sample% *}") lag_seconds+=("${sample#* }")
  sleep 0.5
done
tps=$(grep -Eo 'tps = [0-9.]+' "$work/pgbench.out" | head -1 | cut -d' ' -f3)

failovers=() commits=() switchovers=() rejoins=()
for round in $(seq "$ROUNDS"); do
  before=$(inst "")
  primary=$(jq -r .instance.primary <<<"$before")
  primary_port=$(jq -r .instance.members[0].port <<<"$before")
  victim=$(pgrep -f "postgres -D $work/data/.*/$primary/data" | head -1)
  kill -9 "$victim"
  t0=$(now)
  python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
for _ in range(400):
    try: s.bind(("127.0.0.1", int(sys.argv[1]))); break
    except OSError: time.sleep(0.005)
s.listen(1); time.sleep(3600)' "$primary_port" &
  blocker=$!
  failovers+=("$(until_primary "$t0")")
  # The old primary's host is back: it rejoins, and (synchronous, one standby) the new
  # primary's commits, which waited for a standby, go through.
  kill "$blocker"; blocker=
  commits+=("$(until_writable "$t0")")
  wait_streaming || { echo "round $round: the old primary did not rejoin" >&2; exit 1; }
  rejoins+=("$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')")
  t0=$(now)
  api POST /instances/ha/switchover '{}' >/dev/null
  switchovers+=("$(until_writable "$t0")")
  wait_streaming || { echo "round $round: no standby after the switchover" >&2; exit 1; }
  log "round $round: failover ${failovers[-1]} s, commit ${commits[-1]} s, rejoin ${rejoins[-1]} s, switchover ${switchovers[-1]} s"
done
failover_count=$(inst "" | jq .instance.failovers)

max() { printf '%s\n' "$@" | sort -g | tail -1; }
cat <<MD
## Failover and switchover (bench/failover_bench.sh, ROUNDS=$ROUNDS, FAILOVER_DELAY=$FAILOVER_DELAY s)

| | median | worst |
|---|---|---|
| failover: primary killed -> the URI reaches a read-write primary | $(median "${failovers[@]}") s | $(max "${failovers[@]}") s |
| failover: primary killed -> a write commits (waits for a standby: the old primary rejoined) | $(median "${commits[@]}") s | $(max "${commits[@]}") s |
| switchover: request -> a write commits | $(median "${switchovers[@]}") s | $(max "${switchovers[@]}") s |
| old primary streams again (pg_rewind) after a failover | $(median "${rejoins[@]}") s | $(max "${rejoins[@]}") s |
| replay lag under pgbench -c $CLIENTS ($tps tps), bytes | $(median "${lag_bytes[@]}") | $(max "${lag_bytes[@]}") |
| replay lag, seconds | $(median "${lag_seconds[@]}") | $(max "${lag_seconds[@]}") |

dbaasd counted $failover_count failovers. The failover time includes the delay
(--failover-delay $FAILOVER_DELAY s; default 30 s). Beside the anchors' documented defaults:
Patroni waits ttl (30 s) for the leader lock to expire, checked every loop_wait (10 s), and
gives a crashed primary master_start_timeout (300 s) to come back in place first;
CloudNativePG's failoverDelay is 0 s, after its readiness probe has failed.
MD
