#!/usr/bin/env bash
# bench/failover_torture_bench.sh: the failover torture at full size (issue 15): ROUNDS
# failovers under pgbench load in synchronous mode, the primary in turn killed (kill -9, its
# restart blocked), hung (SIGSTOP) and cut off the network (its test host's link down; the
# members run on test hosts in network namespaces, tests/test_hosts.h). After the rounds:
# every id a client saw committed is present, pgbench's invariant and pg_amcheck hold.
# It runs the CI test ApiReplicationTest.FailoversUnderLoadInSynchronousModeLoseNoAcknowledgedCommit
# (3 rounds there) with DBAAS_FAILOVER_ROUNDS, and tabulates its per-round times.
#
# Usage (as root, from the repository root, after a release build):
#   bench/failover_torture_bench.sh
#   ROUNDS=6 bench/failover_torture_bench.sh
#
# Environment:
#   ROUNDS=20    API_TEST=build/release/tests/api_test
#
# Output: Markdown on stdout; the test's own output in $BENCH_DIR/failover-torture.log.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-20}
API_TEST=${API_TEST:-$REPO_ROOT/build/release/tests/api_test}
BENCH_DIR=${BENCH_DIR:-/var/tmp}
((EUID == 0)) || { echo "run as root (network namespaces, OS users per instance)" >&2; exit 1; }
[[ -x $API_TEST ]] || { echo "build first: cmake --build build/release ($API_TEST)" >&2; exit 1; }
log=$BENCH_DIR/failover-torture.log

started=$(date +%s)
set +e
DBAAS_FAILOVER_ROUNDS=$ROUNDS "$API_TEST" \
  --gtest_filter='ApiReplicationTest.FailoversUnderLoadInSynchronousModeLoseNoAcknowledgedCommit' \
  >"$log" 2>&1
status=$?
set -e
elapsed=$(($(date +%s) - started))

echo "## Failover torture, $ROUNDS rounds ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
echo
if ((status == 0)); then
  echo "Result: **passed** in ${elapsed} s: no acknowledged commit lost, pgbench's invariant and"
  echo "pg_amcheck --heapallindexed hold, one primary after every round."
else
  echo "Result: **FAILED** (exit $status) after ${elapsed} s; see $log:"
  echo '```'
  grep -E "Failure|Expected|Which is|error" "$log" | head -20
  echo '```'
fi
echo
echo "| how the primary was lost | rounds | failover seen (median / worst) | old primary streams (median / worst) |"
echo "|---|---|---|---|"
for how in kill hang cut; do
  grep -E "^torture round [0-9]+ $how:" "$log" | awk -v how="$how" '
    { f[NR] = $8; r[NR] = $14 }
    function median(a, n,   i, j, t, b) {
      for (i = 1; i <= n; i++) b[i] = a[i]
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (b[j] < b[i]) { t = b[i]; b[i] = b[j]; b[j] = t }
      return n % 2 ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2
    }
    function worst(a, n,   i, m) { m = 0; for (i = 1; i <= n; i++) if (a[i] > m) m = a[i]; return m }
    END { if (NR) printf "| %s | %d | %.2f s / %.2f s | %.2f s / %.2f s |\n", how, NR,
            median(f, NR), worst(f, NR), median(r, NR), worst(r, NR) }'
done
exit $status
