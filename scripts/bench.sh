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
#   BENCH_DURATION   overrides the duration of a, b and d (seconds)
#   BENCH_WARMUP     seconds of unmeasured traffic before each timed run (default 2)
#   BENCH_TARGETS    "server bare" (default), "server" or "bare"
#   BENCH_OUT        also append the JSON lines to this file
#   BENCH_PROFILE    release (default) or debug
#   BENCH_SKIP_BUILD 1 = use the binaries already built
#   BENCH_KEEP       1 = keep the temporary data directory and logs
#   BENCH_SERVER_LOG RUST_LOG of the server (default warn)
#   CARGO_TARGET_DIR build directory (default /root/.cache/dmp-target)
# The server runs with its defaults (durability Full: fsync per commit) except
# for the rate limits, raised so that they are not what is measured, and plain
# HTTP on loopback (DMP_INSECURE_HTTP=true, explicit) so that the comparison
# with the bare relay (no TLS either) stays the same. Exported DMP_* variables
# reach the server too (e.g. DMP_DURABILITY).
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

log() { printf '==> %s\n' "$*" >&2; }

for s in "${scenarios[@]}"; do
  case "$s" in a | b | c | d) ;; *) echo "unknown scenario '$s' (expected a, b, c or d)" >&2; exit 2 ;; esac
done

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

# Every socket is a file descriptor, on both sides.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
log "open file limit: $(ulimit -n)"

work="$(mktemp -d -t dmp-bench.XXXXXX)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts a server or relay in the background; sets pid and addr.
start() {
  local name="$1"
  shift
  : >"$work/$name.out"
  "$@" >"$work/$name.out" 2>>"$work/$name.err" &
  pid=$!
  addr=""
  for _ in $(seq 1 300); do
    addr="$(sed -n 's/^listening on //p' "$work/$name.out")"
    [ -n "$addr" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$name did not start; its log:" >&2
  tail -n 20 "$work/$name.err" >&2 || true
  exit 1
}

stop() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
  fi
}

emit() {
  printf '%s\n' "$1"
  if [ -n "${BENCH_OUT:-}" ]; then printf '%s\n' "$1" >>"$BENCH_OUT"; fi
}

max_pairs=0
for s in "${scenarios[@]}"; do
  n_var="${s}_pairs"
  [ "${!n_var}" -gt "$max_pairs" ] && max_pairs="${!n_var}"
done

if [[ " $targets " == *" server "* ]]; then
  log "importing $max_pairs pairs into $work/data"
  mkdir -p "$work/data"
  "$bin/dmp-loadgen" users --pairs "$max_pairs" --out "$work/users.json"
  "$bin/dmp-server" import "$work/users.json" --data-dir "$work/data" >&2
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

for target in $targets; do
  for s in "${scenarios[@]}"; do
    # A fresh process per scenario, so that one run's leftovers do not skew the next.
    if [ "$target" = server ]; then
      start server env RUST_LOG="${BENCH_SERVER_LOG:-warn}" "$bin/dmp-server" serve --bind 127.0.0.1:0 --data-dir "$work/data"
      extra=()
    else
      start relay "$bin/dmp-bare-relay" --bind 127.0.0.1:0 --send-queue "$DMP_WS__SEND_QUEUE"
      extra=(--bare)
    fi
    log "$target scenario $s at $addr (pid $pid): $(scenario_args "$s")"
    # shellcheck disable=SC2046 # scenario_args is a list of words
    line="$("$bin/dmp-loadgen" run --server "$addr" --server-pid "$pid" --label "$target-$s" "${extra[@]}" $(scenario_args "$s"))"
    emit "$line"
    stop
  done
done
log "done"
