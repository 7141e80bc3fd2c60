#!/usr/bin/env bash
# Directory at scale: imports N patients (default 1,000,000) with 2N contexts
# and N/100 doctors, every account sharing ONE precomputed Argon2id verifier
# (hashed once by `dmp-loadgen users`, so the store is what is measured), then
# reports import time, server start time (to /readyz), RSS at rest, p50 of
# GET /api/contexts and of a history page for a few users, how long a CLI
# `user disable` takes to lock the account out (a REST call with the user's
# token polled until refused) and RSS after that admin change.
# A benchmark: never run it in CI. CPU-heavy: respect /work/QUIET.
#
# Usage: scripts/bench-directory.sh [N]
#   BENCH_BACKEND    sqlite (default) or postgres: postgres re-runs this script
#                    under scripts/with-postgres.sh (a private PostgreSQL 15 on
#                    loopback, fsync BENCH_PG_FSYNC=on by default, as in
#                    production) unless DMP_TEST_POSTGRES_URL is already set, and
#                    imports into a fresh database of it (dropped at the end)
#   BENCH_SKIP_BUILD 1 = use the release binaries already built
#   BENCH_KEEP       1 = keep the temporary directory (data, import file, logs)
#   BENCH_OUT        also append the JSON line to this file
#   CARGO_TARGET_DIR build directory (default /root/.cache/dmp-target)
# Prints progress on stderr and one JSON line on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

n="${1:-1000000}"
backend="${BENCH_BACKEND:-sqlite}"
case "$backend" in sqlite | postgres) ;; *) echo "BENCH_BACKEND must be sqlite or postgres" >&2; exit 2 ;; esac
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/dmp-target}"
bin="$CARGO_TARGET_DIR/release"
log() { printf '==> %s\n' "$*" >&2; }

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  log "building dmp-server and dmp-loadgen (release)"
  cargo build --release -p dmp-server -p dmp-tests >&2
fi
if [ "$backend" = postgres ] && [ -z "${DMP_TEST_POSTGRES_URL:-}" ]; then
  log "re-running under scripts/with-postgres.sh"
  exec env BENCH_SKIP_BUILD=1 WITH_POSTGRES_FSYNC="${BENCH_PG_FSYNC:-on}" \
    scripts/with-postgres.sh scripts/bench-directory.sh "$@"
fi

work="$(mktemp -d /tmp/dmp-bench-directory.XXXXXX)"
server_pid=""
database=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$database" ] && [ "${BENCH_KEEP:-0}" != 1 ]; then
    psql "$DMP_TEST_POSTGRES_URL" -qAt -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $work${database:+ and database $database}"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$backend" = postgres ]; then
  # A fresh database of the (private) cluster, named at random. The import,
  # the server and the CLI `user disable` below all read DMP_DATABASE_URL.
  database="dmp_bench_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
  psql "$DMP_TEST_POSTGRES_URL" -qAt -c "CREATE DATABASE $database" >/dev/null
  DMP_DATABASE_URL="$(printf '%s' "$DMP_TEST_POSTGRES_URL" | sed "s#/postgres?#/$database?#")"
  [ "$DMP_DATABASE_URL" != "$DMP_TEST_POSTGRES_URL" ] \
    || { echo "cannot name a database in DMP_TEST_POSTGRES_URL" >&2; exit 1; }
  export DMP_DATABASE_URL
  log "PostgreSQL database $database"
fi

log "one verifier for every account (one Argon2id run)"
"$bin/dmp-loadgen" users --pairs 1 --out "$work/one.json"
password="loadgen-password-2026"

log "writing the import file: $n patients, $((n * 2)) contexts"
t0=$(date +%s.%N)
python3 - "$n" "$work/one.json" "$work/import.json" <<'EOF'
import json, sys
n = int(sys.argv[1]); h = json.load(open(sys.argv[2]))["users"][0]["passwordHash"]
doctors = max(10, n // 100)
with open(sys.argv[3], "w", buffering=1 << 22) as f:
    w = f.write
    w('{"users":[')
    for i in range(n):
        w('%s{"id":"patient_b%d","type":"patient","name":"Patient %d","username":"bp.%d","passwordHash":"%s"}'
          % ("," if i else "", i, i, i, h))
    for j in range(doctors):
        w(',{"id":"medecin_b%d","type":"medecin","name":"Docteur %d","username":"bm.%d","passwordHash":"%s"}' % (j, j, j, h))
    w('],"contexts":[')
    for i in range(n):
        d = "2026-%02d-%02d" % (1 + i % 12, 1 + i % 28)
        w('%s{"type":"ordonnance","id":"ord_b%d","title":"Ordonnance %d","date":"%s","patientId":"patient_b%d","doctorId":"medecin_b%d","summary":"Traitement"}'
          % ("," if i else "", i, i, d, i, i % doctors))
        w(',{"type":"examen","id":"exa_b%d","title":"Examen %d","date":"%s","patientId":"patient_b%d","doctorId":"medecin_b%d","summary":"Bilan"}'
          % (i, i, d, i, (i + 1) % doctors))
    w(']}\n')
EOF
log "import file: $(du -h "$work/import.json" | cut -f1) in $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s"

data="$work/data"
log "importing"
/usr/bin/time -f '%e %M' -o "$work/import.time" \
  "$bin/dmp-server" --data-dir "$data" import "$work/import.json" >"$work/import.log" 2>&1 \
  || { cat "$work/import.log" >&2; exit 1; }
read -r import_s import_rss_kib <"$work/import.time"
log "import: ${import_s} s (CLI max RSS $((import_rss_kib / 1024)) MB)"
# On-disk size of the store after the import (tables and indexes).
if [ "$backend" = postgres ]; then
  store_bytes="$(psql "$DMP_DATABASE_URL" -qAt -c "SELECT pg_database_size(current_database())")"
else
  store_bytes="$(du -sb "$data" | cut -f1)"
fi
store_mb=$((store_bytes / 1024 / 1024))
log "store size: $store_mb MB"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log "starting the server on 127.0.0.1:$port"
t0=$(date +%s.%N)
DMP_INSECURE_HTTP=true DMP_REQUIRE_E2E=false DMP_METRICS_BIND=off \
  DMP_RATE_LIMIT__AUTH_PER_SOURCE_PER_MINUTE=1000000 RUST_LOG=warn \
  "$bin/dmp-server" --data-dir "$data" serve --bind "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.02
done
start_s=$(python3 -c "print(round($(date +%s.%N) - $t0, 3))")
log "ready in $start_s s"

python3 - "$port" "$server_pid" "$bin/dmp-server" "$data" "$n" "$password" "$start_s" "$import_s" "$backend" "$store_mb" "$import_rss_kib" <<'EOF' | tee -a "${BENCH_OUT:-/dev/null}"
import http.client, json, statistics, subprocess, sys, time
port, pid, server, data, n, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
start_s, import_s = float(sys.argv[7]), float(sys.argv[8])
backend, store_mb, import_rss_mb = sys.argv[9], int(sys.argv[10]), round(int(sys.argv[11]) / 1024)

def rss_mb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)

conn = http.client.HTTPConnection("127.0.0.1", port)
def call(method, path, token=None, body=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = "Bearer " + token
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, (json.loads(data) if data else None)

time.sleep(2)
rss_rest = rss_mb()
users = sorted({0, 1, n // 2, n - 1, 12345 % n})
tokens = {}
for i in users:
    st, body = call("POST", "/api/auth/login", body={"username": f"bp.{i}", "password": password})
    assert st == 200, (st, body)
    tokens[i] = body["accessToken"]
doctor = max(10, n // 100) // 2
st, body = call("POST", "/api/auth/login", body={"username": f"bm.{doctor}", "password": password})
assert st == 200, (st, body)
doctor_token = body["accessToken"]
for i in users:
    for k in range(20):
        st, body = call("POST", "/api/messaging/send", tokens[i],
                        {"clientMessageId": f"b{i}-{k}", "contextType": "ordonnance", "contextId": f"ord_b{i}", "content": "x" * 100})
        assert st in (200, 201), (st, body)

def p50(path, token, rounds=100):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        st, _ = call("GET", path, token)
        times.append((time.perf_counter() - t) * 1000)
        assert st == 200, (path, st)
    return statistics.median(times)

rss_used = rss_mb()
contexts_p50 = statistics.median([p50("/api/contexts", tokens[i]) for i in users])
doctor_contexts_p50 = p50("/api/contexts", doctor_token, 20)
history_p50 = statistics.median([p50(f"/api/messaging/history/ordonnance/ord_b{i}?limit=50", tokens[i]) for i in users])

victim = users[1]
t = time.perf_counter()
cli = subprocess.run([server, "--data-dir", data, "user", "disable", f"patient_b{victim}"], capture_output=True, text=True)
cli_s = time.perf_counter() - t
assert cli.returncode == 0, cli.stderr
while True:
    st, _ = call("GET", "/api/me", tokens[victim])
    if st in (401, 403):
        break
    if time.perf_counter() - t > 30:
        raise SystemExit("the disabled account was not locked out within 30 s")
    time.sleep(0.005)
lockout_s = time.perf_counter() - t
time.sleep(1)
rss_after = rss_mb()
out = {
    "bench": "directory", "backend": backend, "patients": n, "contexts": 2 * n, "doctors": max(10, n // 100),
    "import_s": import_s, "import_cli_max_rss_mb": import_rss_mb, "store_mb": store_mb, "start_s": start_s, "rss_rest_mb": rss_rest, "rss_after_logins_and_reads_mb": rss_used,
    "rss_after_admin_change_mb": rss_after,
    "contexts_p50_ms": round(contexts_p50, 2), "doctor_contexts_p50_ms": round(doctor_contexts_p50, 2),
    "history_p50_ms": round(history_p50, 2),
    "lockout_s": round(lockout_s, 3), "lockout_after_cli_exit_s": round(lockout_s - cli_s, 3), "cli_s": round(cli_s, 3),
}
print(json.dumps(out))
EOF
