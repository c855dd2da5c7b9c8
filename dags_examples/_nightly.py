"""The nightly backfill the Together, OpenAI and Anthropic examples share, written with the neutral
classes: each day's support tickets -> requests -> one batch on the connection's vendor -> results
and spend tables -> that day's row of a stats table (rebuilt by ``_daily_stats``).

Only the connection, the model and how a request is built differ from one vendor to another; the
tables are named after the vendor (``<vendor>_ticket_summaries``, ``<vendor>_ticket_batch_spend``,
``<vendor>_daily_ticket_stats``), except the Together example's, which keep the names they had
before the other vendors came (``ticket_summaries``...).

A DAG file that only calls :func:`nightly_backfill` must still contain the words "airflow" and
"dag" somewhere (its docstring does): Airflow's safe-mode discovery skips a file without them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_batch.operators.batch import BatchOperator
from airflow_provider_batch.operators.build import BuildRequestsOperator
from airflow_provider_batch.operators.results import BatchResultsOperator

from _daily_stats import daily_stats_task
from _example_config import (
    END_DATE,
    MAX_COST_USD,
    POLL_INTERVAL,
    SOURCE_CONN_ID,
    START_DATE,
    WAREHOUSE_CONN_ID,
    WORK_DIR,
    warehouse_table,
)

SYSTEM_PROMPT = (
    "You are a support lead. Summarise the customer's ticket in one sentence and suggest the next step."
)


def nightly_backfill(
    vendor: str,
    *,
    conn_id: str,
    model: str,
    doc_md: str | None,
    build: dict[str, Any] | None = None,
    table_prefix: str | None = None,
) -> DAG:
    """The DAG ``<vendor>_nightly_backfill`` on the batch connection ``conn_id``; ``build`` holds the
    vendor's own options of the build step (``vendor``, ``endpoint``...); ``table_prefix`` (default
    ``<vendor>_``) starts the names of its three tables."""
    prefix = f"{vendor}_" if table_prefix is None else table_prefix
    results_table = warehouse_table(f"{prefix}ticket_summaries")
    spend_table = warehouse_table(f"{prefix}ticket_batch_spend")
    stats_table = warehouse_table(f"{prefix}daily_ticket_stats")
    with DAG(
        dag_id=f"{vendor}_nightly_backfill",
        schedule="@daily",
        start_date=START_DATE,
        end_date=END_DATE,
        catchup=True,
        max_active_runs=3,
        default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
        tags=[vendor, "batch", "example"],
        doc_md=doc_md,
    ) as dag:
        requests = BuildRequestsOperator(
            task_id="build_requests",
            sql_conn_id=SOURCE_CONN_ID,
            sql=(
                "SELECT ticket_id, subject, body, customer_tier FROM support_tickets "
                "WHERE created_day = '{{ ds }}' ORDER BY ticket_id"
            ),
            key_column="ticket_id",
            model=model,
            system_prompt=SYSTEM_PROMPT,
            user_template="Subject: {subject}\n\n{body}",
            body={"max_tokens": 96, "temperature": 0.2},
            metadata_columns=["customer_tier"],
            output_path=str(WORK_DIR / f"{vendor}_nightly" / "{{ ds }}" / "requests.jsonl"),
            **(build or {}),
        )
        submit = BatchOperator(
            task_id="submit_batch",
            conn_id=conn_id,
            input_path="{{ ti.xcom_pull(task_ids='build_requests')['path'] }}",
            metadata_manifest="{{ ti.xcom_pull(task_ids='build_requests')['metadata_path'] }}",
            # Unset, the endpoint is the connection's vendor's (chat completions, Messages).
            poll_interval=POLL_INTERVAL,
            max_cost_usd=MAX_COST_USD,
        )
        load = BatchResultsOperator(
            task_id="load_results",
            conn_id=conn_id,
            # Read the manifest the submit task pushes even when it fails (an expired or cancelled
            # batch), so the requests that did finish, already paid for, are still loaded.
            submit_task_id="submit_batch",
            trigger_rule="all_done",
            warehouse_conn_id=WAREHOUSE_CONN_ID,
            results_table=results_table,
            summary_table=spend_table,
            # A backfill re-run of a day replaces that day's rows instead of adding to them.
            load_mode="replace_logical_date",
            # Requests that failed transiently (e.g. server_error) are re-sent once, as a follow-up
            # batch whose answers land in the same rows; permanent errors are never re-sent.
            follow_up_rounds=1,
            max_failed_fraction=0.2,
        )
        daily_stats = daily_stats_task(WAREHOUSE_CONN_ID, stats_table, results_table)
        requests >> submit >> load >> daily_stats
    return dag
