#!/usr/bin/env bash
# Measures the desktop app (release build) as BENCHMARKS.md "Desktop app"
# reports it, in one run:
#   - time from process spawn to a usable login form (several launches);
#   - memory (PSS and RSS, /proc/PID/smaps_rollup) of dmp-desktop and its
#     WebKit processes at the login screen, after login, with a 5,000-message
#     conversation open, during and after minutes of live traffic, and with
#     the whole conversation scrolled into the page;
#   - search latency over 100,000 messages in a real SQLCipher cache.
# The method is described in src-tauri/examples/measure_desktop.rs and
# client/examples/search_bench.rs. A benchmark: never run it in CI.
#
# Usage: scripts/measure-desktop.sh [--quick]
#   --quick   1 minute of traffic instead of 10 (MEASURE_TRAFFIC_SECS=60)
# Knobs (environment): MEASURE_TRAFFIC_SECS, MEASURE_SEED, MEASURE_START_RUNS,
#   MEASURE_SETTLE_SECS, MEASURE_SAMPLE_EVERY_SECS, MEASURE_MARTIN_EVERY_SECS,
#   MEASURE_MOREAU_EVERY_SECS, MEASURE_WINDOW_EVERY_SECS, MEASURE_SCROLL_ALL, MEASURE_SCROLL_SECS,
#   SEARCH_MESSAGES, SEARCH_ROUNDS, MEASURE_SKIP_BUILD=1 (use what is built),
#   MEASURE_PARTS="desktop search" (default: both), CARGO_TARGET_DIR.
# WEBKIT_* and other variables set by the caller reach the app (tauri-driver
# passes its environment on).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = --quick ]; then
  export MEASURE_TRAFFIC_SECS="${MEASURE_TRAFFIC_SECS:-60}"
  shift
fi
[ $# -eq 0 ] || { echo "usage: $0 [--quick]" >&2; exit 2; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dmp-target}"
parts="${MEASURE_PARTS:-desktop search}"
log() { printf '==> %s\n' "$*" >&2; }

echo "# scripts/measure-desktop.sh${MEASURE_TRAFFIC_SECS:+ (MEASURE_TRAFFIC_SECS=$MEASURE_TRAFFIC_SECS)}"
echo "# date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "# commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
echo "# machine: $(nproc) cores, $(free -m | awk '/^Mem:/ {print $2}') MB, $(uname -sr)"
echo "# webkit2gtk: $(dpkg-query -W -f '${Version}' libwebkit2gtk-4.1-0 2>/dev/null || echo unknown)"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
env | grep -E '^WEBKIT_' | sed 's/^/# env: /' || true

if [ "${MEASURE_SKIP_BUILD:-0}" != 1 ]; then
  if [ ! -f ui/dist/index.html ]; then
    log "building the front end (ui/dist)"
    (cd ui && npm ci --no-audit --no-fund && npm run build) >&2
  fi
  log "building dmp-desktop, the measuring driver and the search benchmark (release)"
  cargo build --release --locked -p dmp-desktop --bin dmp-desktop --example measure_desktop >&2
  cargo build --release --locked -p dmp-client --example search_bench >&2
fi
bin="$CARGO_TARGET_DIR/release"
echo "# dmp-desktop binary: $(du -h "$bin/dmp-desktop" | cut -f1); front end: $(du -ch ui/dist/assets/*.js | tail -1 | cut -f1) of JS, $(du -ch ui/dist/assets/*.css | tail -1 | cut -f1) of CSS"

for p in $parts; do
  case "$p" in
    desktop)
      echo
      echo "## Desktop app: start and memory"
      MEASURE_APP="$bin/dmp-desktop" ./scripts/with-desktop-services.sh "$bin/examples/measure_desktop"
      ;;
    search)
      echo
      echo "## Search over the cache"
      "$bin/examples/search_bench"
      ;;
    *) echo "unknown part '$p' (expected desktop or search)" >&2; exit 2 ;;
  esac
done
echo
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
