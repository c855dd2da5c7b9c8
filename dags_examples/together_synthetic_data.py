"""Synthetic data generation: many varied prompts from a few seed topics, written from TaskFlow code.

A TaskFlow task expands seed topics x personas x styles into requests with one call to
``build_requests`` (no SQL source needed), the batch runs deferrably, and the generated texts land
in ``synthetic_questions`` with their persona and style carried as metadata columns.
"""

from __future__ import annotations

import itertools

from airflow.sdk import DAG, task

from airflow_provider_batch.operators.batch import TogetherBatchOperator
from airflow_provider_batch.operators.build import build_requests
from airflow_provider_batch.operators.results import TogetherBatchResultsOperator

from _example_config import (
    CHAT_MODEL,
    POLL_INTERVAL,
    START_DATE,
    TOGETHER_CONN_ID,
    WAREHOUSE_CONN_ID,
    WORK_DIR,
)

TOPICS = ["exporting invoices", "resetting two-factor login", "webhook retries", "usage-based pricing"]
PERSONAS = ["new admin", "finance lead", "backend developer"]
STYLES = ["terse", "detailed", "frustrated"]

with DAG(
    dag_id="together_synthetic_data",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    tags=["together", "batch", "example", "synthetic-data"],
    doc_md=__doc__,
) as dag:

    @task
    def build(run_id: str | None = None) -> dict:
        seeds = (
            {"seed_id": f"syn-{n:04d}", "topic": t, "persona": p, "style": s}
            for n, (t, p, s) in enumerate(itertools.product(TOPICS, PERSONAS, STYLES))
        )
        return build_requests(
            seeds,
            str(WORK_DIR / "synthetic" / str(run_id).replace(":", "_") / "requests.jsonl"),
            key_column="seed_id",
            model=CHAT_MODEL,
            system_prompt="You write realistic customer questions for a B2B SaaS help centre.",
            user_template="Write one {style} question a {persona} might ask about {topic}.",
            body={"max_tokens": 80, "temperature": 0.9},
            metadata_columns=["topic", "persona", "style"],
        )

    requests = build()
    submit = TogetherBatchOperator(
        task_id="submit_batch",
        input_path="{{ ti.xcom_pull(task_ids='build')['path'] }}",
        metadata_manifest="{{ ti.xcom_pull(task_ids='build')['metadata_path'] }}",
        together_conn_id=TOGETHER_CONN_ID,
        poll_interval=POLL_INTERVAL,
    )
    load = TogetherBatchResultsOperator(
        task_id="load_results",
        manifest=submit.output,
        together_conn_id=TOGETHER_CONN_ID,
        warehouse_conn_id=WAREHOUSE_CONN_ID,
        results_table="synthetic_questions",
        summary_table="synthetic_spend",
    )
    requests >> submit >> load
