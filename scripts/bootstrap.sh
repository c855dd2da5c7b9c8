#!/usr/bin/env bash
# Create .venv and install the project with every extra it needs for the demo and the tests.
# Idempotent: it reinstalls only when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
VENV=.venv
STAMP="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [[ -f "$STAMP" ]]; then exit 0; fi
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PY" -m venv "$VENV"
fi
if [[ ! -x "$VENV/bin/uv" ]]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv>=0.4"
fi
echo "bootstrap: installing airflow-provider-batch[dev] into $VENV (uv) ..." >&2
"$VENV/bin/uv" pip install --quiet --compile-bytecode --python "$VENV/bin/python" -e ".[dev]"
rm -f "$VENV"/.installed-*
touch "$STAMP"
