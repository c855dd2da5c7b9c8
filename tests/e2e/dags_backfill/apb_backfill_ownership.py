"""Test-only DAGs for tests/e2e/test_backfill_ownership.py (in a folder of their own, so that no
other end-to-end deployment schedules them): the README's "Large jobs" pattern.

A daily catch-up DAG whose input is byte-identical every day and in every shard: ``build`` writes
``SHARDS`` identical JSONL files, ``submit`` is mapped over them, and ``load`` is mapped over the
submit manifests into one results table with ``load_mode="replace_logical_date"``. Two DAGs share
the table (``apb_backfill_a`` and ``apb_backfill_b``). The content can be changed for one DAG and
logical date through ``$APB_BACKFILL_DIR/revision-<dag_id>-<ds>`` (a re-run then makes new batches).

The same two DAGs run on every vendor: only the connection (its type says the vendor) and the model
differ. Together's keep their ids; another vendor's are ``apb_backfill_<vendor>_a`` and ``..._b``.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from airflow.sdk import DAG, task

from airflow_provider_batch.operators.batch import BatchOperator
from airflow_provider_batch.operators.results import BatchResultsOperator

WORK = Path(os.environ.get("APB_BACKFILL_DIR", "/tmp/apb-backfill"))
SHARDS = 3
PER_SHARD = 4
#: vendor -> (connection id, model). The OpenAI and Anthropic connections are the ones their Airflow
#: providers name. The request lines (``model``, user ``messages``, ``max_tokens``) are valid Messages
#: bodies too, and the operators, given no ``endpoint``, take the vendor's (``/v1/messages``).
VENDORS = {
    "together": ("together_default", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    "openai": ("openai_default", "gpt-4o-mini"),
    "anthropic": ("anthropic_default", "claude-haiku-4-5"),
}


def dag_ids(vendor: str) -> tuple[str, str]:
    """The two DAGs sharing the tables, on ``vendor``."""
    prefix = "apb_backfill" if vendor == "together" else f"apb_backfill_{vendor}"
    return f"{prefix}_a", f"{prefix}_b"


@task
def build(model: str, ds: str | None = None, run_id: str | None = None, dag: object = None) -> list[str]:
    dag_id = str(getattr(dag, "dag_id", "dag"))
    revision_file = WORK / f"revision-{dag_id}-{ds}"
    revision = revision_file.read_text().strip() if revision_file.exists() else ""
    folder = WORK / dag_id / str(run_id).replace(":", "_") / (revision or "r0")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for shard in range(SHARDS):
        path = folder / f"shard-{shard}.jsonl"
        with path.open("w") as out:
            for n in range(PER_SHARD):
                body = {"model": model, "max_tokens": 32,
                        "messages": [{"role": "user", "content": f"Say {n}{revision}"}]}  # fmt: skip
                # custom_ids repeat across shards and days, as real keys of shared tables do.
                out.write(json.dumps({"custom_id": f"s{shard}-{n}", "body": body}) + "\n")
        paths.append(str(path))
    return paths


for vendor, (conn_id, model) in VENDORS.items():
    for dag_id in dag_ids(vendor):
        with DAG(
            dag_id=dag_id,
            schedule="@daily",
            start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
            end_date=datetime(2026, 11, 2, tzinfo=timezone.utc),
            catchup=True,
            max_active_runs=2,
            tags=["test", vendor],
        ):
            submit = BatchOperator.partial(task_id="submit", conn_id=conn_id, poll_interval=1).expand(
                input_path=build(model)
            )
            BatchResultsOperator.partial(
                task_id="load",
                conn_id=conn_id,
                warehouse_conn_id="together_warehouse",
                results_table="shared_results",
                summary_table="shared_spend",
                load_mode="replace_logical_date",
            ).expand(manifest=submit.output)
