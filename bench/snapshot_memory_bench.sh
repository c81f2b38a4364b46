#!/usr/bin/env bash
# bench/snapshot_memory_bench.sh: issue 17's question whether a repository's memory and its
# opening follow the data size. For each SCALE: a stopped pgbench data directory (made once,
# kept in BENCH_DIR for later runs); then ROUNDS rounds of, per scale and per build (this
# one, and BASELINE's `dbaas` if given, the order alternating by round): a full snapshot into
# an empty repository, `snapshot ls` five times (it opens the repository: its index) and a
# durable restore (`snapshot restore --sync`). Reports each run's peak RSS (/usr/bin/time)
# and the open's mean time; backup and restore wall times are printed but are the disk's.
#
# Usage (as root, after scripts/build.sh release):
#   bench/snapshot_memory_bench.sh                                # SCALES="70 700" ROUNDS=2
#   BASELINE=/tmp/old/dbaas bench/snapshot_memory_bench.sh        # beside another build
#   SCALES=10 ROUNDS=1 bench/snapshot_memory_bench.sh             # smoke run
# Environment: SCALES, ROUNDS, BASELINE, BENCH_DIR [/var/tmp/dbaas-memory-bench] (the
#   data directories, ~17 GB at scale 700, plus a repository and a restore of the largest),
#   DBAAS, PG_BIN.
# Output: a Markdown report on stdout, also saved to bench/results/snapshot-memory-<date>.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$SCRIPT_DIR/lib.sh"

SCALES=${SCALES:-70 700}
ROUNDS=${ROUNDS:-2}
BASELINE=${BASELINE:-}
BENCH_DIR=${BENCH_DIR:-/var/tmp/dbaas-memory-bench}
DBAAS=$(realpath "${DBAAS:-$REPO_ROOT/build/release/apps/dbaas/dbaas}")
WORK=$BENCH_DIR/work

((EUID == 0)) || die "run as root (PostgreSQL runs as its own user)"
[[ -x $DBAAS ]] || die "build first: scripts/build.sh release"
[[ -z $BASELINE || -x $BASELINE ]] || die "BASELINE '$BASELINE' is not an executable"
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install time)"
need jq jq
trap 'rm -rf "$WORK"' EXIT

# data SCALE: the stopped data directory at SCALE, made once (initdb, pgbench -i, CHECKPOINT).
data() {
  local scale=$1 dir=$BENCH_DIR/s$1
  if [[ ! -f $dir/ready ]]; then
    rm -rf "$dir"
    mkdir -p "$dir/run"
    pg_setup_user
    pg_own "$dir"
    PG_SOCKDIR=$dir/run
    pg_init "$dir/data"
    pg_start "$dir/data"
    log "scale $scale: pgbench -i (scale 700 takes minutes)"
    pg_bench -i -q -s "$scale" >"$dir/pgbench-init.log" 2>&1
    pg_psql -c CHECKPOINT
    pg_stop "$dir/data"
    touch "$dir/ready"
  fi
  printf '%s' "$dir/data"
}

# measure NAME DBAAS SRC: one full snapshot, the opens, one durable restore; one report row.
measure() {
  local name=$1 bin=$2 src=$3 repo=$WORK/repo target=$WORK/target id backup open restore blobs
  rm -rf "$WORK"
  mkdir -p "$WORK"
  "$bin" repo init "$repo" >/dev/null
  sync
  /usr/bin/time -f '%e %M' -o "$WORK/t" "$bin" snapshot create --repo "$repo" --source "$src" \
    --mode repository -o json >"$WORK/snap.json"
  backup=$(cat "$WORK/t")
  id=$(jq -er .id "$WORK/snap.json")
  sync
  open=$(perf_mean_ms "$bin" snapshot ls --repo "$repo")
  blobs=$("$bin" -o json repo stats "$repo" | jq -er .blobs)
  /usr/bin/time -f '%e %M' -o "$WORK/t" "$bin" snapshot restore --sync --repo "$repo" "$id" \
    "$target" >/dev/null
  restore=$(cat "$WORK/t")
  printf '| %s | %s | %.1f MB | %s s | %s ms | %.1f MB | %s s |\n' "$name" \
    "$blobs" "$(awk '{print $2 / 1024}' <<<"$backup")" \
    "${backup% *}" "$open" "$(awk '{print $2 / 1024}' <<<"$restore")" "${restore% *}"
}

# perf_mean_ms CMD...: the mean wall time of five runs of CMD, in ms.
perf_mean_ms() {
  local s e total=0
  for _ in 1 2 3 4 5; do
    s=$(date +%s%N)
    "$@" >/dev/null
    e=$(date +%s%N)
    total=$((total + e - s))
  done
  awk -v t="$total" 'BEGIN { printf "%.1f", t / 5 / 1e6 }'
}

declare -A srcs
for scale in $SCALES; do srcs[$scale]=$(data "$scale"); done
builds=(this)
[[ -n $BASELINE ]] && builds+=(baseline)
rows=()
for ((round = 1; round <= ROUNDS; round++)); do
  order=("${builds[@]}")
  ((round % 2)) || mapfile -t order < <(printf '%s\n' "${builds[@]}" | tac)
  for scale in $SCALES; do
    for build in "${order[@]}"; do
      bin=$DBAAS
      [[ $build == baseline ]] && bin=$BASELINE
      log "round $round, scale $scale, $build"
      rows+=("$(measure "scale $scale, $build, round $round" "$bin" "${srcs[$scale]}")")
    done
  done
done

mkdir -p "$REPO_ROOT/bench/results"
out=$REPO_ROOT/bench/results/snapshot-memory-$(date +%Y%m%d-%H%M%S).md
{
  echo "# Snapshot memory and opening by data size (issue 17), $(date '+%Y-%m-%d %H:%M')"
  echo
  echo "- Machine: $(nproc) cores, $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), BENCH_DIR on $(df --output=fstype "$BENCH_DIR" | tail -n 1)"
  echo "- Build: $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null)${BASELINE:+; baseline $BASELINE}; ROUNDS=$ROUNDS, order alternating"
  echo "- Peak RSS by /usr/bin/time; open: \`snapshot ls\` (opens the repository and its index, process start included), mean of 5"
  echo
  echo "| run | blobs | full backup, peak RSS | its wall | open | restore (durable), peak RSS | its wall |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$out"
log "report saved to $out"
