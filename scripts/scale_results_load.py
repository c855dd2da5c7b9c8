"""Reconcile and load N requests from batch files on disk, as the results operator does after its
downloads, and print CPU, wall time and peak RSS (the results-path figures in BENCHMARKS.md).

    python scripts/scale_results_load.py generate N DIR      # N requests, 50,000 per batch
    python scripts/scale_results_load.py load DIR sqlite|postgres

PostgreSQL: 127.0.0.1:5432, user postgres, database ``test``. Run each load in its own process:
the peak RSS is the process's.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

PER_BATCH = 50_000
MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"


def generate(n: int, root: Path) -> None:
    from airflow_provider_batch.testing.server.responder import chat_completion

    request = {
        "model": MODEL,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "What is 7 squared?"}],
    }
    template = chat_completion(request, created=1767261700, completion_id="c")
    for start in range(0, n, PER_BATCH):
        folder = root / f"batch-{start // PER_BATCH:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "input.jsonl").open("w") as inp, (folder / "output.jsonl").open("w") as out:
            for i in range(start, min(start + PER_BATCH, n)):
                cid = f"row-{i}"
                messages = [{"role": "user", "content": f"What is {i} squared?"}]
                inp.write(json.dumps({"custom_id": cid, "body": {**request, "messages": messages}}) + "\n")
                answer = {"role": "assistant", "content": f"[simulated] answer {i}"}
                body = {**template, "id": f"c-{i}", "choices": [{"index": 0, "message": answer,
                                                                 "finish_reason": "stop"}]}  # fmt: skip
                line = {"id": f"l-{i}", "custom_id": cid, "response": {"status_code": 200, "body": body}}
                out.write(json.dumps(line) + "\n")


def _hook(db: str) -> Any:
    if db == "sqlite":
        from airflow.providers.sqlite.hooks.sqlite import SqliteHook

        path = "/tmp/apb-scale-warehouse.db"
        if os.path.exists(path):
            os.remove(path)
        os.environ["AIRFLOW_CONN_APB_SCALE"] = json.dumps({"conn_type": "sqlite", "host": path})
        return SqliteHook(sqlite_conn_id="apb_scale")
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    conn = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}
    os.environ["AIRFLOW_CONN_APB_SCALE"] = json.dumps(conn)
    hook = PostgresHook(postgres_conn_id="apb_scale")
    hook.run("DROP TABLE IF EXISTS apb_scale_results; DROP TABLE IF EXISTS apb_scale_summary")
    return hook


def load(root: Path, db: str) -> None:
    from airflow_provider_batch.pricing import DEFAULT_PRICE_TABLE
    from airflow_provider_batch.results import (
        BatchStream,
        ParsedFile,
        RunContext,
        WarehouseLoader,
        iter_expected,
    )

    run = RunContext("scale", "run-1", datetime(2026, 1, 1, tzinfo=timezone.utc), datetime.now(timezone.utc),
                     "results", -1)  # fmt: skip
    loader = WarehouseLoader(_hook(db), results_table="apb_scale_results", summary_table="apb_scale_summary")
    loader.ensure_tables()
    streams = [
        BatchStream(
            iter_expected(d / "input.jsonl"),
            ParsedFile(d / "output.jsonl", "output"),
            ParsedFile(None, "error"),
            batch_id=d.name,
            batch_status="COMPLETED",
            prices=DEFAULT_PRICE_TABLE,
            run=run,
        )
        for d in sorted(root.iterdir())
    ]
    wall, cpu = time.perf_counter(), time.process_time()
    rows = itertools.chain.from_iterable(s.rows() for s in streams)
    stats = loader.load(rows, lambda: [s.summary for s in streams], run=run)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{db}: {stats.rows} rows, wall {wall:.1f} s, CPU {cpu:.1f} s, peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(int(sys.argv[2]), Path(sys.argv[3]))
    else:
        load(Path(sys.argv[2]), sys.argv[3])
