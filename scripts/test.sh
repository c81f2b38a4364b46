#!/usr/bin/env bash
# The test command: installs what is needed, then builds and tests the release build and
# the ASan/UBSan build (warnings are errors in both), checks formatting, and runs every
# fuzzer for a short while. Set FUZZ_SECONDS=0 to skip fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
start=$(date +%s)

echo "== format check"
if ! git ls-files --cached --others --exclude-standard '*.cc' '*.h' | xargs clang-format --dry-run --Werror; then
  echo "clang-format: files above need formatting (run scripts/format.sh)"; exit 1
fi

# The torture loops (consistency under load, power loss at every sync point) run in the
# release build only: under ASan they take minutes and find nothing the release run and the
# ASan run of every other test do not (their full-size versions live in bench/). Two tests
# at a time, as the machine has two cores; every test makes its own ports and directories.
torture='UnderWriteLoad|UnderLoad|UnderTransferLoad|PowerLoss'
# The browser test too: the pages and the daemon's file routes are the same in both builds
# (the routes' own test, DashboardRoutesTest, runs under ASan); and openapi_test, which
# checks the answers' shapes against docs/api/openapi.yaml, the same in both builds (the
# routes run under ASan in api_test). CI's 90 minutes: a run took 83 on 2026-12-02.
torture="$torture|ui_browser_test|openapi_test"
for variant in release asan; do
  echo "== build $variant"
  scripts/build.sh "$variant"
  echo "== test $variant"
  exclude=()
  [ "$variant" = asan ] && exclude=(-E "$torture")
  (cd "build/$variant" && ctest -j2 --output-on-failure --timeout 900 "${exclude[@]}")
done

fuzz_seconds=${FUZZ_SECONDS:-12}
if [ "$fuzz_seconds" -gt 0 ]; then
  echo "== fuzz (${fuzz_seconds}s per target)"
  fuzz/run.sh "$fuzz_seconds"
fi
echo "== all tests passed in $(( $(date +%s) - start ))s"
