#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on 127.0.0.1 (random port, random
# password, data in a temporary directory), run the given command with
# TISA_TEST_POSTGRES_URL pointing at it, then stop the server and remove it.
set -euo pipefail
pg_bin=$(dirname "$(ls -1d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
workdir=$(mktemp -d /tmp/tisa-pg.XXXXXX)
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
run_as=()
if [ "$(id -u)" -eq 0 ]; then
  # PostgreSQL refuses to run as root: run it as the postgres system user.
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$workdir"
  run_as=(runuser -u postgres --)
fi
chmod 700 "$workdir"
printf '%s\n' "$password" > "$workdir/pw"
[ "$(id -u)" -eq 0 ] && chown postgres "$workdir/pw"
cleanup() {
  "${run_as[@]}" "$pg_bin/pg_ctl" -D "$workdir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$workdir"
}
trap cleanup EXIT
"${run_as[@]}" "$pg_bin/initdb" -D "$workdir/data" -U tisa --auth=scram-sha-256 \
  --pwfile="$workdir/pw" -E UTF8 --locale=C.UTF-8 >/dev/null
"${run_as[@]}" "$pg_bin/pg_ctl" -D "$workdir/data" -l "$workdir/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$workdir -c fsync=off -c max_connections=200" \
  start >/dev/null
export TISA_TEST_POSTGRES_URL="postgresql://tisa:${password}@127.0.0.1:${port}/postgres"
echo "throwaway PostgreSQL on 127.0.0.1:${port}" >&2
"$@"
