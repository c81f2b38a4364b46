#!/usr/bin/env bash
# bench/kube_runtime_bench.sh: create-to-running of a PostgreSQL (and a MariaDB) instance on
# the Kubernetes runtime (issue 14) beside the local runtime's, and a backup under pgbench load and its
# restore into a new instance, side by side in one run, ROUNDS of each in alternating order.
# The Kubernetes side is the end-to-end tests KubeRuntimeTest.AnInstanceIsMade... and
# KubeRuntimeTest.AVolumeSnapshotBackupUnderWriteLoad... (dbaasd --runtime kubernetes against
# the fake API server, its pods run by the node simulator: the real agent and PostgreSQL in
# a network namespace each; the volumeSnapshot method, the simulator's snapshotter copying
# the claim with the pod paused); with KUBECONFIG set, against that real API server and its
# controller-manager instead (the simulator then plays only the kubelet and the
# snapshotter). The local side is POST /instances, then the same procedure as the test
# (pgbench -i -s 2, 4 clients for 25 s, the backup 3 s in, then the restore) on a dbaasd of
# this machine (the repository method). Times run from the request to the answer (the
# job's end).
#
# Usage (as root, from the repository root, after a release build):
#   bench/kube_runtime_bench.sh
#   ROUNDS=10 KUBECONFIG=/path/admin.kubeconfig bench/kube_runtime_bench.sh
#
# Output: Markdown on stdout.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-5}
TEST=${TEST:-$REPO_ROOT/build/release/tests/kube_runtime_test}
source "$REPO_ROOT/bench/dbaasd_lib.sh"
((EUID == 0)) || { echo "run as root (network namespaces, OS users per instance)" >&2; exit 1; }
[[ -x $TEST ]] || { echo "build first: cmake --build build/release ($TEST)" >&2; exit 1; }

# One run of the Kubernetes tests: "create backup restore full incremental restore pitr
# mcreate mbackup mblocked mrestore mpitr mrepo" seconds (the volumeSnapshot method's backup and restore,
# then the repository method's full backup of an idle instance, its incremental under load
# and the restore from it, then a restore to a restore point made under load: a repository
# backup and the archived WAL; then MariaDB: create, a volumeSnapshot backup under the
# transfer load (4 writers), how long its commits were blocked, the restore, a restore to a
# restore point made after it (from the newest backup, the repository backup below, sent to
# the pod, and the binlog archived through the agent), and a repository backup under the same
# load: mariadb-backup's copy made in the pod, read through the agent).
kube_once() {
  local out
  out=$(env ${KUBECONFIG:+DBAAS_TEST_KUBECONFIG=$KUBECONFIG} "$TEST" \
    --gtest_filter='KubeRuntimeTest.AnInstanceIsMade*:KubeRuntimeTest.AVolumeSnapshotBackupUnder*:KubeRuntimeTest.ARepositoryBackupUnder*:KubeRuntimeTest.APointInTime*:KubeRuntimeTest.AMariaDb*' \
    2>&1) || { echo "$out" >&2; exit 1; }
  echo "$(grep -o 'runtime: created and running in [0-9.]*' <<<"$out" | awk '{print $6}')" \
    "$(grep -o 'runtime: volume snapshot backup in [0-9.]*' <<<"$out" | awk '{print $6}')" \
    "$(grep -o 'runtime: restored from the volume snapshot in [0-9.]*' <<<"$out" | awk '{print $8}')" \
    "$(grep -o 'first repository backup in [0-9.]*' <<<"$out" | awk '{print $5}')" \
    "$(grep -o 'repository backup under load in [0-9.]*' <<<"$out" | awk '{print $6}')" \
    "$(grep -o 'restored from the repository in [0-9.]*' <<<"$out" | awk '{print $6}')" \
    "$(grep -o 'runtime: restored to a restore point in [0-9.]*' <<<"$out" | awk '{print $8}')" \
    "$(grep -o 'MariaDB created and running in [0-9.]*' <<<"$out" | awk '{print $6}')" \
    "$(grep -o 'MariaDB volume snapshot backup in [0-9.]*' <<<"$out" | awk '{print $6}')" \
    "$(grep -o 'commits blocked [0-9.]*' <<<"$out" | awk '{print $3}')" \
    "$(grep -o 'MariaDB restored from the volume snapshot in [0-9.]*' <<<"$out" | awk '{print $8}')" \
    "$(grep -o 'MariaDB restored to a restore point in [0-9.]*' <<<"$out" | awk '{print $8}')" \
    "$(grep -o 'MariaDB repository backup in [0-9.]*' <<<"$out" | awk '{print $5}')"
}

start_dbaasd kube-bench-local
PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
timed_api() {  # timed_api METHOD PATH [BODY]: seconds
  local t0 t1
  t0=$(now)
  api "$@" >/dev/null
  t1=$(now)
  echo "$t1 - $t0" | bc -l | xargs printf '%.2f\n'
}
# MariaDB on this machine: "create backup blocked restore pitr" seconds (the backup under 4
# writers' inserts through mariadb-slap; its method the machine's: reflink on XFS/btrfs, else
# mariadb-backup, whose blocked time is read from its log to the second; pitr: a restore to
# a restore point made as the backup ended, as the Kubernetes test makes one about a second
# after its backup).
local_maria_once() {
  local create backup blocked restore pitr conn slap answer t0
  create=$(timed_api POST /instances '{"name":"mbench","type":"mariadb"}')
  conn=$(api GET '/instances/mbench?showSecrets=true' | jq -er '.instance.connection | "\(.port) \(.password)"')
  mariadb -h 127.0.0.1 -P "${conn% *}" -u app -p"${conn#* }" app -e \
    "create table t (id int primary key auto_increment, v varchar(100));
     insert into t (v) select repeat('x', 100) from seq_1_to_100000"
  timeout 15 mariadb-slap -h 127.0.0.1 -P "${conn% *}" -u app -p"${conn#* }" --create-schema=app \
    --concurrency=4 --iterations=100000 --number-of-queries=100000000 \
    --query="insert into t (v) values (repeat('y', 100))" >/dev/null 2>&1 &
  slap=$!
  sleep 3
  t0=$(now)
  answer=$(api POST /instances/mbench/backup '{"backupName":"under-load"}')
  backup=$(echo "$(now) - $t0" | bc -l | xargs printf '%.2f\n')
  blocked=$(jq -r '.backup.secondsWritesBlocked // 0' <<<"$answer" | xargs printf '%.3f\n')
  api POST /instances/mbench/restore-points '{"name":"mpoint"}' >/dev/null
  wait "$slap" 2>/dev/null || true
  restore=$(timed_api POST /instances/mbench/restore '{"backupName":"under-load","newInstanceName":"mcopy"}')
  api DELETE /instances/mcopy >/dev/null
  pitr=$(timed_api POST /instances/mbench/restore '{"targetName":"mpoint","newInstanceName":"mpit"}')
  api DELETE /instances/mpit >/dev/null
  api DELETE /instances/mbench >/dev/null
  api DELETE /instances/mbench/backups/under-load >/dev/null || true
  echo "$create $backup $blocked $restore $pitr"
}
# The same steps on this machine: "create backup restore pitr" seconds (pitr: a restore to a
# restore point made after the backup).
local_once() {
  local create backup restore pitr uri load
  create=$(timed_api POST /instances '{"name":"bench","type":"postgresql"}')
  uri=$(api GET '/instances/bench?showSecrets=true' | jq -er .instance.connection.uri)
  "$PGBENCH" -i -s 2 -q "$uri" >/dev/null 2>&1
  "$PGBENCH" -n -c 4 -j 2 -T 25 "$uri" >/dev/null 2>&1 &
  load=$!
  sleep 3
  backup=$(timed_api POST /instances/bench/backup '{"backupName":"under-load"}')
  wait $load
  restore=$(timed_api POST /instances/bench/restore '{"backupName":"under-load","newInstanceName":"copy"}')
  api DELETE /instances/copy >/dev/null
  api POST /instances/bench/restore-points '{"name":"bench-point"}' >/dev/null
  pitr=$(timed_api POST /instances/bench/restore '{"targetName":"bench-point","newInstanceName":"pit"}')
  api DELETE /instances/pit >/dev/null
  api DELETE /instances/bench >/dev/null
  api DELETE /instances/bench/backups/under-load >/dev/null || true
  echo "$create $backup $restore $pitr"
}
declare -a kc kb kr kf ki kir kp kmc kmb kmx kmr kmp kmf lc lb lr lp lmc lmb lmx lmr lmp
kube_round() {
  read -r c b r f i ir p mc mb mx mr mp mf <<<"$(kube_once)"
  kc+=("$c") kb+=("$b") kr+=("$r") kf+=("$f") ki+=("$i") kir+=("$ir") kp+=("$p")
  kmc+=("$mc") kmb+=("$mb") kmx+=("$mx") kmr+=("$mr") kmp+=("$mp") kmf+=("$mf")
}
local_round() {
  read -r c b r p <<<"$(local_once)"
  lc+=("$c") lb+=("$b") lr+=("$r") lp+=("$p")
  read -r c b x r p <<<"$(local_maria_once)"
  lmc+=("$c") lmb+=("$b") lmx+=("$x") lmr+=("$r") lmp+=("$p")
}
for ((round = 1; round <= ROUNDS; round++)); do
  if ((round % 2)); then
    kube_round
    local_round
  else
    local_round
    kube_round
  fi
  log "round $round: kubernetes ${kc[-1]} / ${kb[-1]} / ${kr[-1]} s (repository ${kf[-1]} / ${ki[-1]} / ${kir[-1]} s, pitr ${kp[-1]} s; MariaDB ${kmc[-1]} / ${kmb[-1]} (blocked ${kmx[-1]}) / ${kmr[-1]} s, pitr ${kmp[-1]} s, repository ${kmf[-1]} s), local ${lc[-1]} / ${lb[-1]} / ${lr[-1]} s (pitr ${lp[-1]} s; MariaDB ${lmc[-1]} / ${lmb[-1]} (blocked ${lmx[-1]}) / ${lmr[-1]} s, pitr ${lmp[-1]} s)"
done
worst() { printf '%s\n' "$@" | sort -n | tail -1; }
row() {  # row LABEL VALUES...
  local label=$1
  shift
  echo "| $label | $(median "$@") s | $(worst "$@") s | $* |"
}
where=${KUBECONFIG:+a real kube-apiserver + kube-controller-manager}
echo "## The Kubernetes runtime beside the local one ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ROUNDS=$ROUNDS)"
echo
echo "API server: ${where:-the fake (tests/kube/fake_kube_apiserver.h)}; pods and snapshots: the node simulator."
echo
echo "| step, runtime | median | worst | every run |"
echo "|---|---|---|---|"
row "create to running, kubernetes" "${kc[@]}"
row "create to running, local" "${lc[@]}"
row "backup under load, kubernetes (volumeSnapshot)" "${kb[@]}"
row "backup under load, local (repository)" "${lb[@]}"
row "restore to running, kubernetes (imported snapshot)" "${kr[@]}"
row "restore to running, local (repository)" "${lr[@]}"
row "full backup of the idle instance, kubernetes (repository, through the agent)" "${kf[@]}"
row "incremental under load, kubernetes (repository, through the agent)" "${ki[@]}"
row "restore to running, kubernetes (repository: the copy sent to an empty volume)" "${kir[@]}"
row "restore to a restore point, kubernetes (repository backup + WAL staged to the pod)" "${kp[@]}"
row "restore to a restore point, local" "${lp[@]}"
row "MariaDB: create to running, kubernetes" "${kmc[@]}"
row "MariaDB: create to running, local" "${lmc[@]}"
row "MariaDB: backup under load, kubernetes (volumeSnapshot, BACKUP STAGE)" "${kmb[@]}"
row "MariaDB: backup under load, kubernetes (repository: mariadb-backup in the pod, through the agent)" "${kmf[@]}"
row "MariaDB: backup under load, local (the machine's method)" "${lmb[@]}"
row "MariaDB: commits blocked, kubernetes (until the snapshot is cut)" "${kmx[@]}"
row "MariaDB: commits blocked, local" "${lmx[@]}"
row "MariaDB: restore to running, kubernetes (imported snapshot)" "${kmr[@]}"
row "MariaDB: restore to running, local" "${lmr[@]}"
row "MariaDB: restore to a restore point, kubernetes (repository backup sent to the pod + binlog staged)" "${kmp[@]}"
row "MariaDB: restore to a restore point, local" "${lmp[@]}"
