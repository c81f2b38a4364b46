#!/usr/bin/env bash
# Quick figures for the reflink path of PostgreSQL backups: the instance and the repository
# on one loop-mounted XFS image (reflink=1), pgbench scale 70; thin backup idle and under
# pgbench load (time in backup mode), restore from the thin snapshot to accepting
# connections. Run as root from anywhere after scripts/build.sh release. Needs xfsprogs and
# a free loop device; work dir ${PGX_DIR:-/var/tmp/pgx} (8 GB sparse image).
set -euo pipefail
cd "$(dirname "$0")/.."
T=build/release/bench/dbaas_pg_bench_tool; D=build/release/apps/dbaas/dbaas
X=${PGX_DIR:-/var/tmp/pgx}; umount $X/mnt 2>/dev/null || true; rm -rf $X; mkdir -p $X/mnt
truncate -s 8G $X/img; mkfs.xfs -q -m reflink=1 $X/img; mount -o loop $X/img $X/mnt; chmod 711 $X/mnt
trap 'build/release/bench/dbaas_pg_bench_tool stop --root $X/mnt --name src >/dev/null 2>&1 || true; umount $X/mnt; rm -rf $X' EXIT
R=$X/mnt
$T create --root $R --name src > $R/info.json; $T start --root $R --name src >/dev/null
export PGHOST=$(jq -r .socket_dir $R/info.json) PGPORT=$(jq -r .port $R/info.json) PGUSER=postgres PGPASSWORD=$(jq -r .password $R/info.json) PGDATABASE=postgres
B=/usr/lib/postgresql/15/bin
$B/pgbench -i -q -s 70 >/dev/null 2>&1; $B/psql -qc checkpoint
$D repo init $R/repo >/dev/null
t() { /usr/bin/time -f "%e s wall, %U+%S cpu, %M KB" "$@"; }
echo "== thin backup (XFS reflink)"; t $T backup --root $R --name src --repo $R/repo --mode auto
echo "== thin backup under load"; $B/pgbench -n -c 4 -j 2 -T 8 >/dev/null 2>&1 & sleep 2; t $T backup --root $R --name src --repo $R/repo --mode auto; wait
echo "== restore from thin (clones) to accepting connections"; t $T restore --root $R --repo $R/repo --snapshot src --new-name dst --password $PGPASSWORD
