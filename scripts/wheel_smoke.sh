#!/usr/bin/env bash
# The built wheel is the product: build it, install it into a clean venv, and use it as a user
# would, from a temporary directory with no checkout on sys.path. Checks that
#   - the wheel holds py.typed, the local server and the pytest plugin, and no repo-only files;
#   - Airflow discovers the provider (`airflow providers list`);
#   - `python -m airflow_provider_batch.testing.server` starts and answers;
#   - the pytest plugin's fixtures (together_server, together_connection) work in a throwaway test;
#   - an example DAG (copied in with its settings module: examples are not package files) runs
#     with dag.test() against that server and loads its rows.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
bash scripts/bootstrap.sh          # for uv
UV=$REPO/.venv/bin/uv
WORK=$(mktemp -d -t apb-wheel-XXXXXX)
SERVER_PID=
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
say() { echo "wheel-smoke: $*" >&2; }

say "building the wheel"
"$UV" build --wheel --quiet --out-dir "$WORK/dist" "$REPO"
WHEEL=$(ls "$WORK"/dist/*.whl)
say "built $(basename "$WHEEL")"

python3 - "$WHEEL" <<'PY'
import sys
import zipfile

names = set(zipfile.ZipFile(sys.argv[1]).namelist())
required = [
    "airflow_provider_batch/py.typed",
    "airflow_provider_batch/get_provider_info.py",
    "airflow_provider_batch/testing/pytest_plugin.py",
    "airflow_provider_batch/testing/server/__main__.py",
]
missing = [n for n in required if n not in names]
stray = sorted(n for n in names if n.split("/")[0] in {"tests", "dags_examples", "scripts", ".ci"})
entry_points = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
text = zipfile.ZipFile(sys.argv[1]).read(entry_points).decode() if entry_points else ""
groups = [g for g in ("[apache_airflow_provider]", "[pytest11]") if g not in text]
if missing or stray or groups:
    sys.exit(f"wheel contents: missing {missing}, repo-only files {stray}, entry point groups missing {groups}")
print(f"wheel-smoke: contents ok ({len(names)} files, py.typed and both entry points present)", file=sys.stderr)
PY

say "installing it into a clean venv"
"$UV" venv --quiet --python "${PYTHON:-python3}" "$WORK/venv"
# pytest only for the plugin check (the dev extra's floor); everything else comes from the wheel.
"$UV" pip install --quiet --compile-bytecode --python "$WORK/venv/bin/python" "$WHEEL" "pytest>=8"
PY="$WORK/venv/bin/python"
say "packages in the clean venv:"
"$UV" pip freeze --python "$PY" | sed 's/^/  freeze: /' >&2

mkdir -p "$WORK/run" "$WORK/dags" "$WORK/home"
cd "$WORK/run"
unset PYTHONPATH
export AIRFLOW_HOME="$WORK/home" AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__CORE__DAGS_FOLDER="$WORK/dags"
"$PY" -c "
import airflow_provider_batch as p, sys
assert p.__file__.startswith('$WORK/venv/'), p.__file__
assert not any(s.startswith('$REPO') for s in sys.path if s), sys.path
"

say "airflow providers list"
"$WORK/venv/bin/airflow" providers list -o plain 2>/dev/null | grep -E "^airflow-provider-batch +" >&2

say "starting the local server"
KEY=smoke-key
"$PY" -m airflow_provider_batch.testing.server --port 0 --api-key "$KEY" \
    --validating-seconds 0.1 --processing-seconds 0.5 >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do
    grep -q "^READY " "$WORK/server.out" && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.err" >&2; exit 1; }
    sleep 0.2
done
BASE=$(sed -n 's/^READY //p' "$WORK/server.out")
[[ -n "$BASE" ]] || { say "the server printed no READY line"; exit 1; }
curl -sf -H "Authorization: Bearer $KEY" "$BASE/files" | grep -q '"object"' || { say "$BASE/files did not answer"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/batches")
[[ "$code" == 401 ]] || { say "without a key the server answered $code, not 401"; exit 1; }
say "server at $BASE answers (and refuses a request without the key)"

say "pytest plugin fixtures in a throwaway test"
cat >"$WORK/run/test_plugin_smoke.py" <<'PY'
from airflow_provider_batch.hooks.together import TogetherBatchHook


def test_fixtures_point_the_connection_at_the_server(together_server, together_connection):
    assert together_connection == "together_default"
    with TogetherBatchHook(together_connection).get_conn() as client:
        uploaded = client.files.upload(_input(together_server), purpose="batch-api")
        job = client.batches.create(uploaded.id, "/v1/chat/completions").job
    assert together_server.stats()["batch_creates"] == 1
    assert job.id in {b["id"] for b in together_server.batches()}


def _input(server):
    import json, pathlib, tempfile

    line = {"custom_id": "a", "body": {"model": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
                                       "messages": [{"role": "user", "content": "hi"}]}}
    path = pathlib.Path(tempfile.mkdtemp()) / "in.jsonl"
    path.write_text(json.dumps(line) + "\n")
    return path
PY
"$PY" -m pytest -q -p no:cacheprovider test_plugin_smoke.py >&2

say "example DAG together_synthetic_data with dag.test()"
cp "$REPO/dags_examples/together_synthetic_data.py" "$REPO/dags_examples/_example_config.py" "$WORK/dags/"
"$WORK/venv/bin/airflow" db migrate >"$WORK/migrate.log" 2>&1 || { tail -20 "$WORK/migrate.log" >&2; exit 1; }
export AIRFLOW_CONN_TOGETHER_DEFAULT="{\"conn_type\": \"together\", \"password\": \"$KEY\", \"host\": \"$BASE\"}"
export AIRFLOW_CONN_TOGETHER_WAREHOUSE="{\"conn_type\": \"sqlite\", \"host\": \"$WORK/warehouse.db\"}"
# A local server answers in a second: the documented opt-out lowers the 5 s poll floor, as in tests.
export APB_WORK_DIR="$WORK/work" APB_POLL_INTERVAL=0.2 APB_MIN_POLL_INTERVAL=0.1
"$PY" - "$WORK" <<'PY' >"$WORK/dag.log" 2>&1 || { tail -40 "$WORK/dag.log" >&2; exit 1; }
import sqlite3
import sys

work = sys.argv[1]
sys.path.insert(0, f"{work}/dags")
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 3.1
    from airflow.models.dagbag import DagBag

bag = DagBag(f"{work}/dags")
assert not bag.import_errors, bag.import_errors
run = bag.get_dag("together_synthetic_data").test()
assert run.state == "success", run.state
with sqlite3.connect(f"{work}/warehouse.db") as db:
    rows = db.execute("SELECT status, COUNT(*) FROM synthetic_questions GROUP BY status").fetchall()
assert rows == [("succeeded", 36)], rows
print(f"wheel-smoke: dag.test() succeeded, synthetic_questions: {rows}", file=sys.stderr)
PY
grep "^wheel-smoke:" "$WORK/dag.log" >&2
say "ok"
