#!/usr/bin/env bash
# Benchmarks dmp-server with dmp-loadgen, then runs the same scenarios against
# dmp-bare-relay (no auth, no storage) as the baseline. Prints one JSON line
# per run on stdout (progress on stderr). A benchmark: never run it in CI.
#
# Usage: scripts/bench.sh [SCENARIO...]        (default: a b c d)
#   a  steady load: BENCH_A_PAIRS=1000 pairs, BENCH_A_RATE=200 msg/s, BENCH_A_DURATION=60 s
#   b  max throughput: BENCH_B_PAIRS=50 pairs, each connection keeps BENCH_B_WINDOW=32 sends
#      in flight, BENCH_B_DURATION=30 s
#   c  memory per idle socket: BENCH_C_PAIRS=5000 pairs connected, no traffic
#   d  latency: BENCH_D_PAIRS=100 pairs, BENCH_D_RATE=5000 msg/s, BENCH_D_DURATION=30 s
# Other knobs (environment):
#   BENCH_BACKEND    sqlite (default) or postgres: the server's store. postgres
#                    re-runs this script under scripts/with-postgres.sh (a private
#                    PostgreSQL 15 on loopback, fsync BENCH_PG_FSYNC=on by default,
#                    as in production) unless DMP_TEST_POSTGRES_URL is already set,
#                    and imports into a fresh database of it
#   BENCH_NODES      1 (default) or 2: two dmp-server nodes on PostgreSQL + Redis
#                    (scripts/with-redis.sh unless DMP_TEST_REDIS_URL is set),
#                    sharing the data directory (keys, attachments); each scenario
#                    runs twice: same-node (patients and doctors on node A) and
#                    cross-node (patients on A, doctors on B: every message
#                    crosses through Redis); c (idle) runs same-node only
#   BENCH_DURATION   overrides the duration of a, b and d (seconds)
#   BENCH_WARMUP     seconds of unmeasured traffic before each timed run (default 2)
#   BENCH_TARGETS    "server bare" (default), "server" or "bare"
#   BENCH_OUT        also append the JSON lines to this file
#   BENCH_PROFILE    release (default) or debug
#   BENCH_SKIP_BUILD 1 = use the binaries already built
#   BENCH_KEEP       1 = keep the temporary data directory and logs
#   BENCH_SERVER_LOG RUST_LOG of the server (default warn)
#   CARGO_TARGET_DIR build directory (default /root/.cache/dmp-target)
#   BENCH_RELAY_READ_BUFFER bytes of read buffer per relay socket (default 4096;
#                    the server's is READ_BUFFER in server/src/ws.rs, 2048)
#   BENCH_SERVER_BIN the dmp-server binary to measure (default: the one just
#                    built), e.g. a copy of an earlier build for a before/after
# The server runs with its defaults (durability Full: fsync per commit) except
# for the rate limits, raised so that they are not what is measured, and plain
# HTTP on loopback (DMP_INSECURE_HTTP=true, explicit) so that the comparison
# with the bare relay (no TLS either) stays the same. Exported DMP_* variables
# reach the server too (e.g. DMP_DURABILITY). At the end a summary with the
# ratio of each server line to the bare relay's line of the same scenario goes
# to stderr. After each server run the audit trail must verify
# (`dmp-server audit --verify`), or the script fails.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/dmp-target}"
profile="${BENCH_PROFILE:-release}"
bin="$CARGO_TARGET_DIR/$profile"

a_pairs="${BENCH_A_PAIRS:-1000}" a_rate="${BENCH_A_RATE:-200}" a_duration="${BENCH_DURATION:-${BENCH_A_DURATION:-60}}"
b_pairs="${BENCH_B_PAIRS:-50}" b_window="${BENCH_B_WINDOW:-32}" b_duration="${BENCH_DURATION:-${BENCH_B_DURATION:-30}}"
c_pairs="${BENCH_C_PAIRS:-5000}"
d_pairs="${BENCH_D_PAIRS:-100}" d_rate="${BENCH_D_RATE:-5000}" d_duration="${BENCH_DURATION:-${BENCH_D_DURATION:-30}}"
warmup="${BENCH_WARMUP:-2}"
targets="${BENCH_TARGETS:-server bare}"
scenarios=("$@")
[ "${#scenarios[@]}" -gt 0 ] || scenarios=(a b c d)

backend="${BENCH_BACKEND:-sqlite}"
nodes="${BENCH_NODES:-1}"

log() { printf '==> %s\n' "$*" >&2; }

for s in "${scenarios[@]}"; do
  case "$s" in a | b | c | d) ;; *) echo "unknown scenario '$s' (expected a, b, c or d)" >&2; exit 2 ;; esac
done
case "$backend" in sqlite | postgres) ;; *) echo "BENCH_BACKEND must be sqlite or postgres" >&2; exit 2 ;; esac
case "$nodes" in 1 | 2) ;; *) echo "BENCH_NODES must be 1 or 2" >&2; exit 2 ;; esac
if [ "$nodes" = 2 ] && [ "$backend" != postgres ]; then
  echo "BENCH_NODES=2 needs BENCH_BACKEND=postgres (SQLite is single-node)" >&2
  exit 2
fi

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  log "building dmp-server, dmp-loadgen and dmp-bare-relay ($profile)"
  if [ "$profile" = release ]; then
    cargo build --release -p dmp-server -p dmp-tests
  else
    cargo build -p dmp-server -p dmp-tests
  fi
fi
for b in dmp-server dmp-loadgen dmp-bare-relay; do
  [ -x "$bin/$b" ] || { echo "missing $bin/$b" >&2; exit 1; }
done
server_bin="${BENCH_SERVER_BIN:-$bin/dmp-server}"
[ -x "$server_bin" ] || { echo "missing $server_bin" >&2; exit 1; }

# The services the backend needs, started once around the whole run.
if [[ " $targets " == *" server "* ]]; then
  if [ "$backend" = postgres ] && [ -z "${DMP_TEST_POSTGRES_URL:-}" ]; then
    log "re-running under scripts/with-postgres.sh"
    exec env BENCH_SKIP_BUILD=1 WITH_POSTGRES_FSYNC="${BENCH_PG_FSYNC:-on}" \
      scripts/with-postgres.sh scripts/bench.sh "$@"
  fi
  if [ "$nodes" = 2 ] && [ -z "${DMP_TEST_REDIS_URL:-}" ]; then
    log "re-running under scripts/with-redis.sh"
    exec env BENCH_SKIP_BUILD=1 scripts/with-redis.sh scripts/bench.sh "$@"
  fi
fi

# Every socket is a file descriptor, on both sides.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
log "open file limit: $(ulimit -n)"

work="$(mktemp -d -t dmp-bench.XXXXXX)"
pids=()
database=""
stop() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop
  if [ -n "$database" ] && [ "${BENCH_KEEP:-0}" != 1 ]; then
    psql "$DMP_TEST_POSTGRES_URL" -qAt -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "kept $work${database:+ and database $database}"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts a server or relay in the background; sets pid and addr (and adds
# pid to those `stop` ends). A server is started once its /readyz answers 200
# (store and, in a cluster, Redis reachable), polled for at most 30 s.
start() {
  local name="$1"
  shift
  : >"$work/$name.out"
  "$@" >"$work/$name.out" 2>>"$work/$name.err" &
  pid=$!
  pids+=("$pid")
  addr=""
  local deadline=$((SECONDS + 30))
  while [ "$SECONDS" -lt "$deadline" ]; do
    kill -0 "$pid" 2>/dev/null || break
    [ -n "$addr" ] || addr="$(sed -n 's/^listening on //p' "$work/$name.out")"
    if [ -n "$addr" ]; then
      [ "$name" = relay ] && return 0
      curl -sf -o /dev/null "$addr/readyz" && return 0
    fi
    sleep 0.1
  done
  echo "$name did not start; its log:" >&2
  tail -n 20 "$work/$name.err" >&2 || true
  exit 1
}

emit() {
  printf '%s\n' "$1"
  printf '%s\n' "$1" >>"$work/lines.jsonl"
  if [ -n "${BENCH_OUT:-}" ]; then printf '%s\n' "$1" >>"$BENCH_OUT"; fi
}

max_pairs=0
for s in "${scenarios[@]}"; do
  n_var="${s}_pairs"
  [ "${!n_var}" -gt "$max_pairs" ] && max_pairs="${!n_var}"
done

if [[ " $targets " == *" server "* ]]; then
  if [ "$backend" = postgres ]; then
    # A fresh database of the (private) cluster, named at random.
    database="dmp_bench_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
    psql "$DMP_TEST_POSTGRES_URL" -qAt -c "CREATE DATABASE $database" >/dev/null
    DMP_DATABASE_URL="$(printf '%s' "$DMP_TEST_POSTGRES_URL" | sed "s#/postgres?#/$database?#")"
    [ "$DMP_DATABASE_URL" != "$DMP_TEST_POSTGRES_URL" ] \
      || { echo "cannot name a database in DMP_TEST_POSTGRES_URL" >&2; exit 1; }
    export DMP_DATABASE_URL
    log "PostgreSQL database $database"
  fi
  if [ "$nodes" = 2 ]; then
    export DMP_REDIS_URL="$DMP_TEST_REDIS_URL"
  fi
  log "importing $max_pairs pairs into $work/data ($backend)"
  mkdir -p "$work/data"
  "$bin/dmp-loadgen" users --pairs "$max_pairs" --out "$work/users.json"
  "$server_bin" import "$work/users.json" --data-dir "$work/data" >&2
fi

export DMP_RATE_LIMIT__SEND_PER_SECOND=1000000 DMP_RATE_LIMIT__SEND_BURST=1000000
export DMP_RATE_LIMIT__WS_FRAMES_PER_SECOND=1000000 DMP_RATE_LIMIT__WS_FRAMES_BURST=1000000
# Every simulated user logs in and connects from this one address.
export DMP_RATE_LIMIT__AUTH_PER_SOURCE_PER_MINUTE=1000000
export DMP_WS__SEND_QUEUE=4096
export DMP_INSECURE_HTTP=true
# The load generator opens every socket from one address; no metrics listener.
export DMP_WS__MAX_PER_SOURCE=1000000 DMP_METRICS_BIND=off
# dmp-loadgen sends 100-byte clear-text frames: the server runs in the operator's
# migration mode (end-to-end is required by default; see docs/security.md).
export DMP_REQUIRE_E2E=false

scenario_args() {
  case "$1" in
    a) echo "--pairs $a_pairs --rate $a_rate --duration $a_duration --warmup $warmup" ;;
    b) echo "--pairs $b_pairs --rate 0 --window $b_window --duration $b_duration --warmup $warmup" ;;
    c) echo "--pairs $c_pairs --idle --settle 5" ;;
    d) echo "--pairs $d_pairs --rate $d_rate --duration $d_duration --warmup $warmup" ;;
  esac
}

# Starts dmp-server node $1 (name) on the shared data directory.
start_node() {
  start "$1" env RUST_LOG="${BENCH_SERVER_LOG:-warn}" DMP_NODE_ID="bench-$1" \
    "$server_bin" serve --bind 127.0.0.1:0 --data-dir "$work/data"
}

# After each server run, once the server has stopped (its last audit anchor
# written): the audit trail's hash chain and its keyed checkpoints verify, or
# the benchmark fails.
verify_audit() {
  log "$1: verifying the audit trail"
  "$server_bin" audit --verify --data-dir "$work/data" >&2 \
    || { echo "the audit trail does not verify after $1" >&2; exit 1; }
}

# One measured run: `run_one LABEL ARGS...` (loadgen arguments before the scenario's).
run_one() {
  local label="$1" s="$2"
  shift 2
  log "$label: $* $(scenario_args "$s")"
  local line
  # shellcheck disable=SC2046 # scenario_args is a list of words
  line="$("$bin/dmp-loadgen" run --label "$label" "$@" $(scenario_args "$s"))"
  emit "$line"
}

case "$backend/$nodes" in
  sqlite/1) server_label=server ;;
  postgres/1) server_label=server-postgres ;;
  postgres/2) server_label=cluster ;;
esac

for target in $targets; do
  for s in "${scenarios[@]}"; do
    # Fresh processes per run, so that one run's leftovers do not skew the next.
    if [ "$target" = bare ]; then
      start relay "$bin/dmp-bare-relay" --bind 127.0.0.1:0 --send-queue "$DMP_WS__SEND_QUEUE" \
        --read-buffer "${BENCH_RELAY_READ_BUFFER:-4096}"
      run_one "bare-$s" "$s" --server "$addr" --server-pid "$pid" --bare
      stop
    elif [ "$nodes" = 1 ]; then
      start_node server
      run_one "$server_label-$s" "$s" --server "$addr" --server-pid "$pid"
      stop
      verify_audit "$server_label-$s"
    else
      placements=(same cross)
      [ "$s" = c ] && placements=(same)
      for placement in "${placements[@]}"; do
        start_node a
        a_addr="$addr" a_pid="$pid"
        start_node b
        if [ "$placement" = same ]; then
          run_one "$server_label-same-$s" "$s" --server "$a_addr" --server-pid "$a_pid"
        else
          run_one "$server_label-cross-$s" "$s" --server "$a_addr" --recipient-server "$addr" --server-pid "$a_pid"
        fi
        stop
        verify_audit "$server_label-$placement-$s"
      done
    fi
  done
done

# Each server line next to the bare relay's line of the same scenario.
python3 - "$work/lines.jsonl" <<'EOF' >&2
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
bare = {l["label"].split("-")[-1]: l for l in lines if l["mode"] == "bare"}
print(f"{'label':<24} {'msg/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'lost/dup':>9} {'KiB/sock':>9} {'CPU us/msg':>10}  ratio to bare")
for l in lines:
    b = bare.get(l["label"].split("-")[-1])
    ratio = ""
    if l["mode"] == "server" and b and b["achievedPerSec"] > 0 and l["achievedPerSec"] > 0:
        ratio = f"{l['achievedPerSec'] / b['achievedPerSec']:.3f}x msg/s"
        if b.get("serverCpuUsPerMessage") and l.get("serverCpuUsPerMessage"):
            ratio += f", {l['serverCpuUsPerMessage'] / b['serverCpuUsPerMessage']:.1f}x CPU per message"
    per = l.get("rssPerConnectionKib")
    cpu = l.get("serverCpuUsPerMessage")
    print(f"{l['label']:<24} {l['achievedPerSec']:>10.0f} {l['latencyP50Ms']:>9.2f} {l['latencyP99Ms']:>9.2f}"
          f" {str(l['lost']) + '/' + str(l['duplicated']):>9} {per if per is not None else '-':>9}"
          f" {cpu if cpu is not None else '-':>10}  {ratio}")
EOF
log "done"
