# shellcheck shell=bash
# Helpers of the CLI's shell tests: each check counts as passed or failed, and the test
# ends with "N passed, M failed" and a non-zero exit when any failed.
pass=0
fail=0
check() {  # check NAME COMMAND... : the command must succeed
  local name=$1; shift
  if "$@"; then pass=$((pass + 1)); else echo "FAIL: $name"; fail=$((fail + 1)); fi
}
fails_with() {  # fails_with NAME WORD COMMAND... : must fail and say WORD on stderr
  local name=$1 word=$2; shift 2
  local err
  if err=$("$@" 2>&1 >/dev/null); then
    echo "FAIL: $name (succeeded)"; fail=$((fail + 1))
  elif [[ "$err" != *"$word"* ]]; then
    echo "FAIL: $name (stderr: $err)"; fail=$((fail + 1))
  else
    pass=$((pass + 1))
  fi
}
