#!/usr/bin/env bash
# Runs the product on this machine: builds the companion server, loads the
# demo data into ./data (idempotent) and serves on 127.0.0.1:8443.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dmp-target}"
DATA_DIR="${DMP_DATA_DIR:-$PWD/data}"
BIND="${DMP_BIND:-127.0.0.1:8443}"

if ! dpkg -s build-essential pkg-config >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq build-essential pkg-config >/dev/null
fi
cargo build --release --locked -p dmp-server
SERVER="$CARGO_TARGET_DIR/release/dmp-server"
"$SERVER" demo --data-dir "$DATA_DIR"
echo "starting the companion server on http://$BIND (Ctrl-C to stop)"
exec "$SERVER" serve --data-dir "$DATA_DIR" --bind "$BIND"
