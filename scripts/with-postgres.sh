#!/usr/bin/env bash
# Runs a command next to a private PostgreSQL 15: installs it from apt if
# missing (idempotent), creates a throw-away cluster in a temporary
# directory, starts it (as the `postgres` user when run as root: PostgreSQL
# refuses root) on a free loopback port with TLS on, exports
#   DMP_TEST_POSTGRES_URL      superuser URL of its `postgres` database (no TLS)
#   DMP_TEST_POSTGRES_TLS_URL  the same over TLS, verified against the cluster's CA
#   DMP_TEST_POSTGRES_CA       that CA (PEM)
# runs the command, and stops and removes the cluster at the end (also on
# failure or interruption). The conformance tests create one database each.
# The cluster runs without fsync (throw-away test data) unless
# WITH_POSTGRES_FSYNC=on (benchmarks: durable commits, as in production).
#   usage: scripts/with-postgres.sh COMMAND [ARGS...]
set -euo pipefail
# shellcheck source=scripts/lib/services.sh
. "$(dirname "$0")/lib/services.sh"
PG_BIN=/usr/lib/postgresql/15/bin

if [ ! -x "$PG_BIN/postgres" ]; then
  echo "==> installing postgresql-15" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql-15 >/dev/null
fi

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

dir="$(mktemp -d /tmp/dmp-pg.XXXXXX)"
chmod 755 "$dir"
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
started=0
cleanup() {
  if [ "$started" = 1 ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A loopback port nobody listens on (never 5432: a system PostgreSQL may own it).
port="$(free_port)"

password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$password" >"$dir/pwfile"
[ "$(id -u)" = 0 ] && chown postgres: "$dir/pwfile"
as_pg "$PG_BIN/initdb" -D "$dir/data" -U dmp --pwfile="$dir/pwfile" --auth=scram-sha-256 \
  --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
rm -f "$dir/pwfile"

# TLS: a private CA and a server certificate for 127.0.0.1 / localhost.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=dmp test postgres CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$dir/data/server.key" -out "$dir/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$dir/ext.cnf"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
  -days 2 -extfile "$dir/ext.cnf" -out "$dir/data/server.crt" 2>/dev/null
chmod 600 "$dir/data/server.key" "$dir/ca.key"
chmod 644 "$dir/ca.pem"
[ "$(id -u)" = 0 ] && chown postgres: "$dir/data/server.key" "$dir/data/server.crt"

# Throw-away data: no fsync (unless WITH_POSTGRES_FSYNC=on). Enough
# connections for parallel tests (each store keeps a small pool) and for a
# few server nodes.
case "${WITH_POSTGRES_FSYNC:-off}" in
  on) durability="-c fsync=on -c full_page_writes=on" ;;
  off) durability="-c fsync=off -c full_page_writes=off" ;;
  *) echo "with-postgres: WITH_POSTGRES_FSYNC must be on or off" >&2; exit 2 ;;
esac
as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400 $durability \
      -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key" \
  start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
started=1

export DMP_TEST_POSTGRES_URL="postgres://dmp:$password@127.0.0.1:$port/postgres?sslmode=disable"
export DMP_TEST_POSTGRES_TLS_URL="postgres://dmp:$password@127.0.0.1:$port/postgres?sslmode=require&sslrootcert=$dir/ca.pem"
export DMP_TEST_POSTGRES_CA="$dir/ca.pem"
echo "==> PostgreSQL 15 on 127.0.0.1:$port (data in $dir, fsync ${WITH_POSTGRES_FSYNC:-off})" >&2

# In the background so that a SIGTERM or SIGINT sent to this script alone is
# forwarded to the command at once, and the service still stops afterwards.
run_forwarding "$@"
