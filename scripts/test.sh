#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian 12 machine: installs what
# the tests need (idempotent), checks formatting and lints, runs the UI unit
# tests, then the whole Rust workspace with cargo-nextest next to a private
# PostgreSQL 15, Redis 7 and SMTP server (aiosmtpd) and inside a private D-Bus session with the real desktop
# services (gnome-keyring, Xvfb, dunst).
# The last line is nextest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dmp-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

log() { printf '\n==> %s\n' "$*" >&2; }

# C toolchain; OpenSSL for SQLCipher; WebKitGTK for the desktop app; the real
# desktop services the tests talk to (Secret Service, D-Bus tools, X server,
# notification daemon, WebKit's WebDriver); Redis, HAProxy and socat for the
# cluster test, which starts its own instances through scripts/cluster.sh.
# PostgreSQL 15 (the server store's second backend) and Redis 7 (the link
# between cluster nodes) are started by scripts/with-postgres.sh and
# scripts/with-redis.sh.
# shellcheck source=scripts/lib/services.sh
. scripts/lib/services.sh
apt_ensure build-essential pkg-config libssl-dev libwebkit2gtk-4.1-dev librsvg2-dev libayatana-appindicator3-dev \
  gnome-keyring dbus-x11 libsecret-tools xvfb x11-utils dunst webkit2gtk-driver \
  redis-server haproxy socat curl
# Cargo-installed tools live under ~/.cache (kept between CI runs, like the
# target dir), so only the first run on a machine compiles them.
TOOLS="$HOME/.cache/dmp-tools"
export PATH="$TOOLS/bin:$PATH"
tool_install() { cargo install --root "$TOOLS" --locked "$@"; }
if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest"
  tool_install cargo-nextest
fi
if ! command -v tauri-driver >/dev/null 2>&1; then
  log "installing tauri-driver"
  tool_install tauri-driver --version '^2'
fi
if ! cargo deny --version 2>/dev/null | grep -q '^cargo-deny 0\.20\.'; then
  log "installing cargo-deny"
  tool_install cargo-deny --version '~0.20.2'
fi
# aiosmtpd (PyPI, pinned) in a venv under ~/.cache: the SMTP server of
# server/tests/urgent_mail.rs, started by scripts/with-smtp.sh.
log "aiosmtpd for the urgent-message e-mail test"
./scripts/install-aiosmtpd.sh >/dev/null
# schemathesis (PyPI, pinned) in a venv under ~/.cache, for server/tests/openapi_conformance.rs.
log "schemathesis for the OpenAPI conformance test"
DMP_SCHEMATHESIS="$(./scripts/install-schemathesis.sh)"
export DMP_SCHEMATHESIS
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy || true

log "front end: npm ci, type check, unit tests, build (ui/dist is embedded in the desktop app)"
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run lint && npm test && npm run build)

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "cargo deny check bans licenses sources (the advisory database cannot be fetched here)"
cargo deny --log-level error check bans licenses sources
log "cargo nextest run (next to a private PostgreSQL 15, Redis 7 and SMTP server, inside a private D-Bus session with gnome-keyring, Xvfb and dunst)"
exec ./scripts/with-postgres.sh ./scripts/with-redis.sh ./scripts/with-smtp.sh ./scripts/with-desktop-services.sh \
  cargo nextest run --workspace --locked --no-fail-fast "$@"
