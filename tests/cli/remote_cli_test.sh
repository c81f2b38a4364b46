#!/usr/bin/env bash
# End-to-end test of `dbaas remote`: a local repository's snapshots pushed to an S3 bucket
# (the loopback s3rver behind the signature-checking front, tests/s3server), listed, pulled
# into a fresh repository and restored; a push killed with SIGKILL mid-upload leaves no
# snapshot; clear errors on bad input.
# Usage: remote_cli_test.sh PATH_TO_DBAAS PATH_TO_S3SERVER_DIR
set -euo pipefail
dbaas=$1
s3server=$2
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

mkdir -p "$work/s3"
node --openssl-legacy-provider "$s3server/server.js" --dir "$work/s3" --port-file "$work/port" \
  > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
endpoint="http://127.0.0.1:$(cat "$work/port")"

printf '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' > "$work/credentials"
chmod 600 "$work/credentials"
openssl rand -hex 32 > "$work/key"
chmod 600 "$work/key"
cat > "$work/remote.json" <<JSON
{"name": "offsite", "endpoint": "$endpoint", "bucket": "offsite", "region": "eu-west-1",
 "credentialsFile": "$work/credentials", "encryption": {"keyFile": "$work/key"}}
JSON

mkdir -p "$work/src/dir"
head -c 20000000 /dev/urandom > "$work/src/data"
echo hello > "$work/src/dir/hello"
"$dbaas" repo init "$work/repo" >/dev/null
id=$("$dbaas" snapshot create --repo "$work/repo" --source "$work/src" --name first)

check "init with bucket" "$dbaas" remote init --remote "$work/remote.json" --create-bucket
fails_with "init twice" "already holds" "$dbaas" remote init --remote "$work/remote.json"
json=$("$dbaas" remote push --remote "$work/remote.json" --repo "$work/repo" first -o json)
check "push sends every blob" test "$(jq -r '.blobs_sent == .blobs and .blobs > 100' <<<"$json")" = true
check "push again is a no-op" test "$("$dbaas" remote push --remote "$work/remote.json" --repo "$work/repo" "$id" -o json | jq .already_there)" = true
check "ls lists it" test "$("$dbaas" remote ls --remote "$work/remote.json" -o json | jq -r '.[0].name')" = first
check "verify" "$dbaas" remote verify --remote "$work/remote.json"
check "nothing readable in the bucket" bash -c "! grep -rq hello '$work/s3/offsite'"

"$dbaas" repo init "$work/other" >/dev/null
check "pull" "$dbaas" remote pull --remote "$work/remote.json" --repo "$work/other" first
check "restore the pulled snapshot" "$dbaas" snapshot restore --repo "$work/other" "$id" "$work/out"
check "restored equal" diff -r "$work/src" "$work/out"

# Another daemon's repository may not write without taking the lease over.
fails_with "second writer refused" "leased to writer" "$dbaas" remote gc --remote "$work/remote.json" --repo "$work/other"
check "taken over explicitly" "$dbaas" remote lease --remote "$work/remote.json" --repo "$work/other" --take-over
fails_with "the first writer is now refused" "leased to writer" "$dbaas" remote gc --remote "$work/remote.json" --repo "$work/repo"
check "and takes it back" "$dbaas" remote lease --remote "$work/remote.json" --repo "$work/repo" --take-over

# A push killed mid-upload (every put held 1 s by the front): no snapshot appears.
head -c 30000000 /dev/urandom > "$work/src/more"
id2=$("$dbaas" snapshot create --repo "$work/repo" --source "$work/src" --name second)
curl -sf -X POST --data '{"method":"PUT","delayMs":1000,"count":1000}' "$endpoint/__faults" >/dev/null
"$dbaas" remote push --remote "$work/remote.json" --repo "$work/repo" "$id2" >/dev/null 2>&1 &
push_pid=$!
sleep 1.5
check "the push was still running" kill -9 "$push_pid"
wait "$push_pid" 2>/dev/null || true
curl -sf -X DELETE "$endpoint/__faults" >/dev/null
check "killed push left no snapshot" test "$("$dbaas" remote ls --remote "$work/remote.json" -o json | jq length)" = 1
check "verify after the kill" "$dbaas" remote verify --remote "$work/remote.json"
check "push after the kill" "$dbaas" remote push --remote "$work/remote.json" --repo "$work/repo" second
check "two snapshots" test "$("$dbaas" remote ls --remote "$work/remote.json" -o json | jq length)" = 2
check "rm" "$dbaas" remote rm --remote "$work/remote.json" --repo "$work/repo" second
check "gc leaves new objects alone" test "$("$dbaas" remote gc --remote "$work/remote.json" --repo "$work/repo" -o json | jq '.packs_deleted')" = 0
check "gc frees the second's data" test "$("$dbaas" remote gc --remote "$work/remote.json" --repo "$work/repo" --grace 0 -o json | jq '.packs_deleted > 0')" = true
check "verify after gc" "$dbaas" remote verify --remote "$work/remote.json"

# Re-keyed to a passphrase: the old key no longer opens it, the new one does.
printf 'a passphrase for the bucket\n' > "$work/passphrase"
chmod 600 "$work/passphrase"
check "rekey" "$dbaas" remote rekey --remote "$work/remote.json" --repo "$work/repo" --new-passphrase-file "$work/passphrase"
fails_with "old key refused" "does not open" "$dbaas" remote ls --remote "$work/remote.json"
jq --arg p "$work/passphrase" '.encryption = {passphraseFile: $p}' "$work/remote.json" > "$work/remote2.json"
check "new passphrase opens it" test "$("$dbaas" remote ls --remote "$work/remote2.json" -o json | jq length)" = 1

# WAL goes with the snapshots (the archive a server left in the local repository).
mkdir -p "$work/repo/wal"
check "wal-push with no archives" test "$("$dbaas" remote wal-push --remote "$work/remote2.json" --repo "$work/repo" -o json | jq .files)" = 0
fails_with "wal-pull of a bad archive id" "not a WAL archive id" "$dbaas" remote wal-pull --remote "$work/remote2.json" --repo "$work/other" --archive ../x

# Bad input: clear errors, nothing changed.
chmod 644 "$work/credentials"
fails_with "credentials readable by others" "chmod 600" "$dbaas" remote ls --remote "$work/remote2.json"
chmod 600 "$work/credentials"
jq '.colour = "blue"' "$work/remote2.json" > "$work/bad.json"
fails_with "unknown field" "unknown field 'colour'" "$dbaas" remote ls --remote "$work/bad.json"
jq '.bucket = "Not_A_Bucket"' "$work/remote2.json" > "$work/bad.json"
fails_with "bad bucket name" "not a valid bucket name" "$dbaas" remote ls --remote "$work/bad.json"
jq 'del(.encryption)' "$work/remote2.json" > "$work/bad.json"
fails_with "no key for an encrypted bucket" "is encrypted" "$dbaas" remote ls --remote "$work/bad.json"
fails_with "unknown snapshot" "not found" "$dbaas" remote pull --remote "$work/remote2.json" --repo "$work/other" nosuch
check "json error shape" bash -c "'$dbaas' remote ls --remote '$work/bad.json' -o json 2>&1 >/dev/null | jq -e '.success == false' >/dev/null"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
