"""Submit + results for a prepared input file, for the end-to-end overhead benchmark."""

from __future__ import annotations

import os
from datetime import datetime, timezone

from airflow.sdk import DAG

from airflow_provider_batch.operators.batch import TogetherBatchOperator
from airflow_provider_batch.operators.results import TogetherBatchResultsOperator

with DAG(
    dag_id="apb_bench_pipeline",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
) as dag:
    submit = TogetherBatchOperator(
        task_id="submit_batch", input_path=os.environ.get("APB_BENCH_INPUT", "/nonexistent"), poll_interval=0.2
    )
    load = TogetherBatchResultsOperator(
        task_id="load_results", manifest=submit.output, warehouse_conn_id="apb_bench_warehouse"
    )
    submit >> load
