#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for SECONDS (default 60).
# Usage: fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
# -O1 and line tables only: what libFuzzer needs, and the instrumented libraries build faster
# than at -O2 with full debug information. No -DNDEBUG: assertions are checked while fuzzing.
CXX=${FUZZ_CXX:-clang++-14} cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DDBAAS_FUZZ=ON -DDBAAS_TESTS=OFF \
  -DDBAAS_BENCH=OFF >/dev/null
ninja -C build/fuzz fuzz_pack_index fuzz_manifest fuzz_chunk_list fuzz_page_patch fuzz_wal_blocks fuzz_wal_summary \
  fuzz_sealed_object fuzz_credentials fuzz_binlog
# A pack tail seed, made by the real writer through the CLI.
seed_dir=$(mktemp -d)
trap 'rm -rf "$seed_dir"' EXIT
mkdir -p "$seed_dir/src" && echo seed > "$seed_dir/src/f"
# The CLI of the release build when there is one (the format is the same whatever the
# compiler; building the whole CLI again with clang costs minutes), else built here.
cli=${DBAAS_SEED_CLI:-build/release/apps/dbaas/dbaas}
if [ ! -x "$cli" ] && ninja -C build/fuzz dbaas >/dev/null 2>&1; then
  cli=build/fuzz/apps/dbaas/dbaas
fi
if [ -x "$cli" ]; then
  "$cli" repo init "$seed_dir/repo" >/dev/null
  "$cli" snapshot create --repo "$seed_dir/repo" --source "$seed_dir/src" >/dev/null
  pack=$(find "$seed_dir/repo/packs" -name '*.pack' | head -1)
  # Tail from the first blob: byte 0 of the seed encodes prefix 0.
  { printf '\x00'; tail -c +2 "$pack"; } > fuzz/seeds/pack_index/from_writer 2>/dev/null || true
  # A version-2 manifest without its trailer (the harness seals each input).
  manifest=$(find "$seed_dir/repo/snapshots" -name '*.manifest' | head -1)
  head -c -40 "$manifest" > fuzz/seeds/manifest/from_writer_body 2>/dev/null || true
fi
status=0
for target in pack_index manifest chunk_list page_patch wal_blocks wal_summary sealed_object credentials binlog; do
  corpus=fuzz/corpus-$target
  mkdir -p "$corpus"
  echo "fuzzing $target for ${seconds}s"
  if ! build/fuzz/fuzz/fuzz_$target -max_total_time="$seconds" -print_final_stats=1 \
      "$corpus" fuzz/seeds/$target > "build/fuzz/$target.log" 2>&1; then
    echo "FAILED: fuzz_$target found a crash; see build/fuzz/$target.log"
    tail -40 "build/fuzz/$target.log"
    status=1
  else
    grep -E 'stat::number_of_executed_units' "build/fuzz/$target.log" || true
  fi
done
exit $status
