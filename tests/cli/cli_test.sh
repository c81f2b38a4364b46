#!/usr/bin/env bash
# End-to-end test of the offline CLI: the exact commands of the snapshot repository, their
# JSON output, and clear errors with non-zero exits on bad input.
# Usage: cli_test.sh PATH_TO_DBAAS
set -euo pipefail
dbaas=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

mkdir -p "$work/src/dir"
head -c 3000000 /dev/urandom > "$work/src/data"
echo hello > "$work/src/dir/hello"
ln -s data "$work/src/link"

check "init" "$dbaas" repo init "$work/repo"
fails_with "init twice" "not empty" "$dbaas" repo init "$work/repo"
fails_with "bad chunk size" "power of two" "$dbaas" repo init "$work/r2" --chunk-size 1000

json=$("$dbaas" snapshot create --repo "$work/repo" --source "$work/src" --name first -o json)
id=$(jq -r .id <<<"$json")
check "create json has fields" test "$(jq -r '[.files, .logical_bytes, .stored_bytes, .seconds] | map(type) | join(",")' <<<"$json")" = "number,number,number,number"
check "create counts files" test "$(jq -r .files <<<"$json")" = 2
plain_id=$("$dbaas" snapshot create --repo "$work/repo" --source "$work/src")
check "plain create prints the id" test "${#plain_id}" = 16
check "ls lists both" test "$("$dbaas" snapshot ls --repo "$work/repo" -o json | jq length)" = 2
check "ls table" bash -c "'$dbaas' snapshot ls --repo '$work/repo' | grep -q first"

check "restore by name" "$dbaas" snapshot restore --repo "$work/repo" first "$work/out"
check "restored equal" diff -r "$work/src" "$work/out"
check "restored link" test "$(readlink "$work/out/link")" = data
fails_with "restore into non-empty" "not empty" "$dbaas" snapshot restore --repo "$work/repo" "$id" "$work/out"
echo changed > "$work/out/dir/hello"
check "delta restore" "$dbaas" snapshot restore --repo "$work/repo" "$id" "$work/out" --delta
check "delta restored equal" diff -r "$work/src" "$work/out"

check "verify" "$dbaas" repo verify "$work/repo"
check "stats json" test "$("$dbaas" repo stats "$work/repo" -o json | jq .snapshots)" = 2
check "rm" "$dbaas" snapshot rm --repo "$work/repo" "$plain_id"
check "gc" "$dbaas" repo gc "$work/repo"
check "verify after gc" "$dbaas" repo verify "$work/repo"
# Snapshots made here have no page patches (no change map): nothing to compact.
check "compact finds nothing to do" test "$("$dbaas" repo compact "$work/repo" -o json | jq -c '[.patches_compacted, .packs_rewritten]')" = "[0,0]"

fails_with "unknown snapshot" "not found" "$dbaas" snapshot restore --repo "$work/repo" nosuch "$work/o2"
fails_with "not a repo" "not a repository" "$dbaas" snapshot ls --repo "$work/src"
fails_with "missing source" "No such file" "$dbaas" snapshot create --repo "$work/repo" --source "$work/none"
fails_with "bad mode" "mode" "$dbaas" snapshot create --repo "$work/repo" --source "$work/src" --mode weird
check "json error shape" bash -c "'$dbaas' snapshot ls --repo '$work/none' -o json 2>&1 >/dev/null | jq -e '.success == false and .error.code == \"not found\"' >/dev/null"

# A flipped byte in a pack: verify exits non-zero and names the pack.
pack=$(find "$work/repo/packs" -name '*.pack' | head -1)
# Flip (xor 0xff), not overwrite: the byte there may already be 0xff.
byte=$(od -An -tu1 -j20 -N1 "$pack" | tr -d ' ')
printf "\\$(printf '%03o' $((byte ^ 255)))" | dd of="$pack" bs=1 seek=20 conv=notrunc status=none
check "the byte changed" test "$(od -An -tu1 -j20 -N1 "$pack" | tr -d ' ')" = $((byte ^ 255))
fails_with "verify finds flipped byte" "$(basename "$pack" .pack)" "$dbaas" repo verify "$work/repo"

# dbaas kube objects: an instance's objects on Kubernetes, offline.
objects=$("$dbaas" kube objects orders --size 20Gi --image registry.example/dbaas:1)
check "kube objects: seven, the namespace first" test "$(jq -c '[(.items | length), .items[0].kind]' <<<"$objects")" = '[7,"Namespace"]'
check "kube objects: the claim's size" test "$(jq -r '.items[] | select(.kind == "StatefulSet") | .spec.volumeClaimTemplates[0].spec.resources.requests.storage' <<<"$objects")" = 20Gi
fails_with "kube objects: a name too long" "at most 35" "$dbaas" kube objects "$(printf 'a%.0s' {1..36})" --image x
fails_with "kube objects: no image" "kubernetes.image" "$dbaas" kube objects orders
fails_with "kube objects: a bad size" "not a quantity of bytes" "$dbaas" kube objects orders --size 10GB --image x
fails_with "kube objects: a size past 2^64 bytes" "not a quantity of bytes" "$dbaas" kube objects orders --size 16777217Ti --image x
fails_with "kube preflight: outside a cluster" "KUBERNETES_SERVICE_HOST" env -u KUBERNETES_SERVICE_HOST "$dbaas" kube preflight

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
