#!/usr/bin/env bash
# bench/pg_incremental_bench.sh: issue 17's question, whether an incremental's cost follows
# the change rather than the data size. For each SCALE in SCALES: a PostgreSQL 15 instance
# made by the engine (bench/dbaas_pg_bench_tool) that archives its WAL through its spool
# into a repository, as dbaasd's do; `pgbench -i -s SCALE`; a full backup (the parent); the
# same `pgbench -n -t 1500 -c 4 -j 2 --random-seed=42` (6,000 transactions) + CHECKPOINT;
# the spool drained as dbaasd does every second, each segment stored summarizing the one
# before (timed apart: the drain's own cost). Every scale is prepared first and its instance
# kept running; then RUNS runs, the scales interleaved (the first first in odd runs, last in
# even ones) so that the machine's drift falls on each alike. A run at a scale: a full
# backup into an empty repository (first in odd runs, last in even ones) and two
# incrementals from the parent in alternating order, each into its own copy of the
# repository as it was after the parent, the spool drained, the page cache warmed the same
# way and `sync` before each: blocks named by the WAL since the parent (the default) and
# changed files read whole (--whole-files). Each run's WAL incremental is compared with the
# full of its run. Every run is reported, not only the median.
#
# Usage (as root, after scripts/build.sh release):
#   bench/pg_incremental_bench.sh                       # SCALES="70 700" RUNS=3
#   SCALES=10 RUNS=1 bench/pg_incremental_bench.sh      # smoke run
# Environment: SCALES ["70 700"], RUNS [3], CHUNK_SIZE [the repository's default, 65536],
#   BENCH_DIR [/var/tmp/dbaas-incr-bench] (about
#   1.3x the largest data directory, three times, is needed), PGTOOL, DBAAS, PG_BIN.
# Output: a Markdown report on stdout, also saved to bench/results/pg-incremental-<date>.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$SCRIPT_DIR/lib.sh"

SCALES=${SCALES:-70 700}
RUNS=${RUNS:-3}
CHUNK_SIZE=${CHUNK_SIZE:-65536}
BENCH_DIR=${BENCH_DIR:-/var/tmp/dbaas-incr-bench}
PGTOOL=$(realpath "${PGTOOL:-$REPO_ROOT/build/release/bench/dbaas_pg_bench_tool}")
DBAAS=$(realpath "${DBAAS:-$REPO_ROOT/build/release/apps/dbaas/dbaas}")
RUN=$BENCH_DIR/run
RES_DIR=$BENCH_DIR/results
PGBENCH_ARGS=(-n -t 1500 -c 4 -j 2 --random-seed=42)

((EUID == 0)) || die "run as root (instances run as users of their own)"
[[ -x $PGTOOL && -x $DBAAS ]] || die "build first: scripts/build.sh release"
need jq jq
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install time)"

cleanup() {
  set +e
  local root
  for root in "$RUN"/s*/root; do
    [[ -d $root/src ]] || continue
    "$PGTOOL" stop --root "$root" --name src >/dev/null 2>&1
    "$REPO_ROOT/scripts/remove-instance-users.sh" --tool-root "$root" >/dev/null 2>&1
  done
  rm -rf "$RUN"
}
trap cleanup EXIT

rm -rf "$RUN" "$RES_DIR"
mkdir -p "$RUN" "$RES_DIR"
chmod 0711 "$BENCH_DIR" "$RUN"

jfield() { jq -er ".$2" "$1"; }

# prepare SCALE: a fresh instance at SCALE, its full backup (the parent), the pgbench run +
# CHECKPOINT and the drain; the repository as it is after the full kept for the runs. The
# instance keeps running: every scale is prepared before any run, so that the scales' runs
# interleave and the machine's drift falls on each alike.
prepare() {
  local scale=$1 dir=$RUN/s$1 root=$RUN/s$1/root
  mkdir -p "$root"
  chmod 0711 "$dir" "$root"
  "$DBAAS" repo init "$dir/walrepo" >/dev/null
  "$DBAAS" repo init --chunk-size "$CHUNK_SIZE" "$dir/repo" >/dev/null
  "$PGTOOL" create --root "$root" --name src --archive-repo "$dir/walrepo" --dbaas "$DBAAS" \
    >"$dir/src.json"
  "$PGTOOL" start --root "$root" --name src >/dev/null
  PG_SOCKDIR=$(jfield "$dir/src.json" socket_dir)
  PG_PORT=$(jfield "$dir/src.json" port)
  export PGPASSWORD
  PGPASSWORD=$(jfield "$dir/src.json" password)
  log "scale $scale: pgbench -i (scale 700 takes minutes)"
  pg_bench -i -q -s "$scale" >"$dir/pgbench-init.log" 2>&1
  pg_psql -c CHECKPOINT
  res_put "s$scale.data" "$(dir_bytes "$root/src/data/base")"
  log "scale $scale: full backup"
  "$PGTOOL" backup --root "$root" --name src --repo "$dir/repo" --mode repository >"$dir/full.json"
  log "scale $scale: pgbench ${PGBENCH_ARGS[*]}"
  pg_bench "${PGBENCH_ARGS[@]}" >"$dir/pgbench.log" 2>&1
  pg_psql -c CHECKPOINT
  "$PGTOOL" drain --root "$root" --name src >"$dir/drain.json"
  res_put "s$scale.drain_s" "$(jfield "$dir/drain.json" seconds)"
  mv "$dir/repo" "$dir/repo.after-full"
  "$DBAAS" repo init --chunk-size "$CHUNK_SIZE" "$dir/repo.empty" >/dev/null
}

# run SCALE I: run I at SCALE: a full backup into an empty repository (first in odd runs,
# last in even ones) and the two incrementals from the parent in alternating order; the WAL
# incremental is compared with the full of its run.
run() {
  local scale=$1 i=$2 dir=$RUN/s$1 root=$RUN/s$1/root j variant key
  ((i % 2 == 0)) || full_run "$scale"
  for variant in $(incremental_order "$i"); do
    key=s$scale.$variant j=$dir/incr-$variant.json
    incremental_backup "$variant" "$key" "$root" "$dir/repo.after-full" "$dir/repo-$variant" "$j"
    printf '%s\n' "$(jfield "$j" read_bytes)" >>"$RES_DIR/$key.read"
    printf '%s\n' "$(jfield "$j" stored_bytes)" >>"$RES_DIR/$key.stored"
    if [[ $variant == wal ]]; then
      printf '%s\n' "$(jq -r '.annotations.changed_blocks_wal_bytes // 0' "$j")" >>"$RES_DIR/$key.wal"
      printf '%s\n' "$(jq -r '.annotations.changed_blocks_seconds // "-"' "$j")" >>"$RES_DIR/$key.scan"
      printf '%s\n' "$(jq -r '.annotations.changed_blocks_summaries // 0' "$j")" >>"$RES_DIR/$key.summaries"
      printf '%s\n' "$(jfield "$j" patched_chunks)" >>"$RES_DIR/$key.patched"
      printf '%s\n' "$(stored_after_gc "$j")" >>"$RES_DIR/$key.compacted"
    fi
  done
  ((i % 2)) || full_run "$scale"
  printf '%s\n' "$(div "$(tail -n 1 "$RES_DIR/s$scale.wal.samples" | cut -d' ' -f1)" \
    "$(tail -n 1 "$RES_DIR/s$scale.full.samples" | cut -d' ' -f1)")" >>"$RES_DIR/s$scale.wal.ratio"
}

# full_run SCALE: one timed full backup into a fresh copy of the empty repository, the spool
# drained and the page cache warmed as for the incrementals (lib.sh's incremental_backup).
full_run() {
  local dir=$RUN/s$1
  rm -rf "$dir/repo-full"
  cp -a "$dir/repo.empty" "$dir/repo-full"
  "$PGTOOL" drain --root "$dir/root" --name src >/dev/null
  warm_cache "$dir/root/src/data"
  timed "s$1.full" "$PGTOOL" backup --root "$dir/root" --name src --repo "$dir/repo-full" \
    --mode repository >"$dir/full-run.json"
  rm -rf "$dir/repo-full"
}

for scale in $SCALES; do prepare "$scale"; done
# The scales' runs interleave: the first scale first in odd runs, last in even ones.
read -r -a scales <<<"$SCALES"
for ((i = 1; i <= RUNS; i++)); do
  order=("${scales[@]}")
  ((i % 2)) || mapfile -t order < <(printf '%s\n' "${scales[@]}" | tac)
  for scale in "${order[@]}"; do run "$scale" "$i"; done
done
for scale in $SCALES; do
  summarize "s$scale.wal"
  summarize "s$scale.whole"
  summarize "s$scale.full"
done

walls() { awk '{ printf "%s%s", (NR > 1 ? " " : ""), $1 }' "$RES_DIR/$1.samples"; }
ratios() { awk '{ printf "%s%.2f", (NR > 1 ? " " : ""), $1 }' "$RES_DIR/$1"; }
first() { head -n 1 "$RES_DIR/$1"; }
report() {
  local scale base
  echo "# Incremental backups by data size (issue 17), $(date '+%Y-%m-%d %H:%M')"
  echo
  echo "- Machine: $(nproc) cores, $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), BENCH_DIR on $(df --output=fstype "$BENCH_DIR" | tail -n 1)"
  echo "- Build: $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null); chunk size $CHUNK_SIZE; RUNS=$RUNS, alternating order; pgbench ${PGBENCH_ARGS[*]} + CHECKPOINT after the full"
  echo
  echo "| scale | base/ | full: runs s | incremental, WAL map: runs s | ÷ the run's full | read | patched chunks | stored | after gc's compaction (runs s) | segments summarized (drain s) | WAL scanned | map s | whole files: runs s | read | stored |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for scale in $SCALES; do
    echo "| $scale | $(mb "$(res_get "s$scale.data")") | $(walls "s$scale.full") | $(walls "s$scale.wal") | $(ratios "s$scale.wal.ratio") | $(mb "$(first "s$scale.wal.read")") | $(first "s$scale.wal.patched") | $(mb "$(first "s$scale.wal.stored")") | $(mb "$(first "s$scale.wal.compacted")") ($(walls "s$scale.wal.compact")) | $(first "s$scale.wal.summaries") ($(f2 "$(res_get "s$scale.drain_s")")) | $(mb "$(first "s$scale.wal.wal")") | $(paste -sd' ' "$RES_DIR/s$scale.wal.scan") | $(walls "s$scale.whole") | $(mb "$(first "s$scale.whole.read")") | $(mb "$(first "s$scale.whole.stored")") |"
  done
  echo
  echo "| target | measured | goal |"
  echo "|---|---|---|"
  for scale in $SCALES; do
    echo "| WAL incremental ÷ the full of its run, scale $scale, the highest of the runs | $(sort -g "$RES_DIR/s$scale.wal.ratio" | tail -n 1) | ≤ 0.25 in every run |"
  done
  set -- $SCALES
  if (($# >= 2)); then
    base=$1
    echo "| WAL incremental at scale $2 vs scale $base, slowest runs | $(div "$(sort -g "$RES_DIR/s$2.wal.samples" | tail -n 1 | cut -d' ' -f1)" "$(sort -g "$RES_DIR/s$base.wal.samples" | tail -n 1 | cut -d' ' -f1)") | ≤ 1.2 (flat in data size) |"
    echo "| whole-file incremental at scale $2 vs scale $base, slowest runs | $(div "$(sort -g "$RES_DIR/s$2.whole.samples" | tail -n 1 | cut -d' ' -f1)" "$(sort -g "$RES_DIR/s$base.whole.samples" | tail -n 1 | cut -d' ' -f1)") | (for comparison) |"
  fi
}

mkdir -p "$REPO_ROOT/bench/results"
out=$REPO_ROOT/bench/results/pg-incremental-$(date +%Y%m%d-%H%M%S).md
report | tee "$out"
log "report saved to $out"
