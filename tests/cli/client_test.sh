#!/usr/bin/env bash
# End-to-end test of the CLI's client commands against a real dbaasd and PostgreSQL:
# instance create|ls|get|rm, backup create|ls|get|rm|pin|unpin|verify, schedule
# create|ls|rm, restore, job get|wait|ls, repository ls|backups|import|take-over (a
# loopback S3 bucket: tests/s3server); table and
# JSON output; exit codes of API errors (2 bad input, 3 not found, 1 conflict/other).
# Usage: client_test.sh PATH_TO_DBAAS PATH_TO_DBAASD PATH_TO_S3SERVER_DIR
set -euo pipefail
dbaas=$1
dbaasd=$2
s3server=$3
work=$(mktemp -d)
chmod 711 "$work"
mkdir -p "$work/s3"
node --openssl-legacy-provider "$s3server/server.js" --dir "$work/s3" --port-file "$work/s3-port" --bucket offsite \
  > "$work/s3.log" 2>&1 &
s3_pid=$!
for _ in $(seq 100); do [ -s "$work/s3-port" ] && break; sleep 0.1; done
printf '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' > "$work/credentials"
openssl rand -hex 32 > "$work/key"
chmod 600 "$work/credentials" "$work/key"
cat > "$work/dbaasd.json" <<JSON
{"repositories": [{"name": "offsite", "endpoint": "http://127.0.0.1:$(cat "$work/s3-port")",
  "bucket": "offsite", "credentialsFile": "$work/credentials",
  "encryption": {"keyFile": "$work/key"}}]}
JSON
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$dbaasd" --data-root "$work/data" --listen "127.0.0.1:$port" --log-level warn \
  --config "$work/dbaasd.json" 2>"$work/dbaasd.log" &
pid=$!
# The users (and servers) of instances a failed run left go too, even if dbaasd died.
remove_users="$(dirname "$0")/../../scripts/remove-instance-users.sh"
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; kill $s3_pid 2>/dev/null; "$remove_users" "$work/data" >/dev/null 2>&1; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
export DBAAS_SERVER=http://127.0.0.1:$port DBAAS_DATA_ROOT=$work/data
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
exits_with() {  # exits_with NAME CODE WORD COMMAND... : exit code CODE, WORD on stderr
  local name=$1 code=$2 word=$3; shift 3
  local err rc=0
  err=$("$@" 2>&1 >/dev/null) || rc=$?
  if [ "$rc" != "$code" ] || [[ "$err" != *"$word"* ]]; then
    echo "FAIL: $name (exit $rc, stderr: $err)"; fail=$((fail + 1))
  else
    pass=$((pass + 1))
  fi
}

out=$("$dbaas" instance create app --config work_mem=16MB)
check "create prints the instance" grep -q "status    running" <<<"$out"
check "ls lists it" bash -c "'$dbaas' instance ls | grep -q '^app  *postgresql  *running'"
check "instance resize" bash -c "'$dbaas' instance resize app 20Gi | grep -q '^size  *20Gi ('"
exits_with "resize below the usage" 2 "uses" "$dbaas" instance resize app 1Ki
j=$("$dbaas" -o json instance get app --show-secrets)
check "get -o json shows the password with --show-secrets" test "$(jq -r '.connection.password | length' <<<"$j")" -ge 32
check "get without --show-secrets hides it" bash -c "! '$dbaas' -o json instance get app | jq -e .connection.password >/dev/null"

b=$("$dbaas" -o json backup create app --name nightly --retention-days 7)
check "backup create -o json" test "$(jq -r .status <<<"$b")" = completed
check "backup's data in bytes" test "$(jq -r .dataBytes <<<"$b")" -gt 1000000
check "backup expires" test "$(jq -r .expiresAt <<<"$b")" != null
check "backup ls" bash -c "'$dbaas' backup ls app | grep -q '^nightly  *completed  *[0-9.]* [KMG]iB'"
check "backup get" bash -c "'$dbaas' -o json backup get app nightly | jq -e '.backupName == \"nightly\"' >/dev/null"

# Remote repositories: a copy made with the backup, listed in the bucket, restored from it.
b=$("$dbaas" -o json backup create app --name offsite-1 --copy-to offsite)
check "backup --copy-to" test "$(jq -r .copies.offsite.state <<<"$b")" = copied
check "repository ls" bash -c "'$dbaas' repository ls | grep -Eq '^offsite  *offsite  *yes  *yes  *[0-9.]+ [KMG]iB  *0 '"
check "repository backups" bash -c "'$dbaas' repository backups offsite | grep -Eq '^offsite-1  *app  *postgresql  *[0-9.]+ [KMG]iB  *[-0-9T:.Z]+  *yes  *no$'"
check "repository backups -o json" bash -c "'$dbaas' -o json repository backups offsite | jq -e '.[0].inCatalog and (.[0].importable | not)' >/dev/null"
check "repository import leaves what the catalog has" bash -c "'$dbaas' -o json repository import offsite | jq -e '.imported == [] and .skipped == []' >/dev/null"
check "repository take-over" bash -c "'$dbaas' repository take-over offsite | grep -q 'now holds the lease of repository offsite'"
r=$("$dbaas" -o json restore app offsite-1 --to app-far --from-repository offsite)
check "restore --from-repository" test "$(jq -r '.status + " " + .restoredFrom.backupName' <<<"$r")" = "running offsite-1"
"$dbaas" instance rm app-far >/dev/null
exits_with "unknown repository" 2 "not configured" "$dbaas" repository backups elsewhere
exits_with "copy to an unknown repository" 2 "not configured" "$dbaas" backup create app --copy-to elsewhere
exits_with "a volume snapshot on this machine" 2 "runs on this machine" "$dbaas" backup create app --into volumeSnapshot
exits_with "restore from an unknown repository" 2 "not configured" "$dbaas" restore app offsite-1 --to x --from-repository elsewhere
"$dbaas" backup rm app offsite-1 >/dev/null

r=$("$dbaas" -o json restore app nightly --to app-copy)
check "restore -o json" test "$(jq -r .restoredFrom.backupName <<<"$r")" = nightly
check "restored instance runs" test "$(jq -r .status <<<"$r")" = running

check "restore-point create" bash -c "'$dbaas' restore-point create app before-later | grep -q 'restore point before-later at'"
check "restore-point ls" bash -c "'$dbaas' restore-point ls app | grep -q '^before-later '"
check "recovery-window" bash -c "'$dbaas' recovery-window app | grep -q '^backups  *1'"
r=$("$dbaas" -o json restore app --restore-point before-later --to app-pitr)
check "restore --restore-point picks the backup" test "$(jq -r .restoredFrom.backupName <<<"$r")" = nightly
exits_with "restore with two targets" 108 "excludes" "$dbaas" restore app --latest --time 2026-01-01T00:00:00Z --to x
"$dbaas" instance rm app-pitr >/dev/null
job=$("$dbaas" -o json backup create app --name later --no-wait)
id=$(jq -r .id <<<"$job")
check "--no-wait returns the job" test -n "$id"
check "job wait" bash -c "'$dbaas' -o json job wait $id | jq -e '.status == \"succeeded\"' >/dev/null"
check "job get" bash -c "'$dbaas' job get $id | grep -q succeeded"
check "job ls" bash -c "'$dbaas' job ls | grep -q $id"

# Operations: schedules, pinning, restore drills.
s=$("$dbaas" -o json schedule create app --cron '0 2 * * *' --tz Europe/Paris --retention-days 7 --verify --into local)
sid=$(jq -r .id <<<"$s")
check "schedule create" test "$(jq -r .timeZone <<<"$s")" = Europe/Paris
check "schedule create --into" test "$(jq -r .repository <<<"$s")" = local
exits_with "a scheduled volume snapshot on this machine" 2 "runs on this machine" "$dbaas" schedule create app --cron '@daily' --into volumeSnapshot
check "schedule ls" bash -c "'$dbaas' schedule ls app | grep -q '^$sid  *0 2 \* \* \*  *Europe/Paris  *7 '"
exits_with "schedule with a bad cron" 2 "minute" "$dbaas" schedule create app --cron '99 * * * *'
exits_with "schedule in an unknown zone" 2 "time zone" "$dbaas" schedule create app --cron '@daily' --tz Mars/Base
check "schedule rm" bash -c "'$dbaas' schedule rm app $sid | grep -q 'deleted schedule $sid'"
exits_with "schedule rm twice" 3 "not found" "$dbaas" schedule rm app "$sid"
check "backup pin" bash -c "'$dbaas' -o json backup pin app nightly | jq -e '.pinned == true' >/dev/null"
check "backup unpin" bash -c "'$dbaas' -o json backup unpin app nightly | jq -e '.pinned == false' >/dev/null"
d=$("$dbaas" -o json backup verify app nightly)
check "backup verify passes" test "$(jq -r .status <<<"$d")" = passed
check "backup verify times it" bash -c "jq -e '.rtoSeconds > 0' >/dev/null <<<'$d'"
check "backup verify table" bash -c "'$dbaas' backup verify app nightly | grep -q '^checked by  *pg_amcheck'"
check "the drill is kept on the backup" bash -c "'$dbaas' backup get app nightly | grep -q '^last drill  *passed'"
exits_with "verify an unknown backup" 3 "not found" "$dbaas" backup verify app nope

# Branches (this data root is on the test's filesystem: a clone on XFS/btrfs, else a copy).
r=$("$dbaas" -o json instance branch app app-br --config work_mem=16MB)
check "branch -o json" test "$(jq -r .branchedFrom.instance <<<"$r")" = app
check "branch runs with its setting" test "$(jq -r '.status + " " + .config.work_mem' <<<"$r")" = "running 16MB"
check "branch table says how" bash -c "'$dbaas' instance branch app app-br2 --backup nightly | grep -Eq '^branch app-br2 made by (clone|copy) in'"
check "branch shows its parent" bash -c "'$dbaas' instance get app-br2 | grep -Eq '^branched from  *app as it was at .*backup nightly'"
check "branches lists them" test "$("$dbaas" instance branches app | grep -Ec '^app-br2?  *running  *app  *(clone|copy) ')" = 2
check "branches -o json" test "$("$dbaas" -o json instance branches app | jq length)" = 2
check "reset" bash -c "'$dbaas' instance reset app-br | grep -q '^branched from  *app as it was at'"
exits_with "reset of a non-branch" 1 "not a branch" "$dbaas" instance reset app
exits_with "branch onto a used name" 1 "already exists" "$dbaas" instance branch app app-br
exits_with "branch with two targets" 108 "excludes" "$dbaas" instance branch app x --latest --lsn 0/1
check "branch rm" bash -c "'$dbaas' instance rm app-br && '$dbaas' instance rm app-br2"

out=$("$dbaas" instance create ha --replicas 1)
check "create with a standby shows both members" bash -c "grep -q '^member ha  *primary' <<<\"\$1\" && grep -q '^member ha-2  *standby' <<<\"\$1\"" _ "$out"
check "replicate --synchronous" bash -c "'$dbaas' -o json instance replicate ha --synchronous true | jq -e '.synchronous == true' >/dev/null"
check "switchover" bash -c "'$dbaas' -o json instance switchover ha | jq -e '.primary == \"ha-2\"' >/dev/null"
for _ in $(seq 100); do  # the old primary rejoins and streams
  "$dbaas" -o json instance get ha | jq -e '.members[1].replication.state == "streaming"' >/dev/null && break
  sleep 0.2
done
check "backup from a standby" bash -c "'$dbaas' -o json backup create ha --from standby | jq -e '.member == \"ha\"' >/dev/null"
exits_with "backup from nowhere" 105 "not in {primary,standby}" "$dbaas" backup create ha --from elsewhere
exits_with "switchover to a stranger" 2 "not a standby" "$dbaas" instance switchover ha --to nope
exits_with "replicate without a change" 2 "nothing to change" "$dbaas" instance replicate ha
exits_with "standbys of MySQL" 2 "PostgreSQL's and MariaDB's" "$dbaas" instance create m --type mysql --replicas 1
check "rm of a replicated instance" "$dbaas" instance rm ha
exits_with "bad name" 2 "not valid" "$dbaas" instance create Bad_Name
exits_with "unknown type" 2 "unknown instance type" "$dbaas" instance create x --type oracle
exits_with "bad config pair" 2 "KEY=VALUE" "$dbaas" instance create x --config novalue
exits_with "unknown instance" 3 "not found" "$dbaas" instance get nope
exits_with "unknown backup" 3 "not found" "$dbaas" backup get app nope
exits_with "name in use" 1 "already exists" "$dbaas" instance create app
exits_with "restore onto a used name" 1 "already exists" "$dbaas" restore app nightly --to app
exits_with "json errors" 3 '"success":false' "$dbaas" -o json instance get nope
exits_with "wrong token" 1 "bearer token" env DBAAS_TOKEN=0000 "$dbaas" instance ls
exits_with "no daemon" 1 "cannot reach dbaasd" "$dbaas" --server http://127.0.0.1:1 instance ls

check "backup rm" bash -c "'$dbaas' backup rm app later | grep -q 'deleted backup later'"
check "instance rm keeps backups" bash -c "'$dbaas' instance rm app | grep -q '0 backups deleted'"
check "backups outlive the instance" bash -c "'$dbaas' backup ls app | grep -q nightly"
check "instance rm --delete-backups" bash -c "'$dbaas' instance rm app-copy --delete-backups | grep -q 'deleted instance app-copy'"
check "only app-copy's backups go" bash -c "'$dbaas' backup ls app | grep -q nightly"

echo "client_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
