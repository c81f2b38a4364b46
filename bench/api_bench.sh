#!/usr/bin/env bash
# bench/api_bench.sh: load benchmark of dbaasd's REST API. A fresh dbaasd on a temporary data
# root and a free loopback port, INSTANCES PostgreSQL instances made through the API, then
# wrk against GET /instances (bearer token) and, for context, GET /healthz (no auth, a
# trivial handler: the HTTP server's own ceiling on this machine); then GET /instances again
# while SLOW_CLIENTS unauthenticated clients dribble never-ending requests (issue 12).
#
# Usage (as root, from anywhere):
#   bench/api_bench.sh
#   INSTANCES=2 DURATION=3 bench/api_bench.sh        # quick smoke run
#
# Environment:
#   INSTANCES=10       PostgreSQL instances created (sequentially, POST /instances) before
#                      the load
#   DURATION=20        seconds of each wrk run
#   CONNECTIONS=100    wrk connections of the main runs (healthz and instances)
#   LOW_CONNECTIONS=10 wrk connections of the extra GET /instances runs
#   SLOW_CLIENTS=300   clients of the last run that each send a request line and then a
#                      header line a second, never ending it, and reconnect when cut off
#                      (0: no such run)
#   THREADS=2          wrk threads
#   WRK_TIMEOUT=10s    wrk --timeout: slower responses count as timeouts and are left out of
#                      wrk's latency histogram (wrk's own default is 2s)
#   DBAASD=build/release/apps/dbaasd/dbaasd   the daemon under test (relative paths: to the
#                      cwd, else to the repository root)
#   BENCH_DIR=/tmp     where the temporary data root is made (removed afterwards)
#   KEEP_RUN=1         keep the data root and logs (dbaasd is stopped all the same)
#   TLS=1              serve HTTPS (dbaasd --tls-cert/--tls-key with a self-signed P-256
#                      certificate made here by openssl); wrk and curl speak HTTPS
#
# Needs: wrk (installed with apt-get when missing and root), curl, jq, time (/usr/bin/time),
# PostgreSQL 15 for the instances (found by dbaasd).
#
# Output: a Markdown report on stdout, also saved to bench/results/api-<date>.md; progress
# goes to stderr. Exit status: 0 when every step ran and the correctness check passed, 1
# otherwise.
#
# What is measured, per wrk run (`wrk -t THREADS -c C -d DURATION --latency --timeout
# WRK_TIMEOUT`, keep-alive): requests/s, latency p50/p90/p99/p99.9/max (wrk's histogram, via a
# done() hook that writes exact figures; the --latency text output is kept in the report),
# non-2xx/3xx responses, socket errors (connect/read/write/timeout); dbaasd's CPU time during
# the run (/proc/PID/stat utime+stime, whole process) and per request; wrk's own CPU time
# (/usr/bin/time). After the runs: dbaasd's peak RSS (VmHWM) and total CPU time. dbaasd
# itself only: its PostgreSQL servers are separate processes and not counted.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR disable=SC1091 # followed with shellcheck -x
. "$SCRIPT_DIR/lib.sh"

INSTANCES=${INSTANCES:-10}
DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-100}
LOW_CONNECTIONS=${LOW_CONNECTIONS:-10}
SLOW_CLIENTS=${SLOW_CLIENTS:-300}
THREADS=${THREADS:-2}
WRK_TIMEOUT=${WRK_TIMEOUT:-10s}
DBAASD=${DBAASD:-build/release/apps/dbaasd/dbaasd}
BENCH_DIR=${BENCH_DIR:-/tmp}
KEEP_RUN=${KEEP_RUN:-0}
TLS=${TLS:-0}

[[ $SLOW_CLIENTS =~ ^[0-9]+$ ]] || die "SLOW_CLIENTS must be a number (got '$SLOW_CLIENTS')"
for v in INSTANCES DURATION CONNECTIONS LOW_CONNECTIONS THREADS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
[[ $WRK_TIMEOUT =~ ^[1-9][0-9]*(ms|s|m)?$ ]] || die "WRK_TIMEOUT must look like 10s"

if [[ $DBAASD != /* && ! -e $DBAASD && -e $REPO_ROOT/$DBAASD ]]; then DBAASD=$REPO_ROOT/$DBAASD; fi
[[ -f $DBAASD && -x $DBAASD ]] || die "dbaasd not found at $DBAASD (scripts/build.sh release, or set DBAASD)"
DBAASD=$(realpath "$DBAASD")
# What runs, taken before the start (the file may be rebuilt while we run).
BIN_BUILT=$(date -r "$DBAASD" '+%Y-%m-%d %H:%M:%S')
BIN_SHA=$(sha256sum "$DBAASD" | cut -c1-12)
# Which HTTP server the binary has (the report says; old builds are benchmarked too).
if "$DBAASD" --help 2>/dev/null | grep -q -- --http-max-connections; then
  SERVER_DESC="Beast/Asio HTTP server (2 I/O threads; handlers on a pool of 128, --http-threads), TCP_NODELAY, listen backlog SOMAXCONN, keep-alive (5 s idle), request deadline 10 s, connection caps 256 per address / 4096 in all"
else
  SERVER_DESC="cpp-httplib, thread pool of 128 (--http-threads), TCP_NODELAY, listen backlog SOMAXCONN, keep-alive (100 requests per connection, 5 s idle)"
fi
GIT_REV=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo "no commit")
git_dirty=$(git -C "$REPO_ROOT" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
((git_dirty == 0)) || GIT_REV="$GIT_REV + $git_dirty uncommitted changed files"

need curl curl
need jq jq
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install time)"
if ! command -v wrk >/dev/null 2>&1; then
  ((EUID == 0)) || die "wrk not found (apt-get install wrk)"
  log "wrk not found: apt-get install wrk"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >&2 ||
    { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >&2; } ||
    die "could not install wrk"
fi
need wrk wrk
HAVE_SS=0
if command -v ss >/dev/null 2>&1; then HAVE_SS=1; else log "ss not found (apt-get install iproute2): no connection sampling"; fi

# ---------------------------------------------------------------------------- run dir

mkdir -p "$BENCH_DIR"
RUN=$(mktemp -d "$(realpath "$BENCH_DIR")/dbaas-api-bench.XXXXXX")
# The instances' PostgreSQL servers run as the `postgres` user when we are root: they must
# be able to traverse the data root's parents.
chmod 0711 "$RUN"
DATA=$RUN/data
RES_DIR=$RUN/results
LOG=$RUN/dbaasd.log
mkdir -p "$RES_DIR"
DAEMON_PID=
WRK_PID=
SLOW_PID=
CLK_TCK=$(getconf CLK_TCK)

cleanup() {
  local rc=$? i
  set +e
  [[ -z $SLOW_PID ]] || kill "$SLOW_PID" 2>/dev/null
  if [[ -n $WRK_PID ]] && kill -0 "$WRK_PID" 2>/dev/null; then
    # shellcheck disable=SC2046 # a list of process ids
    kill -TERM "$WRK_PID" $(descendants "$WRK_PID") 2>/dev/null
    wait "$WRK_PID" 2>/dev/null
  fi
  if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    log "stopping dbaasd (pid $DAEMON_PID, SIGTERM)"
    kill -TERM "$DAEMON_PID"
    # dbaasd stops its PostgreSQL servers before it exits; give it a minute.
    for ((i = 0; i < 600; i++)); do
      kill -0 "$DAEMON_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$DAEMON_PID" 2>/dev/null; then
      log "warning: dbaasd still running after 60 s: SIGKILL"
      kill -KILL "$DAEMON_PID"
    fi
    wait "$DAEMON_PID" 2>/dev/null
  fi
  # Servers left behind by a killed daemon.
  local d
  for d in "$DATA"/instances/*/data; do
    [[ -f $d/postmaster.pid ]] || continue
    log "stopping a leftover PostgreSQL server on $d"
    pg_stop_if_running "$d" ||
      as_pg "$PG_BIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1
  done
  if [[ $KEEP_RUN == 1 ]]; then
    log "kept $RUN"
  else
    "$REPO_ROOT/scripts/remove-instance-users.sh" "$RUN"
    rm -rf "$RUN"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------- helpers

# CPU seconds (user+sys, all threads) of a live process.
cpu_s() {
  local s
  s=$(<"/proc/$1/stat")
  s=${s##*) } # fields from the 3rd (state) on; utime and stime are the 14th and 15th
  awk -v t="$CLK_TCK" '{ printf "%.2f", ($12 + $13) / t }' <<<"$s"
}
# "WALL_S IDLE_TICKS": now, and the machine's idle + iowait time from /proc/stat. Idle time
# is measured exactly (tickless kernel); user/system there are tick samples and miss short
# bursts such as a request handler, so busy time is taken as cores x wall - idle.
machine_cpu() { printf '%s %s\n' "$(date +%s.%N)" "$(awk '$1 == "cpu" { print $5 + $6; exit }' /proc/stat)"; }
proc_status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# Key-value file written by the wrk done() hook: kv FILE KEY.
kv() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

ms() { if [[ -n $1 ]]; then awk -v x="$1" 'BEGIN { printf "%.2f", x / 1000 }'; else printf 'n/a'; fi; }

api() { # api METHOD PATH [BODY]: prints "HTTP_CODE TIME_S", body to $RUN/body
  local args=(-sS -o "$RUN/body" -w '%{http_code} %{time_total}\n' -X "$1" -H "@$RUN/auth-header")
  [[ -z ${3-} ]] || args+=(-H 'Content-Type: application/json' --data-binary "$3")
  curl "${CURL_TLS[@]}" "${args[@]}" "$BASE$2"
}

# Slow clients for the last run: each connects, sends a request line, then a header line a
# second, never the end of its headers; when the server cuts one off, it reconnects. Only
# to 127.0.0.1, for the given seconds; prints how many connections it opened in all.
cat >"$RUN/slow_clients.py" <<'EOF'
import socket, sys, time
port, count, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
end = time.monotonic() + seconds
socks = [None] * count
opened = 0
def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=1)
    s.sendall(b"GET /instances HTTP/1.1\r\nHost: x\r\n")
    s.setblocking(False)
    return s
while time.monotonic() < end:
    for i in range(count):
        s = socks[i]
        if s is not None:
            try:
                if s.recv(4096) == b"":  # closed by the server (an answer ends it too)
                    raise OSError
            except BlockingIOError:
                pass  # still open, nothing sent back
            except OSError:
                s.close()
                s = socks[i] = None
        if s is not None:
            try:
                s.send(b"X-Slow: 1\r\n")
            except OSError:
                pass
        elif time.monotonic() < end:
            try:
                socks[i] = connect()
                opened += 1
            except OSError:
                pass
    time.sleep(1)
print(opened)
EOF

# A wrk done() hook: exact figures in a key-value file named by $WRK_SUMMARY.
cat >"$RUN/summary.lua" <<'EOF'
local out = os.getenv("WRK_SUMMARY")
done = function(summary, latency, requests)
  local f = assert(io.open(out, "w"))
  local e = summary.errors
  f:write(string.format("requests %d\nduration_us %d\nbytes %d\n", summary.requests,
    summary.duration, summary.bytes))
  f:write(string.format("connect %d\nread %d\nwrite %d\nstatus %d\ntimeout %d\n", e.connect,
    e.read, e.write, e.status, e.timeout))
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    f:write(string.format("p%s %d\n", p, latency:percentile(p)))
  end
  f:write(string.format("mean_us %.1f\nstdev_us %.1f\nmax_us %d\n", latency.mean, latency.stdev,
    latency.max))
  f:close()
end
EOF

# Server-side connections of dbaasd's port: "ESTABLISHED WAITING", WAITING = those with
# request bytes the server has not read (Recv-Q > 0): with keep-alive, cpp-httplib holds one
# pool thread per connection, so connections beyond the pool wait, unserved, for a free one.
conn_sample() {
  ss -tnH state established "( sport = :$PORT )" |
    awk '{ n++; if ($1 > 0) q++ } END { print n + 0, q + 0 }'
}

# load KEY PATH CONNECTIONS [AUTH]: one wrk run; figures in $RES_DIR/KEY.*.
load() {
  local key=$1 path=$2 conns=$3 auth=${4-} cpu0 cpu1 args m0 m1
  args=(-t "$THREADS" -c "$conns" -d "${DURATION}s" --latency --timeout "$WRK_TIMEOUT"
    -s "$RUN/summary.lua")
  # The token goes in only through wrk's command line (the report shows a placeholder).
  [[ -z $auth ]] || args+=(-H "Authorization: Bearer $TOKEN")
  local shown_auth=""
  # shellcheck disable=SC2016 # shown literally: the command to paste
  [[ -z $auth ]] || shown_auth=' -H "Authorization: Bearer $(cat DATAROOT/api-token)"'
  res_put "$key.cmd" "wrk -t $THREADS -c $conns -d ${DURATION}s --latency --timeout $WRK_TIMEOUT$shown_auth $SCHEME://127.0.0.1:PORT$path"
  log "== $key: wrk -t $THREADS -c $conns -d ${DURATION}s GET $path"
  cpu0=$(cpu_s "$DAEMON_PID")
  m0=$(machine_cpu)
  (
    export WRK_SUMMARY=$RES_DIR/$key.summary
    timed "$key" wrk "${args[@]}" "$BASE$path" >"$RES_DIR/$key.out"
  ) &
  WRK_PID=$!
  : >"$RES_DIR/$key.conns"
  # Connection samples every 2 s while wrk runs (not in its first and last second).
  if ((HAVE_SS)); then
    local t
    for ((t = 2; t < DURATION; t += 2)); do
      sleep 2
      kill -0 "$WRK_PID" 2>/dev/null || break
      conn_sample >>"$RES_DIR/$key.conns"
    done
  fi
  wait "$WRK_PID" || die "wrk failed: $(tail -n 5 "$RES_DIR/$key.out")"
  WRK_PID=
  cpu1=$(cpu_s "$DAEMON_PID")
  m1=$(machine_cpu)
  # The machine's busy CPU seconds and share over the run (everything: dbaasd, wrk, others).
  res_put "$key.machine_cpu_s" "$(awk -v a="$m0" -v b="$m1" -v t="$CLK_TCK" -v p="$(nproc)" 'BEGIN {
    split(a, x, " "); split(b, y, " "); busy = p * (y[1] - x[1]) - (y[2] - x[2]) / t
    printf "%.2f", (busy < 0 ? 0 : busy) }')"
  res_put "$key.machine_busy" "$(awk -v a="$m0" -v b="$m1" -v c="$(res_get "$key.machine_cpu_s")" -v p="$(nproc)" 'BEGIN {
    split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * c / (p * (y[1] - x[1])) }')"
  summarize "$key"
  res_put "$key.dcpu" "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')"
  local f=$RES_DIR/$key.summary
  [[ -s $f ]] || die "wrk wrote no summary for $key"
  local n d
  n=$(kv "$f" requests) d=$(kv "$f" duration_us)
  res_put "$key.rps" "$(awk -v n="$n" -v d="$d" 'BEGIN { printf "%.0f", n / (d / 1e6) }')"
  if [[ -s $RES_DIR/$key.conns ]]; then
    res_put "$key.waiting" "$(awk '{ print $2 }' "$RES_DIR/$key.conns" | sort -n | awk '{ v[NR] = $1 } END {
      printf "%d (%d–%d)", v[int((NR + 1) / 2)], v[1], v[NR] }')"
    res_put "$key.established" "$(awk '{ print $1 }' "$RES_DIR/$key.conns" | sort -n | awk '{ v[NR] = $1 } END {
      printf "%d", v[int((NR + 1) / 2)] }')"
  fi
  log "   $(res_get "$key.rps") req/s, p50 $(ms "$(kv "$f" p50)") ms, p99 $(ms "$(kv "$f" p99)") ms, max $(ms "$(kv "$f" max_us)") ms, non-2xx $(kv "$f" status), socket errors c/r/w/t $(kv "$f" connect)/$(kv "$f" read)/$(kv "$f" write)/$(kv "$f" timeout); dbaasd CPU $(res_get "$key.dcpu") s; connections waiting unserved $(res_get "$key.waiting" n/a); machine busy $(res_get "$key.machine_busy")%"
}

# ---------------------------------------------------------------------------- dbaasd

log "data root $DATA; dbaasd $DBAASD"
SCHEME=http DAEMON_TLS=() CURL_TLS=()
if [[ $TLS == 1 ]]; then
  need openssl openssl
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$RUN/tls.key" -out "$RUN/tls.crt" 2>/dev/null || die "openssl could not make a certificate"
  SCHEME=https DAEMON_TLS=(--tls-cert "$RUN/tls.crt" --tls-key "$RUN/tls.key")
  CURL_TLS=(--cacert "$RUN/tls.crt")
fi
"$DBAASD" --data-root "$DATA" --listen 127.0.0.1:0 "${DAEMON_TLS[@]}" >"$LOG" 2>&1 &
DAEMON_PID=$!
PORT=
for ((i = 0; i < 300; i++)); do
  kill -0 "$DAEMON_PID" 2>/dev/null || {
    tail -n 20 "$LOG" >&2
    die "dbaasd exited at start"
  }
  PORT=$(sed -n 's/.*event=listening address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$LOG" | head -n 1)
  [[ -z $PORT ]] || break
  sleep 0.1
done
[[ -n $PORT ]] || die "dbaasd did not report a listening port within 30 s (see $LOG)"
BASE=$SCHEME://127.0.0.1:$PORT
TOKEN=$(tr -d '[:space:]' <"$DATA/api-token")
[[ -n $TOKEN ]] || die "empty token in $DATA/api-token"
printf 'Authorization: Bearer %s\n' "$TOKEN" >"$RUN/auth-header"
chmod 0600 "$RUN/auth-header"
log "dbaasd pid $DAEMON_PID listening on 127.0.0.1:$PORT"
res_put rss.start_kb "$(proc_status_kb "$DAEMON_PID" VmRSS)"

# ---------------------------------------------------------------------------- instances

log "== creating $INSTANCES PostgreSQL instances (POST /instances, one after the other)"
: >"$RES_DIR/create.times"
t0=$(date +%s.%N)
for ((i = 1; i <= INSTANCES; i++)); do
  name=$(printf 'bench-%02d' "$i")
  read -r code secs < <(api POST /instances "{\"name\":\"$name\",\"type\":\"postgresql\"}")
  if [[ $code != 201 ]]; then
    cat "$RUN/body" >&2
    echo >&2
    die "POST /instances $name: HTTP $code"
  fi
  printf '%s\n' "$secs" >>"$RES_DIR/create.times"
  log "   $name: HTTP $code in $secs s"
done
t1=$(date +%s.%N)
res_put create.total "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
res_put create.stats "$(sort -g "$RES_DIR/create.times" | awk '{ v[NR] = $1 } END {
  printf "min %.2f s, median %.2f s, max %.2f s", v[1], v[int((NR + 1) / 2)], v[NR] }')"
res_put rss.after_create_kb "$(proc_status_kb "$DAEMON_PID" VmRSS)"
res_put hwm.after_create_kb "$(proc_status_kb "$DAEMON_PID" VmHWM)"
res_put cpu.after_create "$(cpu_s "$DAEMON_PID")"

# ---------------------------------------------------------------------------- correctness

read -r code _ < <(api GET /instances)
[[ $code == 200 ]] || die "GET /instances: HTTP $code: $(head -c 300 "$RUN/body")"
count=$(jq -r '.count' "$RUN/body")
listed=$(jq -r '.instances | length' "$RUN/body")
running=$(jq -r '[.instances[] | select(.status == "running")] | length' "$RUN/body")
res_put body.bytes "$(file_bytes "$RUN/body")"
if [[ $count == "$INSTANCES" && $listed == "$INSTANCES" && $running == "$INSTANCES" ]]; then
  res_put check "PASS: \"count\": $count, $listed instances listed, $running running"
else
  res_put check "FAIL: \"count\": $count (expected $INSTANCES), $listed listed, $running running"
fi
log "   correctness: $(res_get check); body $(res_get body.bytes) bytes"
read -r code _ < <(curl "${CURL_TLS[@]}" -sS -o /dev/null -w '%{http_code} %{time_total}\n' "$BASE/instances")
res_put check.noauth "$code"
[[ $code == 401 ]] || log "warning: GET /instances without a token answered HTTP $code (expected 401)"

# ---------------------------------------------------------------------------- load

res_put loadavg.start "$(cut -d' ' -f1-3 /proc/loadavg)"
load healthz /healthz "$CONNECTIONS"
load instances /instances "$CONNECTIONS" auth
load instances_low /instances "$LOW_CONNECTIONS" auth
if ((SLOW_CLIENTS > 0)); then
  log "== $SLOW_CLIENTS slow clients (a header line a second, never done) during the next run"
  python3 "$RUN/slow_clients.py" "$PORT" "$SLOW_CLIENTS" "$((DURATION + 4))" >"$RES_DIR/slow.opened" &
  SLOW_PID=$!
  sleep 3 # all connected, and past any short read timeout
  load instances_slow /instances "$LOW_CONNECTIONS" auth
  wait "$SLOW_PID" || die "the slow clients failed"
  SLOW_PID=
fi

res_put loadavg.end "$(cut -d' ' -f1-3 /proc/loadavg)"
res_put hwm.end_kb "$(proc_status_kb "$DAEMON_PID" VmHWM)"
res_put rss.end_kb "$(proc_status_kb "$DAEMON_PID" VmRSS)"
res_put threads.end "$(proc_status_kb "$DAEMON_PID" Threads)"
res_put cpu.end "$(cpu_s "$DAEMON_PID")"

# ---------------------------------------------------------------------------- report

kb_mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }

row() {
  local key=$1 label=$2 conns=$3 f=$RES_DIR/$1.summary n us_per_req busy
  n=$(kv "$f" requests)
  busy=$(awk -v c="$(res_get "$key.dcpu")" -v u="$(res_get "$key.user")" -v s="$(res_get "$key.sys")" \
    -v w="$(res_get "$key.wall")" -v p="$(nproc)" -v m="$(res_get "$key.machine_cpu_s")" \
    -v mb="$(res_get "$key.machine_busy")" 'BEGIN { if (w > 0) printf "%.0f%% / %s%% (others %.1f s)", 100 * (c + u + s) / (w * p), mb, m - c - u - s }')
  us_per_req=$(awk -v c="$(res_get "$key.dcpu")" -v n="$n" 'BEGIN { if (n > 0) printf "%.0f", c * 1e6 / n }')
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s/%s/%s/%s | %s | %s (%s µs/req) | %s | %s |\n' \
    "$label" "$conns" "$n" "$(res_get "$key.rps")" \
    "$(ms "$(kv "$f" p50)")" "$(ms "$(kv "$f" p90)")" "$(ms "$(kv "$f" p99)")" \
    "$(ms "$(kv "$f" p99.9)")" "$(ms "$(kv "$f" max_us)")" "$(ms "$(kv "$f" mean_us)")" \
    "$(kv "$f" status)" "$(kv "$f" connect)" "$(kv "$f" read)" "$(kv "$f" write)" \
    "$(kv "$f" timeout)" "$(res_get "$key.waiting" n/a)" "$(res_get "$key.dcpu")" "$us_per_req" \
    "$(awk -v u="$(res_get "$key.user")" -v s="$(res_get "$key.sys")" 'BEGIN { printf "%.2f", u + s }')" "$busy"
}

report() {
  local cpu mem wrkv pgv changed=""
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
  [[ $(sha256sum "$DBAASD" | cut -c1-12) == "$BIN_SHA" ]] ||
    changed="; **the file was replaced during the run** (rebuilt): the figures are those of the binary described here, which was running"
  wrkv=$(wrk -v 2>&1 | awk 'NR == 1 { print $2; exit }') || true
  pgv=$("$PG_BIN/postgres" --version 2>/dev/null | awk '{ print $3 }') || true

  echo "# REST API load benchmark, $(date '+%Y-%m-%d %H:%M')"
  echo
  echo "- Machine: $(nproc) cores $cpu, $mem, $(uname -r); load average before the runs $(res_get loadavg.start), after $(res_get loadavg.end). **wrk and dbaasd share these $(nproc) cores** (and the $INSTANCES idle PostgreSQL servers run alongside; the machine may be shared with other work too: see the last column). wrk's CPU time comes out of dbaasd's budget whenever the server is CPU-bound."
  echo "- dbaasd: \`$DBAASD\` (file of $BIN_BUILT, sha256 $BIN_SHA…, repo at $GIT_REV when started$changed); $SERVER_DESC; default log level (info: GET requests are not logged); fresh data root under $BENCH_DIR, $SCHEME://127.0.0.1:$PORT"
  echo "- Instances: $INSTANCES PostgreSQL ${pgv:-} instances created through POST /instances (sequentially, sync): $(res_get create.total) s in all, per request $(res_get create.stats)"
  echo "- Correctness: GET /instances → $(res_get check); body $(res_get body.bytes) bytes; without a token: HTTP $(res_get check.noauth)"
  echo "- Load: wrk ${wrkv:-?}, $THREADS threads, ${DURATION} s per run, keep-alive, --timeout $WRK_TIMEOUT (slower responses count as timeouts and are not in the percentiles); runs one after the other in the order below"
  echo "- Reproduce: \`INSTANCES=$INSTANCES DURATION=$DURATION CONNECTIONS=$CONNECTIONS LOW_CONNECTIONS=$LOW_CONNECTIONS SLOW_CLIENTS=$SLOW_CLIENTS THREADS=$THREADS bench/api_bench.sh\` (as root, from the repository root, after \`scripts/build.sh release\`)"
  echo
  echo "| endpoint | conns | requests | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | mean ms | non-2xx | socket errors connect/read/write/timeout | conns waiting unserved | dbaasd CPU s | wrk CPU s | CPU busy: dbaasd+wrk / machine |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  row healthz "GET /healthz (no auth, trivial)" "$CONNECTIONS"
  row instances "GET /instances ($INSTANCES instances, bearer)" "$CONNECTIONS"
  row instances_low "GET /instances ($INSTANCES instances, bearer)" "$LOW_CONNECTIONS"
  if res_has slow.opened; then
    row instances_slow "GET /instances ($INSTANCES instances, bearer) with $SLOW_CLIENTS slow clients" "$LOW_CONNECTIONS"
  fi
  echo
  if res_has slow.opened; then
    echo "- slow clients: $SLOW_CLIENTS unauthenticated connections, each sending a request line and then a header line a second, never ending its headers, reconnecting when the server cuts it off ($(res_get slow.opened) connections opened in all over the run); started 3 s before wrk. wrk's requests wait behind them when the server holds a thread per connection."
  fi
  echo "- dbaasd CPU s: user+sys of the whole daemon during the run (/proc/PID/stat), per request in parentheses. wrk CPU s: user+sys of wrk (/usr/bin/time). CPU busy: (dbaasd + wrk CPU) / (wall × $(nproc) cores) / the whole machine's busy share over the run (cores × wall − idle time from /proc/stat); \"others\": CPU seconds of every other process in that time (the idle PostgreSQL servers, and anything else running on this machine, which is shared)."
  echo "- conns waiting unserved: server-side connections on dbaasd's port whose request the server has not read (ss, Recv-Q > 0), median (min–max) of samples every 2 s during the run. With keep-alive, cpp-httplib (the server before issue 12) gave each connection one pool thread (128 by default) until it closed (after 100 requests or 5 s idle), so connections beyond the pool waited; the Beast/Asio server reads every connection on its I/O threads and takes a pool thread only for a handler. wrk 4.1 counts a timeout only when a response arrives later than --timeout, so requests still unanswered when the run ends appear nowhere in its figures (not in the latencies, not as timeouts): latency and req/s above are those of the connections that were served."
  # A hint when the latency is waiting rather than work.
  local p50_low busy_low
  p50_low=$(kv "$RES_DIR/instances_low.summary" p50)
  # The share of the cores that dbaasd and wrk used in that run, in percent.
  busy_low=$(awk -v c="$(res_get instances_low.dcpu)" -v u="$(res_get instances_low.user)" \
    -v s="$(res_get instances_low.sys)" -v w="$(res_get instances_low.wall)" -v p="$(nproc)" \
    'BEGIN { if (w > 0) printf "%.0f", 100 * (c + u + s) / (w * p); else print 100 }')
  if [[ -n $p50_low ]] && ((p50_low >= 35000 && p50_low <= 60000 && busy_low < 50)); then
    echo "- **Latency is waiting, not work:** p50 $(ms "$p50_low") ms at $LOW_CONNECTIONS connections while dbaasd and wrk use ${busy_low}% of the cores and dbaasd spends $(awk -v c="$(res_get instances_low.dcpu)" -v n="$(kv "$RES_DIR/instances_low.summary" requests)" 'BEGIN { printf "%.0f", c * 1e6 / n }') µs of CPU per request. ~40 ms per keep-alive request is the signature of Nagle's algorithm meeting the client's delayed ACK (a response written in two pieces, headers then body, on a socket without TCP_NODELAY; cpp-httplib leaves TCP_NODELAY off unless told)."
    # shellcheck disable=SC2016 # backquotes: Markdown
    printf '  Check: `curl -so /dev/null -w "%%{time_total}\\n" URL URL URL` (the first request is fast, those reusing the connection take ~40 ms).\n'
  fi
  echo
  echo "## dbaasd process"
  echo
  echo "| | value |"
  echo "|---|---|"
  echo "| RSS at start (no instances) | $(kb_mb "$(res_get rss.start_kb)") |"
  echo "| RSS / peak RSS (VmHWM) after creating $INSTANCES instances | $(kb_mb "$(res_get rss.after_create_kb)") / $(kb_mb "$(res_get hwm.after_create_kb)") |"
  echo "| **peak RSS (VmHWM) after the load runs** | **$(kb_mb "$(res_get hwm.end_kb)")** |"
  echo "| RSS after the load runs | $(kb_mb "$(res_get rss.end_kb)") |"
  echo "| threads after the load runs | $(res_get threads.end) |"
  echo "| CPU time (user+sys) after creating the instances | $(res_get cpu.after_create) s |"
  echo "| **CPU time (user+sys) at the end** | **$(res_get cpu.end) s** |"
  echo
  echo "The daemon's own process only: the PostgreSQL servers are separate processes."
  echo
  echo "## Commands"
  echo
  echo '```sh'
  res_get healthz.cmd
  res_get instances.cmd
  res_get instances_low.cmd
  if res_has slow.opened; then res_get instances_slow.cmd; fi
  echo '```'
  echo
  echo "## wrk output"
  local k
  local keys=(healthz instances instances_low)
  if res_has slow.opened; then keys+=(instances_slow); fi
  for k in "${keys[@]}"; do
    echo
    echo "\`$(res_get "$k.cmd")\`"
    echo
    echo '```'
    sed "s#127.0.0.1:$PORT#127.0.0.1:PORT#" "$RES_DIR/$k.out"
    echo '```'
  done
}

results_dir=$SCRIPT_DIR/results
mkdir -p "$results_dir"
out=$results_dir/api-$(date +%Y%m%d-%H%M%S).md
report | tee "$out"
log "report saved to $out"
[[ $(res_get check) == PASS* ]] || exit 1
