#!/usr/bin/env bash
# bench/snapshot_bench.sh: the dbaas snapshot repository against the tools users would
# otherwise use (tar czf, tar | zstd, cp -a, cp --reflink), side by side in one run, on a
# PostgreSQL 15 pgbench data directory. See /work/shared/BASELINE.md for reference figures.
#
# Usage:
#   bench/snapshot_bench.sh                       # as root for the reflink part
#   SCALE=5 RUNS=1 BENCH_DIR=/tmp/b bench/snapshot_bench.sh   # quick smoke run
#
# Environment:
#   SCALE=70           pgbench scale (70 -> ~2 GB data directory)
#   RUNS=3             repetitions of each timed step (median by wall time is reported)
#   RUNS_SLOW=1        repetitions of the slow `tar czf` / `tar xzf`
#   BENCH_DIR=/var/tmp/dbaas-bench   work dir; the prepared cluster is cached there
#   DBAAS=build/release/apps/dbaas   binary under test (relative paths: to the cwd, else to
#                      the repository root); if missing, only the baselines run
#   CHUNK_SIZES="8192 16384 32768 65536"   --chunk-size sweep
#   SKIP_SWEEP=1       skip the chunk-size sweep
#   SKIP_REFLINK=1     skip the XFS reflink part (needs root and mkfs.xfs from xfsprogs)
#   PG_BIN=/usr/lib/postgresql/15/bin, PG_PORT=55432, PG_OS_USER=postgres
#   KEEP_RUN=1         keep $BENCH_DIR/run (copies, archives, repositories) afterwards
#
# Needs: PostgreSQL 15 server (postgresql-15), jq, zstd, time (/usr/bin/time), GNU tar and
# coreutils; xfsprogs for the reflink part. Disk: about 5x the data directory in BENCH_DIR.
#
# Output: a Markdown report on stdout, also saved to bench/results/snapshot-<date>.md;
# progress goes to stderr. Exit status: 0 when every section ran (targets may still FAIL),
# 2 when a section failed with an error, 1 when preparation failed.
#
# What is measured (wall, user+sys CPU and peak RSS through /usr/bin/time, page cache warm,
# `sync` before every timed step so that earlier writes are not charged to it):
#   backup:  tar czf; tar cf - | zstd -1 -T2; cp -a; dbaas full snapshot into a fresh repo;
#            dbaas re-snapshot with nothing changed; dbaas incremental snapshot after
#            `pgbench -n -t 1500 -c 4 -j 2 --random-seed=42` (6,000 transactions) + CHECKPOINT
#   restore: tar xzf; zstd -dc | tar xf; cp -a; dbaas snapshot restore (into empty dirs)
#   sweep:   per --chunk-size: full snapshot from the pristine cluster, the same pgbench run,
#            incremental snapshot; time and stored bytes (repo stats) for each
#   reflink: on a loop-mounted XFS (reflink=1) image: cp -a --reflink=always, dbaas
#            snapshot create (expected "kind":"thin") and restore
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$SCRIPT_DIR/lib.sh"

SCALE=${SCALE:-70}
RUNS=${RUNS:-3}
RUNS_SLOW=${RUNS_SLOW:-1}
BENCH_DIR=${BENCH_DIR:-/var/tmp/dbaas-bench}
DBAAS=${DBAAS:-build/release/apps/dbaas}
CHUNK_SIZES=${CHUNK_SIZES:-8192 16384 32768 65536}
SKIP_SWEEP=${SKIP_SWEEP:-0}
SKIP_REFLINK=${SKIP_REFLINK:-0}
KEEP_RUN=${KEEP_RUN:-0}
PGBENCH_ARGS=(-n -t 1500 -c 4 -j 2 --random-seed=42)

[[ $SCALE =~ ^[1-9][0-9]*$ ]] || die "SCALE must be a positive integer"
[[ $RUNS =~ ^[1-9][0-9]*$ && $RUNS_SLOW =~ ^[1-9][0-9]*$ ]] || die "RUNS and RUNS_SLOW must be positive integers"
for cs in $CHUNK_SIZES; do
  [[ $cs =~ ^[1-9][0-9]*$ ]] || die "CHUNK_SIZES must be a list of byte counts"
done

# ---------------------------------------------------------------------------- setup

need jq jq
need zstd zstd
need tar tar
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install time)"
[[ -x $PG_BIN/initdb && -x $PG_BIN/pgbench ]] || die "PostgreSQL 15 not found in $PG_BIN (apt-get install postgresql-15)"

# The binary under test: relative to the cwd if it exists there, else to the repository root.
if [[ $DBAAS != /* && ! -e $DBAAS && -e $REPO_ROOT/$DBAAS ]]; then
  DBAAS=$REPO_ROOT/$DBAAS
fi
# CMake puts the executable of apps/dbaas at build/release/apps/dbaas/dbaas.
if [[ -d $DBAAS && -f $DBAAS/dbaas ]]; then
  DBAAS=$DBAAS/dbaas
fi
HAVE_DBAAS=0
if [[ -f $DBAAS && -x $DBAAS ]]; then
  DBAAS=$(realpath "$DBAAS")
  HAVE_DBAAS=1
else
  log "dbaas binary not found at $DBAAS: measuring the baselines only"
fi

mkdir -p "$BENCH_DIR"
BENCH_DIR=$(realpath "$BENCH_DIR")
exec 9>"$BENCH_DIR/.lock"
flock -n 9 || die "another benchmark run is using $BENCH_DIR"

pg_setup_user
pg_own "$BENCH_DIR/.lock"
# The server's OS user owns the work dir (it needs to reach the cluster and socket dirs).
((EUID != 0)) || chown "$PG_OS_USER:" "$BENCH_DIR"
as_pg test -w "$BENCH_DIR" -a -x "$BENCH_DIR" ||
  die "$PG_OS_USER cannot use $BENCH_DIR (a parent directory not searchable?); set BENCH_DIR"

CLUSTER=$BENCH_DIR/pg15-s$SCALE # cached: the cluster right after pgbench -i + CHECKPOINT
PRISTINE=$CLUSTER/data
MARKER=$CLUSTER/scale
RUN=$BENCH_DIR/run # scratch for this run
DATA=$RUN/data     # working copy of the cluster: snapshots are taken of this path
PG_SOCKDIR=$RUN/pg # socket dir and server log, owned by the server's user
XFS_IMG=$RUN/xfs.img
XFS_MNT=$RUN/xfs
RES_DIR=$RUN/results
export PG_SOCKDIR


cleanup() {
  local rc=$? pids
  set +e
  if [[ -n $SECTION_PID ]] && kill -0 "$SECTION_PID" 2>/dev/null; then
    log "interrupted: ending the running section"
    pids=$(descendants "$SECTION_PID")
    # shellcheck disable=SC2086 # a list of process ids
    kill -TERM "$SECTION_PID" $pids 2>/dev/null
    wait "$SECTION_PID" 2>/dev/null
    sleep 1
  fi
  pg_stop_if_running "$DATA"
  pg_stop_if_running "$PRISTINE"
  if mountpoint -q "$XFS_MNT" 2>/dev/null; then
    log "unmounting $XFS_MNT"
    umount "$XFS_MNT" || umount -l "$XFS_MNT"
  fi
  if [[ -e $XFS_IMG ]] && command -v losetup >/dev/null; then
    losetup -j "$XFS_IMG" -O NAME -n 2>/dev/null | xargs -r -n1 losetup -d
  fi
  rm -f "$XFS_IMG"
  if [[ $KEEP_RUN != 1 ]]; then
    rm -rf "$RUN"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Leftovers of an interrupted run.
if [[ -d $RUN ]]; then
  pg_stop_if_running "$DATA"
  if mountpoint -q "$XFS_MNT" 2>/dev/null; then umount "$XFS_MNT"; fi
  rm -rf "$RUN"
fi
mkdir -p "$RUN" "$RES_DIR" "$PG_SOCKDIR"
pg_own "$PG_SOCKDIR"

# section NAME FUNC: run FUNC in a subshell with errexit; a failure is recorded and the
# benchmark goes on with the next section. The subshell runs in the background and is waited
# for, so that a signal reaches our trap at once; cleanup then ends the section's processes.
SECTION_FAILED=0
SECTION_PID=

# ---------------------------------------------------------------------------- data

prepare_cluster() {
  if [[ -f $MARKER && $(cat "$MARKER") == "$SCALE" && -f $PRISTINE/PG_VERSION ]] &&
    ! pg_is_running "$PRISTINE"; then
    log "re-using cluster $PRISTINE (scale $SCALE)"
    return 0
  fi
  pg_stop_if_running "$PRISTINE"
  rm -rf "$CLUSTER"
  mkdir -p "$CLUSTER"
  pg_own "$CLUSTER"
  log "initdb --data-checksums $PRISTINE"
  pg_init "$PRISTINE"
  pg_start "$PRISTINE"
  log "pgbench -i -s $SCALE (a few minutes at scale 70)"
  pg_bench -i -q -s "$SCALE" >"$RUN/pgbench-init.log" 2>&1 || {
    tail -n 20 "$RUN/pgbench-init.log" >&2
    die "pgbench -i failed"
  }
  pg_psql -c CHECKPOINT
  pg_stop "$PRISTINE"
  printf '%s\n' "$SCALE" >"$MARKER" # written last: a half-made cluster is rebuilt next time
  log "cluster ready: $(du -sh "$PRISTINE" | cut -f1)"
}

# reset_data: the working copy becomes the pristine cluster again (untimed).
reset_data() {
  pg_stop_if_running "$DATA"
  rm -rf "$DATA"
  cp -a "$PRISTINE" "$DATA"
  sync
  warm_cache "$DATA"
}

# run_pgbench LABEL: start the working cluster, 6,000 TPC-B transactions, CHECKPOINT, stop.
run_pgbench() {
  local out=$RUN/pgbench-$1.log
  pg_start "$DATA"
  pg_bench "${PGBENCH_ARGS[@]}" >"$out" 2>&1 || {
    tail -n 20 "$out" >&2
    return 1
  }
  pg_psql -c CHECKPOINT
  pg_stop "$DATA"
  res_put "pgbench.$1.tps" "$(awk '/^tps = / { printf "%.0f", $3; exit }' "$out")"
  log "  pgbench ${PGBENCH_ARGS[*]}: $(res_get "pgbench.$1.tps") tps"
}

# ---------------------------------------------------------------------------- dbaas helpers


# snap KEY OUTJSON ARGS...: timed `dbaas snapshot create ARGS -o json`, JSON saved to OUTJSON.
snap() {
  local key=$1 out=$2
  shift 2
  timed "$key" "$DBAAS" snapshot create "$@" -o json >"$out"
  jq -e . "$out" >/dev/null || {
    log "snapshot create printed no valid JSON: $(head -c 300 "$out")"
    return 1
  }
}

# ---------------------------------------------------------------------------- sections

baseline_backup() {
  local i tgz=$RUN/data.tar.gz zst=$RUN/data.tar.zst copy=$RUN/copy
  for ((i = 1; i <= RUNS_SLOW; i++)); do
    rm -f "$tgz"
    timed tar_czf tar -C "$DATA" -czf "$tgz" .
  done
  summarize tar_czf
  res_put tar_czf.size "$(file_bytes "$tgz")"

  for ((i = 1; i <= RUNS; i++)); do
    rm -f "$zst"
    # shellcheck disable=SC2016 # expanded by the inner bash
    timed tar_zstd bash -c 'set -o pipefail; tar -C "$1" -cf - . | zstd -1 -T2 -q -o "$2"' _ "$DATA" "$zst"
  done
  summarize tar_zstd
  res_put tar_zstd.size "$(file_bytes "$zst")"

  for ((i = 1; i <= RUNS; i++)); do
    rm -rf "$copy"
    timed cp_a cp -a "$DATA" "$copy"
  done
  summarize cp_a
  res_put cp_a.size "$(dir_bytes "$copy")"
}

baseline_restore() {
  local i tgt=$RUN/restore
  for ((i = 1; i <= RUNS_SLOW; i++)); do
    fresh_dir "$tgt"
    timed tar_xzf tar -C "$tgt" -xzf "$RUN/data.tar.gz"
  done
  summarize tar_xzf
  for ((i = 1; i <= RUNS; i++)); do
    fresh_dir "$tgt"
    # shellcheck disable=SC2016 # expanded by the inner bash
    timed unzstd_tar bash -c 'set -o pipefail; zstd -dc -q "$1" | tar -C "$2" -xf -' _ "$RUN/data.tar.zst" "$tgt"
  done
  summarize unzstd_tar
  for ((i = 1; i <= RUNS; i++)); do
    rm -rf "$tgt"
    timed cp_a_restore cp -a "$RUN/copy" "$tgt"
  done
  summarize cp_a_restore
  rm -rf "$tgt" "$RUN/copy" "$RUN/data.tar.gz" "$RUN/data.tar.zst"
}

dbaas_main() {
  local i repo=$RUN/repo tgt=$RUN/restore full_id last_id before after
  for ((i = 1; i <= RUNS; i++)); do
    rm -rf "$repo"
    "$DBAAS" repo init "$repo" >/dev/null
    snap dbaas_full "$RUN/full.json" --repo "$repo" --source "$DATA" --name full
  done
  summarize dbaas_full
  full_id=$(jq -er .id "$RUN/full.json")
  res_put dbaas_full.stored "$(repo_stat "$repo" stored_bytes)"
  res_put dbaas_full.logical "$(repo_stat "$repo" logical_bytes)"
  res_put dbaas_full.packs "$(repo_stat "$repo" packs)"
  res_put dbaas_full.files "$(jq -r '.files // empty' "$RUN/full.json")"
  res_put dbaas_full.kind "$(jq -r '.kind // "?"' "$RUN/full.json")"
  res_put dbaas_full.repo_du "$(dir_bytes "$repo")"

  # Nothing changed: the same source again, parent = the previous snapshot.
  last_id=$full_id
  before=$(res_get dbaas_full.stored)
  for ((i = 1; i <= RUNS; i++)); do
    snap dbaas_unchanged "$RUN/unchanged.json" --repo "$repo" --source "$DATA" \
      --name "unchanged-$i" --parent "$last_id"
    last_id=$(jq -er .id "$RUN/unchanged.json")
  done
  summarize dbaas_unchanged
  res_put dbaas_unchanged.read "$(jq -r '.read_bytes // empty' "$RUN/unchanged.json")"
  after=$(repo_stat "$repo" stored_bytes)
  res_put dbaas_unchanged.growth "$(((after - before) / RUNS))"

  # Restore the full snapshot into an empty dir; check the first restore against the source.
  for ((i = 1; i <= RUNS; i++)); do
    fresh_dir "$tgt"
    timed dbaas_restore "$DBAAS" snapshot restore --repo "$repo" "$full_id" "$tgt" >>"$RUN/restore.log"
    if ((i == 1)); then
      res_put dbaas_restore.check "$(tree_compare "$DATA" "$tgt" || true)"
      log "  restore check: $(res_get dbaas_restore.check)"
    fi
  done
  summarize dbaas_restore
  rm -rf "$tgt"

  timed dbaas_verify "$DBAAS" repo verify "$repo" >"$RUN/verify.log"
  summarize dbaas_verify

  # Incremental after a pgbench run.
  run_pgbench main
  warm_cache "$DATA"
  before=$(repo_stat "$repo" stored_bytes)
  snap dbaas_incr "$RUN/incr.json" --repo "$repo" --source "$DATA" --name after-pgbench \
    --parent "$last_id"
  summarize dbaas_incr
  after=$(repo_stat "$repo" stored_bytes)
  res_put dbaas_incr.growth "$((after - before))"
  res_put dbaas_incr.read "$(jq -r '.read_bytes // empty' "$RUN/incr.json")"
  res_put dbaas_repo.final_stats "$("$DBAAS" repo stats "$repo" -o json | jq -c .)"
}

dbaas_sweep() {
  local cs repo=$RUN/sweep-repo id s0 s1
  for cs in $CHUNK_SIZES; do
    log "-- chunk size $cs"
    reset_data
    rm -rf "$repo"
    "$DBAAS" repo init "$repo" --chunk-size "$cs" >/dev/null
    snap "sweep_${cs}_full" "$RUN/sweep.json" --repo "$repo" --source "$DATA" --name full
    summarize "sweep_${cs}_full"
    id=$(jq -er .id "$RUN/sweep.json")
    s0=$(repo_stat "$repo" stored_bytes)
    res_put "sweep_${cs}_full.stored" "$s0"
    run_pgbench "sweep_$cs"
    warm_cache "$DATA"
    snap "sweep_${cs}_incr" "$RUN/sweep.json" --repo "$repo" --source "$DATA" \
      --name after-pgbench --parent "$id"
    summarize "sweep_${cs}_incr"
    s1=$(repo_stat "$repo" stored_bytes)
    res_put "sweep_${cs}_incr.growth" "$((s1 - s0))"
    rm -rf "$repo"
  done
}

reflink() {
  local i bytes size src tgt repo
  bytes=$(dir_bytes "$PRISTINE")
  size=$((2 * bytes + 2 * 1024 * 1024 * 1024))
  rm -f "$XFS_IMG"
  truncate -s "$size" "$XFS_IMG"
  mkfs.xfs -q -f -m reflink=1 "$XFS_IMG"
  mkdir -p "$XFS_MNT"
  mount -o loop "$XFS_IMG" "$XFS_MNT"
  log "  XFS reflink=1 image of $((size / 1024 / 1024)) MiB mounted on $XFS_MNT"
  src=$XFS_MNT/data tgt=$XFS_MNT/restore repo=$XFS_MNT/repo
  cp -a "$PRISTINE" "$src"
  sync
  warm_cache "$src"

  for ((i = 1; i <= RUNS; i++)); do
    rm -rf "$tgt"
    timed reflink_cp cp -a --reflink=always "$src" "$tgt"
  done
  summarize reflink_cp
  rm -rf "$tgt"

  ((HAVE_DBAAS)) || return 0
  for ((i = 1; i <= RUNS; i++)); do
    rm -rf "$repo"
    "$DBAAS" repo init "$repo" >/dev/null
    snap reflink_snap "$RUN/reflink.json" --repo "$repo" --source "$src" --name thin
  done
  summarize reflink_snap
  res_put reflink_snap.kind "$(jq -r '.kind // "?"' "$RUN/reflink.json")"
  res_put reflink_snap.stored "$(repo_stat "$repo" stored_bytes)"
  local id
  id=$(jq -er .id "$RUN/reflink.json")
  for ((i = 1; i <= RUNS; i++)); do
    fresh_dir "$tgt"
    timed reflink_restore "$DBAAS" snapshot restore --repo "$repo" "$id" "$tgt" >>"$RUN/restore.log"
    if ((i == 1)); then
      res_put reflink_restore.check "$(tree_compare "$src" "$tgt" || true)"
      log "  restore check: $(res_get reflink_restore.check)"
    fi
  done
  summarize reflink_restore
  rm -rf "$tgt" "$repo"
}

# ---------------------------------------------------------------------------- report

# Number formatting. Empty input prints "n/a".
gb() { awk -v x="$1" 'BEGIN { printf "%.2f GB", x / 1e9 }'; }

# row KEY LABEL RESULT [NOTE]: one table row from the summarized timing of KEY.
row() {
  local key=$1 label=$2 result=$3 note=${4-}
  if ! res_has "$key.wall"; then
    printf '| %s | – | n/a | n/a | n/a | %s | %s |\n' "$label" "$result" "${note:-not measured}"
    return
  fi
  local n walls
  n=$(res_get "$key.n")
  walls=$(res_get "$key.walls")
  if ((n > 1)); then note="${note:+$note; }runs: $walls"; fi
  printf '| %s | %s | %s | %s+%s | %s | %s | %s |\n' "$label" "$n" \
    "$(f2 "$(res_get "$key.wall")")" "$(f2 "$(res_get "$key.user")")" \
    "$(f2 "$(res_get "$key.sys")")" \
    "$(awk -v k="$(res_get "$key.rss_kb")" 'BEGIN { printf "%.0f", k / 1024 }')" \
    "$result" "$note"
}

# target NAME VALUE GOAL_TEXT CMP LIMIT FORMAT: CMP is ge, le or lt; VALUE empty -> SKIP.
target() {
  local name=$1 value=$2 goal=$3 cmp=$4 limit=$5 fmt=$6 shown status
  if [[ -z $value ]]; then
    printf '| %s | n/a | %s | SKIP |\n' "$name" "$goal"
    return
  fi
  shown=$(awk -v v="$value" -v f="$fmt" 'BEGIN { printf f, v }')
  status=$(awk -v v="$value" -v l="$limit" -v c="$cmp" 'BEGIN {
    ok = (c == "ge" ? v >= l : c == "le" ? v <= l : v < l); print (ok ? "PASS" : "FAIL") }')
  printf '| %s | %s | %s | %s |\n' "$name" "$shown" "$goal" "$status"
}

report() {
  local data_bytes files base_bytes wal_bytes cpu mem fstype dbaas_desc rev
  data_bytes=$(dir_bytes "$PRISTINE")
  files=$(find "$PRISTINE" -type f | wc -l)
  base_bytes=$(dir_bytes "$PRISTINE/base")
  wal_bytes=$(dir_bytes "$PRISTINE/pg_wal")
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
  fstype=$(df --output=fstype "$BENCH_DIR" | tail -n 1)
  rev=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo "no commit")
  if ((HAVE_DBAAS)); then
    dbaas_desc="\`$DBAAS\` (built $(date -r "$DBAAS" '+%Y-%m-%d %H:%M'), repo at $rev)"
  else
    dbaas_desc="not found (\`$DBAAS\`): dbaas rows and targets skipped"
  fi

  echo "# Snapshot benchmark, $(date '+%Y-%m-%d %H:%M')"
  echo
  echo "- Machine: $(nproc) cores $cpu, $mem, BENCH_DIR on $fstype, $(uname -r)"
  echo "- Data: PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }'), initdb --data-checksums, pgbench -i -s $SCALE, checkpointed, stopped: $(gb "$data_bytes") in $files files (base/ $(gb "$base_bytes"), pg_wal/ $(gb "$wal_bytes")); page cache warm"
  echo "- dbaas: $dbaas_desc"
  echo "- Runs: $RUNS (tar czf/xzf: $RUNS_SLOW); wall = median run by wall time, its CPU and peak RSS (largest process); \`sync\` before each timed step"
  echo "- pgbench for the incremental: \`pgbench ${PGBENCH_ARGS[*]}\` (6,000 transactions) + CHECKPOINT, $(res_get pgbench.main.tps '?') tps"
  local s
  for s in "$RES_DIR"/section.*; do
    [[ -e $s ]] || continue
    echo "- **Section ${s##*/section.} failed:** $(cat "$s")"
  done
  echo

  local full_stored unchanged_growth incr_growth
  full_stored=$(res_get dbaas_full.stored)
  unchanged_growth=$(res_get dbaas_unchanged.growth)
  incr_growth=$(res_get dbaas_incr.growth)

  echo "## Backup"
  echo
  echo "| method | n | wall s | CPU user+sys s | peak RSS MB | result | notes |"
  echo "|---|---|---|---|---|---|---|"
  row tar_czf "\`tar czf\`" "$(mb "$(res_get tar_czf.size)")"
  row tar_zstd "\`tar cf - \\| zstd -1 -T2\`" "$(mb "$(res_get tar_zstd.size)")"
  row cp_a "\`cp -a\`" "$(mb "$(res_get cp_a.size)")"
  if ((HAVE_DBAAS)); then
    row dbaas_full "dbaas snapshot create, full, fresh repo" "$(mb "$full_stored") stored" \
      "kind $(res_get dbaas_full.kind '?'), repo on disk $(mb "$(res_get dbaas_full.repo_du)"), $(res_get dbaas_full.packs '?') packs, $(res_get dbaas_full.files '?') files"
    row dbaas_unchanged "dbaas snapshot create, nothing changed" \
      "+$(mb "$unchanged_growth") per snapshot" "read $(mb "$(res_get dbaas_unchanged.read)")"
    row dbaas_incr "dbaas snapshot create, after pgbench" "+$(mb "$incr_growth") stored" \
      "$(awk -v g="$incr_growth" -v f="$full_stored" 'BEGIN { if (f > 0 && g != "") printf "%.1f%% of full, ", 100 * g / f }')read $(mb "$(res_get dbaas_incr.read)")"
    row dbaas_verify "dbaas repo verify (after the unchanged snapshots)" "–"
  fi
  echo
  echo "## Restore (into an empty directory)"
  echo
  echo "| method | n | wall s | CPU user+sys s | peak RSS MB | result | notes |"
  echo "|---|---|---|---|---|---|---|"
  row tar_xzf "\`tar xzf\`" "–"
  row unzstd_tar "\`zstd -dc \\| tar xf\`" "–"
  row cp_a_restore "\`cp -a\`" "–"
  if ((HAVE_DBAAS)); then
    row dbaas_restore "dbaas snapshot restore (full)" "$(res_get dbaas_restore.check 'not checked')"
  fi
  echo

  echo "## Reflink (XFS reflink=1 on a loop image, source and repo on one file system)"
  echo
  if res_has reflink.skipped; then
    echo "Skipped: $(res_get reflink.skipped)"
  else
    echo "| method | n | wall s | CPU user+sys s | peak RSS MB | result | notes |"
    echo "|---|---|---|---|---|---|---|"
    row reflink_cp "\`cp -a --reflink=always\`" "–" "anchor"
    if ((HAVE_DBAAS)); then
      row reflink_snap "dbaas snapshot create" "kind: $(res_get reflink_snap.kind '?')" \
        "stored $(mb "$(res_get reflink_snap.stored)")"
      row reflink_restore "dbaas snapshot restore" "$(res_get reflink_restore.check 'not checked')"
    fi
  fi
  echo

  echo "## --chunk-size sweep (each: pristine cluster, full snapshot, same pgbench run, incremental)"
  echo
  if [[ $SKIP_SWEEP == 1 ]]; then
    echo "Skipped (SKIP_SWEEP=1)."
  elif ((!HAVE_DBAAS)); then
    echo "Skipped (no dbaas binary)."
  else
    echo "| chunk size | full wall s | full CPU s | full peak RSS MB | full stored | incr wall s | incr stored growth | growth % of full | pgbench tps |"
    echo "|---|---|---|---|---|---|---|---|---|"
    local cs k st gr cpu_s="" rss_mb=""
    for cs in $CHUNK_SIZES; do
      k=sweep_${cs}
      st=$(res_get "${k}_full.stored")
      gr=$(res_get "${k}_incr.growth")
      cpu_s="" rss_mb=""
      if res_has "${k}_full.wall"; then
        cpu_s=$(awk -v u="$(res_get "${k}_full.user")" -v s="$(res_get "${k}_full.sys")" 'BEGIN { print u + s }')
        rss_mb=$(awk -v k="$(res_get "${k}_full.rss_kb")" 'BEGIN { printf "%.0f", k / 1024 }')
      fi
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$cs" \
        "$(f2 "$(res_get "${k}_full.wall")")" "$(f2 "$cpu_s")" "${rss_mb:-n/a}" \
        "$(mb "$st")" "$(f2 "$(res_get "${k}_incr.wall")")" "$(mb "$gr")" \
        "$(awk -v g="$gr" -v f="$st" 'BEGIN { if (f > 0 && g != "") printf "%.1f%%", 100 * g / f; else printf "n/a" }')" \
        "$(res_get "pgbench.sweep_$cs.tps" n/a)"
    done
  fi
  echo

  local w_full w_czf w_zstd w_unch w_rest w_xzf w_cpr
  w_full=$(res_get dbaas_full.wall)
  w_czf=$(res_get tar_czf.wall)
  w_zstd=$(res_get tar_zstd.wall)
  w_unch=$(res_get dbaas_unchanged.wall)
  w_rest=$(res_get dbaas_restore.wall)
  w_xzf=$(res_get tar_xzf.wall)
  w_cpr=$(res_get cp_a_restore.wall)
  local pct_unch="" pct_incr=""
  [[ -z $w_unch || -z $w_full ]] || pct_unch=$(div "$(awk -v a="$w_unch" 'BEGIN { print 100 * a }')" "$w_full")
  [[ -z $incr_growth || -z $full_stored ]] || pct_incr=$(div "$(awk -v a="$incr_growth" 'BEGIN { print 100 * a }')" "$full_stored")

  echo "## Targets"
  echo
  echo "| target | measured | goal | result |"
  echo "|---|---|---|---|"
  target "full snapshot vs \`tar czf\` (speed-up)" "$(div "$w_czf" "$w_full")" "≥ 10x faster" ge 10 "%.1fx"
  target "full snapshot vs \`tar \\| zstd\` (time ratio)" "$(div "$w_full" "$w_zstd")" "≤ 1.0x" le 1.0 "%.2fx"
  target "re-snapshot, nothing changed, % of full time" "$pct_unch" "< 5%" lt 5 "%.1f%%"
  target "incremental after pgbench, stored growth % of full" "$pct_incr" "< 15%" lt 15 "%.1f%%"
  target "restore vs \`tar xzf\` (speed-up)" "$(div "$w_xzf" "$w_rest")" "≥ 1.5x faster" ge 1.5 "%.1fx"
  target "restore vs \`cp -a\` (time ratio)" "$(div "$w_rest" "$w_cpr")" "≤ 1.0x" le 1.0 "%.2fx"
  target "reflink snapshot wall" "$(res_get reflink_snap.wall)" "< 1 s" lt 1 "%.2f s"
  target "reflink restore wall" "$(res_get reflink_restore.wall)" "< 1 s" lt 1 "%.2f s"
  local c
  for c in dbaas_restore reflink_restore; do
    if res_has "$c.check"; then
      if [[ $(res_get "$c.check") == identical* ]]; then s=PASS; else s=FAIL; fi
      printf '| %s restored tree equals the source | %s | identical | %s |\n' \
        "${c%_restore}" "$(res_get "$c.check")" "$s"
    fi
  done
}

# ---------------------------------------------------------------------------- main

log "BENCH_DIR=$BENCH_DIR SCALE=$SCALE RUNS=$RUNS DBAAS=$DBAAS"
free_kb=$(df -Pk "$BENCH_DIR" | awk 'NR == 2 { print $4 }')
section prepare prepare_cluster
if res_has section.prepare; then exit 1; fi
data_bytes=$(dir_bytes "$PRISTINE")
if ((free_kb * 1024 < 5 * data_bytes)); then
  log "warning: $((free_kb / 1024)) MiB free in $BENCH_DIR, about $((5 * data_bytes / 1048576)) MiB may be needed"
fi
reset_data

section baseline_backup baseline_backup
section baseline_restore baseline_restore
if ((HAVE_DBAAS)); then
  section dbaas dbaas_main
  if [[ $SKIP_SWEEP != 1 ]]; then section sweep dbaas_sweep; fi
fi

if [[ $SKIP_REFLINK == 1 ]]; then
  res_put reflink.skipped "SKIP_REFLINK=1."
elif ((EUID != 0)); then
  res_put reflink.skipped "needs root (mkfs.xfs on a loop-mounted image file)."
  log "reflink part skipped: needs root"
elif ! command -v mkfs.xfs >/dev/null 2>&1; then
  res_put reflink.skipped "mkfs.xfs not found (apt-get install xfsprogs)."
  log "reflink part skipped: mkfs.xfs not found"
else
  section reflink reflink
fi
pg_stop_if_running "$DATA"

results_dir=$SCRIPT_DIR/results
if ! mkdir -p "$results_dir" 2>/dev/null || [[ ! -w $results_dir ]]; then
  log "warning: cannot write $results_dir, saving the report in $BENCH_DIR instead"
  results_dir=$BENCH_DIR
fi
out=$results_dir/snapshot-$(date +%Y%m%d-%H%M%S).md
report | tee "$out"
log "report saved to $out"
if ((SECTION_FAILED)); then exit 2; fi
