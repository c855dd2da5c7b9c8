#!/usr/bin/env bash
# The browser test of the "Together batches" page (tests/ui/test_browser.py, marker `ui`).
#
# Installs what it needs from the project's own files (the `ui-test` extra: Playwright, which
# drives the system browser and never downloads one) and from Debian (`chromium`, when missing
# and apt-get is available), then runs it on a real Airflow with PostgreSQL and Redis. The
# screenshot lands in artifacts/ui/. With REQUIRE_SERVICES=1 a missing browser or service fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python -e ".[dev,ui-test]"
if [[ ! -x "${APB_CHROMIUM:-/usr/bin/chromium}" ]] && command -v apt-get >/dev/null; then
    echo "ui_test: installing Debian's chromium" >&2
    if ! apt-get install -y --no-install-recommends chromium >/dev/null; then
        apt-get update -qq
        apt-get install -y --no-install-recommends chromium >/dev/null
    fi
fi
mkdir -p artifacts/ui
exec .venv/bin/python -m pytest -p no:cacheprovider -m ui tests/ui -q "$@"
