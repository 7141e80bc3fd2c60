#!/usr/bin/env bash
# Runs a DMP cluster on this machine (docs/deployment.md, "Cluster"): a
# private PostgreSQL 15, a private Redis 7, DMP_NODES dmp-server nodes and
# HAProxy in front of them, all on loopback ports and over TLS (a local CA
# made here signs the nodes' and the load balancer's certificates), with the
# demo data loaded once. Installs postgresql-15, redis-server, haproxy,
# openssl, curl and socat from apt when missing (idempotent) and builds
# dmp-server in release mode unless DMP_SERVER_BIN names a binary.
#
# Once every node answers /readyz and HAProxy sees them all up, it prints on
# stdout exactly one line `cluster on https://ADDR` (the load balancer) and
# one line `CA file: PATH` (the CA clients trust: dmp --ca-file, DMP_CA_FILE),
# then runs until SIGINT or SIGTERM, or until its parent process is gone, and
# stops everything it started (HAProxy, the nodes, Redis, PostgreSQL; also
# what `ctl` restarted). Progress and errors go to stderr.
#
#   usage: scripts/cluster.sh                  start, in the foreground
#          scripts/cluster.sh ctl DIR CMD...   act on the running cluster in DIR
#
# Environment:
#   DMP_NODES         number of nodes, 1 to 9 (default 2); their node_id: a, b, c…
#   DMP_CLUSTER_PORT  HAProxy's port on 127.0.0.1 (default 9443; 0 picks a free one)
#   DMP_CLUSTER_DIR   working directory, empty or absent (default: a new temporary
#                     directory, removed at the end; a given one is kept, with its logs)
#   DMP_SERVER_BIN    the dmp-server binary (default: cargo build --release)
#   other DMP_*       server settings passed to every node and admin command
#                     (e.g. DMP_LOGIN__MAX_FAILURES=3)
#
# DIR holds cluster.json (addresses and the CA file; no secret), dmp.toml (the
# configuration every node shares: database_url, redis_url, data_dir,
# trusted_proxies, TLS files; 0600), data/ (the shared data_dir: jwt.key,
# attachments), tls/ (ca.pem, the nodes' and HAProxy's certificates),
# haproxy.cfg (made from deploy/haproxy.cfg.in), and the logs: node-ID.log,
# haproxy.log, redis.log, postgres.log. PostgreSQL's files live in their own
# temporary directory (the `postgres` user must reach them), always removed.
#
# Control commands (CMD), for operators and for the fault tests
# (client/tests/cluster.rs); NODE is a node id (a, b…):
#   status                        each piece, up or down
#   url lb|NODE                   https://127.0.0.1:PORT of the load balancer or of a node
#   kill-node NODE                SIGKILL: a crash
#   stop-node NODE                SIGTERM: a graceful stop (WebSockets closed with 1001)
#   start-node NODE               starts a stopped node on its port; returns once it
#                                 answers /readyz and HAProxy sees it up
#   drain-node NODE               HAProxy gives it no new connection (existing ones stay)
#   ready-node NODE               HAProxy balances to it again
#   wait-lb NODE up|down          waits until HAProxy sees the node so (30 s at most)
#   stop|kill|start|restart redis|postgres
#                                 stop: clean shutdown; kill: SIGKILL for Redis,
#                                 immediate (crash-like) shutdown for PostgreSQL;
#                                 start returns once it answers; restart = stop + start
#   lb COMMAND...                 one HAProxy runtime API command (e.g. `lb show stat`)
#   cli ARGS...                   a dmp-server admin command with the cluster's
#                                 configuration (e.g. `cli user disable patient_123`)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/lib/services.sh
. "$ROOT/scripts/lib/services.sh"
PG_BIN=/usr/lib/postgresql/15/bin
POOL=8 # database_pool_size of every node

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'cluster: %s\n' "$*" >&2; exit 1; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A loopback port nobody listens on, outside the ephemeral range (see
# port_candidate), not handed out before either: pick_port VAR.
TAKEN=" "
pick_port() {
  local candidate
  for _ in $(seq 1 100); do
    candidate=$(port_candidate)
    if [[ "$TAKEN" != *" $candidate "* ]] && port_free "$candidate"; then
      TAKEN+="$candidate "
      printf -v "$1" '%s' "$candidate"
      return
    fi
  done
  die "no free port found"
}

secret() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
# A TOML or JSON basic string.
quoted() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }

# --- processes: pid files hold "PID STARTTIME" so that a reused pid is never signalled.
starttime() {
  local s
  s="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  s="${s##*) }"
  # shellcheck disable=SC2086
  set -- $s
  [ "$1" != Z ] || return 1 # a zombie has exited
  echo "${20}"
}
record_pid() { echo "$1 $(starttime "$1" || echo 0)" >"$2"; }
# The pid of a pid file if that process still runs.
live_pid() {
  local pid start
  [ -f "$1" ] || return 1
  read -r pid start <"$1" || return 1
  [ "$(starttime "$pid" 2>/dev/null)" = "$start" ] && echo "$pid"
}
# Signals the process of a pid file and waits (up to $3 s) until it is gone,
# then SIGKILLs it; removes the pid file.
stop_pidfile() {
  local file=$1 sig=$2 secs=${3:-15} pid
  if pid="$(live_pid "$file")"; then
    kill "-$sig" "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + secs))
    while live_pid "$file" >/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    if live_pid "$file" >/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      while live_pid "$file" >/dev/null; do sleep 0.1; done
    fi
  fi
  rm -f "$file"
}

# --- the pieces (DIR and the state of cluster.env are set)
node_url() { local p="PORT_$1"; echo "https://127.0.0.1:${!p}"; }

ready() { curl -fsS --max-time 2 --cacert "$DIR/tls/ca.pem" "$1/readyz" >/dev/null 2>&1; }

start_node() {
  local id=$1 port="PORT_$1" metrics="METRICS_$1"
  (
    # shellcheck disable=SC1091
    . "$DIR/env.sh"
    export DMP_NODE_ID="$id" DMP_METRICS_BIND="127.0.0.1:${!metrics}"
    exec "$BIN" --config "$DIR/dmp.toml" serve --bind "127.0.0.1:${!port}"
  ) >>"$DIR/node-$id.log" 2>&1 </dev/null &
  record_pid $! "$DIR/node-$id.pid"
}

wait_node() {
  local id=$1 deadline=$((SECONDS + 90)) url
  url="$(node_url "$id")"
  until ready "$url"; do
    if ! live_pid "$DIR/node-$id.pid" >/dev/null; then
      tail -n 20 "$DIR/node-$id.log" >&2
      die "node $id exited (log: $DIR/node-$id.log)"
    fi
    [ "$SECONDS" -lt "$deadline" ] || die "node $id not ready after 90 s (log: $DIR/node-$id.log)"
    sleep 0.2
  done
}

redis_ping() { REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

start_redis() {
  redis-server "$DIR/redis.conf" >>"$DIR/redis.log" 2>&1 </dev/null &
  record_pid $! "$DIR/redis.pid"
  local deadline=$((SECONDS + 30))
  until redis_ping; do
    live_pid "$DIR/redis.pid" >/dev/null || { tail -n 20 "$DIR/redis.log" >&2; die "redis exited"; }
    [ "$SECONDS" -lt "$deadline" ] || die "redis not ready after 30 s"
    sleep 0.1
  done
}

start_pg() {
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=$PG_MAX_CONN" \
    start >/dev/null || { tail -n 20 "$PG_DIR/postgres.log" >&2; die "PostgreSQL did not start"; }
}
stop_pg() { # fast | immediate
  [ -f "$PG_DIR/data/postmaster.pid" ] || return 0
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m "$1" -w -t 30 stop >/dev/null 2>&1 ||
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
}
pg_up() { as_pg "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null; }

start_haproxy() {
  haproxy -db -f "$DIR/haproxy.cfg" >>"$DIR/haproxy.log" 2>&1 </dev/null &
  record_pid $! "$DIR/haproxy.pid"
}

lb_cmd() { printf '%s\n' "$*" | socat -t 5 stdio "unix-connect:$DIR/haproxy.sock"; }
# HAProxy's view of a node: UP, DOWN, DRAIN, MAINT, … (first word).
lb_status() {
  lb_cmd "show stat" 2>/dev/null |
    awk -F, -v s="node-$1" '$1 == "dmp_nodes" && $2 == s { split($18, w, " "); print w[1] }'
}
wait_lb() { # NODE up|down
  local want deadline=$((SECONDS + 30)) got=""
  want="$(echo "$2" | tr '[:lower:]' '[:upper:]')"
  while :; do
    got="$(lb_status "$1" || true)"
    [ "$got" = "$want" ] && return 0
    [ "$SECONDS" -lt "$deadline" ] || die "HAProxy sees node $1 as '${got:-?}', not $want, after 30 s"
    sleep 0.2
  done
}

known_node() { [[ " $NODES " == *" $1 "* ]] || die "no node '$1' (nodes: $NODES)"; }

# ---------------------------------------------------------------- ctl
if [ "${1:-}" = ctl ]; then
  [ $# -ge 3 ] || die "usage: $0 ctl DIR CMD [ARGS...] (see the header of $0)"
  DIR="$(cd "$2" && pwd)" || die "no directory $2"
  [ -f "$DIR/cluster.env" ] || die "$DIR holds no running cluster (no cluster.env)"
  # shellcheck disable=SC1091
  . "$DIR/cluster.env"
  cmd=$3
  shift 3
  case "$cmd" in
    status)
      for id in $NODES; do
        if live_pid "$DIR/node-$id.pid" >/dev/null; then s=up; else s=down; fi
        echo "node $id $s $(node_url "$id") (load balancer: $(lb_status "$id" || true))"
      done
      if live_pid "$DIR/redis.pid" >/dev/null; then s=up; else s=down; fi
      echo "redis $s 127.0.0.1:$REDIS_PORT"
      if pg_up; then s=up; else s=down; fi
      echo "postgres $s 127.0.0.1:$PG_PORT"
      if live_pid "$DIR/haproxy.pid" >/dev/null; then s=up; else s=down; fi
      echo "haproxy $s https://127.0.0.1:$LB_PORT"
      ;;
    url)
      case "${1:-}" in
        lb) echo "https://127.0.0.1:$LB_PORT" ;;
        *) known_node "${1:-}"; node_url "$1" ;;
      esac
      ;;
    kill-node) known_node "${1:-}"; stop_pidfile "$DIR/node-$1.pid" KILL 5 ;;
    stop-node) known_node "${1:-}"; stop_pidfile "$DIR/node-$1.pid" TERM 20 ;;
    start-node)
      known_node "${1:-}"
      ! live_pid "$DIR/node-$1.pid" >/dev/null || die "node $1 is running"
      start_node "$1"
      wait_node "$1"
      wait_lb "$1" up
      ;;
    drain-node) known_node "${1:-}"; lb_cmd "set server dmp_nodes/node-$1 state drain" >/dev/null ;;
    ready-node) known_node "${1:-}"; lb_cmd "set server dmp_nodes/node-$1 state ready" >/dev/null ;;
    wait-lb) known_node "${1:-}"; wait_lb "$1" "${2:?up or down}" ;;
    lb) lb_cmd "$*" ;;
    cli)
      # shellcheck disable=SC1091
      . "$DIR/env.sh"
      exec "$BIN" --config "$DIR/dmp.toml" "$@"
      ;;
    stop | kill | start | restart)
      what="${1:-}"
      case "$cmd:$what" in
        stop:redis) stop_pidfile "$DIR/redis.pid" TERM 15 ;;
        kill:redis) stop_pidfile "$DIR/redis.pid" KILL 5 ;;
        start:redis) start_redis ;;
        restart:redis) stop_pidfile "$DIR/redis.pid" TERM 15; start_redis ;;
        stop:postgres) stop_pg fast ;;
        kill:postgres) stop_pg immediate ;;
        start:postgres) start_pg ;;
        restart:postgres) stop_pg fast; start_pg ;;
        *) die "usage: $cmd redis|postgres" ;;
      esac
      ;;
    *) die "unknown command '$cmd' (see the header of $0)" ;;
  esac
  exit 0
fi

# ---------------------------------------------------------------- start
[ $# -eq 0 ] || die "usage: $0 (no argument), or $0 ctl DIR CMD... (see the header of $0)"
NODE_COUNT="${DMP_NODES:-2}"
[[ "$NODE_COUNT" =~ ^[1-9]$ ]] || die "DMP_NODES must be 1 to 9, not '$NODE_COUNT'"
NODES="$(echo a b c d e f g h i | cut -d' ' -f1-"$NODE_COUNT")"
LB_PORT="${DMP_CLUSTER_PORT:-9443}"
[[ "$LB_PORT" =~ ^[0-9]+$ ]] || die "DMP_CLUSTER_PORT must be a port number"
parent=$PPID

apt_ensure postgresql-15 redis-server haproxy openssl curl socat

if [ -n "${DMP_SERVER_BIN:-}" ]; then
  BIN="$(cd "$(dirname "$DMP_SERVER_BIN")" && pwd)/$(basename "$DMP_SERVER_BIN")"
  [ -x "$BIN" ] || die "DMP_SERVER_BIN=$DMP_SERVER_BIN is not an executable"
else
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dmp-target}"
  log "building dmp-server (release)"
  (cd "$ROOT" && cargo build --release --locked -p dmp-server >&2)
  BIN="$CARGO_TARGET_DIR/release/dmp-server"
fi

own_dir=0
if [ -n "${DMP_CLUSTER_DIR:-}" ]; then
  mkdir -p "$DMP_CLUSTER_DIR"
  DIR="$(cd "$DMP_CLUSTER_DIR" && pwd)"
  [ -z "$(ls -A "$DIR")" ] || die "DMP_CLUSTER_DIR=$DIR is not empty"
else
  DIR="$(mktemp -d /tmp/dmp-cluster.XXXXXX)"
  own_dir=1
fi
chmod 700 "$DIR"
PG_DIR="$(mktemp -d /tmp/dmp-cluster-pg.XXXXXX)"
chmod 755 "$PG_DIR"
[ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR"

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  [ "$status" = 0 ] || [ "$status" -ge 128 ] || log "cluster failed; logs in $DIR"
  stop_pidfile "$DIR/haproxy.pid" TERM 5
  local stops=()
  for id in $NODES; do
    stop_pidfile "$DIR/node-$id.pid" TERM 20 &
    stops+=($!)
  done
  [ "${#stops[@]}" = 0 ] || wait "${stops[@]}"
  stop_pidfile "$DIR/redis.pid" TERM 10
  stop_pg fast
  cp "$PG_DIR/postgres.log" "$DIR/postgres.log" 2>/dev/null
  rm -rf "$PG_DIR"
  rm -f "$DIR/cluster.env" "$DIR/haproxy.sock"
  # A failed run keeps its directory: the log line above points at it.
  if [ "$own_dir" = 1 ] && { [ "$status" = 0 ] || [ "$status" -ge 128 ]; }; then rm -rf "$DIR"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- ports and secrets
if [ "$LB_PORT" = 0 ]; then
  pick_port LB_PORT
else
  port_free "$LB_PORT" || die "port $LB_PORT is in use (set DMP_CLUSTER_PORT, 0 for a free one)"
  TAKEN+="$LB_PORT "
fi
pick_port PG_PORT
pick_port REDIS_PORT
for id in $NODES; do
  pick_port "PORT_$id"
  pick_port "METRICS_$id"
done
PG_MAX_CONN=$((NODE_COUNT * POOL + 30))
REDIS_PASSWORD="$(secret)"
PG_PASSWORD="$(secret)"
{
  echo "BIN=$(printf '%q' "$BIN")"
  echo "NODES='$NODES'"
  echo "PG_DIR=$(printf '%q' "$PG_DIR")"
  echo "PG_PORT=$PG_PORT PG_MAX_CONN=$PG_MAX_CONN REDIS_PORT=$REDIS_PORT LB_PORT=$LB_PORT"
  echo "REDIS_PASSWORD=$REDIS_PASSWORD"
  for id in $NODES; do
    port="PORT_$id" metrics="METRICS_$id"
    echo "$port=${!port} $metrics=${!metrics}"
  done
} >"$DIR/cluster.env"
chmod 600 "$DIR/cluster.env"
# shellcheck disable=SC1091
. "$DIR/cluster.env"
# The DMP_* settings of this environment, for the nodes `ctl` starts again.
for name in $(compgen -e | grep '^DMP_' || true); do
  case "$name" in DMP_NODES | DMP_CLUSTER_* | DMP_SERVER_BIN) continue ;; esac
  declare -p "$name"
done >"$DIR/env.sh"
chmod 600 "$DIR/env.sh"

# --- TLS: a local CA signs the nodes' certificate and HAProxy's; its key is then deleted.
log "local CA and certificates in $DIR/tls"
mkdir -m 700 "$DIR/tls"
(
  cd "$DIR/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=DMP cluster local CA" -keyout ca.key -out ca.pem 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf
  for name in node lb; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
      -keyout "$name.key" -out "$name.csr" 2>/dev/null
    openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile ext.cnf -out "$name.pem" 2>/dev/null
  done
  cat lb.pem lb.key >lb-bundle.pem
  rm -f ca.key ca.srl ./*.csr ext.cnf lb.key
  chmod 600 node.key lb-bundle.pem
  chmod 644 ca.pem node.pem lb.pem
)

# --- PostgreSQL: superuser `postgres`, the nodes' role `dmp` owning database `dmp`.
log "PostgreSQL 15 on 127.0.0.1:$PG_PORT"
printf '%s\n' "$(secret)" >"$PG_DIR/pwfile"
[ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR/pwfile"
as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --pwfile="$PG_DIR/pwfile" --auth=scram-sha-256 \
  --encoding=UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 ||
  { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
start_pg
PGPASSWORD="$(cat "$PG_DIR/pwfile")" psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres >/dev/null <<SQL
CREATE ROLE dmp LOGIN PASSWORD '$PG_PASSWORD';
CREATE DATABASE dmp OWNER dmp;
SQL
rm -f "$PG_DIR/pwfile"

# --- Redis: loopback, password, no persistence (it holds nothing that PostgreSQL does not).
log "Redis on 127.0.0.1:$REDIS_PORT"
cat >"$DIR/redis.conf" <<EOF
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
requirepass $REDIS_PASSWORD
save ""
appendonly no
daemonize no
dir $(quoted "$DIR")
EOF
chmod 600 "$DIR/redis.conf"
start_redis

# --- the nodes' shared configuration and data directory
mkdir -m 700 "$DIR/data"
# Made before the nodes start together, so that they do not race to create it.
head -c 32 /dev/urandom >"$DIR/data/jwt.key"
chmod 600 "$DIR/data/jwt.key"
cat >"$DIR/dmp.toml" <<EOF
# The configuration every node of this cluster shares (docs/deployment.md, "Cluster").
data_dir = $(quoted "$DIR/data")
database_url = "postgres://dmp:$PG_PASSWORD@127.0.0.1:$PG_PORT/dmp?sslmode=disable"
database_pool_size = $POOL
redis_url = "redis://:$REDIS_PASSWORD@127.0.0.1:$REDIS_PORT/0"
trusted_proxies = ["127.0.0.1/32"]
metrics_bind = "off"

[tls]
cert_file = $(quoted "$DIR/tls/node.pem")
key_file = $(quoted "$DIR/tls/node.key")
EOF
chmod 600 "$DIR/dmp.toml"

log "demo data (dmp-server demo)"
if ! out="$(. "$DIR/env.sh"; "$BIN" --config "$DIR/dmp.toml" demo 2>&1)"; then
  printf '%s\n' "$out" | grep -v -i password >&2
  die "loading the demo data failed"
fi

log "nodes: $NODES"
for id in $NODES; do start_node "$id"; done
for id in $NODES; do wait_node "$id"; done

# --- HAProxy, from the template: the line naming @NODE_ID@ is repeated per node.
log "HAProxy on 127.0.0.1:$LB_PORT"
fds="$(ulimit -Hn)"
[ "$fds" = unlimited ] && fds=1048576
maxconn=$(((fds - 100) / 2))
[ "$maxconn" -le 20000 ] || maxconn=20000
server_re='^[[:space:]]*server[[:space:]].*@NODE_ID@'
server_line="$(grep -E "$server_re" "$ROOT/deploy/haproxy.cfg.in")"
servers=""
for id in $NODES; do
  port="PORT_$id"
  line="${server_line//@NODE_ID@/$id}"
  servers+="${line//@NODE_ADDR@/127.0.0.1:${!port}}"$'\n'
done
while IFS= read -r line || [ -n "$line" ]; do
  if [[ "$line" =~ $server_re ]]; then
    printf '%s' "$servers"
    continue
  fi
  line="${line//@RUN_DIR@/$DIR}"
  line="${line//@MAXCONN@/$maxconn}"
  line="${line//@LB_ADDR@/127.0.0.1:$LB_PORT}"
  line="${line//@LB_PEM@/$DIR/tls/lb-bundle.pem}"
  line="${line//@CA_FILE@/$DIR/tls/ca.pem}"
  printf '%s\n' "$line"
done <"$ROOT/deploy/haproxy.cfg.in" >"$DIR/haproxy.cfg"
haproxy -c -f "$DIR/haproxy.cfg" >/dev/null 2>"$DIR/haproxy-check.log" ||
  { cat "$DIR/haproxy-check.log" >&2; die "invalid $DIR/haproxy.cfg"; }
start_haproxy
for id in $NODES; do wait_lb "$id" up; done
deadline=$((SECONDS + 30))
until ready "https://127.0.0.1:$LB_PORT"; do
  [ "$SECONDS" -lt "$deadline" ] || die "the load balancer does not answer (log: $DIR/haproxy.log)"
  sleep 0.2
done

{
  printf '{"lb": %s, "ca": %s, "nodes": {' "$(quoted "https://127.0.0.1:$LB_PORT")" "$(quoted "$DIR/tls/ca.pem")"
  sep=""
  for id in $NODES; do
    port="PORT_$id" metrics="METRICS_$id"
    printf '%s"%s": {"url": "https://127.0.0.1:%s", "metrics": "http://127.0.0.1:%s/metrics"}' \
      "$sep" "$id" "${!port}" "${!metrics}"
    sep=", "
  done
  printf '}, "redis": "127.0.0.1:%s", "postgres": "127.0.0.1:%s"}\n' "$REDIS_PORT" "$PG_PORT"
} >"$DIR/cluster.json"

echo "cluster on https://127.0.0.1:$LB_PORT"
echo "CA file: $DIR/tls/ca.pem"
log "nodes: $(for id in $NODES; do printf '%s=%s ' "$id" "$(node_url "$id")"; done)"
log "control: $0 ctl $DIR status|kill-node a|start-node a|restart redis|cli user disable ID…"

# Runs until a signal, or until the parent (a test, a shell) is gone.
while kill -0 "$parent" 2>/dev/null; do
  sleep 1 &
  wait $! || true
done
