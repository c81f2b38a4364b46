#!/usr/bin/env bash
# Installs the Debian packages the build, the tests, the demo and the benchmarks need.
# Idempotent and non-interactive; needs root (or sudo).
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config clang-14 libclang-rt-14-dev clang-format lld
  libssl-dev libzstd-dev zstd zlib1g-dev nlohmann-json3-dev libcpp-httplib-dev libcli11-dev
  libspdlog-dev libfmt-dev libsqlite3-dev libpq-dev libgtest-dev libgmock-dev
  libbenchmark-dev prometheus-cpp-dev libcctz-dev libboost-dev libcurl4-openssl-dev libpugixml-dev libyaml-cpp-dev
  postgresql-15 postgresql-contrib
  mariadb-server mariadb-client mariadb-backup libmariadb-dev
  xfsprogs jq time util-linux curl python3 python3-yaml python3-botocore openssl passwd procps
  iproute2 nodejs chromium
)
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Debian's nodejs comes without npm; NodeSource's has it built in.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
# Debian's postgresql package starts a cluster of its own; this project runs its own servers.
if command -v pg_lsclusters >/dev/null 2>&1; then
  pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
    "${sudo_cmd[@]}" pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true
  done
fi
# The same for mariadb-server's own service (where an init system started it).
if command -v service >/dev/null 2>&1 && [ -e /etc/init.d/mariadb ]; then
  "${sudo_cmd[@]}" service mariadb stop >/dev/null 2>&1 || true
fi

# The object-store tests' loopback S3 server (tests/s3server: s3rver and the AWS SDK's
# SigV4 signer), from the npm registry at the versions its package-lock.json pins.
s3server="$(dirname "$0")/../tests/s3server"
if ! cmp -s "$s3server/package-lock.json" "$s3server/node_modules/.installed-lock.json"; then
  (cd "$s3server" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$s3server/package-lock.json" "$s3server/node_modules/.installed-lock.json"
fi
# The dashboard's toolchain (Vite, TypeScript) and libraries (Preact, uPlot), and
# playwright-core for its browser test with Debian's Chromium, as ui/package-lock.json pins.
ui="$(dirname "$0")/../ui"
if ! cmp -s "$ui/package-lock.json" "$ui/node_modules/.installed-lock.json"; then
  (cd "$ui" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$ui/package-lock.json" "$ui/node_modules/.installed-lock.json"
fi
