"""Monitor a batch created elsewhere (a notebook, another system) and load its results.

Trigger it with ``{"batch_id": "<id>"}`` as the run conf. Without one it watches the most recently
created batch of the connection, so the example also runs as is after any other example. The
sensor defers to the same trigger as the submit operator, so waiting holds no worker slot.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, task

from airflow_provider_batch.hooks.together import TogetherBatchHook
from airflow_provider_batch.operators.results import TogetherBatchResultsOperator
from airflow_provider_batch.sensors.batch import TogetherBatchSensor

from _example_config import POLL_INTERVAL, START_DATE, TOGETHER_CONN_ID, WAREHOUSE_CONN_ID

with DAG(
    dag_id="together_monitor_existing_batch",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    params={"batch_id": Param("", type="string", description="Together batch id; empty = the newest")},
    tags=["together", "batch", "example", "sensor"],
    doc_md=__doc__,
) as dag:

    @task
    def pick_batch(params: dict | None = None) -> str:
        if params and params.get("batch_id"):
            return str(params["batch_id"])
        with TogetherBatchHook(together_conn_id=TOGETHER_CONN_ID).get_conn() as client:
            batches = sorted(client.batches.list(), key=lambda b: str(b.created_at), reverse=True)
        if not batches:
            raise ValueError("no batch id given and the account has no batches")
        return batches[0].id

    batch_id = pick_batch()
    wait = TogetherBatchSensor(
        task_id="wait_for_batch",
        batch_id=batch_id,
        together_conn_id=TOGETHER_CONN_ID,
        deferrable=True,
        # Without a poke_interval the sensor polls at the connection's poll_interval extra.
        **({"poke_interval": POLL_INTERVAL} if POLL_INTERVAL is not None else {}),
    )
    load = TogetherBatchResultsOperator(
        task_id="load_results",
        manifest=wait.output,
        together_conn_id=TOGETHER_CONN_ID,
        warehouse_conn_id=WAREHOUSE_CONN_ID,
        results_table="monitored_batch_results",
        summary_table="monitored_batch_spend",
    )
    wait >> load
