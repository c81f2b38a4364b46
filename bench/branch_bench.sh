#!/usr/bin/env bash
# bench/branch_bench.sh: the benchmark of issue 19 (instant branches). How long a branch of
# a running PostgreSQL instance takes and how much space it uses, at pgbench scale 70
# (~1 GB) and 700 (~10 GB), idle and under pgbench load, beside the physical floor
# (`cp -a --reflink=always` of the stopped data directory, and that copy started) and a
# full backup + restore + start through pgBackRest 2.45, side by side in one run on one
# loop-mounted XFS (reflink=1). Then the torture: TORTURE branches of an instance under
# pgbench load, each checked (pg_amcheck --heapallindexed, pgbench's invariant).
#
# Usage (as root, from the repository root):
#   bench/branch_bench.sh
#   SCALES=5 RUNS=1 TORTURE=3 bench/branch_bench.sh      # quick smoke run
#
# Environment:
#   SCALES="70 700"   pgbench scales (data made with server-side generation, -I dtGvp)
#   RUNS=3            branches per scale and state (idle, under load); baseline repetitions
#   TORTURE=20        branches made under load and checked one by one (0: skip)
#   TORTURE_SCALE=10  its pgbench scale
#   BENCH_DIR=/var/tmp/dbaas-branch-bench   (the XFS image is a sparse file here)
#   DBAASD=build/release/apps/dbaasd/dbaasd
#   PG_PORT=55452
#
# What is measured:
#   dbaas branch: the wall time of POST /instances/src/branch (curl, from request to the
#     201 of a running branch: consistent copy under the backup protocol into a transient
#     thin snapshot, restore by reflink, server start, recovery to the copy's end, snapshot
#     removed) and the job's own figure; the XFS blocks the filesystem had in use more
#     after it (df, after sync) and the branch's exclusiveBytes (FIEMAP). Under load: pgbench
#     -n -c 2 runs on the source meanwhile, and each branch's invariant is checked.
#   floor: `cp -a --reflink=always` of the stopped cluster's directory (sync before), then
#     pg_ctl start of the copy; space as above.
#   pgBackRest: `backup --type=full` (repository on the ext4 root filesystem, zst level 3,
#     process-max 2, start-fast) + `restore --type=immediate --target-action=promote`
#     into the XFS + pg_ctl start; space: the restored directory.
#
# Output: Markdown on stdout, also saved to bench/results/branch-<date>.md.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$REPO_ROOT/bench/lib.sh"

SCALES=${SCALES:-"70 700"}
RUNS=${RUNS:-3}
TORTURE=${TORTURE:-20}
TORTURE_SCALE=${TORTURE_SCALE:-10}
BENCH_DIR=${BENCH_DIR:-/var/tmp/dbaas-branch-bench}
DBAASD=${DBAASD:-$REPO_ROOT/build/release/apps/dbaasd/dbaasd}
PG_PORT=${PG_PORT:-55452}
[[ $DBAASD == /* ]] || DBAASD=$REPO_ROOT/$DBAASD
((EUID == 0)) || die "run as root (loop mount, instances under their own users)"
need pgbackrest pgbackrest
need jq jq
need mkfs.xfs xfsprogs
[[ -x $DBAASD ]] || die "$DBAASD not built (scripts/build.sh release)"

RUN=$BENCH_DIR/run
RES_DIR=$RUN/results
XFS=$RUN/xfs
IMG=$RUN/xfs.img
export PG_SOCKDIR=$RUN/pgsock
PGBR=$RUN/pgbr
DAEMON_PID=
LOAD_PID=
cleanup() {
  set +e
  [[ -n $LOAD_PID ]] && pkill -P "$LOAD_PID" 2>/dev/null
  stop_daemon
  for d in "$XFS"/pg*/data "$XFS"/copy "$XFS"/restored; do
    [[ -d $d ]] && pg_stop_if_running "$d"
  done
  if mountpoint -q "$XFS" 2>/dev/null; then
    "$REPO_ROOT/scripts/remove-instance-users.sh" "$XFS"/d* "$XFS/torture"
    umount "$XFS" || umount -l "$XFS"
  fi
  rm -rf "$RUN"
}
trap cleanup EXIT
if mountpoint -q "$XFS" 2>/dev/null; then umount "$XFS" || umount -l "$XFS"; fi
rm -rf "$RUN"
mkdir -p "$RES_DIR" "$PG_SOCKDIR" "$PGBR/repo" "$XFS"
chmod 0711 "$BENCH_DIR" "$RUN"
pg_setup_user
pg_own "$PG_SOCKDIR" "$PGBR"

# shellcheck disable=SC2086 # SCALES is a list
max_scale=$(printf '%s\n' $SCALES "$TORTURE_SCALE" | sort -n | tail -1)
img_gb=$((max_scale * 16 * 4 / 1024 + 8))
log "XFS (reflink=1) image of ${img_gb} GB (sparse) on $XFS"
truncate -s "${img_gb}G" "$IMG"
mkfs.xfs -q -f -m reflink=1 "$IMG"
mount -o loop "$IMG" "$XFS"
chmod 0711 "$XFS"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
xfs_used() {
  sync
  df -B1 --output=used "$XFS" | tail -1
}
add() { printf '%s\n' "$2" >>"$RES_DIR/$1"; }       # add KEY VALUE: one more sample
# The middle sample of KEY (lower middle for an even count).
med() {
  if [[ -s $RES_DIR/$1 ]]; then
    sort -n "$RES_DIR/$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
  else
    printf 'n/a'
  fi
}
all() { [[ -s $RES_DIR/$1 ]] && tr '\n' ' ' <"$RES_DIR/$1" | sed 's/ $//' || printf 'n/a'; }

# ---------------------------------------------------------------------------- dbaasd

start_daemon() {  # start_daemon DATA_ROOT
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$DBAASD" --data-root "$1" --listen "127.0.0.1:$port" --log-level warn \
    --volume-check-interval 3600 2>>"$RUN/dbaasd.log" &
  DAEMON_PID=$!
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  token=$(cat "$1/api-token")
}
stop_daemon() {
  if [[ -n $DAEMON_PID ]]; then
    kill -TERM "$DAEMON_PID" 2>/dev/null
    wait "$DAEMON_PID" 2>/dev/null
    DAEMON_PID=
  fi
}
api() {  # api METHOD PATH [BODY]
  curl -sS --fail-with-body -X "$1" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' "http://127.0.0.1:$port$2" ${3:+-d "$3"}
}
# Client tools against an instance as its superuser (made with superuserAccess), in db app.
pg_client() {  # pg_client INSTANCE TOOL ARGS...
  local inst=$1 tool=$2 c
  shift 2
  c=$(api GET "/instances/$inst?showSecrets=true" | jq -c .instance.connection)
  PGPASSWORD=$(jq -r .superuser.password <<<"$c") "$PG_BIN/$tool" \
    -h "$(dirname "$(jq -r .socket <<<"$c")")" -p "$(jq -r .port <<<"$c")" \
    -U "$(jq -r .superuser.user <<<"$c")" "$@"
}
# pgbench's invariant on an instance: prints "ok HISTORY_ROWS" or "broken SUMS".
invariant() {
  pg_client "$1" psql -X -At -d app -c "select case when a = t and t = b and b = h then 'ok ' || n
    else 'broken ' || a || ',' || t || ',' || b || ',' || h end from (select
    (select sum(abalance) from pgbench_accounts) a, (select sum(tbalance) from pgbench_tellers) t,
    (select sum(bbalance) from pgbench_branches) b,
    (select coalesce(sum(delta), 0) from pgbench_history) h,
    (select count(*) from pgbench_history) n) s"
}
make_source() {  # make_source SCALE
  api POST /instances '{"name":"src","type":"postgresql","size":"500Gi","superuserAccess":true}' >/dev/null
  log "  pgbench -i -s $1 (server-side generation)"
  pg_client src pgbench -i -s "$1" -I dtGvp -q app >"$RUN/pgbench-init.log" 2>&1
  pg_client src psql -X -q -d app -c checkpoint
}
start_load() {
  pg_client src pgbench -n -c 2 -j 2 -T 100000 app >"$RUN/pgbench-load.log" 2>&1 &
  LOAD_PID=$!
  sleep 5
}
stop_load() {
  # LOAD_PID is the subshell running pg_client; pgbench is its child (SIGINT is ignored by
  # what a script starts in the background).
  pkill -TERM -P "$LOAD_PID" 2>/dev/null || true
  wait "$LOAD_PID" 2>/dev/null || true
  LOAD_PID=
}
branch_once() {  # branch_once KEY NAME: one branch of src, measured
  local key=$1 name=$2 used0 t0 t1 out used1
  used0=$(xfs_used)
  t0=$(now)
  out=$(api POST /instances/src/branch "{\"newInstanceName\":\"$name\"}") || die "branch $name: $out"
  t1=$(now)
  used1=$(xfs_used)
  add "$key.wall" "$(secs "$t0" "$t1")"
  add "$key.job" "$(jq -r .seconds <<<"$out")"
  add "$key.method" "$(jq -r .method <<<"$out")"
  add "$key.exclusive" "$(jq -r .exclusiveBytes <<<"$out")"
  add "$key.space" "$((used1 - used0))"
  log "  $name: $(secs "$t0" "$t1") s ($(jq -r .method <<<"$out")), exclusive $(jq -r .exclusiveBytes <<<"$out") B, XFS +$((used1 - used0)) B"
}

dbaas_phase() {  # dbaas_phase SCALE
  local s=$1 r state
  log "scale $s: dbaasd"
  start_daemon "$XFS/d$s"
  make_source "$s"
  res_put "s$s.data" "$(dir_bytes "$XFS/d$s/instances/src/data")"
  for r in $(seq "$RUNS"); do
    branch_once "s$s.idle" "idle$r"
    api DELETE "/instances/idle$r" >/dev/null
  done
  start_load
  for r in $(seq "$RUNS"); do
    branch_once "s$s.load" "load$r"
    state=$(invariant "load$r")
    add "s$s.load.invariant" "${state%% *}"
    [[ $state == ok* ]] || log "  load$r: pgbench's invariant does not hold: $state"
  done
  stop_load
  for r in $(seq "$RUNS"); do api DELETE "/instances/load$r" >/dev/null; done
  api DELETE /instances/src >/dev/null
  stop_daemon
  rm -rf "$XFS/d$s"
}

# ---------------------------------------------------------------------------- baselines

pgbr() { as_pg pgbackrest --config="$PGBR/pgbackrest.conf" --stanza=bench "$@"; }
start_at() {  # start_at DATADIR PORT: pg_ctl start, waits until it answers
  as_pg "$PG_BIN/pg_ctl" -D "$1" -l "$PG_SOCKDIR/pg-$2.log" -w -t 600 \
    -o "-p $2 -k '$PG_SOCKDIR' -c listen_addresses=127.0.0.1" start >/dev/null
}
# copy_and_start KEY DIR CMD...: CMD makes a copy of the cluster at DIR (timed as KEY, for
# KEY.wall), which is then started (KEY.start), its space recorded (KEY.space), stopped and
# removed.
copy_and_start() {
  local key=$1 dir=$2 used0 t0
  shift 2
  used0=$(xfs_used)
  timed "$key" "$@"
  t0=$(now)
  start_at "$dir" $((PG_PORT + 1))
  add "$key.start" "$(secs "$t0" "$(now)")"
  add "$key.space" "$(($(xfs_used) - used0))"
  pg_stop "$dir"
  rm -rf "$dir"
}
baseline_phase() {  # baseline_phase SCALE
  local s=$1 r data
  data=$XFS/pg$s/data
  log "scale $s: baselines (standalone cluster)"
  mkdir -p "$XFS/pg$s"
  pg_own "$XFS/pg$s"
  pg_init "$data"
  cat >"$PGBR/pgbackrest.conf" <<EOF
[global]
repo1-path=$PGBR/repo
repo1-retention-full=1
compress-type=zst
compress-level=3
process-max=2
start-fast=y
log-path=$PGBR
lock-path=$PGBR
log-level-console=warn
[bench]
pg1-path=$data
pg1-port=$PG_PORT
pg1-socket-path=$PG_SOCKDIR
EOF
  pg_own "$PGBR"
  pg_start "$data"
  log "  pgbench -i -s $s (server-side generation)"
  pg_bench -i -s "$s" -I dtGvp -q >"$RUN/pgbench-init.log" 2>&1
  pg_psql -c checkpoint
  # Archiving from here on: the WAL of the data's making is not pgBackRest's to push before
  # its first backup (the archiver would still be at it when the backup waits for its end).
  pg_stop "$data"
  cat >>"$data/postgresql.conf" <<EOF
archive_mode = on
archive_command = 'pgbackrest --config=$PGBR/pgbackrest.conf --stanza=bench archive-push %p'
EOF
  pg_start "$data"
  pgbr stanza-create >/dev/null
  for r in $(seq "$RUNS"); do
    timed "s$s.pgbr.backup" runuser -u "$PG_OS_USER" -- pgbackrest --config="$PGBR/pgbackrest.conf" --stanza=bench --type=full backup
    fresh_dir "$XFS/restored"
    chmod 0700 "$XFS/restored"
    pg_own "$XFS/restored"
    copy_and_start "s$s.pgbr" "$XFS/restored" \
      runuser -u "$PG_OS_USER" -- pgbackrest --config="$PGBR/pgbackrest.conf" --stanza=bench \
      --pg1-path="$XFS/restored" --type=immediate --target-action=promote restore
  done
  pg_stop "$data"
  for r in $(seq "$RUNS"); do
    copy_and_start "s$s.cp" "$XFS/copy" cp -a --reflink=always "$data" "$XFS/copy"
  done
  rm -rf "$XFS/pg$s" "$PGBR/repo"
  mkdir -p "$PGBR/repo"
  pg_own "$PGBR"
  for k in pgbr.backup pgbr cp; do summarize "s$s.$k"; done
}

# ---------------------------------------------------------------------------- torture

torture_phase() {
  local r state ok=0 amcheck
  ((TORTURE > 0)) || return 0
  log "torture: $TORTURE branches under load at scale $TORTURE_SCALE"
  start_daemon "$XFS/torture"
  make_source "$TORTURE_SCALE"
  start_load
  for r in $(seq "$TORTURE"); do
    branch_once torture "t$r"
  done
  stop_load
  for r in $(seq "$TORTURE"); do
    state=$(invariant "t$r")
    if pg_client "t$r" pg_amcheck --install-missing --heapallindexed -d app >"$RUN/amcheck.log" 2>&1; then
      amcheck=ok
    else
      amcheck=failed
      log "  t$r: pg_amcheck: $(tail -3 "$RUN/amcheck.log")"
    fi
    if [[ $state == ok* && ${state#ok } -gt 0 && $amcheck == ok ]]; then
      ok=$((ok + 1))
    else
      log "  t$r: invariant '$state', pg_amcheck $amcheck"
    fi
    add torture.history "${state#ok }"
  done
  res_put torture.ok "$ok"
  stop_daemon
}

# ---------------------------------------------------------------------------- run, report

for s in $SCALES; do
  dbaas_phase "$s"
  baseline_phase "$s"
done
torture_phase

f() { awk -v x="$1" 'BEGIN { if (x == "n/a" || x == "") print "n/a"; else printf "%.2f", x }'; }
mbs() { awk -v x="$1" 'BEGIN { if (x == "n/a" || x == "") print "n/a"; else printf "%.1f MB", x / 1e6 }'; }
sum2() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a + b }'; }
sum3() { awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN { printf "%.2f", a + b + c }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
report() {
  local s floor pgbr
  echo "## Branches (bench/branch_bench.sh, $(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; one loop-mounted XFS (reflink=1) for all; RUNS=$RUNS, medians [all runs]."
  echo
  echo "| scale (data) | what | time to a running copy, s | space it took (XFS) | exclusiveBytes |"
  echo "|---|---|---|---|---|"
  for s in $SCALES; do
    floor=$(sum2 "$(res_get "s$s.cp.wall")" "$(med "s$s.cp.start")")
    pgbr=$(sum3 "$(res_get "s$s.pgbr.backup.wall")" "$(res_get "s$s.pgbr.wall")" "$(med "s$s.pgbr.start")")
    echo "| $s ($(mbs "$(res_get "s$s.data")")) | **dbaas branch**, idle source ($(sort -u "$RES_DIR/s$s.idle.method" | tr '\n' ' ')) | **$(f "$(med "s$s.idle.wall")")** [$(all "s$s.idle.wall")]; job $(f "$(med "s$s.idle.job")") | $(mbs "$(med "s$s.idle.space")") | $(mbs "$(med "s$s.idle.exclusive")") |"
    echo "| | **dbaas branch**, source under pgbench -c 2 | **$(f "$(med "s$s.load.wall")")** [$(all "s$s.load.wall")]; job $(f "$(med "s$s.load.job")"); invariant: $(all "s$s.load.invariant") | $(mbs "$(med "s$s.load.space")") | $(mbs "$(med "s$s.load.exclusive")") |"
    echo "| | floor: cp -a --reflink=always of the stopped directory + start | $floor = cp $(f "$(res_get "s$s.cp.wall")") [$(res_get "s$s.cp.walls")] + start $(f "$(med "s$s.cp.start")") | $(mbs "$(med "s$s.cp.space")") | – |"
    echo "| | pgBackRest backup + restore + start | $pgbr = $(f "$(res_get "s$s.pgbr.backup.wall")") + $(f "$(res_get "s$s.pgbr.wall")") + $(f "$(med "s$s.pgbr.start")") | $(mbs "$(med "s$s.pgbr.space")") | – |"
    echo "| | dbaas (idle) against the floor / against pgBackRest | $(ratio "$(med "s$s.idle.wall")" "$floor") / $(ratio "$(med "s$s.idle.wall")" "$pgbr") | | |"
  done
  if ((TORTURE > 0)); then
    echo
    echo "Torture: $TORTURE branches of a scale-$TORTURE_SCALE instance under pgbench -c 2, made one after the other: $(res_get torture.ok 0) of $TORTURE consistent (pg_amcheck --heapallindexed and pgbench's invariant, with transactions in the history: $(all torture.history)); branch time median $(f "$(med torture.wall)") s [$(all torture.wall)]."
  fi
}
mkdir -p "$REPO_ROOT/bench/results"
report | tee "$REPO_ROOT/bench/results/branch-$(date +%Y%m%d-%H%M%S).md"
