"""Scale: 10k, 100k and 1M requests (10M on request) through the operators' ``execute()``.

The local server runs in its own process with instant processing. For each size an input of
about 192 B per request is generated, and a fresh driver process (this file, run as a script) runs,
in order: the submit operator's ``execute()`` (batches of 50,000, ``wait_for_completion=False``),
the wait for the batches, and the results operator's ``execute()`` into SQLite and, when it is
reachable, into PostgreSQL (127.0.0.1:5432, database ``test``, a schema of its own). Each phase
reports wall seconds and the driver's CPU seconds; the driver's peak RSS (``VmHWM``) is read
after the last phase, so it is the operators' peak for that size alone.

Then, in the same driver, the floors the results path is measured against:

* ``download``: every batch's output file fetched with the client;
* ``reconcile``: one pass over the input (``custom_id``) and the output files with the fastest JSON
  parser installed (orjson, else msgspec, else the stdlib), building rows as wide as the
  operator's own results table (``missing`` rows for requests without a result);
* ``sqlite executemany``: those rows into a copy of the results table (same keys), one transaction;
* ``postgres COPY BINARY``: those rows into ``LIKE results INCLUDING ALL``, raw psycopg ``COPY``.

``ours/floor`` is the results ``execute()`` wall time over download + reconcile + load.

Each size runs once per vendor and round (``APB_SCALE_VENDORS=together,openai,anthropic``, the
default: the same job, 192-byte lines, through a ``together``, an ``openai`` and an ``anthropic``
connection, each against a local server of its own speaking that vendor's API, all three started
first), through the neutral ``BatchOperator`` / ``BatchResultsOperator``. ``APB_SCALE_ROUNDS=3``
repeats the whole set, the vendors' order rotated by one each round; the vendors are then compared
on the median of their rounds (submit and results ``execute()`` CPU, peak RSS) with the spread and
each median over the best vendor's. A second floor reconciles with the stdlib ``json.loads``;
``APB_SCALE_POSTGRES=0`` skips PostgreSQL, ``APB_SCALE_FLOORS=0`` the floors, and
``APB_SCALE_MAX_LINES=50000`` caps a batch below the vendor's own limit (a ``limits`` extra).

Sizes: ``APB_SCALE_SIZES=10000,100000`` (default 10k, 100k and 1M); ``APB_SCALE_10M=1`` adds
10,000,000 (its input, about 2 GB, is deleted afterwards, as is every input). Run with
``make bench`` or ``pytest tests/benchmarks/test_scale_bench.py -m benchmark -s``; prints a table and
writes ``tests/benchmarks/results/scale.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from apb_bench_server import memory_kb, server_process

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(4 * 3600)]

API_KEY = "bench-key"
MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
#: The model of each vendor's run (lines are padded to the same 192 bytes on both).
MODELS = {"together": MODEL, "openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}
LINE_BYTES = 192
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
TEN_MILLION = 10_000_000
BATCH_LINES = 50_000
RESULTS = Path(__file__).parent / "results" / "scale.json"
PG: dict[str, Any] = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
RESULTS_TABLE = "together_batch_results"
SUMMARY_TABLE = "together_batch_summary"


def sizes() -> list[int]:
    raw = os.environ.get("APB_SCALE_SIZES", "")
    chosen = [int(s.replace("_", "")) for s in raw.split(",") if s.strip()] or list(DEFAULT_SIZES)
    if os.environ.get("APB_SCALE_10M") == "1" and TEN_MILLION not in chosen:
        chosen.append(TEN_MILLION)
    return chosen


def vendors() -> list[str]:
    raw = os.environ.get("APB_SCALE_VENDORS", "")
    return [v.strip() for v in raw.split(",") if v.strip()] or list(MODELS)


def write_input(path: Path, n: int, model: str = MODEL) -> Path:
    """``n`` chat requests of 192 bytes each (newline included), distinct per file; a shorter model
    name is made up for in the prompt, so every vendor's job has the same bytes."""
    tag = uuid.uuid4().hex[:6]
    pad = "." * (len(MODEL) - len(model))
    head = '{"custom_id":"req-%08d","body":{"model":"' + model + '","max_tokens":16,"messages":'
    tail = '[{"role":"user","content":"Sort ticket %s-%08d: export stalls now' + pad + '"}]}}\n'
    with open(path, "w", encoding="ascii", buffering=1 << 20) as fh:
        for i in range(n):
            fh.write(head % i + tail % (tag, i))
    return path


def postgres_reachable() -> bool:
    try:
        import psycopg

        psycopg.connect(**PG, connect_timeout=3).close()
    except Exception:
        return False
    return True


# -- the driver, run in a fresh process per size -------------------------------------------------


class _TI:
    """Identity and XCom of a task instance, for ``execute()`` without a scheduler."""

    def __init__(self, task_id: str, run_id: str) -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index, self.try_number = (
            "scale", task_id, run_id, -1, 1,
        )  # fmt: skip
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(self, **_: Any) -> Any:
        return self.xcom.get("manifest")


class _Phases:
    """Wall and CPU seconds of each phase, and the peak RSS so far after it."""

    def __init__(self) -> None:
        self.figures: dict[str, dict[str, float]] = {}

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        started, cpu = time.perf_counter(), time.process_time()
        result = fn()
        self.figures[name] = {
            "seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu,
            "peak_rss_mb": memory_kb("VmHWM") / 1024,
        }
        return result


def _context(task_id: str, run_id: str) -> dict[str, Any]:
    from collections import defaultdict
    from datetime import datetime, timezone
    from types import SimpleNamespace

    return {
        "ti": _TI(task_id, run_id),
        "params": {},
        "dag": SimpleNamespace(dag_id="scale"),
        "run_id": run_id,
        "logical_date": datetime(2026, 1, 1, tzinfo=timezone.utc),
        "outlet_events": defaultdict(SimpleNamespace),
    }


def _client(vendor: str, base_url: str) -> Any:
    """The vendor's client as the pipeline gets it (neutral models)."""
    from airflow_provider_batch.client import ClientSettings
    from airflow_provider_batch.vendors import vendor_named

    return vendor_named(vendor).client(ClientSettings(api_key=API_KEY, base_url=base_url))


def _wait(vendor: str, base_url: str, batch_ids: list[str]) -> list[Any]:
    jobs = []
    with _client(vendor, base_url) as client:
        for batch_id in batch_ids:
            while not (job := client.batches.retrieve(batch_id)).status.is_terminal:
                time.sleep(0.05)
            jobs.append(job)
    return jobs


def drive(
    n: int, input_path: str, base_url: str, work: str, pg_schema: str | None, vendor: str = "together"
) -> dict[str, Any]:
    """Submit, wait and load ``n`` requests through the operators; then measure the floors."""
    from airflow_provider_batch.operators.batch import BatchOperator
    from airflow_provider_batch.operators.results import BatchResultsOperator

    run_id = f"scale-{n}-{uuid.uuid4().hex[:8]}"
    sqlite_path = Path(work) / "warehouse.db"
    api: dict[str, Any] = {"conn_type": vendor, "password": API_KEY, "host": base_url}
    if os.environ.get("APB_SCALE_MAX_LINES"):  # batches smaller than the vendor's own limit
        api["extra"] = {"limits": {"max_lines": int(os.environ["APB_SCALE_MAX_LINES"])}}
    os.environ["AIRFLOW_CONN_APB_SCALE_API"] = json.dumps(api)
    os.environ["AIRFLOW_CONN_APB_SCALE_SQLITE"] = json.dumps(
        {"conn_type": "sqlite", "host": str(sqlite_path)}
    )
    phases = _Phases()
    submit = BatchOperator(
        task_id="submit", conn_id="apb_scale_api", input_path=input_path, wait_for_completion=False
    )
    manifest = phases.run("submit execute()", lambda: submit.execute(_context("submit", run_id)))
    batch_ids = [b["batch_id"] for b in manifest["batches"]]
    jobs = phases.run("wait", lambda: _wait(vendor, base_url, batch_ids))
    outcomes: dict[str, Any] = {}

    def load(name: str, conn_id: str, prefix: str = "") -> None:
        task = BatchResultsOperator(
            task_id=f"load_{name}",
            conn_id="apb_scale_api",
            manifest=manifest,
            warehouse_conn_id=conn_id,
            results_table=f"{prefix}{RESULTS_TABLE}",
            summary_table=f"{prefix}{SUMMARY_TABLE}",
        )
        result = phases.run(
            f"results execute() {name}", lambda: task.execute(_context(f"load_{name}", run_id))
        )
        outcomes[name] = {"requests": result.get("requests"), "counts": result.get("counts")}

    load("sqlite", "apb_scale_sqlite")
    if pg_schema:
        conn = {"conn_type": "postgres", "host": PG["host"], "port": PG["port"], "login": PG["user"],
                "schema": PG["dbname"]}  # fmt: skip
        os.environ["AIRFLOW_CONN_APB_SCALE_POSTGRES"] = json.dumps(conn)
        load("postgres", "apb_scale_postgres", f"{pg_schema}.")
    peak = memory_kb("VmHWM") / 1024
    floors: dict[str, Any] = {}
    if os.environ.get("APB_SCALE_FLOORS") != "0":
        floors = _floors(Path(work), input_path, (vendor, base_url), jobs, sqlite_path, pg_schema)
    return {
        "vendor": vendor,
        "requests": n,
        "batches": len(batch_ids),
        "phases": phases.figures,
        "driver_peak_rss_mb": peak,
        "outcomes": outcomes,
        "floors": floors,
    }


# -- floors ----------------------------------------------------------------------------------------


def _json_loads() -> tuple[str, Callable[[bytes], Any]]:
    try:
        import orjson

        return "orjson", orjson.loads
    except ImportError:
        pass
    try:
        import msgspec

        return "msgspec", msgspec.json.decode
    except ImportError:
        return "stdlib json", json.loads


def _timed(figures: dict[str, Any], name: str, fn: Callable[[], Any]) -> Any:
    started, cpu = time.perf_counter(), time.process_time()
    result = fn()
    figures[name] = {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu}
    return result


def _template(sqlite_path: Path) -> tuple[list[str], tuple[Any, ...], str]:
    """The operator's results table: its columns, one of its rows, and its CREATE statement."""
    with contextlib.closing(sqlite3.connect(sqlite_path)) as conn:
        create = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (RESULTS_TABLE,)).fetchone()[0]
        cursor = conn.execute(f"SELECT * FROM {RESULTS_TABLE} LIMIT 1")
        columns = [d[0] for d in cursor.description]
        return columns, cursor.fetchone(), create


_FLOOR_FIELDS = ("custom_id", "batch_id", "status", "prompt_tokens", "completion_tokens", "response_json")


def _reconcile(
    input_path: str,
    outputs: list[tuple[str, Path]],
    columns: list[str],
    template: tuple[Any, ...],
    loads: Callable[[bytes], Any] | None = None,
) -> list[tuple[Any, ...]]:
    """One pass: expected ids from the input, then every output line parsed once into a row as
    wide as the operator's (the fields in ``_FLOOR_FIELDS`` set by name, the raw line standing
    for the body; the other columns keep the operator's own values from one of its rows)."""
    loads = loads or _json_loads()[1]
    slots = [columns.index(name) if name in columns else None for name in _FLOOR_FIELDS]
    base = list(template)

    def row(*values: Any) -> tuple[Any, ...]:
        out = base.copy()
        for slot, value in zip(slots, values, strict=True):
            if slot is not None:
                out[slot] = value
        return tuple(out)

    expected: dict[str, None] = {}
    with open(input_path, "rb") as fh:
        for raw in fh:
            expected[loads(raw)["custom_id"]] = None
    rows: list[tuple[Any, ...]] = []
    for batch_id, path in outputs:
        with open(path, "rb") as fh:
            for raw in fh:
                line = loads(raw)
                custom_id = line["custom_id"]
                if custom_id not in expected:
                    continue
                del expected[custom_id]
                usage = ((line.get("response") or {}).get("body") or {}).get("usage") or {}
                prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
                rows.append(row(custom_id, batch_id, "succeeded", prompt, completion, raw.decode()))
    rows.extend(row(custom_id, None, "missing", None, None, None) for custom_id in expected)
    return rows


def _sqlite_floor(work: Path, create: str, columns: list[str], rows: list[tuple[Any, ...]]) -> int:
    path = work / "floor.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(create)
        marks = ", ".join("?" for _ in columns)
        with conn:
            conn.executemany(f"INSERT INTO {RESULTS_TABLE} VALUES ({marks})", rows)
        count = conn.execute(f"SELECT COUNT(*) FROM {RESULTS_TABLE}").fetchone()[0]
    path.unlink()
    return int(count)


def _postgres_floor(schema: str, rows: list[tuple[Any, ...]]) -> int:
    import psycopg

    with psycopg.connect(**PG) as conn:
        conn.execute(f'CREATE TABLE "{schema}".floor (LIKE "{schema}".{RESULTS_TABLE} INCLUDING ALL)')
        types = [r[0] for r in conn.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position", (schema, RESULTS_TABLE)).fetchall()]  # fmt: skip
        width = len(types)
        with conn.cursor() as cur, cur.copy(f'COPY "{schema}".floor FROM STDIN (FORMAT BINARY)') as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(_pg_values(row[:width], types))
        count = conn.execute(f'SELECT COUNT(*) FROM "{schema}".floor').fetchone()
    return int(count[0]) if count else 0


def _pg_values(row: tuple[Any, ...], types: list[str]) -> tuple[Any, ...]:
    """SQLite hands back text for timestamps and JSON; PostgreSQL's binary COPY wants the types."""
    from datetime import datetime

    out = []
    for value, kind in zip(row, types, strict=True):
        if isinstance(value, str) and kind.startswith("timestamp"):
            value = datetime.fromisoformat(value)
        elif isinstance(value, int) and kind in ("boolean",):
            value = bool(value)
        elif isinstance(value, (int, float)) and kind in ("text", "character varying"):
            value = str(value)
        out.append(value)
    return tuple(out)


def _floors(
    work: Path,
    input_path: str,
    api: tuple[str, str],
    jobs: list[Any],
    sqlite_path: Path,
    pg_schema: str | None,
) -> dict[str, Any]:
    figures: dict[str, Any] = {"parser": _json_loads()[0]}
    dest = work / "floor-download"
    dest.mkdir(exist_ok=True)

    def download() -> list[tuple[str, Path]]:
        with _client(*api) as client:
            return [
                (job.id, client.files.content(job.output_file_id, dest / f"{job.id}.jsonl")) for job in jobs
            ]

    outputs = _timed(figures, "download", download)
    columns, template, create = _template(sqlite_path)
    rows = _timed(figures, "reconcile", lambda: _reconcile(input_path, outputs, columns, template))
    figures["rows"] = len(rows)

    def stdlib_pass() -> list[tuple[Any, ...]]:
        return _reconcile(input_path, outputs, columns, template, json.loads)

    stdlib = _timed(figures, "reconcile stdlib json", stdlib_pass)
    assert len(stdlib) == len(rows)
    del stdlib
    _timed(figures, "sqlite executemany", lambda: _sqlite_floor(work, create, columns, rows))
    if pg_schema:
        _timed(figures, "postgres COPY BINARY", lambda: _postgres_floor(pg_schema, rows))
    shutil.rmtree(dest, ignore_errors=True)
    return figures


# -- the test: one driver process per size ---------------------------------------------------------


@contextlib.contextmanager
def _pg_schema() -> Iterator[str | None]:
    if os.environ.get("APB_SCALE_POSTGRES") == "0" or not postgres_reachable():
        yield None
        return
    import psycopg

    schema = f"apb_scale_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(**PG, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(**PG, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _run_size(n: int, base_url: str, vendor: str = "together") -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"apb-scale-{n}-") as work, _pg_schema() as schema:
        input_path = write_input(Path(work) / "requests.jsonl", n, MODELS[vendor])
        env = {**os.environ, "AIRFLOW_HOME": str(Path(work) / "airflow")}
        out = Path(work) / "figures.json"
        command = [sys.executable, __file__, str(n), str(input_path), base_url, work, schema or "", str(out),
                   vendor]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise AssertionError(f"the {n:,}-request driver failed:\n{done.stderr[-4000:]}")
        figure: dict[str, Any] = json.loads(out.read_text())
        return figure


def _ratios(figure: dict[str, Any]) -> dict[str, dict[str, float]]:
    floors, phases = figure["floors"], figure["phases"]
    out = {}
    for name, load, parse in (
        ("sqlite", "sqlite executemany", "reconcile"),
        ("postgres", "postgres COPY BINARY", "reconcile"),
        ("sqlite vs stdlib json", "sqlite executemany", "reconcile stdlib json"),
    ):
        ours = phases.get(f"results execute() {name.split()[0]}")
        if ours and load in floors:
            floor = floors["download"]["seconds"] + floors[parse]["seconds"] + floors[load]["seconds"]
            out[name] = {
                "ours_seconds": ours["seconds"],
                "floor_seconds": floor,
                "ratio": ours["seconds"] / floor,
            }
    return out


def _lead(figure: dict[str, Any]) -> str:
    return f"{figure.get('round', 1):>5}  {figure['vendor']:>9}  {figure['requests']:>10,}"


def _print(figures: list[dict[str, Any]]) -> None:
    names = ["submit execute()", "wait", "results execute() sqlite", "results execute() postgres"]
    print("\nScale: operators' execute(), local server in its own process, instant processing")
    columns = "  ".join(f"{n:>28}" for n in names)
    header = f"{'round':>5}  {'vendor':>9}  {'requests':>10}  {columns}  {'peak RSS MB':>11}"
    print(header)
    print(f"{'':>5}  {'':>9}  {'':>10}  " + "  ".join(f"{'wall s / CPU s':>28}" for _ in names))
    for figure in figures:
        cells = []
        for name in names:
            phase = figure["phases"].get(name)
            cells.append(
                f"{phase['seconds']:>16.2f} / {phase['cpu_seconds']:>9.2f}" if phase else f"{'-':>28}"
            )
        print(f"{_lead(figure)}  " + "  ".join(cells)
              + f"  {figure['driver_peak_rss_mb']:>11.0f}")  # fmt: skip
    if any(figure["floors"] for figure in figures):
        print(
            "\nFloors (same run): download + one-pass reconcile + load; "
            "ours/floor is the results execute() wall"
        )
    for figure in figures:
        floors = figure["floors"]
        if not floors:
            continue
        parts = [f"{k} {v['seconds']:.2f} s" for k, v in floors.items() if isinstance(v, dict)]
        ratios = "; ".join(f"{k} {v['ours_seconds']:.2f}/{v['floor_seconds']:.2f} s = {v['ratio']:.2f}x"
                           for k, v in figure["ratios"].items())  # fmt: skip
        head = f"{_lead(figure)}  parser {floors['parser']}"
        print(f"{head}: {', '.join(parts)}  ->  {ratios}")


#: The figures each vendor is compared on: (label, phase or ``None`` for peak RSS, JSON key).
COMPARED = (
    ("submit execute() CPU s", "submit execute()", "cpu_seconds"),
    ("results execute() CPU s", "results execute() sqlite", "cpu_seconds"),
    ("peak RSS MB", None, "driver_peak_rss_mb"),
)


def _figure(run: dict[str, Any], phase: str | None, key: str) -> float:
    return float(run[key] if phase is None else run["phases"][phase][key])


def _vendor_comparison(figures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per size and figure: each vendor's median over its rounds, its spread (min, max), and its
    median over the best median of the vendors (1.00 is the best)."""
    out = []
    for n in dict.fromkeys(f["requests"] for f in figures):
        for label, phase, key in COMPARED:
            rows = {}
            for vendor in dict.fromkeys(f["vendor"] for f in figures):
                values = [
                    _figure(f, phase, key) for f in figures if (f["vendor"], f["requests"]) == (vendor, n)
                ]
                if values:
                    rows[vendor] = {"median": statistics.median(values), "min": min(values),
                                    "max": max(values), "values": values}  # fmt: skip
            best = min(row["median"] for row in rows.values())
            for vendor, row in rows.items():
                out.append({"requests": n, "figure": label, "vendor": vendor, **row,
                            "over_best": row["median"] / best if best else 1.0})  # fmt: skip
    return out


def _print_comparison(compared: list[dict[str, Any]]) -> None:
    print("\nVendors side by side: median of the rounds [min, max]; median over the best vendor's median")
    for row in compared:
        spread = f"[{row['min']:.2f}, {row['max']:.2f}]"
        print(f"{row['requests']:>10,}  {row['figure']:<24} {row['vendor']:>9}  {row['median']:>8.2f} "
              f"{spread:>18}  x{row['over_best']:.2f}  ({len(row['values'])} rounds)")  # fmt: skip


def rounds() -> int:
    return max(1, int(os.environ.get("APB_SCALE_ROUNDS", "1")))


def _order(chosen: list[str], round_index: int) -> list[str]:
    """The vendors of one round, rotated by one each round so no vendor always runs first."""
    shift = round_index % len(chosen)
    return chosen[shift:] + chosen[:shift]


def test_scale() -> None:
    chosen = sizes()
    load_before = os.getloadavg()
    loads = [load_before]
    figures = []
    options = ("--validating-seconds", "0", "--processing-seconds", "0")
    with contextlib.ExitStack() as stack:
        urls = {v: stack.enter_context(server_process(API_KEY, *options, "--vendor", v)) for v in vendors()}
        for round_index in range(rounds()):
            for vendor in _order(list(urls), round_index):
                for n in chosen:
                    figure = _run_size(n, urls[vendor], vendor)
                    figure["round"] = round_index + 1
                    figure["ratios"] = _ratios(figure) if figure["floors"] else {}
                    figures.append(figure)
                    assert figure["outcomes"]["sqlite"]["requests"] == n
                    loads.append(os.getloadavg())
                    cpu = {k: round(v["cpu_seconds"], 2) for k, v in figure["phases"].items()}
                    print(f"\n{_lead(figure)}  CPU s {cpu}, load {loads[-1][0]:.2f}", flush=True)
    _print(figures)
    compared = _vendor_comparison(figures)
    _print_comparison(compared)
    load_after = os.getloadavg()
    spread = [one[0] for one in loads] + [load_after[0]]
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}, "
          f"between runs {min(spread):.2f}-{max(spread):.2f} ({os.cpu_count()} CPUs)")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "node": platform.node(),
                },
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "load_average": {"before": load_before, "after": load_after, "between_runs": loads},
                "batch_lines": BATCH_LINES,
                "rounds": rounds(),
                "sizes": figures,
                "vendor_comparison": compared,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    size, source, url, workdir, schema_name, figures_path, api_vendor = sys.argv[1:8]
    figures_out = drive(int(size), source, url, workdir, schema_name or None, api_vendor)
    Path(figures_path).write_text(json.dumps(figures_out))
