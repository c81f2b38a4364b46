# shellcheck shell=bash
# bench/lib.sh: helpers shared by the benchmark scripts in bench/. Source it; it changes no
# shell options.
#
#   logging ........ log, die
#   results ........ res_put KEY VALUE, res_get KEY [DEFAULT]   (one file per key in $RES_DIR)
#   timing ......... timed KEY CMD...   (sync, then /usr/bin/time; appends a sample to KEY)
#                    summarize KEY      (median-by-wall sample -> KEY.wall/.user/.sys/.rss_kb/.n)
#   files .......... warm_cache DIR..., dir_bytes DIR, file_bytes FILE, fresh_dir DIR,
#                    tree_compare A B
#   XFS ............ xfs_work_dir BENCH_DIR SIZE_MB (prints the work dir), xfs_work_dir_cleanup
#   PostgreSQL ..... pg_setup_user, as_pg CMD..., pg_own PATH..., pg_init DATADIR,
#                    pg_start DATADIR, pg_stop DATADIR, pg_is_running DATADIR,
#                    pg_stop_if_running DATADIR, pg_psql ARGS..., pg_bench ARGS...
#
# PostgreSQL settings (set before use; defaults in brackets):
#   PG_BIN [/usr/lib/postgresql/15/bin]   server and client binaries
#   PG_PORT [55432]                       TCP port (listen_addresses=127.0.0.1)
#   PG_SOCKDIR (required)                 private unix socket directory, must be writable by
#                                         the server's OS user
#   PG_LOGFILE [$PG_SOCKDIR/postgres.log] server log
#   PG_OS_USER [postgres]                 OS user that runs the server when we are root
#   PG_DBUSER [postgres]                  database superuser name (initdb -U)
# PostgreSQL refuses to run as root: as root, server commands run through `runuser -u
# $PG_OS_USER --` (pg_setup_user creates the user if missing); clients run as the caller.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_PORT=${PG_PORT:-55432}
PG_OS_USER=${PG_OS_USER:-postgres}
PG_DBUSER=${PG_DBUSER:-postgres}

# ---------------------------------------------------------------------------- logging

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# ---------------------------------------------------------------------------- results

# Results live in $RES_DIR, one file per key, so that subshells can write them too.
res_put() { printf '%s\n' "$2" >"$RES_DIR/$1"; }
res_get() {
  if [[ -f $RES_DIR/$1 ]]; then
    cat "$RES_DIR/$1"
  else
    printf '%s' "${2-}"
  fi
}
res_has() { [[ -s $RES_DIR/$1 ]]; }

# ---------------------------------------------------------------------------- timing

# timed KEY CMD...: flush dirty pages (untimed), then run CMD under /usr/bin/time and append
# "wall user sys maxrss_kb" to $RES_DIR/KEY.samples. CMD's stdout is the caller's stdout.
# Peak RSS is that of the largest process in the tree (getrusage of children).
timed() {
  local key=$1 rc=0 line
  shift
  sync
  /usr/bin/time -f '%e %U %S %M' -o "$RES_DIR/.time" "$@" || rc=$?
  if ((rc != 0)); then
    log "command failed (exit $rc): $*"
    return "$rc"
  fi
  line=$(tail -n 1 "$RES_DIR/.time")
  printf '%s\n' "$line" >>"$RES_DIR/$key.samples"
  log "$(awk -v k="$key" '{ printf "  %-24s wall %7.2f s   cpu %7.2f s   peak rss %7.1f MB", k, $1, $2 + $3, $4 / 1024 }' <<<"$line")"
}

# summarize KEY: pick the sample with the median wall time (lower middle for an even count)
# and store KEY.wall, KEY.user, KEY.sys, KEY.rss_kb, KEY.n and KEY.walls (all wall times).
summarize() {
  local key=$1 f="$RES_DIR/$1.samples" n med w u s m
  [[ -s $f ]] || return 0
  n=$(wc -l <"$f")
  med=$(sort -n -k1,1 "$f" | sed -n "$(((n + 1) / 2))p")
  read -r w u s m <<<"$med"
  res_put "$key.wall" "$w"
  res_put "$key.user" "$u"
  res_put "$key.sys" "$s"
  res_put "$key.rss_kb" "$m"
  res_put "$key.n" "$n"
  res_put "$key.walls" "$(awk '{ printf "%s%s", (NR > 1 ? " " : ""), $1 }' "$f")"
}

# ---------------------------------------------------------------------------- files

# Read every file once so that it is in the page cache. (Not `tar cf - DIR >/dev/null`: GNU
# tar notices /dev/null and skips reading file contents.)
warm_cache() { find "$@" -type f -print0 | xargs -0r cat >/dev/null; }

# A work directory on a loop-mounted XFS (reflink=1) image of SIZE_MB under BENCH_DIR, so
# that reflink backups are measured; BENCH_DIR/run as it is when we are not root or the
# mount fails (said on stderr). xfs_work_dir_cleanup unmounts and removes the image.
xfs_work_dir() {
  local dir=$1 size_mb=$2 mnt=$1/mnt
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ] && command -v mkfs.xfs >/dev/null 2>&1; then
    mkdir -p "$mnt"
    truncate -s "${size_mb}M" "$dir/xfs.img"
    mkfs.xfs -q -f -m reflink=1 "$dir/xfs.img"
    if mount -o loop "$dir/xfs.img" "$mnt"; then
      chmod 0711 "$mnt"
      echo "$mnt/run"
      return
    fi
    echo "loop mount failed: running without reflinks" >&2
  fi
  echo "$dir/run"
}
xfs_work_dir_cleanup() {
  local dir=$1 mnt=$1/mnt
  if mountpoint -q "$mnt" 2>/dev/null; then umount "$mnt" || umount -l "$mnt"; fi
  rm -f "$dir/xfs.img"
}

dir_bytes() { du -sb "$1" | cut -f1; }
file_bytes() { stat -c %s "$1"; }

# fresh_dir DIR: remove DIR and create it empty.
fresh_dir() {
  rm -rf "$1"
  mkdir -p "$1"
}

# Manifest of a tree for tree_compare: type, mode, owner and, for regular files, size and
# mtime (whole seconds); symlink targets. Directory sizes and times are left out (they differ
# between file systems and with creation order).
_tree_manifest() {
  (cd "$1" && find . -mindepth 1 -printf '%P\t%y\t%m\t%u:%g\t%s\t%T@\t%l\n') |
    awk -F'\t' 'BEGIN { OFS = "\t" }
      $2 == "f" { print $1, $2, $3, $4, $5, int($6); next }
      $2 == "l" { print $1, $2, $4, $7; next }
      { print $1, $2, $3, $4 }' |
    LC_ALL=C sort
}

# tree_compare A B: print a one-line verdict on whether tree B is a faithful copy of tree A.
# Returns 0 if content and metadata are identical, 1 otherwise.
tree_compare() {
  local a=$1 b=$2 ndiff
  ndiff=$(diff -r --no-dereference -q "$a" "$b" 2>&1 | wc -l) || true
  if ((ndiff != 0)); then
    printf 'content DIFFERS (%s entries in diff -rq)\n' "$ndiff"
    return 1
  fi
  ndiff=$(diff <(_tree_manifest "$a") <(_tree_manifest "$b") | grep -c '^[<>]') || true
  if ((ndiff != 0)); then
    printf 'content identical; mode/owner/mtime differ (%s manifest lines)\n' "$ndiff"
    return 1
  fi
  printf 'identical (content, mode, owner, mtime)\n'
}

# ---------------------------------------------------------------------------- PostgreSQL

# As root: make sure $PG_OS_USER exists (a system user, as the Debian package creates).
pg_setup_user() {
  ((EUID == 0)) || return 0
  if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
    log "creating system user $PG_OS_USER (PostgreSQL refuses to run as root)"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$PG_OS_USER"
  fi
}

# as_pg CMD...: run a server-side command as the server's OS user (from /, so that the
# user's lack of access to the caller's directory does not matter). Paths must be absolute.
as_pg() {
  if ((EUID == 0)); then
    (cd / && exec runuser -u "$PG_OS_USER" -- "$@")
  else
    "$@"
  fi
}

# pg_own PATH...: give paths (recursively) to the server's OS user when we are root.
pg_own() {
  ((EUID == 0)) || return 0
  chown -R "$PG_OS_USER:" "$@"
}

_pg_check_paths() {
  [[ -n ${PG_SOCKDIR-} ]] || die "PG_SOCKDIR is not set"
  [[ $PG_SOCKDIR != *"'"* && $1 != *"'"* ]] || die "paths with a single quote are not supported"
  # sun_path is 108 bytes including the NUL.
  local sock="$PG_SOCKDIR/.s.PGSQL.$PG_PORT"
  ((${#sock} < 108)) || die "unix socket path too long (${#sock} bytes): $sock"
}

# pg_init DATADIR: a new cluster with data checksums, trust authentication, C locale.
pg_init() {
  _pg_check_paths "$1"
  as_pg "$PG_BIN/initdb" -D "$1" --data-checksums -U "$PG_DBUSER" --auth=trust \
    -E UTF8 --locale=C >"${PG_LOGFILE:-$PG_SOCKDIR/postgres.log}.initdb" 2>&1 ||
    {
      tail -n 20 "${PG_LOGFILE:-$PG_SOCKDIR/postgres.log}.initdb" >&2
      die "initdb failed"
    }
}

# pg_start DATADIR: start on 127.0.0.1:$PG_PORT with the private socket dir; wait until ready.
pg_start() {
  _pg_check_paths "$1"
  local logfile=${PG_LOGFILE:-$PG_SOCKDIR/postgres.log}
  if ! as_pg "$PG_BIN/pg_ctl" -D "$1" -l "$logfile" -w -t 300 \
    -o "-p $PG_PORT -k '$PG_SOCKDIR' -c listen_addresses=127.0.0.1" start >/dev/null; then
    tail -n 20 "$logfile" >&2
    die "could not start PostgreSQL on $1 (port $PG_PORT in use? set PG_PORT)"
  fi
}

pg_stop() { as_pg "$PG_BIN/pg_ctl" -D "$1" -m fast -w -t 300 stop >/dev/null; }

pg_is_running() {
  [[ -f $1/postmaster.pid ]] || return 1
  as_pg "$PG_BIN/pg_ctl" -D "$1" status >/dev/null 2>&1
}

pg_stop_if_running() {
  if pg_is_running "$1"; then
    log "stopping PostgreSQL on $1"
    pg_stop "$1"
  fi
}

# Clients connect through the private socket as the database superuser.
pg_psql() {
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKDIR" -p "$PG_PORT" -U "$PG_DBUSER" \
    -d postgres "$@"
}

pg_bench() {
  "$PG_BIN/pgbench" -h "$PG_SOCKDIR" -p "$PG_PORT" -U "$PG_DBUSER" "$@" postgres
}

# ---------------------------------------------------------------------------- reports
# Shared by snapshot_bench.sh and pg_backup_bench.sh (repo_stat needs $DBAAS).

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found (apt-get install $2)"; }

# The processes below PID, deepest last (collected before any of them is signalled).
descendants() {
  local c
  for c in $(pgrep -P "$1"); do
    echo "$c"
    descendants "$c"
  done
}

section() {
  local name=$1 rc=0
  shift
  log "== $name"
  (
    set -e
    "$@"
  ) &
  SECTION_PID=$!
  wait "$SECTION_PID" || rc=$?
  SECTION_PID=
  if ((rc != 0)); then
    log "section $name FAILED (exit $rc)"
    res_put "section.$name" "failed (exit $rc), see stderr"
    # shellcheck disable=SC2034 # read by the scripts that source this file
    SECTION_FAILED=1
  fi
}

repo_stat() { "$DBAAS" repo stats "$1" -o json | jq -er ".$2"; }

# The two incrementals of a PostgreSQL bench run, in the order of run N (alternating).
incremental_order() { if (($1 % 2)); then echo "wal whole"; else echo "whole wal"; fi; }

# incremental_backup VARIANT KEY ROOT AFTER_FULL REPO JSON: one timed incremental of the
# bench tool's instance `src` under ROOT into REPO, made a fresh copy of the repository
# AFTER_FULL first, the page cache warmed the same way whatever the variant: "wal" (the
# blocks the WAL names) or "whole" (--whole-files). The tool's JSON goes to JSON. A "wal"
# incremental is followed by what dbaasd does after one that stored page patches, timed
# apart as KEY.compact: the compaction that stores them again as deltas of their base
# chunks (`dbaas repo compact`, its JSON in JSON.gc). Needs $PGTOOL and $DBAAS.
incremental_backup() {
  local variant=$1 key=$2 root=$3 after_full=$4 repo=$5 json=$6 flag=()
  [[ $variant == wal ]] || flag=(--whole-files)
  rm -rf "$repo"
  cp -a "$after_full" "$repo"
  # dbaasd drains the spool every second: the segment each earlier run's backup switched
  # out is in the archive, summarized, as it would be (untimed).
  "$PGTOOL" drain --root "$root" --name src >/dev/null
  warm_cache "$root/src/data"
  timed "$key" "$PGTOOL" backup --root "$root" --name src --repo "$repo" --mode repository \
    "${flag[@]}" >"$json"
  if [[ $variant == wal ]]; then
    timed "$key.compact" "$DBAAS" -o json repo compact "$repo" >"$json.gc"
  else
    echo '{"patch_bytes_saved":0}' >"$json.gc"
  fi
}

# stored_after_gc JSON: what the incremental whose tool JSON is JSON stored, once compacted.
stored_after_gc() {
  echo $(($(jq -er .stored_bytes "$1") - $(jq -er .patch_bytes_saved "$1.gc")))
}

f2() { if [[ -n $1 ]]; then awk -v x="$1" 'BEGIN { printf "%.2f", x }'; else printf 'n/a'; fi; }
mb() { if [[ -n $1 ]]; then awk -v x="$1" 'BEGIN { printf "%.1f MB", x / 1e6 }'; else printf 'n/a'; fi; }

# div A B: A / B, empty if either is missing or B is 0.
div() {
  [[ -n $1 && -n $2 ]] || return 0
  awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 != 0) printf "%.6g", a / b }'
}
