#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with the real desktop
# services the client tests need: an unlocked gnome-keyring Secret Service,
# an X server (Xvfb) and a notification daemon (dunst). Everything started
# here stops with the session.
#   usage: scripts/with-desktop-services.sh COMMAND [ARGS...]
set -euo pipefail
if [ -z "${DMP_INSIDE_DBUS:-}" ]; then
  export DMP_INSIDE_DBUS=1
  # The bus and the services it starts (portals, dunst) write to their own
  # log, not between the command's lines (after the summary, "X connection
  # broken" when the X server stops); the command keeps this stderr (fd 3).
  DMP_BUS_LOG="$(mktemp /tmp/dmp-bus.XXXXXX.log)"
  export DMP_BUS_LOG
  exec 3>&2
  exec dbus-run-session -- "$0" "$@" 2>"$DMP_BUS_LOG"
fi
if { true >&3; } 2>/dev/null; then
  exec 2>&3 3>&-
fi

tmp="$(mktemp -d)"
pids=()
cleanup() {
  local status=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # The document portal (started with the desktop portal) mounts a FUSE file
  # system in the runtime dir: unmount it before removing the directory.
  if [ -d "$tmp/run/doc" ]; then
    fusermount -u -z "$tmp/run/doc" 2>/dev/null || umount -l "$tmp/run/doc" 2>/dev/null || true
  fi
  rm -rf "$tmp" 2>/dev/null || true
  # The bus's log is kept only when the command failed, and named.
  if [ -n "${DMP_BUS_LOG:-}" ]; then
    if [ "$status" = 0 ]; then
      rm -f "$DMP_BUS_LOG"
    else
      echo "desktop services' log: $DMP_BUS_LOG" >&2
    fi
  fi
}
trap cleanup EXIT

# A throw-away keyring home so the user's real keyring is never touched.
export XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config" XDG_RUNTIME_DIR="$tmp/run"
mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
eval "$(printf 'dmp-test-keyring' | gnome-keyring-daemon --unlock --components=secrets 2>/dev/null)"
export GNOME_KEYRING_CONTROL="${GNOME_KEYRING_CONTROL:-}"

# An X display for the notification daemon (and later the desktop app).
if [ -z "${DISPLAY:-}" ] || [ -n "${DMP_FORCE_XVFB:-}" ]; then
  for n in $(seq 90 140); do
    if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ]; then
      Xvfb ":$n" -screen 0 1280x900x24 -nolisten tcp >"$tmp/xvfb.log" 2>&1 &
      pids+=("$!")
      export DISPLAY=":$n"
      break
    fi
  done
  for _ in $(seq 1 50); do [ -e "/tmp/.X11-unix/${DISPLAY#:}" ] || [ -e "/tmp/.X11-unix/X${DISPLAY#:}" ] && break; sleep 0.1; done
fi

# Services the bus starts on demand (the desktop portal, dunst) need the display.
# No accessibility bus: nothing here reads it, and it chatters on stderr.
export NO_AT_BRIDGE=1
dbus-update-activation-environment DISPLAY XDG_DATA_HOME XDG_CONFIG_HOME XDG_RUNTIME_DIR NO_AT_BRIDGE 2>/dev/null || true

dunst >"$tmp/dunst.log" 2>&1 &
pids+=("$!")
# Wait until the notification service and the Secret Service answer on the bus.
for _ in $(seq 1 100); do
  if dbus-send --session --print-reply --dest=org.freedesktop.Notifications /org/freedesktop/Notifications \
       org.freedesktop.Notifications.GetServerInformation >/dev/null 2>&1; then break; fi
  sleep 0.1
done
for _ in $(seq 1 100); do
  if dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
       org.freedesktop.DBus.Peer.Ping >/dev/null 2>&1; then break; fi
  sleep 0.1
done
# A desktop session already runs the XDG desktop portal, which GTK asks for its
# settings when an app starts: start it now (if installed) so an app's start
# is measured as on a workstation, not with the portal's own start inside it.
dbus-send --session --print-reply --dest=org.freedesktop.portal.Desktop /org/freedesktop/portal/desktop \
  org.freedesktop.DBus.Peer.Ping >/dev/null 2>&1 || true
export DMP_DESKTOP_SERVICES=1
"$@"
