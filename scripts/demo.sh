#!/usr/bin/env bash
# The main job, for now the snapshot-repository demo (the daemon joins it with issue #4):
# installs and builds, makes a PostgreSQL 15 cluster with pgbench data, snapshots it into a
# repository, changes data, takes an incremental snapshot, restores it into a new
# directory, starts PostgreSQL on the restored copy and checks the data, and prints timings.
# Usage: scripts/demo.sh            (SCALE=10 by default; DEMO_DIR to keep the files)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/install-deps.sh
scripts/build.sh release >/dev/null
dbaas=$root/build/release/apps/dbaas/dbaas
scale=${SCALE:-10}
demo=${DEMO_DIR:-$(mktemp -d /var/tmp/dbaas-demo.XXXXXX)}
export PG_SOCKDIR=$demo/sock
export PG_PORT=${PG_PORT:-55439}
# shellcheck source=../bench/lib.sh
source "$root/bench/lib.sh"
data=$demo/pgdata
cleanup() {
  pg_stop_if_running "$data" || true
  pg_stop_if_running "$demo/restored" || true
  [ -n "${DEMO_DIR:-}" ] || rm -rf "$demo"
}
trap cleanup EXIT
mkdir -p "$PG_SOCKDIR"
pg_setup_user
pg_own "$demo"
rows=()
step() {  # step LABEL CMD... : runs and times a step
  local label=$1; shift
  local t0 ms
  t0=$(date +%s%N)
  "$@" >/dev/null
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  rows+=("$(printf '%-48s %6d.%03d s' "$label" $((ms / 1000)) $((ms % 1000)))")
  log "$label: done"
}
checksum() {  # the pgbench invariant and a content checksum of the accounts table
  pg_psql -At -c "select (select sum(abalance) from pgbench_accounts) = (select sum(bbalance) from pgbench_branches), count(*), md5(string_agg(aid::text || ':' || abalance, ',' order by aid)) from pgbench_accounts"
}

make_cluster() {
  pg_init "$data"
  pg_start "$data"
  pg_bench -i -q -s "$scale" >/dev/null 2>&1
  pg_psql -c checkpoint >/dev/null
  pg_stop "$data"
}

step "initdb + pgbench -i -s $scale" make_cluster
size=$(du -sh "$data" | cut -f1)
step "dbaas repo init" "$dbaas" repo init "$demo/repo"
step "full snapshot ($size)" "$dbaas" snapshot create --repo "$demo/repo" --source "$data" --name full --mode repository
pg_start "$data"
pg_bench -n -t 500 -c 4 -j 2 >/dev/null 2>&1
pg_psql -c checkpoint >/dev/null
expected=$(checksum)
pg_stop "$data"
step "incremental snapshot after 2,000 transactions" "$dbaas" snapshot create --repo "$demo/repo" --source "$data" --name incr --mode repository
step "restore into a new directory" "$dbaas" snapshot restore --repo "$demo/repo" incr "$demo/restored"
step "verify repository (re-read every chunk)" "$dbaas" repo verify "$demo/repo"
pg_own "$demo/restored"
step "start PostgreSQL on the restored copy" pg_start "$demo/restored"
got=$(checksum)
pg_stop "$demo/restored"

echo
echo "Mini DBaaS snapshot demo (PostgreSQL 15, pgbench scale $scale)"
printf '%s\n' "${rows[@]}"
echo
"$dbaas" snapshot ls --repo "$demo/repo"
echo
"$dbaas" repo stats "$demo/repo"
echo
if [ "$expected" = "$got" ]; then
  echo "restored data verified: $got"
else
  echo "MISMATCH: expected $expected, got $got"
  exit 1
fi
