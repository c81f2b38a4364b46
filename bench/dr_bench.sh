#!/usr/bin/env bash
# bench/dr_bench.sh: disaster recovery on a new host (issue 16), timed end to end through
# dbaasd's API: how long from a fresh dbaasd, pointed at the bucket the lost host copied
# to, to the instance running again at the last archived WAL; beside the same
# point-in-time restore on the host itself, from its local repository, in the same run.
#
# Usage (as root, from the repository root):
#   bench/dr_bench.sh
#   SCALE=5 LOAD_SECONDS=5 bench/dr_bench.sh        # quick smoke run
#
# Environment:
#   SCALE=70          pgbench scale of the instance (~1.1 GB of data)
#   LOAD_SECONDS=30   pgbench run after the backup: the WAL the restores replay
#   BENCH_DIR=/var/tmp/dbaas-dr-bench
#   DBAAS=build/release/apps/dbaas/dbaas  DBAASD=build/release/apps/dbaasd/dbaasd
#
# The bucket: tests/s3server/server.js (s3rver behind our front, every request's SigV4
# checked by the AWS SDK's signer) on loopback, encrypted by dbaas (a key file). The lost
# host: a dbaasd with one PostgreSQL instance, pgbench data, a backup copied to the bucket,
# a pgbench run after it, its WAL shipped. Measured (wall, /usr/bin/time):
#   local:  on the host, `dbaas restore orders b1 --latest` into a new instance (the same
#           base backup and WAL as the new host's, from the local repository);
#   then the host is lost (dbaasd stopped, its data root deleted);
#   new host: dbaasd started on an empty data root (until /healthz), `repository
#           backups` (list the bucket), `repository import`, `restore --latest
#           --from-repository` (pull the backup and the WAL, restore, replay, start).
# Both restored instances are checked: pgbench_history's rows equal the lost host's.
#
# Output: Markdown on stdout, also saved to bench/results/dr-<date>.md.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$REPO_ROOT/bench/lib.sh"

SCALE=${SCALE:-70}
LOAD_SECONDS=${LOAD_SECONDS:-30}
BENCH_DIR=${BENCH_DIR:-/var/tmp/dbaas-dr-bench}
DBAAS=${DBAAS:-$REPO_ROOT/build/release/apps/dbaas/dbaas}
DBAASD=${DBAASD:-$REPO_ROOT/build/release/apps/dbaasd/dbaasd}
[[ $DBAAS == /* ]] || DBAAS=$REPO_ROOT/$DBAAS
[[ $DBAASD == /* ]] || DBAASD=$REPO_ROOT/$DBAASD
((EUID == 0)) || die "run as root (dbaasd runs each instance as an OS user of its own)"
need node nodejs
need jq jq
[[ -x $DBAAS && -x $DBAASD ]] || die "dbaas and dbaasd not built (scripts/build.sh release)"
[[ -d $REPO_ROOT/tests/s3server/node_modules/s3rver ]] || die "run scripts/install-deps.sh"

RUN=$BENCH_DIR/run
RES_DIR=$RUN/results
SERVER_PID=
DAEMON_PID=
cleanup() {
  set +e
  stop_daemon
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null
  rm -rf "$RUN"
}
trap cleanup EXIT
rm -rf "$RUN"
mkdir -p "$RES_DIR" "$RUN/s3" "$RUN/secrets"
chmod 0711 "$BENCH_DIR" "$RUN"

node --openssl-legacy-provider "$REPO_ROOT/tests/s3server/server.js" --dir "$RUN/s3" \
  --port-file "$RUN/s3-port" --bucket offsite >"$RUN/s3.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do [[ -s $RUN/s3-port ]] && break; sleep 0.1; done
printf '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' >"$RUN/secrets/credentials"
openssl rand -hex 32 >"$RUN/secrets/key"
chmod 600 "$RUN/secrets/credentials" "$RUN/secrets/key"
cat >"$RUN/dbaasd.json" <<EOF
{"copyIntervalSeconds": 1,
 "repositories": [{"name": "offsite", "endpoint": "http://127.0.0.1:$(cat "$RUN/s3-port")",
   "bucket": "offsite", "credentialsFile": "$RUN/secrets/credentials",
   "encryption": {"keyFile": "$RUN/secrets/key"}}]}
EOF
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DBAAS_SERVER=http://127.0.0.1:$PORT

# start_daemon ROOT: dbaasd on ROOT, until it answers.
start_daemon() {
  "$DBAASD" --data-root "$1" --listen "127.0.0.1:$PORT" --config "$RUN/dbaasd.json" \
    --log-level info >>"$RUN/dbaasd.log" 2>&1 &
  DAEMON_PID=$!
  export DBAAS_DATA_ROOT=$1
  for _ in $(seq 600); do
    curl -sf "$DBAAS_SERVER/healthz" >/dev/null && return 0
    sleep 0.05
  done
  die "dbaasd did not start (see $RUN/dbaasd.log)"
}
stop_daemon() {
  [[ -n $DAEMON_PID ]] || return 0
  kill -TERM "$DAEMON_PID" 2>/dev/null
  wait "$DAEMON_PID" 2>/dev/null
  DAEMON_PID=
}
# pgb INSTANCE ARGS...: pgbench on the instance, as its tenant over TCP.
pgb() {
  local conn
  conn=$("$DBAAS" -o json instance get "$1" --show-secrets)
  shift
  PGPASSWORD=$(jq -r .connection.password <<<"$conn") "$PG_BIN/pgbench" -h 127.0.0.1 \
    -p "$(jq -r .connection.port <<<"$conn")" -U "$(jq -r .connection.user <<<"$conn")" "$@" \
    "$(jq -r .connection.database <<<"$conn")"
}
history_rows() {
  local conn
  conn=$("$DBAAS" -o json instance get "$1" --show-secrets)
  PGPASSWORD=$(jq -r .connection.password <<<"$conn") "$PG_BIN/psql" -h 127.0.0.1 -Atq \
    -p "$(jq -r .connection.port <<<"$conn")" -U "$(jq -r .connection.user <<<"$conn")" \
    -d "$(jq -r .connection.database <<<"$conn")" -c "select count(*) from pgbench_history"
}

log "the lost host: an instance, pgbench -i -s $SCALE, a backup copied to the bucket"
start_daemon "$RUN/lost"
"$DBAAS" instance create orders >/dev/null
pgb orders -i -q -s "$SCALE" >/dev/null 2>&1
timed backup "$DBAAS" -o json backup create orders --name b1 --copy-to offsite >"$RUN/b1.json"
[[ $(jq -r .copies.offsite.state "$RUN/b1.json") == copied ]] || die "the copy failed: $(cat "$RUN/b1.json")"
log "pgbench for ${LOAD_SECONDS} s after it"
pgb orders -T "$LOAD_SECONDS" -c 2 >/dev/null 2>&1
ROWS=$(history_rows orders)
# A second backup, on the host only, makes the server archive the segment the load ended in.
"$DBAAS" backup create orders --name local-only >/dev/null
ARCHIVE=$(ls "$RUN/lost/repository/wal")
# The bucket gets the WAL from b1's start on: the position of the segment holding it.
START=$(jq -r .startLsn "$RUN/b1.json")
KEEP=$(printf '%08X%08X' "$((16#${START%/*}))" "$((16#${START#*/} >> 24))")
log "waiting for the WAL to reach the bucket"
for _ in $(seq 600); do
  missing=0
  for f in "$RUN/lost/repository/wal/$ARCHIVE"/0*; do
    name=$(basename "$f")
    [[ $name =~ ^[0-9A-F]{24}$ && ! ${name:8} < $KEEP ]] || continue
    [[ -n $(find "$RUN/s3/offsite" -path "*$ARCHIVE*$name*" -print -quit) ]] || missing=$((missing + 1))
  done
  ((missing == 0)) && break
  sleep 1
done
((missing == 0)) || die "$missing WAL files never reached the bucket"
WAL_BYTES=$(du -sb "$RUN/lost/repository/wal/$ARCHIVE" | cut -f1)

log "local point-in-time restore on the host"
timed local.restore "$DBAAS" restore orders b1 --latest --to orders-local >/dev/null
LOCAL_ROWS=$(history_rows orders-local)
"$DBAAS" instance rm orders-local >/dev/null
"$DBAAS" instance rm orders >/dev/null
stop_daemon
rm -rf "$RUN/lost"

log "the new host: a fresh dbaasd, the bucket's backups listed, imported, restored"
started=$(date +%s.%N)
start_daemon "$RUN/new"
echo "$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') 0 0 0" >>"$RES_DIR/dr.start.samples"
timed dr.list "$DBAAS" -o json repository backups offsite >/dev/null
timed dr.import "$DBAAS" -o json repository import offsite >/dev/null
timed dr.restore "$DBAAS" restore orders --latest --from-repository offsite --to orders >/dev/null
DR_ROWS=$(history_rows orders)
"$DBAAS" instance rm orders >/dev/null
stop_daemon

for key in backup local.restore dr.start dr.list dr.import dr.restore; do summarize "$key"; done
w() { res_get "$1.wall"; }
DR_TOTAL=$(awk -v a="$(w dr.start)" -v b="$(w dr.list)" -v c="$(w dr.import)" -v d="$(w dr.restore)" 'BEGIN { printf "%.2f", a + b + c + d }')
OUT=$REPO_ROOT/bench/results/dr-$(date +%Y%m%d-%H%M%S).md
mkdir -p "$(dirname "$OUT")"
{
  echo "# Disaster recovery on a new host ($(date -u +%Y-%m-%dT%H:%MZ), SCALE=$SCALE, LOAD_SECONDS=$LOAD_SECONDS)"
  echo
  echo "WAL replayed after the backup: $(mb "$WAL_BYTES") archived; pgbench_history rows: lost host $ROWS, local restore $LOCAL_ROWS, new host $DR_ROWS."
  echo
  echo "| step | wall |"
  echo "|---|---|"
  echo "| backup + copy to the bucket | $(w backup) s |"
  echo "| **local** point-in-time restore to latest | **$(w local.restore) s** |"
  echo "| new host: dbaasd start | $(w dr.start) s |"
  echo "| new host: list the bucket | $(w dr.list) s |"
  echo "| new host: import | $(w dr.import) s |"
  echo "| new host: restore to latest from the bucket | $(w dr.restore) s |"
  echo "| **new host, all** | **$DR_TOTAL s** ($(div "$DR_TOTAL" "$(w local.restore)")x the local restore) |"
} | tee "$OUT"
# The daemons' events (durations of each fetch, restore and replay) beside the results.
grep -E 'event=(backup_fetched|wal_fetched|restore_ready|backup_copied|wal_shipped)' \
  "$RUN/dbaasd.log" >"${OUT%.md}.events" || true
[[ $ROWS == "$LOCAL_ROWS" && $ROWS == "$DR_ROWS" ]] || die "restored rows differ: $ROWS / $LOCAL_ROWS / $DR_ROWS"
