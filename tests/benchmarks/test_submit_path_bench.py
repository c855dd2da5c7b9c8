"""What the submit path costs on accounts of 0, 10,000 and 125,000 files, streamed vs today's
whole-body lists, side by side in one run.

The local server runs in its own process, started with ``--seed-files N`` (N // 3 completed
batches with their input, output and error files). Each operation runs in a fresh client process
(this file, run as a script), so the peak-RSS growth measured (``VmHWM`` after minus before) is
that operation's alone. Operations:

* new path: ``upload`` + ``create`` (no list at all); the ambiguous-create recovery
  ``batches.find_by_input_file``; the Test button (first batch of the streamed list); a full
  ``files.iter()`` pass, and ``files.list()`` (the same stream, kept whole);
* baseline, the approach before streaming: the whole file and batch lists read as one body
  (capped at 32 MiB) and parsed at once, as ``files.list()`` / ``batches.list()`` did; the
  submit path that looked up files and batches by listing them first, then uploaded with a
  checksum and created; the whole file list with the cap lifted (what it would take in memory);
* reference: the batch list's bytes read and dropped (the server's and the transport's share).

Seconds are wall time (median of the repeats); CPU seconds are the client process's own.

Prints a table and writes ``tests/benchmarks/results/submit_path.json``. Run with ``make bench`` or
``pytest tests/benchmarks/test_submit_path_bench.py -m benchmark -s``.
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from apb_bench_server import memory_kb, server_process

API_KEY = "bench-key"
SIZES = (0, 10_000, 125_000)
#: Repeats of a cheap operation within its process (the median is reported).
REPEATS = 3
RESULTS = Path(__file__).parent / "results" / "submit_path.json"
REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
LINES = 200
WHOLE_FILES = "baseline: whole file list"
LIFTED = "baseline: whole file list, cap lifted"


def write_input(path: Path, marker: str) -> Path:
    """A 200-request batch input, made distinct by ``marker``."""
    with open(path, "w", encoding="utf-8") as handle:
        for n in range(LINES):
            messages = [{"role": "user", "content": f"{marker} q{n}"}]
            body = {"model": MODEL, "max_tokens": 8, "messages": messages}
            handle.write(json.dumps({"custom_id": f"req-{n}", "body": body}) + "\n")
    return path


# -- the client side, run in a fresh process -----------------------------------------------------


def _whole_list(client: Any, spec: Any, parse: Callable[[Any], Any]) -> list[Any]:
    """Today's list: one body read under ``max_response_bytes``, then every element parsed."""

    def parse_all(_: Any, response: Any) -> list[Any]:
        data = response.json()
        items = data.get("data") if isinstance(data, dict) else data
        return [parse(item) for item in items or []]

    return client._call(spec, parse_all)  # type: ignore[no-any-return]


def _operations(client: Any, work: Path, target: str) -> dict[str, tuple[int, Callable[[], Any]]]:
    from airflow_provider_batch.client.models import FileObject
    from airflow_provider_batch.vendors.together.client import _ops as ops

    counter = iter(range(1_000))

    def upload_create(dedupe: bool) -> str:
        path = write_input(work / f"in-{next(counter)}-{time.time_ns()}.jsonl", f"{time.time_ns()}")
        file_id = client.files.upload(path, dedupe=dedupe).id
        return str(client.batches.create(file_id).job.input_file_id)

    def baseline_submit() -> str:
        _whole_list(client, ops.file_list(), FileObject.model_validate)
        _whole_list(client, ops.batch_list(), ops._batch)
        return upload_create(dedupe=True)

    def raw_batch_list() -> int:
        size = 0
        with client._http.stream(
            "GET", f"{client.settings.base_url}/batches", headers={"Authorization": f"Bearer {API_KEY}"}
        ) as answer:
            for chunk in answer.iter_raw():
                size += len(chunk)
        return size

    def first_batch() -> Any:
        jobs = client.batches.iter()
        try:
            return next(jobs, None)
        finally:
            jobs.close()

    return {
        "upload + create": (REPEATS, lambda: upload_create(dedupe=False)),
        "find_by_input_file": (REPEATS, lambda: len(client.batches.find_by_input_file(target))),
        "Test button (first batch)": (REPEATS, first_batch),
        "files.iter() full pass": (1, lambda: sum(1 for _ in client.files.iter())),
        "files.list() (streamed, kept whole)": (1, lambda: len(client.files.list())),
        "baseline: list files + batches, upload (checksum) + create": (1, baseline_submit),
        "baseline: whole batch list": (1, lambda: len(_whole_list(client, ops.batch_list(), ops._batch))),
        "reference: batch list bytes, unparsed": (1, raw_batch_list),
        WHOLE_FILES: (1, lambda: len(_whole_list(client, ops.file_list(), FileObject.model_validate))),
    }


def drive(op: str, base_url: str, work: str, target: str) -> dict[str, Any]:
    """Run ``op`` in this process: median seconds, peak-RSS growth in MB, and the outcome."""
    from airflow_provider_batch.client import ClientSettings, TogetherClient, TogetherError

    lifted = op == LIFTED
    cap = {"max_response_bytes": 2**31} if lifted else {}
    with TogetherClient(ClientSettings(api_key=API_KEY, base_url=base_url, **cap)) as client:
        name = WHOLE_FILES if lifted else op
        repeats, run = _operations(client, Path(work), target)[name]
        before = memory_kb("VmHWM")
        times, cpu, outcome = [], [], ""
        for _ in range(repeats):
            started, cpu_started = time.perf_counter(), time.process_time()
            try:
                outcome = str(run())
            except TogetherError as exc:
                outcome = f"fails: {type(exc).__name__}"
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
        growth = (memory_kb("VmHWM") - before) / 1024
    return {
        "seconds": statistics.median(times),
        "cpu_seconds": statistics.median(cpu),
        "rss_growth_mb": growth,
        "outcome": outcome,
    }


OPS = (
    "upload + create",
    "find_by_input_file",
    "Test button (first batch)",
    "files.iter() full pass",
    "files.list() (streamed, kept whole)",
    "baseline: list files + batches, upload (checksum) + create",
    "baseline: whole batch list",
    "reference: batch list bytes, unparsed",
    WHOLE_FILES,
    LIFTED,
)


# -- the benchmark ---------------------------------------------------------------------------------


def _run_client(op: str, base_url: str, work: Path, target: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, op, base_url, str(work), target],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.benchmark
def test_submit_path_cost_by_account_size(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = []
    for files in SIZES:
        with server_process(API_KEY, "--seed-files", str(files), "--validating-seconds", "3600") as url:
            target = ""
            for op in OPS:
                run = _run_client(op, url, tmp_path, target or "file-none")
                if op == "upload + create":
                    target = run["outcome"]  # the recovery looks for the batch this run created
                rows.append(
                    {
                        "files": files,
                        "op": op,
                        "seconds": round(run["seconds"], 3),
                        "client_cpu_s": round(run["cpu_seconds"], 3),
                        "rss_growth_mb": round(run["rss_growth_mb"], 1),
                        "outcome": run["outcome"],
                    }
                )
    _report(rows)
    by = {(r["files"], r["op"]): r for r in rows}
    for files in SIZES:
        assert by[(files, "find_by_input_file")]["outcome"] == "1"
        assert by[(files, "upload + create")]["rss_growth_mb"] < 16
    assert by[(125_000, WHOLE_FILES)]["outcome"] == "fails: ResponseTooLargeError"
    assert int(by[(125_000, "files.iter() full pass")]["outcome"]) >= 125_000


def _report(rows: list[dict[str, Any]]) -> None:
    print(f"\n{'files':>8}  {'operation':<60} {'s':>8} {'CPU s':>7} {'RSS MB':>7}  outcome")
    for r in rows:
        figures = f"{r['seconds']:>8} {r['client_cpu_s']:>7} {r['rss_growth_mb']:>7}"
        print(f"{r['files']:>8}  {r['op']:<60} {figures}  {r['outcome'][:40]}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "repeats": REPEATS,
        "note": "server in its own process with --seed-files; one client process per row",
    }
    RESULTS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    print(json.dumps(drive(*sys.argv[1:5])))
