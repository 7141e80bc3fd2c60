#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian 12 machine: installs what
# the tests need (idempotent), checks formatting and lints, then runs the
# whole workspace with cargo-nextest. The last line is nextest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dmp-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

log() { printf '\n==> %s\n' "$*" >&2; }

need_apt=()
# C toolchain; OpenSSL for SQLCipher; the real desktop services the client
# tests talk to (Secret Service, D-Bus tools, X server, notification daemon).
for pkg in build-essential pkg-config libssl-dev gnome-keyring dbus-x11 libsecret-tools xvfb dunst; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest"
  cargo install cargo-nextest --locked
fi
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy || true

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "cargo nextest run (inside a private D-Bus session with gnome-keyring, Xvfb and dunst)"
exec ./scripts/with-desktop-services.sh cargo nextest run --workspace --locked --no-fail-fast "$@"
