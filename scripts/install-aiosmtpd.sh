#!/usr/bin/env bash
# Installs aiosmtpd (PyPI, pinned) into a virtualenv under the cache
# directory, once; prints the virtualenv's python. Used by
# scripts/with-smtp.sh for the urgent-message e-mail tests.
set -euo pipefail
version="1.4.6"
venv="${DMP_SMTP_VENV:-$HOME/.cache/dmp-smtp}"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -m pip show aiosmtpd 2>/dev/null | grep -qx "Version: $version"; then
  echo "$venv/bin/python"
  exit 0
fi
python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "aiosmtpd==$version" >&2
echo "$venv/bin/python"
