#!/usr/bin/env bash
# bench/remote_bench.sh: the benchmark of issue 16 (the repository on S3-compatible object
# storage, encrypted by the client). Upload and restore throughput of `dbaas remote` against
# pgBackRest 2.45 (repo1-type=s3) to the same loopback S3 server, with and without client-side
# encryption, side by side in one run, on `pgbench -i` data.
#
# Usage (as root, from the repository root):
#   bench/remote_bench.sh
#   SCALE=5 RUNS=1 bench/remote_bench.sh        # quick smoke run
#
# Environment:
#   SCALE=70      pgbench scale (70 -> ~2 GB data directory, ~115 MB compressed)
#   RUNS=3        repetitions; the order of the tools alternates from run to run
#   BENCH_DIR=/var/tmp/dbaas-remote-bench
#   DBAAS=build/release/apps/dbaas/dbaas
#   PG_PORT=55442
#
# The server: tests/s3server/server.js (s3rver from npm behind our front, which checks every
# SigV4 signature with the AWS SDK's signer and the body's SHA-256) on 127.0.0.1 over HTTPS
# (pgBackRest speaks S3 only over TLS), one Node.js process for both tools.
#
# What is measured (wall and CPU through /usr/bin/time, `sync` before each timed step, page
# cache warm; each run uses fresh buckets / repository paths):
#   upload:  dbaas: `snapshot create` of the data directory into a fresh local repository,
#            then `remote push` (the copy off the node: what this issue adds), each timed;
#            pgBackRest: `backup --type=full` straight to the bucket (zst level 3,
#            process-max 2), which also waits for the WAL of the backup to be archived.
#   restore: dbaas: `remote pull` into a fresh local repository, then `snapshot restore
#            --sync` (the files durable); pgBackRest: `restore` into a fresh directory.
#   each with encryption off and on: dbaas seals objects with AES-256-GCM (a key file);
#   pgBackRest with repo1-cipher-type=aes-256-cbc.
# The cluster runs (pgBackRest needs it); dbaas snapshots its directory after a CHECKPOINT
# with no load: a throughput figure, not a consistent backup (that is
# bench/pg_backup_bench.sh's; dbaasd pushes the consistent snapshots it made).
#
# Output: Markdown on stdout, also saved to bench/results/remote-<date>.md.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$REPO_ROOT/bench/lib.sh"

SCALE=${SCALE:-70}
RUNS=${RUNS:-3}
BENCH_DIR=${BENCH_DIR:-/var/tmp/dbaas-remote-bench}
DBAAS=${DBAAS:-$REPO_ROOT/build/release/apps/dbaas/dbaas}
PG_PORT=${PG_PORT:-55442}
[[ $DBAAS == /* ]] || DBAAS=$REPO_ROOT/$DBAAS
((EUID == 0)) || die "run as root (the cluster runs as $PG_OS_USER)"
need pgbackrest pgbackrest
need node nodejs
need jq jq
[[ -x $DBAAS ]] || die "$DBAAS not built (scripts/build.sh release)"
[[ -d $REPO_ROOT/tests/s3server/node_modules/s3rver ]] || die "run scripts/install-deps.sh (npm ci in tests/s3server)"

RUN=$BENCH_DIR/run
RES_DIR=$RUN/results
DATA=$RUN/pg/data
PG_SOCKDIR=$RUN/pg/run
PGBR=$RUN/pgbr
SERVER_PID=
cleanup() {
  set +e
  [[ -d $DATA ]] && pg_stop_if_running "$DATA"
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null
  rm -rf "$RUN"
}
trap cleanup EXIT
rm -rf "$RUN"
mkdir -p "$RES_DIR" "$PG_SOCKDIR" "$PGBR" "$RUN/s3" "$RUN/secrets"
chmod 0711 "$BENCH_DIR" "$RUN"
pg_setup_user
pg_own "$RUN/pg" "$PGBR"
export PG_SOCKDIR

log "the S3 server (HTTPS, self-signed)"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$RUN/secrets/tls.key" -out "$RUN/secrets/tls.crt" \
  -days 2 -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
node --openssl-legacy-provider "$REPO_ROOT/tests/s3server/server.js" --dir "$RUN/s3" \
  --port-file "$RUN/port" --tls-key "$RUN/secrets/tls.key" --tls-cert "$RUN/secrets/tls.crt" \
  >"$RUN/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do [[ -s $RUN/port ]] && break; sleep 0.1; done
S3_PORT=$(cat "$RUN/port")
printf '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' >"$RUN/secrets/credentials"
openssl rand -hex 32 >"$RUN/secrets/key"
chmod 600 "$RUN/secrets/credentials" "$RUN/secrets/key"

# remote_spec NAME BUCKET ENCRYPTED: the `--remote` file of a bucket.
remote_spec() {
  local encryption=null
  [[ $3 == on ]] && encryption="{\"keyFile\": \"$RUN/secrets/key\"}"
  cat >"$RUN/$1.json" <<EOF
{"name": "$1", "endpoint": "https://127.0.0.1:$S3_PORT", "bucket": "$2",
 "credentialsFile": "$RUN/secrets/credentials", "caFile": "$RUN/secrets/tls.crt",
 "encryption": $encryption}
EOF
  echo "$RUN/$1.json"
}

log "cluster: initdb, pgbench -i -s $SCALE"
pg_init "$DATA"
cat >>"$DATA/postgresql.auto.conf" <<EOF
archive_mode = 'on'
archive_command = 'pgbackrest --config=$PGBR/pgbackrest.conf --stanza=bench archive-push %p'
EOF
pg_start "$DATA"
pg_bench -i -q -s "$SCALE" >/dev/null 2>&1
pg_psql -c CHECKPOINT
DATA_BYTES=$(dir_bytes "$DATA")

# pgbr_conf ENCRYPTED: pgBackRest's configuration for a bucket of its own.
pgbr_conf() {
  cat >"$PGBR/pgbackrest.conf" <<EOF
[global]
repo1-type=s3
repo1-path=/pgbr
repo1-s3-bucket=pgbr-$1
repo1-s3-endpoint=127.0.0.1
repo1-storage-port=$S3_PORT
repo1-s3-region=us-east-1
repo1-s3-key=S3RVER
repo1-s3-key-secret=S3RVER
repo1-s3-uri-style=path
repo1-storage-verify-tls=n
repo1-retention-full=100
compress-type=zst
compress-level=3
process-max=2
start-fast=y
log-level-console=warn
log-path=$PGBR
lock-path=$PGBR
EOF
  if [[ $1 == on ]]; then
    printf 'repo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass=%s\n' "$(openssl rand -hex 24)" >>"$PGBR/pgbackrest.conf"
  fi
  printf '[bench]\npg1-path=%s\npg1-port=%s\npg1-socket-path=%s\n' "$DATA" "$PG_PORT" "$PG_SOCKDIR" >>"$PGBR/pgbackrest.conf"
  pg_own "$PGBR"
}
pgbr() { as_pg pgbackrest --config="$PGBR/pgbackrest.conf" --stanza=bench "$@"; }
make_bucket() { "$DBAAS" remote init --remote "$(remote_spec "mk" "$1" off)" --create-bucket >/dev/null; }

dbaas_round() {  # dbaas_round RUN ENC
  local r=$1 enc=$2 spec id
  fresh_dir "$RUN/local"
  "$DBAAS" repo init "$RUN/local" >/dev/null
  timed "dbaas.snapshot" "$DBAAS" snapshot create --repo "$RUN/local" --source "$DATA" --mode repository >/dev/null
  id=$("$DBAAS" snapshot ls --repo "$RUN/local" -o json | jq -r '.[0].id')
  spec=$(remote_spec "d$r$enc" "dbaas-$r-$enc" "$enc")
  "$DBAAS" remote init --remote "$spec" --create-bucket >/dev/null
  timed "dbaas.push.$enc" "$DBAAS" remote push --remote "$spec" --repo "$RUN/local" "$id" >/dev/null
  fresh_dir "$RUN/pulled"
  rm -rf "$RUN/restored"
  "$DBAAS" repo init "$RUN/pulled" >/dev/null
  timed "dbaas.pull.$enc" "$DBAAS" remote pull --remote "$spec" --repo "$RUN/pulled" "$id" >/dev/null
  timed "dbaas.restore.$enc" "$DBAAS" snapshot restore --sync --repo "$RUN/pulled" "$id" "$RUN/restored" >/dev/null
  tree_compare "$DATA" "$RUN/restored" >/dev/null 2>&1 || log "note: the restored tree differs from the live one (it ran on)"
  res_put "dbaas.bucket.$enc" "$(du -sb "$RUN/s3/dbaas-$r-$enc" | cut -f1)"
}

pgbr_round() {  # pgbr_round RUN ENC
  local r=$1 enc=$2
  make_bucket "pgbr-$r$enc"
  sed_bucket() { sed -i "s/^repo1-s3-bucket=.*/repo1-s3-bucket=pgbr-$r$enc/" "$PGBR/pgbackrest.conf"; }
  pgbr_conf "$enc"
  sed_bucket
  pgbr stanza-create >/dev/null
  timed "pgbr.backup.$enc" runuser -u "$PG_OS_USER" -- pgbackrest --config="$PGBR/pgbackrest.conf" --stanza=bench --type=full backup
  rm -rf "$RUN/pgbr-restored"
  mkdir -p "$RUN/pgbr-restored"
  pg_own "$RUN/pgbr-restored"
  timed "pgbr.restore.$enc" runuser -u "$PG_OS_USER" -- pgbackrest --config="$PGBR/pgbackrest.conf" --stanza=bench \
    --pg1-path="$RUN/pgbr-restored" --type=immediate --target-action=promote restore
  res_put "pgbr.bucket.$enc" "$(du -sb "$RUN/s3/pgbr-$r$enc" | cut -f1)"
}

cd /  # the server's user runs pgBackRest here too
warm_cache "$DATA"
for ((r = 1; r <= RUNS; r++)); do
  for enc in off on; do
    if (((r + ${#enc}) % 2)); then
      log "run $r, encryption $enc: dbaas first"; dbaas_round "$r" "$enc"; pgbr_round "$r" "$enc"
    else
      log "run $r, encryption $enc: pgBackRest first"; pgbr_round "$r" "$enc"; dbaas_round "$r" "$enc"
    fi
  done
done
for key in dbaas.snapshot dbaas.push.off dbaas.push.on dbaas.pull.off dbaas.pull.on dbaas.restore.off \
  dbaas.restore.on pgbr.backup.off pgbr.backup.on pgbr.restore.off pgbr.restore.on; do
  summarize "$key"
done

w() { res_get "$1.wall"; }
cpu() { awk -v u="$(res_get "$1.user")" -v s="$(res_get "$1.sys")" 'BEGIN { printf "%.2f", u + s }'; }
sum() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a + b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
mbps() { awk -v b="$DATA_BYTES" -v s="$1" 'BEGIN { printf "%.0f MB/s", b / 1e6 / s }'; }
report() {
  echo "## Remote repository on S3 (issue 16): dbaas remote vs pgBackRest 2.45, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "\`SCALE=$SCALE RUNS=$RUNS bench/remote_bench.sh\`: data directory $(mb "$DATA_BYTES"), loopback s3rver over HTTPS behind the signature-checking front; medians (all runs in brackets)."
  echo
  echo "| step | encryption | dbaas | pgBackRest | dbaas / pgBackRest |"
  echo "|---|---|---|---|---|"
  for enc in off on; do
    local up rs
    up=$(sum "$(w dbaas.snapshot)" "$(w dbaas.push.$enc)")
    echo "| copy off the node | $enc | $up s = snapshot $(w dbaas.snapshot) + push $(w dbaas.push.$enc) [push: $(res_get dbaas.push.$enc.walls)], push CPU $(cpu dbaas.push.$enc) s, $(mbps "$up") | backup $(w pgbr.backup.$enc) s [$(res_get pgbr.backup.$enc.walls)], $(mbps "$(w pgbr.backup.$enc)") | $(ratio "$up" "$(w pgbr.backup.$enc)") |"
    rs=$(sum "$(w dbaas.pull.$enc)" "$(w dbaas.restore.$enc)")
    echo "| restore from the bucket | $enc | $rs s = pull $(w dbaas.pull.$enc) [$(res_get dbaas.pull.$enc.walls)] + restore --sync $(w dbaas.restore.$enc), pull CPU $(cpu dbaas.pull.$enc) s | restore $(w pgbr.restore.$enc) s [$(res_get pgbr.restore.$enc.walls)] | $(ratio "$rs" "$(w pgbr.restore.$enc)") |"
    echo "| bucket size | $enc | $(mb "$(res_get dbaas.bucket.$enc)") | $(mb "$(res_get pgbr.bucket.$enc)") | $(ratio "$(res_get dbaas.bucket.$enc)" "$(res_get pgbr.bucket.$enc)") |"
  done
  echo
  echo "Cost of encryption, dbaas: push $(ratio "$(w dbaas.push.on)" "$(w dbaas.push.off)"), pull $(ratio "$(w dbaas.pull.on)" "$(w dbaas.pull.off)"); pgBackRest: backup $(ratio "$(w pgbr.backup.on)" "$(w pgbr.backup.off)"), restore $(ratio "$(w pgbr.restore.on)" "$(w pgbr.restore.off)")."
}
mkdir -p "$REPO_ROOT/bench/results"
report | tee "$REPO_ROOT/bench/results/remote-$(date -u +%Y%m%d-%H%M%S).md"
