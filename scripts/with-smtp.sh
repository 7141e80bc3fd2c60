#!/usr/bin/env bash
# Runs a command next to a private SMTP submission server on loopback
# (aiosmtpd from PyPI, pinned, in a venv under ~/.cache: scripts/install-aiosmtpd.sh):
# STARTTLS with a certificate of a private CA, AUTH required (after
# STARTTLS) for one user with a random password; every message it accepts
# is written to a directory. Exports
#   DMP_TEST_SMTP_PORT      its port on 127.0.0.1
#   DMP_TEST_SMTP_CA        the CA of its certificate (PEM; name: localhost)
#   DMP_TEST_SMTP_USER, DMP_TEST_SMTP_PASSWORD
#   DMP_TEST_SMTP_MAILDIR   where the messages land (NAME.eml + NAME.json envelope)
# runs the command, and stops the server and removes its directory at the
# end (also on failure or interruption). Tests keep apart by recipient.
#   usage: scripts/with-smtp.sh COMMAND [ARGS...]
set -euo pipefail
# shellcheck source=scripts/lib/services.sh
. "$(dirname "$0")/lib/services.sh"
here="$(cd "$(dirname "$0")" && pwd)"
python="$("$here/install-aiosmtpd.sh")"

dir="$(mktemp -d /tmp/dmp-smtp.XXXXXX)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port="$(free_port)"
password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
test_certificates "$dir" "dmp test smtp CA"
mkdir -p "$dir/mail"

"$python" "$here/lib/smtp_server.py" --port "$port" --cert "$dir/server.crt" --key "$dir/server.key" \
  --maildir "$dir/mail" --user dmp-test --password "$password" >"$dir/smtp.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  grep -q "smtp ready" "$dir/smtp.log" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/smtp.log" >&2; exit 1; }
  sleep 0.1
done
grep -q "smtp ready" "$dir/smtp.log" || { cat "$dir/smtp.log" >&2; echo "with-smtp: the SMTP server did not start" >&2; exit 1; }

export DMP_TEST_SMTP_PORT="$port"
export DMP_TEST_SMTP_CA="$dir/ca.pem"
export DMP_TEST_SMTP_USER=dmp-test
export DMP_TEST_SMTP_PASSWORD="$password"
export DMP_TEST_SMTP_MAILDIR="$dir/mail"
"$@"
