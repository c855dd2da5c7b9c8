"""Test-only DAGs of the browser test (tests/ui/test_browser.py); inputs in ``$APB_UI_INPUTS``.

* ``alice_failures``: one batch in which three requests fail at the server (two
  ``server_error``, one ``context_length_exceeded``), loaded into the warehouse;
* ``alice_running``: one batch the server holds ``IN_PROGRESS`` while the test looks at it.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from airflow.sdk import DAG

from airflow_provider_batch.operators.batch import TogetherBatchOperator
from airflow_provider_batch.operators.results import TogetherBatchResultsOperator

INPUTS = os.environ.get("APB_UI_INPUTS", "/tmp/apb-ui")
START = datetime(2026, 1, 1, tzinfo=timezone.utc)

with DAG(dag_id="alice_failures", schedule=None, start_date=START, catchup=False, tags=["test"]):
    submit = TogetherBatchOperator(task_id="submit", input_path=f"{INPUTS}/failures.jsonl", poll_interval=2)
    submit >> TogetherBatchResultsOperator(
        task_id="results",
        submit_task_id="submit",
        warehouse_conn_id="apb_warehouse",
        results_table="ui_results",
        summary_table="ui_results_summary",
    )

with DAG(dag_id="alice_running", schedule=None, start_date=START, catchup=False, tags=["test"]):
    TogetherBatchOperator(task_id="submit", input_path=f"{INPUTS}/running.jsonl", poll_interval=2)
