#!/usr/bin/env bash
# Quick PostgreSQL backup/restore figures at pgbench scale 70, until bench/pg_backup_bench.sh
# (side by side with pgBackRest) lands: this project's full and incremental backup, time in
# backup mode, restore to accepting connections, against pg_basebackup -Ft -z and untar +
# start in the same run. Run as root from the repository root after scripts/build.sh release.
# Work dir: ${PGQ_DIR:-/var/tmp/pgb} (about 6 GB).
set -euo pipefail
cd "$(dirname "$0")/.."
T=build/release/bench/dbaas_pg_bench_tool; D=build/release/apps/dbaas/dbaas
R=${PGQ_DIR:-/var/tmp/pgb}; $T stop --root $R --name src >/dev/null 2>&1 || true; rm -rf $R; mkdir -p $R; chmod 711 $R
$T create --root $R --name src > $R/info.json; $T start --root $R --name src >/dev/null
export PGHOST=$(jq -r .socket_dir $R/info.json) PGPORT=$(jq -r .port $R/info.json) PGUSER=postgres PGPASSWORD=$(jq -r .password $R/info.json) PGDATABASE=postgres
B=/usr/lib/postgresql/15/bin
$B/pgbench -i -q -s 70 >/dev/null 2>&1; $B/psql -qc checkpoint
du -sh $R/src/data
$D repo init $R/repo >/dev/null
t() { /usr/bin/time -f "%e s wall, %U+%S cpu, %M KB" "$@"; }
echo "== dbaas full backup"; t $T backup --root $R --name src --repo $R/repo
s0=$($D repo stats $R/repo -o json | jq .stored_bytes)
echo "== pg_basebackup -Ft -z -X fetch"; rm -rf $R/bb; t $B/pg_basebackup -Ft -z -X fetch -D $R/bb; du -sh $R/bb
echo "== pgbench 6000 tx"; $B/pgbench -n -t 1500 -c 4 -j 2 2>&1 | grep tps; $B/psql -qc checkpoint
echo "== dbaas incremental backup"; t $T backup --root $R --name src --repo $R/repo
s1=$($D repo stats $R/repo -o json | jq .stored_bytes); echo "full stored $s0, incremental +$((s1-s0))"
echo "== dbaas restore (to accepting connections, out of recovery)"; t $T restore --root $R --repo $R/repo --snapshot src --new-name dst --password $PGPASSWORD
echo "== untar + start"; rm -rf $R/ut; mkdir -p $R/ut/data $R/ut/run; s=$(date +%s%N); tar xzf $R/bb/base.tar.gz -C $R/ut/data; chown -R postgres $R/ut; chmod 700 $R/ut/data; sed -i "s|^port = .*|port = 55499|; s|^unix_socket_directories = .*|unix_socket_directories = '$R/ut/run'|" $R/ut/data/dbaas.conf; runuser -u postgres -- $B/pg_ctl -D $R/ut/data -l $R/ut/run/log -w start >/dev/null; e=$(date +%s%N); echo "untar+start $(( (e-s)/1000000 )) ms"; runuser -u postgres -- $B/pg_ctl -D $R/ut/data -m fast -w stop >/dev/null
$T stop --root $R --name src >/dev/null
