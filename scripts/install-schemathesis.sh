#!/usr/bin/env bash
# Installs schemathesis (PyPI, pinned) into a virtualenv under the cache
# directory, once. Idempotent: does nothing when the pinned version is there.
# Prints the path of the `st` binary on stdout. The OpenAPI conformance test
# (server/tests/openapi_conformance.rs) finds it there, or through
# DMP_SCHEMATHESIS.
set -euo pipefail
version="4.32.5"
venv="${DMP_SCHEMATHESIS_VENV:-$HOME/.cache/dmp-schemathesis}"
if [ -x "$venv/bin/st" ] && "$venv/bin/python" -m pip show schemathesis 2>/dev/null | grep -qx "Version: $version"; then
  echo "$venv/bin/st"
  exit 0
fi
python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$version" >&2
echo "$venv/bin/st"
