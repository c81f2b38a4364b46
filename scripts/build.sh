#!/usr/bin/env bash
# Configures and builds one variant: release (default) or asan (Debug + ASan/UBSan).
# Usage: scripts/build.sh [release|asan]
set -euo pipefail
cd "$(dirname "$0")/.."
variant=${1:-release}
case "$variant" in
  release) flags=(-DCMAKE_BUILD_TYPE=Release) ;;
  # Line tables only (-g1): enough for the sanitizers' stack traces, and the build is
  # faster than with full debug information. No benchmark tools: the benchmarks run the
  # release build (which builds them, so that they keep compiling).
  asan) flags=(-DCMAKE_BUILD_TYPE=Debug -DDBAAS_SANITIZE=ON -DCMAKE_CXX_FLAGS_DEBUG=-g1
               -DDBAAS_BENCH=OFF) ;;
  *) echo "unknown variant '$variant' (release or asan)" >&2; exit 2 ;;
esac
cmake -S . -B "build/$variant" -G Ninja -DDBAAS_WERROR=ON "${flags[@]}" >/dev/null
ninja -C "build/$variant"
# The dashboard dbaasd serves at /ui/ (type-checked, then bundled into ui/dist).
(cd ui && npm run --silent build >/dev/null)
