#!/usr/bin/env bash
# Runs the product on this machine: builds the companion server and the
# desktop app, loads the demo data into ./data (idempotent) with a local CA
# and server certificate (data/tls/, created once), starts the server on
# https://127.0.0.1:8443 and opens the desktop app (it needs a display), which
# trusts that CA (DMP_CA_FILE). Closing the app stops the server.
# DMP_NO_APP=1 runs the server alone.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dmp-target}"
DATA_DIR="${DMP_DATA_DIR:-$PWD/data}"
BIND="${DMP_BIND:-127.0.0.1:8443}"

# shellcheck source=scripts/lib/services.sh
. scripts/lib/services.sh
apt_ensure build-essential pkg-config libssl-dev libwebkit2gtk-4.1-dev librsvg2-dev libayatana-appindicator3-dev gnome-keyring

(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build)
cargo build --release --locked -p dmp-server -p dmp-desktop
SERVER="$CARGO_TARGET_DIR/release/dmp-server"
APP="$CARGO_TARGET_DIR/release/dmp-desktop"
"$SERVER" demo --data-dir "$DATA_DIR"
# The local CA that `demo` created (kept across runs); clients pin it.
export DMP_CA_FILE="${DMP_CA_FILE:-$DATA_DIR/tls/ca.pem}"

if [ -n "${DMP_NO_APP:-}" ]; then
  echo "starting the companion server on https://$BIND (Ctrl-C to stop); clients trust $DMP_CA_FILE"
  exec "$SERVER" serve --data-dir "$DATA_DIR" --bind "$BIND"
fi

"$SERVER" serve --data-dir "$DATA_DIR" --bind "$BIND" &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS --cacert "$DMP_CA_FILE" "https://$BIND/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
echo "companion server on https://$BIND; opening the desktop app (server address: https://$BIND, CA file: $DMP_CA_FILE)"
# The app keeps tokens and keys in the Secret Service: start one if the session has none.
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
  dbus-run-session -- bash -c 'gnome-keyring-daemon --start --components=secrets >/dev/null 2>&1; "$0"' "$APP"
else
  "$APP"
fi
