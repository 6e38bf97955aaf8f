#!/usr/bin/env bash
# A private PostgreSQL server for the storage tests: Debian's postgresql binaries, a data folder
# and a unix socket in DIR (no TCP port, nothing shared with a system cluster), trust auth.
#
#   scripts/pg_test_server.sh DIR init      create DIR's cluster and database "fer_test", start it,
#                                           print the variables the tests read (eval them)
#   scripts/pg_test_server.sh DIR start|stop
#   scripts/pg_test_server.sh DIR remove    stop and delete DIR
#
# FER_TEST_PG_CTL is this script with DIR: the restart test appends stop, then start.
#
# As root (CI) the server runs as the postgres user, which initdb and postgres require.
set -euo pipefail

dir=${1:?usage: pg_test_server.sh DIR init|start|stop|remove}
cmd=${2:?usage: pg_test_server.sh DIR init|start|stop|remove}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[[ -n $bin ]] || { echo "pg_test_server.sh: PostgreSQL not installed (apt-get install postgresql)" >&2; exit 1; }
if [[ $(id -u) -eq 0 ]]; then as_owner=(runuser -u postgres --); user=postgres; else as_owner=(); user=$(id -un); fi

pg() { "${as_owner[@]}" "$bin/$1" "${@:2}"; }
ctl() { pg pg_ctl -D "$dir/data" -l "$dir/server.log" -w -t 60 "$@"; }
start() { ctl -o "-c listen_addresses='' -c unix_socket_directories='$dir'" start >/dev/null; }

case $cmd in
  init)
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    pg initdb -D "$dir/data" -U "$user" --auth=trust --encoding=UTF8 --no-locale >/dev/null
    start
    pg createdb -h "$dir" -U "$user" fer_test
    echo "export FER_TEST_PG_URL='postgresql+psycopg://$user@/fer_test?host=$dir'"
    echo "export FER_TEST_PG_CTL='$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/pg_test_server.sh $dir'"
    ;;
  start) start ;;
  stop) ctl -m fast stop >/dev/null ;;
  remove)
    [[ -f $dir/data/postmaster.pid ]] && ctl -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "pg_test_server.sh: unknown command $cmd" >&2; exit 2 ;;
esac
