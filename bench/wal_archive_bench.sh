#!/usr/bin/env bash
# bench/wal_archive_bench.sh: the benchmark of issue #6 (point-in-time recovery).
#
#  1. Archive throughput under pgbench load: the same WAL segments (written by pgbench and
#     set aside) are archived one process per segment, as PostgreSQL's archiver runs its
#     archive_command, by `dbaas wal-push` and by `pgbackrest archive-push` (zst level 3,
#     synchronous, its default mode), while pgbench keeps writing to the cluster. Segments
#     per second and stored bytes, side by side in one run.
#  2. Recovery point at the default settings (archive_timeout 60 s): a real dbaasd, an
#     instance taking a trickle of timestamped writes, destroyed (daemon and server killed
#     with SIGKILL, data directory removed); the restore to latest through the API shows
#     how many seconds of writes were lost.
#
# Usage (as root, from anywhere):
#   bench/wal_archive_bench.sh
#   SEGMENTS=16 RPO_RUNS=1 bench/wal_archive_bench.sh     # quick
#
# Environment:
#   SEGMENTS=64        segments archived by each tool (16 MiB each)
#   RPO_RUNS=2         destroy-and-restore runs for the recovery point
#   RPO_WRITE_S=75     how long the trickle writes before the destruction (> archive_timeout)
#   BENCH_DIR=/var/tmp/dbaas-wal-bench
#   DBAAS=build/release/apps/dbaas/dbaas, DBAASD=build/release/apps/dbaasd/dbaasd
#   SKIP_PGBACKREST=1  skip pgBackRest (installed with apt-get when missing and root)
#   SKIP_RPO=1         skip part 2
#
# Output: a Markdown report on stdout, also saved to bench/results/wal-archive-<date>.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

SEGMENTS=${SEGMENTS:-64}
RPO_RUNS=${RPO_RUNS:-2}
RPO_WRITE_S=${RPO_WRITE_S:-75}
BENCH_DIR=${BENCH_DIR:-/var/tmp/dbaas-wal-bench}
DBAAS=${DBAAS:-$ROOT/build/release/apps/dbaas/dbaas}
DBAASD=${DBAASD:-$ROOT/build/release/apps/dbaasd/dbaasd}
PG_PORT=${PG_PORT:-55442}
export PG_SOCKDIR=$BENCH_DIR/sock
RES_DIR=$BENCH_DIR/results
[[ -x $DBAAS && -x $DBAASD ]] || die "build first: scripts/build.sh release"
((EUID == 0)) || die "run as root (PostgreSQL as the postgres user, pgBackRest setup)"
if [[ -z ${SKIP_PGBACKREST-} ]] && ! command -v pgbackrest >/dev/null; then
  log "installing pgbackrest"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbackrest >/dev/null
fi

DATA=$BENCH_DIR/data
STAGE=$BENCH_DIR/segments
cleanup() {
  pg_stop_if_running "$DATA" || true
  [[ -n ${DAEMON_PID-} ]] && kill -9 "$DAEMON_PID" 2>/dev/null || true
  pkill -9 -f "postgres -D $BENCH_DIR/" 2>/dev/null || true
  "$ROOT/scripts/remove-instance-users.sh" "$BENCH_DIR"
}
trap cleanup EXIT
cleanup
rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR" "$PG_SOCKDIR" "$RES_DIR" "$STAGE"
chmod 0711 "$BENCH_DIR"
pg_setup_user
mkdir -p "$DATA"
chmod 0700 "$DATA"
pg_own "$PG_SOCKDIR" "$STAGE" "$DATA"

# ------------------------------------------------------------- 1. archive throughput
log "cluster with pgbench data; segments set aside by archive_command = cp"
pg_init "$DATA"
cat >>"$DATA/postgresql.auto.conf" <<EOF
archive_mode = on
archive_command = 'cp %p $STAGE/%f'
max_wal_size = 4GB
synchronous_commit = off
EOF
pg_start "$DATA"
# WAL of pgbench's data load (TPC-B transactions write too little WAL per second here to
# make a gigabyte quickly), repeated until there are enough segments.
while (($(find "$STAGE" -name '0*' -size 16M | wc -l) < SEGMENTS)); do
  pg_bench -i -q -s 20 >/dev/null 2>&1
done
pg_psql -c "alter system set archive_command = '/bin/true'" -c "select pg_reload_conf()" >/dev/null
find "$STAGE" -name '0*' -size 16M -printf '%f\n' | sort | head -n "$SEGMENTS" >"$BENCH_DIR/list"
mapfile -t segs <"$BENCH_DIR/list"
raw_bytes=$((${#segs[@]} * 16 * 1024 * 1024))
log "${#segs[@]} segments of pgbench WAL ($((raw_bytes >> 20)) MiB)"

# The same segments, pushed while pgbench keeps writing (2 clients: the machine has 2
# cores). /usr/bin/time runs a bash that calls the exported functions.
push_all() {
  local s
  while read -r s; do "$@" "$STAGE/$s" "$s" || return 1; done <"$BENCH_DIR/list"
}
export -f push_all as_pg
export BENCH_DIR STAGE DBAAS PG_OS_USER
with_load() {
  pg_bench -n -c 2 -j 1 -T 600 >/dev/null 2>&1 &
  local load=$!
  sleep 1
  local rc=0
  "$@" || rc=$?
  kill "$load" 2>/dev/null || true
  wait "$load" 2>/dev/null || true
  return $rc
}

REPO=$BENCH_DIR/repo
SPOOL=$BENCH_DIR/spool
"$DBAAS" repo init "$REPO" >/dev/null
mkdir -p "$REPO/wal/bench.0001" "$SPOOL"
dbaas_push() { "$DBAAS" wal-push --spool "$SPOOL" "$1" "$2"; }
export -f dbaas_push
export REPO SPOOL
drain() { timed "$1" "$DBAAS" wal-drain --spool "$SPOOL" --repo "$REPO" --archive bench.0001 >/dev/null; }
timed dbaas_idle bash -c 'push_all dbaas_push' >/dev/null
summarize dbaas_idle
drain dbaas_drain_idle
summarize dbaas_drain_idle
rm -rf "$REPO/wal/bench.0001" && mkdir -p "$REPO/wal/bench.0001"
with_load timed dbaas_push bash -c 'push_all dbaas_push' >/dev/null
summarize dbaas_push
with_load drain dbaas_drain_push
summarize dbaas_drain_push
res_put dbaas_drain_push.stored "$(dir_bytes "$REPO/wal/bench.0001")"

if [[ -z ${SKIP_PGBACKREST-} ]]; then
  PGBR=$BENCH_DIR/pgbackrest
  mkdir -p "$PGBR/repo" "$PGBR/log" "$PGBR/spool"
  cat >"$PGBR/pgbackrest.conf" <<EOF
[global]
repo1-path=$PGBR/repo
log-path=$PGBR/log
spool-path=$PGBR/spool
lock-path=$PGBR/lock
compress-type=zst
compress-level=3
log-level-console=warn
start-fast=y

[bench]
pg1-path=$DATA
pg1-port=$PG_PORT
pg1-socket-path=$PG_SOCKDIR
EOF
  pg_own "$PGBR"
  as_pg pgbackrest --config="$PGBR/pgbackrest.conf" --stanza=bench stanza-create >/dev/null
  pgbr_push() {
    as_pg pgbackrest --config="$PGBR/pgbackrest.conf" --stanza=bench archive-push "$1"
  }
  export -f pgbr_push
  export PGBR
  timed pgbr_idle bash -c 'push_all pgbr_push' >/dev/null
  summarize pgbr_idle
  as_pg pgbackrest --config="$PGBR/pgbackrest.conf" --stanza=bench stop >/dev/null
  as_pg pgbackrest --config="$PGBR/pgbackrest.conf" --stanza=bench --force stanza-delete >/dev/null
  as_pg pgbackrest --config="$PGBR/pgbackrest.conf" --stanza=bench start >/dev/null
  as_pg pgbackrest --config="$PGBR/pgbackrest.conf" --stanza=bench stanza-create >/dev/null
  with_load timed pgbr_push bash -c 'push_all pgbr_push' >/dev/null
  summarize pgbr_push
  res_put pgbr_push.stored "$(du -sb "$PGBR/repo/archive" | cut -f1)"
fi
pg_stop "$DATA"

# ------------------------------------------------------------- 2. recovery point
api() {  # api METHOD PATH [BODY]
  curl -sS -X "$1" -H "Authorization: Bearer $(cat "$DROOT/api-token")" \
    -H 'Content-Type: application/json' ${3:+-d "$3"} "http://127.0.0.1:$API_PORT$2"
}
start_daemon() {
  "$DBAASD" --data-root "$DROOT" --listen "127.0.0.1:$API_PORT" --log-level warn \
    >>"$BENCH_DIR/dbaasd.log" 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$API_PORT/healthz" >/dev/null && return; sleep 0.1; done
  die "dbaasd did not start"
}
sql() {  # sql INSTANCE SQL: psql over the instance's socket with the API's password
  local info
  info=$(api GET "/instances/$1?showSecrets=true")
  PGPASSWORD=$(jq -r .instance.connection.password <<<"$info") "$PG_BIN/psql" -X -qAt \
    -h "$(dirname "$(jq -r .instance.connection.socket <<<"$info")")" \
    -p "$(jq -r .instance.connection.port <<<"$info")" -U "$(jq -r .instance.connection.user <<<"$info")" \
    -d "$(jq -r .instance.connection.database <<<"$info")" -c "$2"
}
API_PORT=$((PG_PORT + 10))
[[ -n ${SKIP_RPO-} ]] && RPO_RUNS=0
for run in $(seq "$RPO_RUNS"); do
  DROOT=$BENCH_DIR/rpo-$run
  mkdir -p "$DROOT"
  start_daemon
  api POST /instances '{"name":"src","type":"postgresql"}' >/dev/null
  sql src "create table w (id serial, at timestamptz default clock_timestamp())"
  api POST /instances/src/backup '{"backupName":"base"}' >/dev/null
  log "RPO run $run: a write every 100 ms for ${RPO_WRITE_S} s, then the source is destroyed"
  end=$((SECONDS + RPO_WRITE_S))
  while ((SECONDS < end)); do sql src "insert into w default values"; sleep 0.1; done
  last_written=$(sql src "select extract(epoch from max(at)) from w")
  kill -9 "$DAEMON_PID"
  pkill -9 -f "postgres -D $DROOT/" || true
  sleep 0.5
  rm -rf "$DROOT/instances/src/data"
  start_daemon
  t0=$(date +%s.%N)
  api POST /instances/src/restore '{"newInstanceName":"back","target":"latest"}' >"$BENCH_DIR/restore-$run.json"
  t1=$(date +%s.%N)
  jq -e '.success' "$BENCH_DIR/restore-$run.json" >/dev/null || die "restore failed: $(cat "$BENCH_DIR/restore-$run.json")"
  last_restored=$(sql back "select extract(epoch from max(at)) from w")
  res_put "rpo.$run" "$(echo "$last_written - $last_restored" | bc -l)"
  res_put "rpo_restore.$run" "$(echo "$t1 - $t0" | bc -l)"
  kill -TERM "$DAEMON_PID"
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=
done

# ------------------------------------------------------------- report
seg_rate() { echo "scale=1; ${#segs[@]} / $(res_get "$1.wall")" | bc -l; }
mib() { echo "scale=1; $1 / 1048576" | bc -l; }
report() {
  echo "## WAL archiving and recovery point ($(date -u +%Y-%m-%d), $(nproc) cores)"
  echo
  echo "### Archive push under pgbench load (${#segs[@]} segments, $((raw_bytes >> 20)) MiB of pgbench WAL, one process per segment)"
  echo
  echo "| tool | while | wall s | segments/s | CPU user+sys s | stored MiB |"
  echo "|---|---|---|---|---|---|"
  for k in dbaas_idle dbaas_drain_idle dbaas_push dbaas_drain_push pgbr_idle pgbr_push; do
    res_has "$k.wall" || continue
    local tool="dbaas wal-push (copy into the spool, fsync)" when="idle"
    [[ $k == dbaas_drain* ]] && tool="dbaasd's drain (zstd 1, SHA-256, fsync)"
    [[ $k == pgbr* ]] && tool="pgbackrest archive-push (zst 3)"
    [[ $k == *push ]] && when="pgbench -c 2 running"
    local stored=""
    res_has "$k.stored" && stored=$(mib "$(res_get "$k.stored")")
    echo "| $tool | $when | $(res_get "$k.wall") | $(seg_rate "$k") | $(res_get "$k.user")+$(res_get "$k.sys") | $stored |"
  done
  if res_has pgbr_push.wall; then
    echo
    local idle_total load_total
    idle_total=$(echo "$(res_get dbaas_idle.wall) + $(res_get dbaas_drain_idle.wall)" | bc -l)
    load_total=$(echo "$(res_get dbaas_push.wall) + $(res_get dbaas_drain_push.wall)" | bc -l)
    echo "Ratios, pgBackRest wall / dbaas push alone (what PostgreSQL's archiver waits for): idle $(echo "scale=2; $(res_get pgbr_idle.wall) / $(res_get dbaas_idle.wall)" | bc -l), under load $(echo "scale=2; $(res_get pgbr_push.wall) / $(res_get dbaas_push.wall)" | bc -l)"
    echo
    echo "Ratios, pgBackRest wall / dbaas push + drain (all the work): idle $(echo "scale=2; $(res_get pgbr_idle.wall) / $idle_total" | bc -l), under load $(echo "scale=2; $(res_get pgbr_push.wall) / $load_total" | bc -l)"
  fi
  ((RPO_RUNS > 0)) || return 0
  echo
  echo "### Recovery point at the defaults (archive_timeout 60 s, a write every 100 ms)"
  echo
  echo "| run | seconds of writes lost | restore to latest, s |"
  echo "|---|---|---|"
  for run in $(seq "$RPO_RUNS"); do
    printf '| %s | %.1f | %.1f |\n' "$run" "$(res_get "rpo.$run")" "$(res_get "rpo_restore.$run")"
  done
}
mkdir -p "$ROOT/bench/results"
out="$ROOT/bench/results/wal-archive-$(date +%Y%m%d-%H%M).md"
report | tee "$out"
