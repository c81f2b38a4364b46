#!/usr/bin/env bash
# bench/pg_backup_bench.sh: the benchmark of issue #3 (PostgreSQL instances with consistent
# online backup and restore). This project's backup and restore of a running PostgreSQL 15
# instance against pgBackRest, pg_basebackup and `tar czf` of the live directory, side by
# side in one run, on `pgbench -i` data. See /work/shared/BASELINE.md for reference figures.
#
# Usage (as root, from anywhere):
#   bench/pg_backup_bench.sh
#   SCALE=5 RUNS=1 BENCH_DIR=/tmp/pgb bench/pg_backup_bench.sh     # quick smoke run
#
# Environment:
#   SCALE=70           pgbench scale (70 -> ~2 GB data directory)
#   RUNS=3             repetitions of the fast timed steps (median by wall time is reported):
#                      dbaas full backup (fresh repository each time), pgBackRest full,
#                      all restores, thin backups
#   RUNS_SLOW=1        repetitions of `tar czf` and pg_basebackup -Ft -z (gzip: ~10-25 s)
#   BENCH_DIR=/var/tmp/dbaas-pg-bench   work dir (about 6x the data directory is needed)
#   PGTOOL=build/release/bench/dbaas_pg_bench_tool   the tool under test and
#   DBAAS=build/release/apps/dbaas/dbaas             the CLI (repo init/stats); relative paths:
#                      to the cwd, else to the repository root. If either is missing, the
#                      project's rows are skipped and only the baselines run.
#   SKIP_REFLINK=1     skip the XFS reflink part (needs root, mkfs.xfs and a loop device)
#   SKIP_PGBACKREST=1  skip pgBackRest (installed with apt-get when missing and root)
#   SKIP_SLOW=1        skip tar czf, pg_basebackup and the untar restore (gzip: minutes at
#                      scale 700)
#   LOAD_SECONDS=8     length of the pgbench load during the thin backup under load
#   PG_BIN=/usr/lib/postgresql/15/bin, PG_OS_USER=postgres
#   PG_PORT=55432      port of the baseline cluster; restored copies use PG_PORT+1, PG_PORT+2
#   KEEP_RUN=1         keep $BENCH_DIR/run afterwards (servers are stopped all the same)
#
# Needs: PostgreSQL 15 server (postgresql-15), pgbackrest, jq, time (/usr/bin/time), GNU tar,
# gzip, coreutils, util-linux (runuser, losetup, mount); xfsprogs for the reflink part.
#
# Output: a Markdown report on stdout, also saved to bench/results/pg-backup-<date>.md;
# progress goes to stderr. Exit status: 0 when every section ran (targets may still FAIL),
# 2 when a section failed with an error, 1 when preparation failed.
#
# The two clusters. The instance under test is made by the tool (`create`: initdb, scram
# authentication, its own dbaas.conf; its settings cannot be overridden). pgBackRest needs
# WAL archiving (archive_mode=on plus an archive_command), so pgBackRest, pg_basebackup and
# `tar czf` run against a SEPARATE "baseline cluster": a `cp -a` of the instance's data
# directory, taken while the instance is stopped right after `pgbench -i` + CHECKPOINT, with
# archiving added to its postgresql.auto.conf and started by lib.sh's pg_start on its own
# port and socket dir. Both start from byte-identical data and get the same pgbench run
# (--random-seed=42) before the incrementals. Without the tool, the baseline cluster is made
# by lib.sh's pg_init + pgbench -i instead (trust authentication).
#
# What is measured (wall, user+sys CPU and peak RSS of the largest process through
# /usr/bin/time, page cache warm, `sync` before every timed step):
#   full backup:  dbaas (--mode repository, fresh repository each run); pgBackRest full
#                 (zst level 3, process-max 2, start-fast); pg_basebackup -Ft -z -X fetch
#                 -c fast; tar czf of the live data directory
#   incremental:  after `pgbench -n -t 1500 -c 4 -j 2` (6,000 transactions) + CHECKPOINT on
#                 both clusters: dbaas backup into the same repository (stored growth from
#                 `dbaas repo stats`) vs pgBackRest --type=incr (growth of its repository,
#                 du -sb, once archiving has caught up)
#   restore:      each to "accepting connections and out of recovery": dbaas restore of the
#                 incremental snapshot (wall of the command); pgBackRest restore
#                 --type=immediate --target-action=promote into a fresh dir + pg_ctl start +
#                 wait for pg_is_in_recovery() = false; untar of the pg_basebackup tar.gz +
#                 start. Each restored copy is checked once (pgbench balance invariants and
#                 pgbench_history row count).
#   reflink:      an instance root and a repository on one loop-mounted XFS image
#                 (mkfs.xfs -m reflink=1), seeded by a dbaas restore of the incremental
#                 snapshot: thin backups (--mode thin) idle and under pgbench load, time in
#                 backup mode, restore from the thin snapshot.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$SCRIPT_DIR/lib.sh"

SCALE=${SCALE:-70}
RUNS=${RUNS:-3}
RUNS_SLOW=${RUNS_SLOW:-1}
SKIP_SLOW=${SKIP_SLOW:-0}
BENCH_DIR=${BENCH_DIR:-/var/tmp/dbaas-pg-bench}
PGTOOL=${PGTOOL:-build/release/bench/dbaas_pg_bench_tool}
DBAAS=${DBAAS:-build/release/apps/dbaas/dbaas}
SKIP_REFLINK=${SKIP_REFLINK:-0}
SKIP_PGBACKREST=${SKIP_PGBACKREST:-0}
LOAD_SECONDS=${LOAD_SECONDS:-8}
KEEP_RUN=${KEEP_RUN:-0}
PGBENCH_ARGS=(-n -t 1500 -c 4 -j 2 --random-seed=42)
PGBENCH_TX=6000 # rows pgbench_history gets from PGBENCH_ARGS (-n: nothing truncates it)
STANZA=bench

[[ $SCALE =~ ^[1-9][0-9]*$ ]] || die "SCALE must be a positive integer"
[[ $RUNS =~ ^[1-9][0-9]*$ && $RUNS_SLOW =~ ^[1-9][0-9]*$ ]] || die "RUNS and RUNS_SLOW must be positive integers"
[[ $LOAD_SECONDS =~ ^[1-9][0-9]*$ ]] || die "LOAD_SECONDS must be a positive integer"
[[ $PG_PORT =~ ^[1-9][0-9]*$ ]] || die "PG_PORT must be a port number"

# ---------------------------------------------------------------------------- setup

need jq jq
need tar tar
need gzip gzip
need runuser util-linux
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install time)"
for b in initdb pg_ctl pgbench psql pg_basebackup; do
  [[ -x $PG_BIN/$b ]] || die "$PG_BIN/$b not found (apt-get install postgresql-15)"
done

# A binary: relative to the cwd if it exists there, else to the repository root.
resolve_bin() {
  local p=$1
  if [[ $p != /* && ! -e $p && -e $REPO_ROOT/$p ]]; then p=$REPO_ROOT/$p; fi
  if [[ -f $p && -x $p ]]; then realpath "$p"; else printf '%s' "$p"; fi
}
PGTOOL=$(resolve_bin "$PGTOOL")
DBAAS=$(resolve_bin "$DBAAS")
HAVE_TOOL=1
TOOL_MISSING=
if [[ ! -f $PGTOOL || ! -x $PGTOOL ]]; then
  HAVE_TOOL=0 TOOL_MISSING="\`$PGTOOL\` not found"
elif [[ ! -f $DBAAS || ! -x $DBAAS ]]; then
  HAVE_TOOL=0 TOOL_MISSING="\`$DBAAS\` not found (needed for repo init/stats)"
fi
((HAVE_TOOL)) || log "SKIPPING this project's rows: ${TOOL_MISSING//\`/}; measuring the baselines only"

HAVE_PGBR=0
PGBR_MISSING=
if [[ $SKIP_PGBACKREST == 1 ]]; then
  PGBR_MISSING="SKIP_PGBACKREST=1"
elif ! command -v pgbackrest >/dev/null 2>&1 && ((EUID == 0)); then
  log "pgbackrest not found: apt-get install pgbackrest"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbackrest >&2 ||
    { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbackrest >&2; } ||
    log "warning: could not install pgbackrest"
fi
if [[ $SKIP_PGBACKREST != 1 ]]; then
  if command -v pgbackrest >/dev/null 2>&1; then
    HAVE_PGBR=1
  else
    PGBR_MISSING="pgbackrest not found (apt-get install pgbackrest)"
    log "SKIPPING pgBackRest: $PGBR_MISSING"
  fi
fi
PGBACKREST=$(command -v pgbackrest || echo pgbackrest)

mkdir -p "$BENCH_DIR"
BENCH_DIR=$(realpath "$BENCH_DIR")
exec 9>"$BENCH_DIR/.lock"
flock -n 9 || die "another benchmark run is using $BENCH_DIR"
# From here on every path is absolute; / is a cwd that the server's user can read too.
cd /

pg_setup_user
# The server's OS user must reach the instance roots and sockets below BENCH_DIR.
chmod 0711 "$BENCH_DIR"
as_pg test -x "$BENCH_DIR" ||
  die "$PG_OS_USER cannot traverse $BENCH_DIR (a parent directory not searchable?); set BENCH_DIR"

RUN=$BENCH_DIR/run   # everything of this run
RES_DIR=$RUN/results # lib.sh's result files
ROOT=$RUN/root       # the tool's instance root (ext4 or whatever BENCH_DIR is on)
REPO=$RUN/repo       # the dbaas repository
WALREPO=$RUN/walrepo # the repository the instance archives its WAL into (as dbaasd's would)
REF=$RUN/ref/data    # the baseline cluster (pgBackRest, pg_basebackup, tar czf)
PG_SOCKDIR=$RUN/ref/run
PGBR_DIR=$RUN/pgbr # pgBackRest: config, repository, logs, locks
PGBR_CONF=$PGBR_DIR/pgbackrest.conf
PGBR_REPO=$PGBR_DIR/repo
PGPASSFILE=$RUN/pgpass # the superuser password for every client, pgBackRest included
RESTORE_PORT=$((PG_PORT + 1))
UNTAR_PORT=$((PG_PORT + 2))
XFS_IMG=$RUN/xfs.img
XFS_MNT=$RUN/xfs
XROOT=$XFS_MNT/root
XREPO=$XFS_MNT/repo
export PG_SOCKDIR PGPASSFILE


# Every server this script may have started: the tool's instances (on ext4 and XFS), the
# baseline cluster and the restored copies.
stop_all_servers() {
  local d
  for d in "$ROOT"/*/data "$XROOT"/*/data "$REF" "$RUN"/restore-*/data; do
    [[ -d $d ]] || continue
    pg_stop_if_running "$d" || as_pg "$PG_BIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
  done
}

detach_xfs() {
  if mountpoint -q "$XFS_MNT" 2>/dev/null; then
    log "unmounting $XFS_MNT"
    umount "$XFS_MNT" || umount -l "$XFS_MNT"
  fi
  if [[ -e $XFS_IMG ]] && command -v losetup >/dev/null; then
    losetup -j "$XFS_IMG" -O NAME -n 2>/dev/null | xargs -r -n1 losetup -d
  fi
  rm -f "$XFS_IMG"
}

SECTION_PID=
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
  stop_all_servers
  if [[ $KEEP_RUN != 1 ]]; then  # the instances' OS users go with them
    "$REPO_ROOT/scripts/remove-instance-users.sh" --tool-root "$ROOT" "$XROOT"
  fi
  detach_xfs
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
  log "cleaning up the previous run in $RUN"
  stop_all_servers
  detach_xfs
  rm -rf "$RUN"
fi
mkdir -p "$RUN" "$RES_DIR" "$ROOT" "$PG_SOCKDIR" "$PGBR_DIR" "$(dirname "$REF")"
chmod 0711 "$RUN" "$ROOT"
pg_own "$PG_SOCKDIR" "$PGBR_DIR" "$(dirname "$REF")"

# section NAME FUNC: run FUNC in a subshell with errexit; a failure is recorded and the
# benchmark goes on with the next section. The subshell runs in the background and is waited
# for, so that a signal reaches our trap at once; cleanup then ends the section's processes.
SECTION_FAILED=0

# ---------------------------------------------------------------------------- helpers

# val_put KEY VALUE: append a per-run value (e.g. seconds_in_backup_mode); val_med KEY: the
# median; val_all KEY: all values, space-separated.
val_put() { printf '%s\n' "$2" >>"$RES_DIR/$1.vals"; }
val_med() {
  local f="$RES_DIR/$1.vals" n
  [[ -s $f ]] || return 0
  n=$(wc -l <"$f")
  sort -g "$f" | sed -n "$(((n + 1) / 2))p"
}
val_max_wall() { if [[ -s $RES_DIR/$1.samples ]]; then sort -g -k1,1 "$RES_DIR/$1.samples" | tail -n 1 | cut -d' ' -f1; fi; }
val_all() { if [[ -s $RES_DIR/$1.vals ]]; then paste -sd' ' "$RES_DIR/$1.vals"; fi; }

# The tool; its JSON on stdout is checked.
tool() { "$PGTOOL" "$@"; }
jfield() { jq -er ".$2" "$1"; }

# psql against any server: db_psql SOCKDIR PORT ARGS...
db_psql() {
  local sock=$1 port=$2
  shift 2
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U "$PG_DBUSER" -d postgres "$@"
}

# check_db SOCKDIR PORT EXPECTED_HISTORY_ROWS: the pgbench invariants of a restored copy.
# Prints "consistent, N history rows" (+ "(expected M)" when N differs) or what is wrong.
check_db() {
  local out ok rows
  out=$(db_psql "$1" "$2" -Atc "
    select (select sum(abalance) from pgbench_accounts) = (select sum(bbalance) from pgbench_branches)
       and (select sum(tbalance) from pgbench_tellers) = (select sum(bbalance) from pgbench_branches)
       and (select coalesce(sum(delta), 0) from pgbench_history) = (select sum(bbalance) from pgbench_branches),
           (select count(*) from pgbench_history),
           (select count(*) from pgbench_accounts)" 2>&1) || {
    printf 'query failed: %s' "$(head -c 200 <<<"$out" | tr '\n' ' ')"
    return 0
  }
  IFS='|' read -r ok rows _ <<<"$out"
  if [[ $ok == t ]]; then printf 'consistent, %s history rows' "$rows"; else printf 'INCONSISTENT balances, %s history rows' "$rows"; fi
  if [[ -n $3 && $rows != "$3" ]]; then printf ' (expected %s)' "$3"; fi
}

# start_and_wait DATADIR PORT SOCKDIR: start a restored copy (as the server's user) on its own
# port and socket dir with archiving off, wait until it accepts connections and is out of
# recovery. Exported: it runs inside timed `bash -c`.
start_and_wait() {
  local d=$1 port=$2 sock=$3 i r as=()
  ((EUID != 0)) || as=(runuser -u "$PG_OS_USER" --)
  "${as[@]}" "$PG_BIN/pg_ctl" -D "$d" -l "$sock/postgres.log" -w -t 300 \
    -o "-p $port -k '$sock' -c listen_addresses=127.0.0.1 -c archive_mode=off" start >/dev/null || {
    tail -n 20 "$sock/postgres.log" >&2
    return 1
  }
  for ((i = 0; i < 6000; i++)); do
    r=$("$PG_BIN/psql" -X -Atq -h "$sock" -p "$port" -U "$PG_DBUSER" -d postgres \
      -c 'select pg_is_in_recovery()' 2>/dev/null) || r=
    [[ $r == f ]] && return 0
    sleep 0.05
  done
  echo "still in recovery after 300 s" >&2
  return 1
}
if ((EUID == 0)); then AS_PG=(runuser -u "$PG_OS_USER" --); else AS_PG=(); fi
export -f start_and_wait
export PG_BIN PG_OS_USER PG_DBUSER

# pgBackRest as the server's OS user (it must own the data), with our config file.
PGBR_CMD=("${AS_PG[@]}" "$PGBACKREST" --config="$PGBR_CONF" --stanza="$STANZA")
pgbr() { "${PGBR_CMD[@]}" "$@"; }
pgbr_repo_bytes() { dir_bytes "$PGBR_REPO"; }

# ---------------------------------------------------------------------------- sections

prepare() {
  local out=$RUN/pgbench-init.log sock port pw
  if ((HAVE_TOOL)); then
    log "tool create --root $ROOT --name src --archive-repo $WALREPO"
    "$DBAAS" repo init "$WALREPO" >/dev/null
    tool create --root "$ROOT" --name src --archive-repo "$WALREPO" --dbaas "$DBAAS" >"$RUN/src.json"
    jq -e .port "$RUN/src.json" >/dev/null
    tool start --root "$ROOT" --name src >/dev/null
    sock=$(jfield "$RUN/src.json" socket_dir) port=$(jfield "$RUN/src.json" port)
    pw=$(jfield "$RUN/src.json" password)
    # One password file for every client (psql, pgbench, pg_basebackup, pgBackRest): the
    # baseline cluster is a copy of the instance, so it has the same superuser password.
    # Owned by the server's user, mode 0600 (libpq ignores it otherwise).
    printf '*:*:*:%s:%s\n' "$PG_DBUSER" "$pw" >"$PGPASSFILE"
    chmod 0600 "$PGPASSFILE"
    pg_own "$PGPASSFILE"
    res_put src.sock "$sock"
    res_put src.port "$port"
    res_put src.password "$pw"
    log "pgbench -i -s $SCALE on the instance (a few minutes at scale 70)"
    PG_SOCKDIR=$sock PG_PORT=$port pg_bench -i -q -s "$SCALE" >"$out" 2>&1 || {
      tail -n 20 "$out" >&2
      return 1
    }
    db_psql "$sock" "$port" -c CHECKPOINT
    tool stop --root "$ROOT" --name src >/dev/null
    log "baseline cluster: cp -a of the stopped instance's data directory"
    cp -a "$ROOT/src/data" "$REF"
    rm -f "$REF/postmaster.pid" "$REF/postmaster.opts"
    # Not into the instance's spool: pgbr_setup gives it pgBackRest's archive_command.
    echo "archive_mode = 'off'" >>"$REF/postgresql.auto.conf"
    # The instance's files are its own OS user's (dbaas-<hex>); the baseline cluster's
    # server runs as $PG_OS_USER.
    if ((EUID == 0)); then chown -R "$PG_OS_USER:" "$REF"; fi
    tool start --root "$ROOT" --name src >/dev/null
    pg_start "$REF"
    res_put ref.origin "cp -a of the instance's data directory (stopped) right after pgbench -i + CHECKPOINT: byte-identical data, the instance's settings (dbaas.conf) and scram authentication"
  else
    log "initdb --data-checksums $REF (baseline cluster, no tool)"
    : >"$PGPASSFILE"
    chmod 0600 "$PGPASSFILE"
    pg_init "$REF"
    pg_start "$REF"
    log "pgbench -i -s $SCALE (a few minutes at scale 70)"
    pg_bench -i -q -s "$SCALE" >"$out" 2>&1 || {
      tail -n 20 "$out" >&2
      return 1
    }
    pg_psql -c CHECKPOINT
    res_put ref.origin "lib.sh pg_init (initdb --data-checksums, trust authentication) + pgbench -i + CHECKPOINT"
  fi
  res_put data.bytes "$(dir_bytes "$REF")"
  res_put data.base "$(dir_bytes "$REF/base")"
  res_put data.wal "$(dir_bytes "$REF/pg_wal")"
  res_put data.files "$(find "$REF" -type f | wc -l)"
  log "data ready: $(du -sh "$REF" | cut -f1)"
}

# pgBackRest setup on the baseline cluster: config, archiving, stanza-create, check.
pgbr_setup() {
  mkdir -p "$PGBR_REPO" "$PGBR_DIR/log" "$PGBR_DIR/lock"
  cat >"$PGBR_CONF" <<EOF
[global]
repo1-path=$PGBR_REPO
repo1-retention-full=100
log-path=$PGBR_DIR/log
lock-path=$PGBR_DIR/lock
log-level-console=warn
log-level-file=info
compress-type=zst
compress-level=3
process-max=2
start-fast=y

[$STANZA]
pg1-path=$REF
pg1-port=$PG_PORT
pg1-socket-path=$PG_SOCKDIR
pg1-user=$PG_DBUSER
EOF
  pg_own "$PGBR_DIR"
  # Archiving: postgresql.auto.conf is read last, so it wins over postgresql.conf/dbaas.conf.
  pg_stop "$REF"
  cat >>"$REF/postgresql.auto.conf" <<EOF
archive_mode = 'on'
archive_command = '$PGBACKREST --config=$PGBR_CONF --stanza=$STANZA archive-push %p'
EOF
  pg_start "$REF"
  [[ $(pg_psql -Atc 'show archive_mode') == on ]] || {
    log "archive_mode is not on"
    return 1
  }
  pgbr stanza-create >"$PGBR_DIR/stanza-create.log" 2>&1 || {
    cat "$PGBR_DIR/stanza-create.log" >&2
    return 1
  }
  pgbr check >"$PGBR_DIR/check.log" 2>&1 || {
    cat "$PGBR_DIR/check.log" >&2
    return 1
  }
  res_put pgbr.ready 1
  log "  pgBackRest $("$PGBACKREST" version | awk '{ print $2 }'): stanza $STANZA created, check passed"
}

tool_full() {
  local i j=$RUN/tool-full.json
  warm_cache "$ROOT/src/data"
  for ((i = 1; i <= RUNS; i++)); do
    rm -rf "$REPO"
    "$DBAAS" repo init "$REPO" >/dev/null
    timed tool_full "$PGTOOL" backup --root "$ROOT" --name src --repo "$REPO" --mode repository >"$j"
    jq -e .snapshot "$j" >/dev/null
    val_put tool_full.bm "$(jfield "$j" seconds_in_backup_mode)"
  done
  summarize tool_full
  res_put tool_full.stored "$(repo_stat "$REPO" stored_bytes)"
  res_put tool_full.kind "$(jq -r '.kind // "?"' "$j")"
  res_put tool_full.id "$(jfield "$j" snapshot)"
}

pgbr_full() {
  local i before after
  warm_cache "$REF"
  for ((i = 1; i <= RUNS; i++)); do
    before=$(pgbr_repo_bytes)
    timed pgbr_full "${PGBR_CMD[@]}" --type=full backup >>"$PGBR_DIR/console.log"
    after=$(pgbr_repo_bytes)
    val_put pgbr_full.growth "$((after - before))"
  done
  summarize pgbr_full
  res_put pgbr_full.growth "$(tail -n 1 "$RES_DIR/pgbr_full.growth.vals")"
  pgbr --output=json info >"$RUN/pgbr-info.json"
  res_put pgbr_full.delta "$(jq -r '[.[0].backup[] | select(.type == "full")] | last | .info.repository.delta' "$RUN/pgbr-info.json")"
  res_put pgbr.version "$("$PGBACKREST" version | awk '{ print $2 }')"
}

basebackup() {
  local i bb=$RUN/bb
  warm_cache "$REF"
  for ((i = 1; i <= RUNS_SLOW; i++)); do
    rm -rf "$bb"
    timed basebackup "$PG_BIN/pg_basebackup" -h "$PG_SOCKDIR" -p "$PG_PORT" -U "$PG_DBUSER" \
      -Ft -z -X fetch -c fast -D "$bb"
  done
  summarize basebackup
  res_put basebackup.size "$(dir_bytes "$bb")"
  # The untar restore runs as the server's user.
  pg_own "$bb"
}

tar_czf() {
  local i tgz=$RUN/live.tar.gz
  warm_cache "$REF"
  for ((i = 1; i <= RUNS_SLOW; i++)); do
    rm -f "$tgz"
    # Exit 1 from GNU tar means "file changed as we read it": expected of a live directory.
    # shellcheck disable=SC2016 # expanded by the inner bash
    timed tar_czf bash -c 'tar -C "$1" -czf "$2" . 2>/dev/null; rc=$?; ((rc <= 1))' _ "$REF" "$tgz"
  done
  summarize tar_czf
  res_put tar_czf.size "$(file_bytes "$tgz")"
  rm -f "$tgz"
}

# The same pgbench run on both clusters, one after the other, then CHECKPOINT; pgBackRest's
# archive catches up before the incrementals are measured (its `check` waits for it).
run_pgbench() {
  local out
  if ((HAVE_TOOL)); then
    out=$RUN/pgbench-src.log
    PG_SOCKDIR=$(res_get src.sock) PG_PORT=$(res_get src.port) pg_bench "${PGBENCH_ARGS[@]}" >"$out" 2>&1 || {
      tail -n 20 "$out" >&2
      return 1
    }
    db_psql "$(res_get src.sock)" "$(res_get src.port)" -c CHECKPOINT
    res_put pgbench.src.tps "$(awk '/^tps = / { printf "%.0f", $3; exit }' "$out")"
    log "  instance: pgbench ${PGBENCH_ARGS[*]}: $(res_get pgbench.src.tps) tps"
  fi
  out=$RUN/pgbench-ref.log
  pg_bench "${PGBENCH_ARGS[@]}" >"$out" 2>&1 || {
    tail -n 20 "$out" >&2
    return 1
  }
  pg_psql -c CHECKPOINT
  res_put pgbench.ref.tps "$(awk '/^tps = / { printf "%.0f", $3; exit }' "$out")"
  log "  baseline cluster: pgbench ${PGBENCH_ARGS[*]}: $(res_get pgbench.ref.tps) tps"
  if res_has pgbr.ready; then pgbr check >>"$PGBR_DIR/check.log" 2>&1; fi
  res_put pgbench.done 1
}

# Two incrementals from the same parent (the full), each into its own copy of the repository
# as it was after the full: blocks named by the WAL since the full (the default), and
# changed files read whole (--whole-files). Per run both, in alternating order, page cache
# warmed the same way and `sync` before each. The WAL is in the archive first, as dbaasd's
# drain of the spool (every second) would have put it (not timed).
tool_incr() {
  local i variant j key
  res_has pgbench.done || return 1
  "$PGTOOL" drain --root "$ROOT" --name src >/dev/null
  rm -rf "$REPO.after-full"
  cp -a "$REPO" "$REPO.after-full"
  for ((i = 1; i <= RUNS; i++)); do
    for variant in $(incremental_order "$i"); do
      j=$RUN/tool-incr-$variant.json key=tool_incr
      [[ $variant == wal ]] || key=tool_incr_whole
      incremental_backup "$variant" "$key" "$ROOT" "$REPO.after-full" "$RUN/repo-$variant" "$j"
      val_put "$key.growth" "$(stored_after_gc "$j")"
      val_put "$key.bm" "$(jfield "$j" seconds_in_backup_mode)"
      val_put "$key.read" "$(jfield "$j" read_bytes)"
      val_put "$key.outside" "$(awk -v w="$(tail -n 1 "$RES_DIR/$key.samples" | cut -d' ' -f1)" \
        -v b="$(jfield "$j" seconds_in_backup_mode)" 'BEGIN { printf "%.3f", w - b }')"
      [[ $variant == whole ]] || res_put tool_incr.partial_files "$(jfield "$j" partial_files)"
      [[ $variant == whole ]] || res_put tool_incr.warnings "$(jq -c .warnings "$j")"
    done
  done
  summarize tool_incr
  summarize tool_incr_whole
  res_put tool_incr.growth "$(val_med tool_incr.growth)"
  res_put tool_incr.bm "$(val_med tool_incr.bm)"
  res_put tool_incr.id "$(jfield "$RUN/tool-incr-wal.json" snapshot)"
  # The chain goes on from the last WAL incremental.
  rm -rf "$REPO" "$REPO.after-full" "$RUN/repo-whole"
  mv "$RUN/repo-wal" "$REPO"
  res_put tool_repo.final_stats "$("$DBAAS" repo stats "$REPO" -o json | jq -c .)"
}
pgbr_incr() {
  local before after
  res_has pgbench.done || return 1
  warm_cache "$REF"
  before=$(pgbr_repo_bytes)
  timed pgbr_incr "${PGBR_CMD[@]}" --type=incr backup >>"$PGBR_DIR/console.log"
  summarize pgbr_incr
  after=$(pgbr_repo_bytes)
  res_put pgbr_incr.growth "$((after - before))"
  pgbr --output=json info >"$RUN/pgbr-info.json"
  res_put pgbr_incr.delta "$(jq -r '.[0].backup | last | .info.repository.delta' "$RUN/pgbr-info.json")"
}

# tool_restore_runs KEY ROOT REPO SNAPSHOT PREFIX EXPECTED_ROWS: RUNS timed restores into new
# instances PREFIX-1..; the first is checked, each is deleted after.
tool_restore_runs() {
  local key=$1 root=$2 repo=$3 id=$4 prefix=$5 rows=$6 i name j
  for ((i = 1; i <= RUNS; i++)); do
    name=$prefix-$i j=$RUN/$key.json
    timed "$key" "$PGTOOL" restore --root "$root" --repo "$repo" --snapshot "$id" --new-name "$name" \
      --password "$(res_get src.password)" >"$j"
    jq -e .port "$j" >/dev/null
    val_put "$key.json_s" "$(jfield "$j" seconds)"
    if ((i == 1)); then
      # The tool may leave the instance running or stop it after measuring.
      pg_is_running "$root/$name/data" || tool start --root "$root" --name "$name" >/dev/null
      res_put "$key.check" "$(check_db "$root/$name/run" "$(jfield "$j" port)" "$rows")"
      log "  check: $(res_get "$key.check")"
    fi
    pg_is_running "$root/$name/data" && tool stop --root "$root" --name "$name" >/dev/null
    "$REPO_ROOT/scripts/remove-instance-users.sh" --instance "$root/$name"
    rm -rf "${root:?}/$name"
  done
  summarize "$key"
}

tool_restore() {
  local id
  id=$(res_get tool_incr.id)
  [[ -n $id ]] || return 1
  tool_restore_runs tool_restore "$ROOT" "$REPO" "$id" restore "$PGBENCH_TX"
}

# Restore at copy speed (issue #17): the repository restore of the incremental snapshot
# (`dbaas snapshot restore`, every chunk decompressed and checked; no server start) beside
# `cp -a` of the same tree already restored, in two pairs per run, each in alternating order,
# the repository's packs and the copied tree warm in the page cache, `sync` before each:
#   durable:    `dbaas snapshot restore --sync` (what dbaasd runs: large files written with
#               O_DIRECT, then syncfs) against `cp -a` then `sync`; the goal's measure;
#   page cache: the same without --sync against `cp -a` alone, both done when the bytes are
#               in the page cache (reported, not a goal: on this VM a page-cache write costs
#               what the hypervisor charges for touching guest memory, which swings 3x).
copy_speed() {
  local i id src=$RUN/cs-src
  id=$(res_get tool_incr.id)
  [[ -n $id ]] || return 1
  rm -rf "$src"
  "$DBAAS" snapshot restore --repo "$REPO" "$id" "$src" >/dev/null
  res_put copy_speed.bytes "$(dir_bytes "$src")"
  local restore_sync=("$DBAAS" snapshot restore --sync --repo "$REPO" "$id" "$RUN/cs-restore")
  local restore=("$DBAAS" snapshot restore --repo "$REPO" "$id" "$RUN/cs-restore")
  local cp_sync=(bash -c 'cp -a "$1" "$2" && sync' _ "$src" "$RUN/cs-cp")
  local cp=(cp -a "$src" "$RUN/cs-cp")
  for ((i = 1; i <= RUNS; i++)); do
    warm_cache "$REPO/packs" "$src"
    copy_pair "$i" copy_restore_sync restore_sync copy_cp_sync cp_sync copy_speed.durable_ratio
    copy_pair "$i" copy_restore restore copy_cp cp copy_speed.ratio
  done
  rm -rf "$RUN/cs-restore" "$RUN/cs-cp" "$src"
  summarize copy_restore_sync
  summarize copy_cp_sync
  summarize copy_restore
  summarize copy_cp
}

# copy_pair RUN RESTORE_KEY RESTORE_ARRAY CP_KEY CP_ARRAY RATIO_KEY: one timed restore and one
# timed copy into fresh directories, the restore first in odd runs; the ratio of the two.
copy_pair() {
  local run=$1 rkey=$2 ckey=$4 ratio=$6
  local -n rcmd=$3 ccmd=$5
  rm -rf "$RUN/cs-restore" "$RUN/cs-cp"
  if ((run % 2)); then
    timed "$rkey" "${rcmd[@]}" >/dev/null
    timed "$ckey" "${ccmd[@]}"
  else
    timed "$ckey" "${ccmd[@]}"
    timed "$rkey" "${rcmd[@]}" >/dev/null
  fi
  val_put "$ratio" "$(awk -v r="$(tail -n 1 "$RES_DIR/$rkey.samples" | cut -d' ' -f1)" \
    -v c="$(tail -n 1 "$RES_DIR/$ckey.samples" | cut -d' ' -f1)" 'BEGIN { printf "%.2f", r / c }')"
}

# pgBackRest restore of the latest backup (the incremental) into a fresh dir, then start:
# --type=immediate ends recovery at the backup's consistency point; the default
# --target-action=pause would leave the server paused in recovery, hence promote.
pgbr_restore() {
  local i dir=$RUN/restore-pgbr sock=$RUN/restore-pgbr/run
  res_has pgbr.ready || return 1
  for ((i = 1; i <= RUNS; i++)); do
    rm -rf "$dir"
    mkdir -p "$dir/data" "$sock"
    chmod 0700 "$dir/data"
    pg_own "$dir"
    # shellcheck disable=SC2016 # expanded by the inner bash
    timed pgbr_restore bash -c '
      set -e
      t0=$(date +%s.%N)
      "${@:5}" restore --pg1-path="$1" --type=immediate --target-action=promote >>"$4/console.log"
      t1=$(date +%s.%N)
      start_and_wait "$1" "$2" "$3"
      t2=$(date +%s.%N)
      echo "$t0 $t1 $t2" >"$4/last-restore-times"' \
      _ "$dir/data" "$RESTORE_PORT" "$sock" "$PGBR_DIR" \
      "${PGBR_CMD[@]}"
    read -r t0 t1 t2 <"$PGBR_DIR/last-restore-times"
    val_put pgbr_restore.restore_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
    val_put pgbr_restore.start_s "$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", b - a }')"
    if ((i == 1)); then
      res_put pgbr_restore.check "$(check_db "$sock" "$RESTORE_PORT" "$PGBENCH_TX")"
      log "  check: $(res_get pgbr_restore.check)"
    fi
    pg_stop "$dir/data"
  done
  summarize pgbr_restore
  rm -rf "$dir"
}

# Untar the pg_basebackup tar.gz (as the server's user) and start it: -X fetch put the WAL
# from the backup's start to its end in pg_wal, so the server recovers from backup_label.
untar_restore() {
  local i dir=$RUN/restore-untar sock=$RUN/restore-untar/run tgz=$RUN/bb/base.tar.gz
  [[ -f $tgz ]] || return 1
  for ((i = 1; i <= RUNS; i++)); do
    rm -rf "$dir"
    mkdir -p "$dir/data" "$sock"
    chmod 0700 "$dir/data"
    pg_own "$dir"
    # shellcheck disable=SC2016 # expanded by the inner bash
    timed untar_restore bash -c '
      set -e
      "${@:5}" tar -C "$1" -xzf "$4"
      start_and_wait "$1" "$2" "$3"' \
      _ "$dir/data" "$UNTAR_PORT" "$sock" "$tgz" "${AS_PG[@]}"
    if ((i == 1)); then
      # The basebackup was taken before pgbench: no history rows.
      res_put untar_restore.check "$(check_db "$sock" "$UNTAR_PORT" 0)"
      log "  check: $(res_get untar_restore.check)"
    fi
    pg_stop "$dir/data"
  done
  summarize untar_restore
  rm -rf "$dir"
}

reflink() {
  local bytes size i j=$RUN/thin.json id load_rc=0 load_pid
  bytes=$(res_get data.bytes)
  size=$((3 * bytes + 4 * 1024 * 1024 * 1024))
  truncate -s "$size" "$XFS_IMG"
  mkfs.xfs -q -f -m reflink=1 "$XFS_IMG"
  mkdir -p "$XFS_MNT"
  mount -o loop "$XFS_IMG" "$XFS_MNT"
  chmod 0711 "$XFS_MNT"
  log "  XFS reflink=1 image of $((size / 1024 / 1024)) MiB (sparse) mounted on $XFS_MNT"
  mkdir -p "$XROOT"
  chmod 0711 "$XROOT"
  "$DBAAS" repo init "$XREPO" >/dev/null
  # Seed: the instance after pgbench, restored from the repository on BENCH_DIR's disk.
  log "  seeding $XROOT/src: dbaas restore of the incremental snapshot (not timed)"
  tool restore --root "$XROOT" --repo "$REPO" --snapshot "$(res_get tool_incr.id)" \
    --new-name src --password "$(res_get src.password)" >"$RUN/xsrc.json"
  pg_is_running "$XROOT/src/data" || tool start --root "$XROOT" --name src >/dev/null
  warm_cache "$XROOT/src/data"

  for ((i = 1; i <= RUNS; i++)); do
    timed thin_full "$PGTOOL" backup --root "$XROOT" --name src --repo "$XREPO" --mode thin >"$j"
    jq -e .snapshot "$j" >/dev/null
    val_put thin_full.bm "$(jfield "$j" seconds_in_backup_mode)"
    ((i > 1)) || id=$(jfield "$j" snapshot)
  done
  summarize thin_full
  res_put thin_full.kind "$(jq -r '.kind // "?"' "$j")"
  res_put thin_full.stored "$(jq -r '.stored_bytes // empty' "$j")"

  tool_restore_runs thin_restore "$XROOT" "$XREPO" "$id" xrestore "$PGBENCH_TX"

  # Under write load: pgbench in the background, the thin backup in the middle of it; the
  # snapshot taken under load is restored once and checked.
  local info=$RUN/xsrc-info.json
  tool info --root "$XROOT" --name src >"$info"
  PG_SOCKDIR=$(jfield "$info" socket_dir) PG_PORT=$(jfield "$info" port) \
    pg_bench -n -c 4 -j 2 -T "$LOAD_SECONDS" >"$RUN/pgbench-load.log" 2>&1 &
  load_pid=$!
  sleep 2
  timed thin_load "$PGTOOL" backup --root "$XROOT" --name src --repo "$XREPO" --mode thin >"$j" || load_rc=$?
  wait "$load_pid" || {
    tail -n 5 "$RUN/pgbench-load.log" >&2
    return 1
  }
  ((load_rc == 0)) || return "$load_rc"
  summarize thin_load
  res_put thin_load.bm "$(jfield "$j" seconds_in_backup_mode)"
  res_put pgbench.load.tps "$(awk '/^tps = / { printf "%.0f", $3; exit }' "$RUN/pgbench-load.log")"
  local saved_runs=$RUNS
  RUNS=1
  tool_restore_runs thin_load_restore "$XROOT" "$XREPO" "$(jfield "$j" snapshot)" xload ""
  RUNS=$saved_runs
  tool stop --root "$XROOT" --name src >/dev/null
}

# ---------------------------------------------------------------------------- report

gb() { if [[ -n $1 ]]; then awk -v x="$1" 'BEGIN { printf "%.2f GB", x / 1e9 }'; else printf 'n/a'; fi; }
# seconds in backup mode: "median s (runs: ...)"
bm_note() {
  local med all
  med=$(val_med "$1")
  [[ -n $med ]] || return 0
  all=$(val_all "$1")
  printf 'in backup mode %s s' "$(f2 "$med")"
  [[ $all == *" "* ]] && printf ' (runs: %s)' "$all"
  return 0
}

# row KEY LABEL RESULT [NOTE] [SKIPNOTE]: one table row from the summarized timing of KEY.
row() {
  local key=$1 label=$2 result=$3 note=${4-} skip=${5-}
  if ! res_has "$key.wall"; then # not measured: no result either
    printf '| %s | – | n/a | n/a | n/a | – | %s |\n' "$label" "${skip:-not measured}"
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

# target NAME VALUE GOAL_TEXT CMP LIMIT FORMAT [WHY_SKIPPED]: CMP ge, le or lt; empty -> SKIP.
target() {
  local name=$1 value=$2 goal=$3 cmp=$4 limit=$5 fmt=$6 why=${7-} shown status
  if [[ -z $value ]]; then
    printf '| %s | n/a | %s | SKIP%s |\n' "$name" "$goal" "${why:+ ($why)}"
    return
  fi
  shown=$(awk -v v="$value" -v f="$fmt" 'BEGIN { printf f, v }')
  status=$(awk -v v="$value" -v l="$limit" -v c="$cmp" 'BEGIN {
    ok = (c == "ge" ? v >= l : c == "le" ? v <= l : v < l); print (ok ? "PASS" : "FAIL") }')
  printf '| %s | %s | %s | %s |\n' "$name" "$shown" "$goal" "$status"
}

report() {
  local cpu mem fstype rev tool_desc pgbr_desc skip_tool skip_pgbr skip_xfs s
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
  fstype=$(df --output=fstype "$BENCH_DIR" | tail -n 1)
  rev=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo "no commit")
  if ((HAVE_TOOL)); then
    tool_desc="\`$PGTOOL\` (built $(date -r "$PGTOOL" '+%Y-%m-%d %H:%M'), repo at $rev)"
    skip_tool=""
  else
    tool_desc="**not run**: $TOOL_MISSING; this project's rows and targets are skipped"
    skip_tool="tool not found"
  fi
  if ((HAVE_PGBR)); then
    pgbr_desc="pgBackRest $(res_get pgbr.version "$("$PGBACKREST" version 2>/dev/null | awk '{ print $2 }')"): zst level 3, process-max 2, start-fast, archive_command archive-push (synchronous)"
    skip_pgbr=""
    if ! res_has pgbr.ready; then
      pgbr_desc="$pgbr_desc; **setup failed**, see stderr"
      skip_pgbr="pgBackRest setup failed"
    fi
  else
    pgbr_desc="**not run**: $PGBR_MISSING"
    skip_pgbr=$PGBR_MISSING
  fi
  skip_xfs=$(res_get reflink.skipped "")

  echo "# PostgreSQL backup and restore benchmark (issue #3), $(date '+%Y-%m-%d %H:%M')"
  echo
  echo "- Machine: $(nproc) cores $cpu, $mem, BENCH_DIR on $fstype, $(uname -r)"
  echo "- Data: PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }'), pgbench -i -s $SCALE, checkpointed: $(gb "$(res_get data.bytes)") in $(res_get data.files '?') files (base/ $(gb "$(res_get data.base)"), pg_wal/ $(gb "$(res_get data.wal)")); page cache warm"
  echo "- This project: $tool_desc; backups of a running instance made by the tool"
  echo "- Baseline cluster (pgBackRest, pg_basebackup, tar czf, with WAL archiving to pgBackRest): $(res_get ref.origin 'n/a')"
  echo "- pgBackRest: $pgbr_desc"
  echo "- Runs: $RUNS (tar czf and pg_basebackup: $RUNS_SLOW); wall = median run by wall time, its CPU and peak RSS (largest process in the tree, /usr/bin/time); \`sync\` before each timed step"
  echo "- pgbench before the incrementals: \`pgbench ${PGBENCH_ARGS[*]}\` ($PGBENCH_TX transactions) + CHECKPOINT on each cluster: instance $(res_get pgbench.src.tps '?') tps, baseline cluster $(res_get pgbench.ref.tps '?') tps"
  for s in "$RES_DIR"/section.*; do
    [[ -e $s ]] || continue
    echo "- **Section ${s##*/section.} failed:** $(cat "$s")"
  done
  echo

  echo "## Full backup (online)"
  echo
  echo "| method | n | wall s | CPU user+sys s | peak RSS MB | result | notes |"
  echo "|---|---|---|---|---|---|---|"
  row tool_full "dbaas backup --mode repository (fresh repo)" "$(mb "$(res_get tool_full.stored)") stored" \
    "kind $(res_get tool_full.kind '?'), $(bm_note tool_full.bm)" "$skip_tool"
  row thin_full "dbaas backup --mode thin (XFS reflink)" "$(mb "$(res_get thin_full.stored)") stored" \
    "kind $(res_get thin_full.kind '?'), $(bm_note thin_full.bm)" "${skip_tool:-${skip_xfs:-not measured}}"
  row pgbr_full "pgBackRest full" "+$(mb "$(res_get pgbr_full.growth)") repo" \
    "backup delta $(mb "$(res_get pgbr_full.delta)") (+ archived WAL); in backup mode ≈ the whole run" "$skip_pgbr"
  row basebackup "\`pg_basebackup -Ft -z -X fetch -c fast\`" "$(mb "$(res_get basebackup.size)")" \
    "in backup mode ≈ the whole run"
  row tar_czf "\`tar czf\` of the live directory" "$(mb "$(res_get tar_czf.size)")" "not consistent (see BASELINE.md)"
  echo

  echo "## Incremental backup after pgbench"
  echo
  echo "| method | n | wall s | CPU user+sys s | peak RSS MB | result | notes |"
  echo "|---|---|---|---|---|---|---|"
  row tool_incr "dbaas backup, blocks named by the WAL since the full" "+$(mb "$(res_get tool_incr.growth)") stored, $(mb "$(val_med tool_incr.read)") read" \
    "partial files $(res_get tool_incr.partial_files '?'); in backup mode $(f2 "$(val_med tool_incr.bm)") s, outside it (runs): $(val_all tool_incr.outside) s; warnings $(res_get tool_incr.warnings '[]')" "$skip_tool"
  row tool_incr_whole "dbaas backup --whole-files (changed files read whole)" "+$(mb "$(val_med tool_incr_whole.growth)") stored, $(mb "$(val_med tool_incr_whole.read)") read" \
    "in backup mode $(f2 "$(val_med tool_incr_whole.bm)") s" "$skip_tool"
  row pgbr_incr "pgBackRest --type=incr" "+$(mb "$(res_get pgbr_incr.growth)") repo" \
    "du -sb of the repository after − before (archive caught up first); backup delta $(mb "$(res_get pgbr_incr.delta)")" "$skip_pgbr"
  echo

  echo "## Restore to accepting connections (out of recovery)"
  echo
  echo "| method | n | wall s | CPU user+sys s | peak RSS MB | restored data | notes |"
  echo "|---|---|---|---|---|---|---|"
  row tool_restore "dbaas restore from the repository (incremental snapshot)" "$(res_get tool_restore.check '–')" \
    "wall of the command; its own figure $(f2 "$(val_med tool_restore.json_s)") s" "$skip_tool"
  row thin_restore "dbaas restore from the thin snapshot (XFS reflink)" "$(res_get thin_restore.check '–')" \
    "wall of the command; its own figure $(f2 "$(val_med thin_restore.json_s)") s" "${skip_tool:-${skip_xfs:-not measured}}"
  row pgbr_restore "pgBackRest restore --type=immediate --target-action=promote + pg_ctl start" \
    "$(res_get pgbr_restore.check '–')" \
    "restore $(f2 "$(val_med pgbr_restore.restore_s)") s + start to promoted $(f2 "$(val_med pgbr_restore.start_s)") s (medians)" "$skip_pgbr"
  row untar_restore "untar of pg_basebackup tar.gz + pg_ctl start" "$(res_get untar_restore.check '–')" \
    "full backup, before pgbench"
  echo

  echo "## Restore of the files alone beside cp -a of the same tree"
  echo
  echo "| method | n | wall s | CPU user+sys s | peak RSS MB | result | notes |"
  echo "|---|---|---|---|---|---|---|"
  row copy_restore_sync "dbaas snapshot restore --sync (durable: large files O_DIRECT, then syncfs)" "$(mb "$(res_get copy_speed.bytes)")" \
    "ratio to cp -a + sync per run: $(val_all copy_speed.durable_ratio)" "$skip_tool"
  row copy_cp_sync "\`cp -a\` of the same tree, then \`sync\`" "$(mb "$(res_get copy_speed.bytes)")" "" "$skip_tool"
  row copy_restore "dbaas snapshot restore (into the page cache, every chunk checked)" "$(mb "$(res_get copy_speed.bytes)")" \
    "ratio to cp -a per run: $(val_all copy_speed.ratio)" "$skip_tool"
  row copy_cp "\`cp -a\` of the same tree (into the page cache)" "$(mb "$(res_get copy_speed.bytes)")" "" "$skip_tool"
  echo

  echo "## Reflink path under write load"
  echo
  if [[ -n $skip_tool || -n $skip_xfs ]]; then
    echo "Skipped: ${skip_tool:-$skip_xfs}."
  else
    echo "| method | n | wall s | CPU user+sys s | peak RSS MB | result | notes |"
    echo "|---|---|---|---|---|---|---|"
    row thin_load "dbaas backup --mode thin during \`pgbench -c 4 -j 2 -T $LOAD_SECONDS\`" \
      "in backup mode $(f2 "$(res_get thin_load.bm)") s" "pgbench $(res_get pgbench.load.tps '?') tps"
    row thin_load_restore "restore of that snapshot" "$(res_get thin_load_restore.check '–')" \
      "the pgbench invariants must hold"
  fi
  echo

  local w_tf w_pf w_ti w_pi g_ti g_pi w_tr w_pr w_xf
  w_tf=$(res_get tool_full.wall) w_pf=$(res_get pgbr_full.wall)
  w_ti=$(res_get tool_incr.wall) w_pi=$(res_get pgbr_incr.wall)
  g_ti=$(res_get tool_incr.growth) g_pi=$(res_get pgbr_incr.growth)
  w_tr=$(res_get tool_restore.wall) w_pr=$(res_get pgbr_restore.wall)
  w_xf=$(res_get thin_full.wall)
  local why_p=${skip_tool:-${skip_pgbr:-}} why_x=${skip_tool:-${skip_xfs:-}}

  echo "## Targets (issue #3)"
  echo
  echo "| target | measured | goal | result |"
  echo "|---|---|---|---|"
  target "full backup (repository) vs pgBackRest full: speed-up" "$(div "$w_pf" "$w_tf")" "≥ 2x faster" ge 2 "%.2fx" "$why_p"
  target "full backup (reflink) vs pgBackRest full: speed-up" "$(div "$w_pf" "$w_xf")" "≥ 2x faster" ge 2 "%.2fx" "${why_x:-$why_p}"
  target "incremental vs pgBackRest incremental: speed-up" "$(div "$w_pi" "$w_ti")" "≥ 3x faster" ge 3 "%.2fx" "$why_p"
  target "incremental stored vs pgBackRest incremental: fraction" "$(div "$g_ti" "$g_pi")" "≤ 1/10 (0.10)" le 0.1 "%.3f" "$why_p"
  target "incremental (WAL) vs full: time fraction, slowest run" "$(div "$(val_max_wall tool_incr)" "$w_tf")" "≤ 0.25" le 0.25 "%.3f" "$skip_tool"
  target "incremental (WAL): time outside backup mode, slowest run" "$(sort -g "$RES_DIR/tool_incr.outside.vals" 2>/dev/null | tail -n 1)" "≤ 0.15 s" le 0.15 "%.3f s" "$skip_tool"
  target "incremental (WAL) vs whole-file incremental: speed-up, slowest WAL run" "$(div "$(res_get tool_incr_whole.wall)" "$(val_max_wall tool_incr)")" "> 1x" ge 1 "%.2fx" "$skip_tool"
  target "time in backup mode, reflink path" "$(val_med thin_full.bm)" "< 1 s" lt 1 "%.3f s" "$why_x"
  target "time in backup mode, reflink path, under pgbench load" "$(res_get thin_load.bm)" "< 1 s" lt 1 "%.3f s" "$why_x"
  target "restore to accepting connections, reflink path (wall of the command)" "$(res_get thin_restore.wall)" "< 1 s" lt 1 "%.2f s" "$why_x"
  target "restore from the repository vs pgBackRest restore + start: time ratio" "$(div "$w_tr" "$w_pr")" "≤ 1.0x" le 1.0 "%.2fx" "$why_p"
  target "restore from the repository vs pgBackRest restore + start: slowest run vs median" "$(div "$(val_max_wall tool_restore)" "$w_pr")" "≤ 1.0x" le 1.0 "%.2fx" "$why_p"
  target "durable restore of the files vs cp -a + sync of the same tree: worst run" "$(sort -g "$RES_DIR/copy_speed.durable_ratio.vals" 2>/dev/null | tail -n 1)" "≤ 1.0x" le 1.0 "%.2fx" "$skip_tool"
  local c
  for c in tool_restore thin_restore thin_load_restore pgbr_restore untar_restore; do
    if res_has "$c.check"; then
      if [[ $(res_get "$c.check") == consistent* && $(res_get "$c.check") != *expected* ]]; then s=PASS; else s=FAIL; fi
      printf '| %s: restored data consistent | %s | pgbench invariants hold | %s |\n' "$c" "$(res_get "$c.check")" "$s"
    fi
  done
}

# ---------------------------------------------------------------------------- main

log "BENCH_DIR=$BENCH_DIR SCALE=$SCALE RUNS=$RUNS PGTOOL=$PGTOOL"
section prepare prepare
if res_has section.prepare; then exit 1; fi
data_bytes=$(res_get data.bytes)
free_kb=$(df -Pk "$BENCH_DIR" | awk 'NR == 2 { print $4 }')
if ((free_kb * 1024 < 4 * data_bytes)); then
  log "warning: $((free_kb / 1024)) MiB free in $BENCH_DIR, about $((4 * data_bytes / 1048576)) MiB may be needed"
fi

((HAVE_PGBR)) && section pgbr_setup pgbr_setup
((HAVE_TOOL)) && section tool_full tool_full
res_has pgbr.ready && section pgbr_full pgbr_full
[[ $SKIP_SLOW == 1 ]] || section basebackup basebackup
[[ $SKIP_SLOW == 1 ]] || section tar_czf tar_czf
section pgbench run_pgbench
((HAVE_TOOL)) && section tool_incr tool_incr
res_has pgbr.ready && section pgbr_incr pgbr_incr
((HAVE_TOOL)) && section tool_restore tool_restore
((HAVE_TOOL)) && section copy_speed copy_speed
res_has pgbr.ready && section pgbr_restore pgbr_restore
[[ $SKIP_SLOW == 1 ]] || section untar_restore untar_restore

if ((!HAVE_TOOL)); then
  res_put reflink.skipped "tool not found"
elif [[ $SKIP_REFLINK == 1 ]]; then
  res_put reflink.skipped "SKIP_REFLINK=1"
elif ((EUID != 0)); then
  res_put reflink.skipped "needs root (mkfs.xfs on a loop-mounted image file)"
elif ! command -v mkfs.xfs >/dev/null 2>&1; then
  res_put reflink.skipped "mkfs.xfs not found (apt-get install xfsprogs)"
elif ! res_has tool_incr.id; then
  res_put reflink.skipped "no incremental snapshot to seed the XFS instance from"
else
  section reflink reflink
fi
[[ -z $(res_get reflink.skipped) ]] || log "reflink part skipped: $(res_get reflink.skipped)"
stop_all_servers
detach_xfs

results_dir=$SCRIPT_DIR/results
if ! mkdir -p "$results_dir" 2>/dev/null || [[ ! -w $results_dir ]]; then
  log "warning: cannot write $results_dir, saving the report in $BENCH_DIR instead"
  results_dir=$BENCH_DIR
fi
out=$results_dir/pg-backup-$(date +%Y%m%d-%H%M%S).md
report | tee "$out"
log "report saved to $out"
if ((SECTION_FAILED)); then exit 2; fi
