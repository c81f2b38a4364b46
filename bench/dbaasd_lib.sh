# Sourced by the benchmarks that drive a real dbaasd through its API (drill_bench.sh,
# metrics_bench.sh). Needs REPO_ROOT; honours DBAASD and BENCH_DIR.
DBAASD=${DBAASD:-$REPO_ROOT/build/release/apps/dbaasd/dbaasd}
BENCH_DIR=${BENCH_DIR:-/var/tmp}
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
now() { date +%s.%N; }
# The middle value of its arguments (numbers).
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# start_dbaasd NAME [DBAASD ARGS...]: a fresh dbaasd on a temporary data root ($work/data)
# and a free loopback port, stopped and removed on exit. Sets work, port, pid, token.
start_dbaasd() {
  work=$(mktemp -d "$BENCH_DIR/$1.XXXXXX")
  shift
  chmod 711 "$work"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$DBAASD" --data-root "$work/data" --listen "127.0.0.1:$port" --log-level warn "$@" \
    >"$work/dbaasd.log" 2>&1 &
  pid=$!
  trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null
    "$REPO_ROOT/scripts/remove-instance-users.sh" "$work"; rm -rf "$work"' EXIT
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  token=$(cat "$work/data/api-token")
}

api() {  # api METHOD PATH [BODY]
  curl -sf -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    "http://127.0.0.1:$port$2" ${3:+-d "$3"}
}
