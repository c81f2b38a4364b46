#!/usr/bin/env bash
# Removes the OS users of the instances under the given dbaasd data roots (each instance's
# os-user file names its user), for data roots thrown away without deleting their
# instances: the demo's and the benchmarks'. dbaasd removes a user with its instance; this
# is for what it never got to delete. Only users named dbaas-<8 hex> are touched, and only
# records dbaasd wrote: root's, directly in an instance's directory (a server's user can
# plant a file of that name in its own data directory, owned by itself, naming another's).
# Usage: scripts/remove-instance-users.sh DATA_ROOT...
#        scripts/remove-instance-users.sh --tool-root ROOT...   (the bench tools' --root:
#                                                               instance directories in it)
#        scripts/remove-instance-users.sh --instance DIR...     (instance directories)
set -uo pipefail
depth=5 pattern=('(' -path '*/instances/*/os-user' -o -path '*/drills/*/os-user'
  -o -path '*/members/*/*/os-user' ')')
case "${1:-}" in
  --tool-root) shift; depth=2 pattern=(-path '*/os-user') ;;
  --instance) shift; depth=1 pattern=(-path '*/os-user') ;;
esac
for root in "$@"; do
  [ -d "$root" ] || continue
  find "$root" -maxdepth "$depth" -type f -name os-user -user 0 "${pattern[@]}" 2>/dev/null |
    while read -r record; do
    user=$(head -c 64 "$record")
    [[ $user =~ ^dbaas-[0-9a-f]{8}$ ]] || continue
    id "$user" >/dev/null 2>&1 || continue
    # userdel refuses a user with processes: kill them and wait until they are gone. A
    # killed server with I/O in flight (InnoDB's asynchronous writes) can take seconds to
    # exit: wait up to 30 s, killing again meanwhile, and say so if the user stays.
    for _ in $(seq 300); do
      pkill -KILL -U "$user" 2>/dev/null
      pgrep -U "$user" >/dev/null || break
      sleep 0.1
    done
    if ! userdel "$user" 2>/dev/null && id "$user" >/dev/null 2>&1; then
      echo "remove-instance-users: could not remove OS user $user ($record): $(pgrep -U "$user" -a | head -3)" >&2
    fi
    groupdel "$user" 2>/dev/null
  done
done
exit 0
