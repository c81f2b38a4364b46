#!/usr/bin/env bash
# The main job: installs and builds, starts dbaasd on a fresh data root, and through its
# REST API (with the dbaas CLI) creates a PostgreSQL 15 instance, loads pgbench data,
# backs it up while pgbench writes, writes more, takes an incremental backup, restores the
# first backup into a new instance, checks that the restored data is exactly the data of
# the backup's moment, restores to a point in time and branches the instance as it is now;
# then the same with a MariaDB 10.11 instance (a backup under an update
# loop, a quiet one restored and compared with CHECKSUM TABLE, and a restore to a GTID by
# binlog replay); prints each step's time,
# the sizes and how long MariaDB's writers were blocked.
# Usage: scripts/demo.sh      (SCALE=10 by default; DEMO_DIR keeps the data root)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/install-deps.sh
scripts/build.sh release >/dev/null
bin=$root/build/release/apps
scale=${SCALE:-10}
demo=${DEMO_DIR:-$(mktemp -d /var/tmp/dbaas-demo.XXXXXX)}
chmod 711 "$demo"
data_root=$demo/data
port=${DBAASD_PORT:-3000}
pgbin=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
[ -x "$pgbin/pgbench" ] || pgbin=/usr/lib/postgresql/15/bin

export DBAAS_SERVER=http://127.0.0.1:$port DBAAS_DATA_ROOT=$data_root
dbaas() { "$bin/dbaas/dbaas" "$@"; }
log() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  if [ -z "${DEMO_DIR:-}" ]; then
    scripts/remove-instance-users.sh "$demo"
    rm -rf "$demo"
  fi
}
trap cleanup EXIT

rows=()
step() {  # step LABEL CMD... : runs and times a step
  local label=$1; shift
  local t0 ms
  t0=$(date +%s%N)
  "$@" >/dev/null
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  rows+=("$(printf '%-62s %6d.%03d s' "$label" $((ms / 1000)) $((ms % 1000)))")
  log "$label: done"
}
# Connection settings of an instance, from the API: PGHOST (socket dir), PGPORT, and the
# tenant's login (app, owner of the database app; not a superuser).
connect_to() {
  local j socket
  j=$(dbaas -o json instance get "$1" --show-secrets)
  socket=$(jq -r .connection.socket <<<"$j")
  export PGHOST=${socket%/*} PGPORT PGUSER PGDATABASE PGPASSWORD
  PGPORT=$(jq -r .connection.port <<<"$j")
  PGUSER=$(jq -r .connection.user <<<"$j")
  PGDATABASE=$(jq -r .connection.database <<<"$j")
  PGPASSWORD=$(jq -r .connection.password <<<"$j")
}
psql_q() { "$pgbin/psql" -X -A -t -v ON_ERROR_STOP=1 -c "$1"; }
# The pgbench invariant and a checksum of every account.
checksum() {
  psql_q "select (select sum(abalance) from pgbench_accounts) = (select sum(bbalance) from pgbench_branches), count(*), md5(string_agg(aid::text || ':' || abalance, ',' order by aid)) from pgbench_accounts"
}

log "starting dbaasd on $data_root, port $port"
"$bin/dbaasd/dbaasd" --data-root "$data_root" --listen "127.0.0.1:$port" --log-level warn &
daemon_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done

step "create instance 'shop' (initdb, start)" dbaas instance create shop --config max_wal_size=2GB
connect_to shop
step "load data: pgbench -i -s $scale" "$pgbin/pgbench" -i -q -s "$scale"
# A backup under write load: pgbench runs through the whole backup.
"$pgbin/pgbench" -n -c 4 -j 2 -T 600 >/dev/null 2>&1 &
load=$!
sleep 1
step "backup 'shop-full' under pgbench load (4 clients)" dbaas backup create shop --name shop-full
kill "$load"; wait "$load" 2>/dev/null || true
"$pgbin/pgbench" -n -t 500 -c 4 -j 2 >/dev/null 2>&1
psql_q checkpoint >/dev/null
expected=$(checksum)
step "incremental backup 'shop-incr' after 2,000 more transactions" dbaas backup create shop --name shop-incr
"$pgbin/pgbench" -n -t 200 -c 2 -j 2 >/dev/null 2>&1  # after the backup: must not be restored
after=$(checksum)
step "restore 'shop-incr' into new instance 'shop-restored'" dbaas restore shop shop-incr --to shop-restored
connect_to shop-restored
step "verify: pgbench invariant + checksum of every account" checksum
got=$(checksum)

# Point-in-time recovery: the source as it was at a moment between two write bursts,
# replayed from the archived WAL onto the newest backup before it.
connect_to shop
sleep 0.2
pitr_time=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
sleep 0.2
"$pgbin/pgbench" -n -t 100 -c 2 -j 2 >/dev/null 2>&1  # after the target: must not be restored
step "restore 'shop' as of $(cut -c12-23 <<<"$pitr_time") into 'shop-pitr' (WAL replay)" \
  dbaas restore shop --time "$pitr_time" --to shop-pitr
connect_to shop-pitr
pitr_got=$(checksum)

# A branch: a writable copy of the source as it is now (reflink clones where the data root
# is on XFS or btrfs, else through the repository), with no backup left behind.
connect_to shop
branch_expected=$(checksum)
step "branch 'shop' as it is now into 'shop-dev'" dbaas instance branch shop shop-dev
connect_to shop-dev
branch_got=$(checksum)
branch_method=$(dbaas -o json instance get shop-dev | jq -r .branchedFrom.method)

# The same round trip with MariaDB: backup under write load, then a quiet backup whose
# restored copy must equal the source at that moment.
step "create MariaDB instance 'orders' (mariadb-install-db, start)" dbaas instance create orders --type mariadb
my_q() {  # my_q INSTANCE SQL: through the connection the API shows, over TCP
  local j
  j=$(dbaas -o json instance get "$1" --show-secrets)
  MYSQL_PWD=$(jq -r .connection.password <<<"$j") mariadb --no-defaults --protocol=tcp \
    -h "$(jq -r .connection.host <<<"$j")" -P "$(jq -r .connection.port <<<"$j")" \
    -u "$(jq -r .connection.user <<<"$j")" -N -B -e "$2"
}
step "load data: 300,000 orders" my_q orders "CREATE TABLE app.orders (id INT PRIMARY KEY, amount INT NOT NULL, note VARCHAR(64)) ENGINE=InnoDB; INSERT INTO app.orders SELECT seq, seq % 1000, MD5(seq) FROM app.seq_1_to_300000"
( while :; do my_q orders "UPDATE app.orders SET amount = amount + 1 WHERE id = $((RANDOM * 9 + 1))" >/dev/null 2>&1 || true; done ) &
load=$!
step "backup 'orders-busy' under an update loop" dbaas backup create orders --name orders-busy
kill "$load"; wait "$load" 2>/dev/null || true
maria_expected=$(my_q orders "CHECKSUM TABLE app.orders")
step "backup 'orders-quiet'" dbaas backup create orders --name orders-quiet
my_q orders "DELETE FROM app.orders WHERE id <= 1000" >/dev/null  # after the backup
step "restore 'orders-quiet' into 'orders-restored' (+ CHECK TABLE)" dbaas restore orders orders-quiet --to orders-restored
maria_got=$(my_q orders-restored "CHECKSUM TABLE app.orders")
# MariaDB point-in-time recovery: the binlog archived by dbaasd, replayed to the GTID of
# the moment after the DELETE (later writes must not come back).
maria_gtid=$(my_q orders "SELECT @@gtid_binlog_pos")
maria_pitr_expected=$(my_q orders "CHECKSUM TABLE app.orders")
my_q orders "UPDATE app.orders SET amount = 0 WHERE id <= 5000" >/dev/null  # after the target
step "restore 'orders' to GTID $maria_gtid into 'orders-pitr' (binlog replay)" \
  dbaas restore orders --gtid "$maria_gtid" --to orders-pitr
maria_pitr_got=$(my_q orders-pitr "CHECKSUM TABLE app.orders")
step "repository verify (re-reads every chunk)" dbaas repo verify "$data_root/repository"
# The original design's restore test, run by the service: restore into a scratch instance,
# pg_verifybackup before it starts, pg_amcheck every table, count rows, time it, remove it;
# the result is kept on the backup.
step "restore drill of 'shop-incr' (verifybackup, amcheck, counts)" \
  dbaas backup verify shop shop-incr
drill=$(dbaas -o json backup get shop shop-incr | jq .drill)

full=$(dbaas -o json backup get shop shop-full)
incr=$(dbaas -o json backup get shop shop-incr)
echo
echo "Mini DBaaS demo: dbaasd + PostgreSQL 15 (pgbench scale $scale) + MariaDB 10.11"
printf '%s\n' "${rows[@]}"
echo
printf '%-12s %12s %14s %14s %16s\n' backup "data" "stored (new)" "in backup mode" "backup total"
for b in "$full" "$incr"; do
  printf '%-12s %9.1f MB %11.1f MB %12.3f s %14.3f s\n' "$(jq -r .backupName <<<"$b")" \
    "$(jq '.dataBytes / 1e6' <<<"$b")" "$(jq '.storedBytes / 1e6' <<<"$b")" \
    "$(jq .secondsInBackupMode <<<"$b")" "$(jq .durationSeconds <<<"$b")"
done
echo
printf '%-14s %-15s %12s %16s %14s\n' backup method "data" "writes blocked" "backup total"
for name in orders-busy orders-quiet; do
  b=$(dbaas -o json backup get orders "$name")
  printf '%-14s %-15s %9.1f MB %14.3f s %12.3f s\n' "$name" "$(jq -r .method <<<"$b")" \
    "$(jq '.dataBytes / 1e6' <<<"$b")" "$(jq .secondsWritesBlocked <<<"$b")" \
    "$(jq .durationSeconds <<<"$b")"
done
echo
echo "restore drill of shop-incr: $(jq -r .status <<<"$drill"), usable in $(jq '.rtoSeconds * 1000 | round / 1000' <<<"$drill") s," \
  "$(jq .tables <<<"$drill") tables and $(jq .rows <<<"$drill") rows checked by $(jq -r .checker <<<"$drill")"
echo
dbaas instance ls
echo
dbaas backup ls shop
echo
if [ "$(jq -r .status <<<"$drill")" != passed ]; then
  echo "DRILL FAILED: $(jq -c .problems <<<"$drill")"
  exit 1
fi
if [ "$expected" != "$got" ]; then
  echo "MISMATCH: the restored data is not the backup's: expected $expected, got $got"
  exit 1
fi
if [ "$after" = "$got" ]; then
  echo "MISMATCH: the restored copy has writes made after its backup"
  exit 1
fi
echo "restored data verified: invariant holds, checksum $got equals the backup's moment"
if [ "$pitr_got" != "$after" ]; then
  echo "MISMATCH: the point-in-time copy is not the source at $pitr_time: $after vs $pitr_got"
  exit 1
fi
echo "point-in-time copy verified: checksum $pitr_got equals the source at $pitr_time"
if [ "$branch_got" != "$branch_expected" ]; then
  echo "MISMATCH: the branch is not its source: $branch_expected vs $branch_got"
  exit 1
fi
echo "branch verified ($branch_method): checksum $branch_got equals its source's"
if [ "${maria_expected##*[[:space:]]}" != "${maria_got##*[[:space:]]}" ]; then
  echo "MISMATCH: the restored MariaDB copy is not the backup's: $maria_expected vs $maria_got"
  exit 1
fi
echo "restored MariaDB data verified: CHECKSUM TABLE ${maria_got##*[[:space:]]} equals the backup's moment"
if [ "${maria_pitr_expected##*[[:space:]]}" != "${maria_pitr_got##*[[:space:]]}" ]; then
  echo "MISMATCH: the MariaDB point-in-time copy is not the source at GTID $maria_gtid: $maria_pitr_expected vs $maria_pitr_got"
  exit 1
fi
echo "MariaDB point-in-time copy verified: CHECKSUM TABLE ${maria_pitr_got##*[[:space:]]} equals the source at GTID $maria_gtid"
