#!/usr/bin/env bash
# The warehouse emulators, installed from the project's own files and run offline.
#
#   bash scripts/warehouse_emulators.sh install   # .venv-warehouses and .venv-bqemulator
#   bash scripts/warehouse_emulators.sh test      # install, then pytest -m warehouses tests/warehouses tests/results
#   bash scripts/warehouse_emulators.sh start     # install, then run both emulators in the foreground
#
# .venv-warehouses: the project with the `dev` and `warehouses` extras (fakesnow with its server
# mode, the Snowflake connector below 4 and provider, DuckDB and its provider, the BigQuery client).
# It is a venv of its own because the Snowflake provider holds SQLAlchemy below 2.1.
# .venv-bqemulator: the BigQuery emulator with its DuckDB pinned, and the DuckDB extensions it
# would download at start (spatial, avro) installed from their PyPI packages into the DuckDB
# extension folder under .venv-bqemulator/home (the emulator runs with HOME there), plus numpy.
# Idempotent: each venv is rebuilt only when pyproject.toml or this script changed.
set -euo pipefail
cd "$(dirname "$0")/.."
BQ_DUCKDB=1.5.5   # the newest DuckDB with duckdb-extension-* packages; bqemulator 1.4.0 needs >= 1.5
BQ_REQS=("bqemulator==1.4.0" "duckdb==$BQ_DUCKDB" "duckdb-extension-spatial==$BQ_DUCKDB"
    "duckdb-extension-avro==$BQ_DUCKDB" "numpy>=1.26")
STAMP_ID="$(cat pyproject.toml "$0" | sha256sum | cut -c1-16)"

install() {
    bash scripts/bootstrap.sh   # for its uv
    local uv=.venv/bin/uv py="${PYTHON:-python3}"
    if [[ ! -f .venv-warehouses/.installed-$STAMP_ID ]]; then
        echo "warehouse_emulators: installing .[dev,warehouses] into .venv-warehouses (uv) ..." >&2
        [[ -x .venv-warehouses/bin/python ]] || "$py" -m venv .venv-warehouses
        "$uv" pip install --quiet --compile-bytecode --python .venv-warehouses/bin/python -e ".[dev,warehouses]"
        rm -f .venv-warehouses/.installed-*
        touch ".venv-warehouses/.installed-$STAMP_ID"
    fi
    if [[ ! -f .venv-bqemulator/.installed-$STAMP_ID ]]; then
        echo "warehouse_emulators: installing bqemulator into .venv-bqemulator (uv) ..." >&2
        [[ -x .venv-bqemulator/bin/python ]] || "$py" -m venv .venv-bqemulator
        "$uv" pip install --quiet --compile-bytecode --python .venv-bqemulator/bin/python "${BQ_REQS[@]}"
        local ext_dir
        ext_dir=".venv-bqemulator/home/.duckdb/extensions/v$BQ_DUCKDB/$(.venv-bqemulator/bin/python -c \
            'import duckdb; print(duckdb.execute("PRAGMA platform").fetchone()[0])')"
        mkdir -p "$ext_dir"
        cp .venv-bqemulator/lib/python3*/site-packages/duckdb_extension_*/extensions/"v$BQ_DUCKDB"/*.duckdb_extension \
            "$ext_dir/"
        rm -f .venv-bqemulator/.installed-*
        touch ".venv-bqemulator/.installed-$STAMP_ID"
    fi
}

case "${1:-install}" in
    install) install ;;
    test)
        install
        shift
        exec .venv-warehouses/bin/python -m pytest -p no:cacheprovider -m warehouses tests/warehouses tests/results -q "$@"
        ;;
    start)
        install
        HOME="$PWD/.venv-bqemulator/home" .venv-bqemulator/bin/bqemulator start --project apb-test &
        exec .venv-warehouses/bin/python -m fakesnow -s -p 8765
        ;;
    *) echo "usage: $0 [install|test|start]" >&2; exit 2 ;;
esac
