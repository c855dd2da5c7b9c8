"""Test DAGs for the submit operator and the sensor (run with dag.test() against the local server).

Every DAG takes its input through params (``dag.test(run_conf=...)``), so the files stay static.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from airflow_provider_batch.inputs import BatchLimits
from airflow_provider_batch.operators.batch import TogetherBatchOperator
from airflow_provider_batch.sensors.batch import TogetherBatchSensor

START = datetime(2026, 1, 1)
PARAMS: dict[str, Any] = {"input_path": "", "crash_flag": "", "batch_id": ""}
RETRY_ONCE = {"retries": 1, "retry_delay": timedelta(seconds=0)}


class CrashOnceAfterCreateOperator(TogetherBatchOperator):
    """Dies right after the batches are created, before anything else, while a flag file exists."""

    def _submit(self, client: Any, hook: Any, parts: list[Any], context: Any, ledger: Any) -> Any:
        outcomes = super()._submit(client, hook, parts, context, ledger)
        flag = Path(context["params"]["crash_flag"])
        if flag.is_file():
            flag.unlink()
            raise RuntimeError("simulated worker crash right after create")
        return outcomes


_COMMON: dict[str, Any] = {"schedule": None, "start_date": START, "params": PARAMS}

with DAG("apb_submit_deferrable", default_args=RETRY_ONCE, **_COMMON) as submit_deferrable:
    TogetherBatchOperator(task_id="submit", input_path="{{ params.input_path }}", poll_interval=0.05)

with DAG("apb_submit_crash_once", default_args=RETRY_ONCE, **_COMMON) as submit_crash_once:
    CrashOnceAfterCreateOperator(task_id="submit", input_path="{{ params.input_path }}", poll_interval=0.05)

with DAG("apb_submit_parts_crash_once", **_COMMON) as submit_parts_crash_once:
    # Two parts of two lines; a re-run replaces a part that ended CANCELLED.
    CrashOnceAfterCreateOperator(
        task_id="submit", input_path="{{ params.input_path }}", poll_interval=0.05,
        limits=BatchLimits(max_lines=2), timeout=timedelta(hours=1), force_resubmit=True,
    )  # fmt: skip

with DAG("apb_submit_sync", **_COMMON) as submit_sync:
    TogetherBatchOperator(
        task_id="submit", input_path="{{ params.input_path }}", deferrable=False, poll_interval=0.05
    )

with DAG("apb_submit_no_wait", **_COMMON) as submit_no_wait:
    TogetherBatchOperator(task_id="submit", input_path="{{ params.input_path }}", wait_for_completion=False)

with DAG("apb_sensor", **_COMMON) as sensor:
    TogetherBatchSensor(task_id="poke", batch_id="{{ params.batch_id }}", poke_interval=0.05, timeout=60)
    TogetherBatchSensor(
        task_id="deferred", batch_id="{{ params.batch_id }}", deferrable=True, poke_interval=0.05, timeout=60
    )
