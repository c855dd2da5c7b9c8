"""Test-only DAG for tests/e2e/test_lifecycle_distributed.py: deferred batches and what may end them.

Every task submits its own small JSONL (``$APB_LIFECYCLE_INPUTS/<task_id>.jsonl``) as one batch;
the test's server keeps batches ``IN_PROGRESS`` far longer than the test runs, and the test ends
them with the server's control API, a user action through Airflow's REST API, or the deadline:

* ``killed_by_user``: marked failed by the test while deferred; its trigger's ``on_kill`` must
  cancel the batch.
* ``times_out``: a 45 s ``timeout`` with ``cancel_on_timeout``; the triggerer is SIGKILLed and
  restarted mid-way, and the deadline must still be the original one.
* ``survives_restart``: must keep running through the triggerer restart and tolerate exactly
  ``max_poll_failures`` failed polls.
* ``gives_up_polling``: one failed poll beyond the limit gives the retryable polling error; its
  retry re-attaches to the same batch.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG

from airflow_provider_batch.operators.batch import TogetherBatchOperator

DAG_ID = "apb_lifecycle"
INPUT = os.environ.get("APB_LIFECYCLE_INPUTS", "/tmp/apb-lifecycle") + "/{{ task.task_id }}.jsonl"
TIMEOUT_SECONDS = 45
MAX_POLL_FAILURES = 3

with DAG(
    dag_id=DAG_ID,
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["test"],
) as dag:
    TogetherBatchOperator(task_id="killed_by_user", input_path=INPUT, poll_interval=2)
    TogetherBatchOperator(
        task_id="times_out",
        input_path=INPUT,
        poll_interval=2,
        timeout=TIMEOUT_SECONDS,
        cancel_on_timeout=True,
    )
    survivor = TogetherBatchOperator(
        task_id="survives_restart", input_path=INPUT, poll_interval=1, max_poll_failures=MAX_POLL_FAILURES
    )
    gives_up = TogetherBatchOperator(
        task_id="gives_up_polling",
        input_path=INPUT,
        poll_interval=1,
        max_poll_failures=MAX_POLL_FAILURES,
        retries=1,
        retry_delay=timedelta(seconds=2),
    )
    survivor >> gives_up
