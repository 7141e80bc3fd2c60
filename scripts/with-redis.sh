#!/usr/bin/env bash
# Runs a command next to a private Redis 7: installs redis-server from apt
# if missing (idempotent), starts it in a temporary directory on a free
# loopback port with a random password and TLS on a second port (a private
# CA), no persistence, exports
#   DMP_TEST_REDIS_URL      redis://default:PASSWORD@127.0.0.1:PORT
#   DMP_TEST_REDIS_TLS_URL  rediss://default:PASSWORD@127.0.0.1:TLS_PORT
#   DMP_TEST_REDIS_CA       the CA of its certificate (PEM)
# runs the command, and stops Redis and removes its directory at the end
# (also on failure or interruption). Tests keep apart by key prefix and
# database number, never by flushing.
#   usage: scripts/with-redis.sh COMMAND [ARGS...]
set -euo pipefail
# shellcheck source=scripts/lib/services.sh
. "$(dirname "$0")/lib/services.sh"

if ! command -v redis-server >/dev/null 2>&1; then
  echo "==> installing redis-server" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server >/dev/null
fi

dir="$(mktemp -d /tmp/dmp-redis.XXXXXX)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port="$(free_port)"
tls_port="$(free_port)"
[ "$tls_port" != "$port" ] || tls_port="$(free_port)"
password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

test_certificates "$dir" "dmp test redis CA"

cat >"$dir/redis.conf" <<CONF
bind 127.0.0.1
port $port
tls-port $tls_port
tls-cert-file $dir/server.crt
tls-key-file $dir/server.key
tls-ca-cert-file $dir/ca.pem
tls-auth-clients no
requirepass $password
dir $dir
save ""
appendonly no
databases 64
maxclients 4000
CONF
redis-server "$dir/redis.conf" >"$dir/redis.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  if redis-cli -p "$port" --no-auth-warning -a "$password" ping 2>/dev/null | grep -q PONG; then
    break
  fi
  kill -0 "$pid" 2>/dev/null || { cat "$dir/redis.log" >&2; exit 1; }
  sleep 0.1
done
redis-cli -p "$port" --no-auth-warning -a "$password" ping 2>/dev/null | grep -q PONG \
  || { cat "$dir/redis.log" >&2; echo "with-redis: Redis did not start" >&2; exit 1; }

export DMP_TEST_REDIS_URL="redis://default:$password@127.0.0.1:$port"
export DMP_TEST_REDIS_TLS_URL="rediss://default:$password@127.0.0.1:$tls_port"
export DMP_TEST_REDIS_CA="$dir/ca.pem"
echo "==> Redis on 127.0.0.1:$port (TLS on $tls_port, data in $dir)" >&2

# In the background so that a SIGTERM or SIGINT sent to this script alone is
# forwarded to the command at once, and the service still stops afterwards.
run_forwarding "$@"
