"""Nightly backfill: each day's support tickets -> one Together batch -> warehouse tables -> daily stats.

For every logical date (daily, with catchup) the DAG:

1. selects that day's rows from ``support_tickets`` and builds chat-completion requests
   (``custom_id`` = ticket id; the customer tier is carried as metadata, never sent);
2. validates, budgets and submits them as a batch, then waits in the triggerer (no worker slot);
3. downloads the output and error files, reconciles them by ``custom_id`` and upserts one row per
   ticket into ``ticket_summaries`` plus a spend row into ``ticket_batch_spend``; requests that
   failed transiently are re-sent once as a follow-up batch (with its own spend row);
4. rebuilds that day's row of ``daily_ticket_stats`` from the loaded results.

Runs offline against the local server; against the real API only the connection changes.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_batch.operators.batch import TogetherBatchOperator
from airflow_provider_batch.operators.build import TogetherBuildRequestsOperator
from airflow_provider_batch.operators.results import TogetherBatchResultsOperator

from _daily_stats import daily_stats_task
from _example_config import (
    CHAT_MODEL,
    END_DATE,
    MAX_COST_USD,
    POLL_INTERVAL,
    SOURCE_CONN_ID,
    START_DATE,
    TOGETHER_CONN_ID,
    WAREHOUSE_CONN_ID,
    WORK_DIR,
    warehouse_table,
)

SYSTEM_PROMPT = (
    "You are a support lead. Summarise the customer's ticket in one sentence and suggest the next step."
)

RESULTS_TABLE = warehouse_table("ticket_summaries")
SPEND_TABLE = warehouse_table("ticket_batch_spend")
STATS_TABLE = warehouse_table("daily_ticket_stats")

with DAG(
    dag_id="together_nightly_backfill",
    schedule="@daily",
    start_date=START_DATE,
    end_date=END_DATE,
    catchup=True,
    max_active_runs=3,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
    tags=["together", "batch", "example"],
    doc_md=__doc__,
) as dag:
    build = TogetherBuildRequestsOperator(
        task_id="build_requests",
        sql_conn_id=SOURCE_CONN_ID,
        sql=(
            "SELECT ticket_id, subject, body, customer_tier FROM support_tickets "
            "WHERE created_day = '{{ ds }}' ORDER BY ticket_id"
        ),
        key_column="ticket_id",
        model=CHAT_MODEL,
        system_prompt=SYSTEM_PROMPT,
        user_template="Subject: {subject}\n\n{body}",
        body={"max_tokens": 96, "temperature": 0.2},
        metadata_columns=["customer_tier"],
        output_path=str(WORK_DIR / "nightly" / "{{ ds }}" / "requests.jsonl"),
    )
    submit = TogetherBatchOperator(
        task_id="submit_batch",
        input_path="{{ ti.xcom_pull(task_ids='build_requests')['path'] }}",
        metadata_manifest="{{ ti.xcom_pull(task_ids='build_requests')['metadata_path'] }}",
        together_conn_id=TOGETHER_CONN_ID,
        poll_interval=POLL_INTERVAL,
        max_cost_usd=MAX_COST_USD,
    )
    load = TogetherBatchResultsOperator(
        task_id="load_results",
        # Read the manifest the submit task pushes even when it fails (an EXPIRED or CANCELLED
        # batch), so the requests that did finish, already paid for, are still loaded.
        submit_task_id="submit_batch",
        trigger_rule="all_done",
        together_conn_id=TOGETHER_CONN_ID,
        warehouse_conn_id=WAREHOUSE_CONN_ID,
        results_table=RESULTS_TABLE,
        summary_table=SPEND_TABLE,
        # A backfill re-run of a day replaces that day's rows instead of adding to them.
        load_mode="replace_logical_date",
        # Requests that failed transiently (e.g. server_error) are re-sent once, as a follow-up
        # batch whose answers land in the same rows; permanent errors are never re-sent.
        follow_up_rounds=1,
        max_failed_fraction=0.2,
    )
    daily_stats = daily_stats_task(WAREHOUSE_CONN_ID, STATS_TABLE, RESULTS_TABLE)
    build >> submit >> load >> daily_stats
