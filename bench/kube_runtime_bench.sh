#!/usr/bin/env bash
# bench/kube_runtime_bench.sh: create-to-running of a PostgreSQL instance on the Kubernetes
# runtime (issue 14) beside the local runtime's, side by side in one run, ROUNDS of each in
# alternating order. The Kubernetes side is the end-to-end test
# KubeRuntimeTest.AnInstanceIsMade... (dbaasd --runtime kubernetes against the fake API
# server, its pods run by the node simulator: the real agent and PostgreSQL in a network
# namespace each); with KUBECONFIG set, against that real API server and its
# controller-manager instead (the simulator then plays only the kubelet). The local side is
# POST /instances on a dbaasd of this machine. Both times run from the request to the
# answer of a running instance (the job's end).
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

kube_once() {
  local out
  out=$(env ${KUBECONFIG:+DBAAS_TEST_KUBECONFIG=$KUBECONFIG} "$TEST" \
    --gtest_filter='KubeRuntimeTest.*' 2>&1) || { echo "$out" >&2; exit 1; }
  grep -o 'created and running in [0-9.]*' <<<"$out" | awk '{print $5}'
}

start_dbaasd kube-bench-local
local_once() {
  local t0 t1
  t0=$(now)
  api POST /instances '{"name":"bench","type":"postgresql"}' >/dev/null
  t1=$(now)
  api DELETE /instances/bench >/dev/null
  echo "$t1 - $t0" | bc -l | xargs printf '%.2f\n'
}

kube=() locals=()
for ((round = 1; round <= ROUNDS; round++)); do
  if ((round % 2)); then
    kube+=("$(kube_once)")
    locals+=("$(local_once)")
  else
    locals+=("$(local_once)")
    kube+=("$(kube_once)")
  fi
  log "round $round: kubernetes ${kube[-1]} s, local ${locals[-1]} s"
done
worst() { printf '%s\n' "$@" | sort -n | tail -1; }
where=${KUBECONFIG:+a real kube-apiserver + kube-controller-manager}
echo "## Create to running: Kubernetes runtime beside local ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ROUNDS=$ROUNDS)"
echo
echo "API server: ${where:-the fake (tests/kube/fake_kube_apiserver.h)}; pods: the node simulator."
echo
echo "| runtime | median | worst | every run |"
echo "|---|---|---|---|"
echo "| kubernetes | $(median "${kube[@]}") s | $(worst "${kube[@]}") s | ${kube[*]} |"
echo "| local | $(median "${locals[@]}") s | $(worst "${locals[@]}") s | ${locals[*]} |"
