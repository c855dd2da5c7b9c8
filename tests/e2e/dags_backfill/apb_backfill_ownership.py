"""Test-only DAGs for tests/e2e/test_backfill_ownership.py (in a folder of their own, so that no
other end-to-end deployment schedules them): the README's "Large jobs" pattern.

A daily catch-up DAG whose input is byte-identical every day and in every shard: ``build`` writes
``SHARDS`` identical JSONL files, ``submit`` is mapped over them, and ``load`` is mapped over the
submit manifests into one results table with ``load_mode="replace_logical_date"``. Two DAGs share
the table (``apb_backfill_a`` and ``apb_backfill_b``). The content can be changed for one logical
date through ``$APB_BACKFILL_DIR/revision-<ds>`` (a re-run then makes new batches).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from airflow.sdk import DAG, task

from airflow_provider_batch.operators.batch import TogetherBatchOperator
from airflow_provider_batch.operators.results import TogetherBatchResultsOperator

WORK = Path(os.environ.get("APB_BACKFILL_DIR", "/tmp/apb-backfill"))
SHARDS = 3
PER_SHARD = 4
MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"


@task
def build(ds: str | None = None, run_id: str | None = None, dag: object = None) -> list[str]:
    revision_file = WORK / f"revision-{ds}"
    revision = revision_file.read_text().strip() if revision_file.exists() else ""
    folder = WORK / str(getattr(dag, "dag_id", "dag")) / str(run_id).replace(":", "_") / (revision or "r0")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for shard in range(SHARDS):
        path = folder / f"shard-{shard}.jsonl"
        with path.open("w") as out:
            for n in range(PER_SHARD):
                body = {"model": MODEL, "max_tokens": 32,
                        "messages": [{"role": "user", "content": f"Say {n}{revision}"}]}  # fmt: skip
                # custom_ids repeat across shards and days, as real keys of shared tables do.
                out.write(json.dumps({"custom_id": f"s{shard}-{n}", "body": body}) + "\n")
        paths.append(str(path))
    return paths


for dag_id in ("apb_backfill_a", "apb_backfill_b"):
    with DAG(
        dag_id=dag_id,
        schedule="@daily",
        start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
        end_date=datetime(2026, 11, 2, tzinfo=timezone.utc),
        catchup=True,
        max_active_runs=2,
        tags=["test"],
    ):
        submit = TogetherBatchOperator.partial(task_id="submit", poll_interval=1).expand(input_path=build())
        TogetherBatchResultsOperator.partial(
            task_id="load",
            warehouse_conn_id="together_warehouse",
            results_table="shared_results",
            summary_table="shared_spend",
            load_mode="replace_logical_date",
        ).expand(manifest=submit.output)
