"""Nightly backfill on OpenAI: each day's support tickets -> one OpenAI batch -> warehouse tables.

The same pipeline as ``together_nightly_backfill``, written with the neutral class names. The
vendor comes from the type of the connection ``conn_id`` names: an ``openai`` connection (the type
of ``apache-airflow-providers-openai``: password = API key, host = base URL) sends the batch to
OpenAI's Batch API, or to any server that speaks it (Azure OpenAI's v1 API, Groq, a self-hosted
one) when its host is set. For every logical date (daily, with catchup) the DAG:

1. selects that day's rows from ``support_tickets`` and builds chat-completion requests
   (``custom_id`` = ticket id; the customer tier is carried as metadata, never sent);
2. validates them against OpenAI's limits, budgets them with OpenAI's batch prices and submits
   them as a batch (the run's identity in its metadata), then waits in the triggerer;
3. downloads the output and error files, reconciles them by ``custom_id`` and loads one row per
   ticket into ``openai_ticket_summaries`` plus a spend row into ``openai_ticket_batch_spend``;
   requests that failed transiently are re-sent once as a follow-up batch;
4. rebuilds that day's row of ``openai_daily_ticket_stats``.

Runs offline against the local server (``--vendor openai``); against the real API only the
connection changes.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG

from airflow_provider_batch.operators.batch import BatchOperator
from airflow_provider_batch.operators.build import BuildRequestsOperator
from airflow_provider_batch.operators.results import BatchResultsOperator

from _daily_stats import daily_stats_sql
from _example_config import (
    END_DATE,
    MAX_COST_USD,
    OPENAI_CHAT_MODEL,
    OPENAI_CONN_ID,
    POLL_INTERVAL,
    SOURCE_CONN_ID,
    START_DATE,
    WAREHOUSE_CONN_ID,
    WORK_DIR,
)

SYSTEM_PROMPT = (
    "You are a support lead. Summarise the customer's ticket in one sentence and suggest the next step."
)

DAILY_STATS_SQL = daily_stats_sql("openai_daily_ticket_stats", "openai_ticket_summaries")

with DAG(
    dag_id="openai_nightly_backfill",
    schedule="@daily",
    start_date=START_DATE,
    end_date=END_DATE,
    catchup=True,
    max_active_runs=3,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
    tags=["openai", "batch", "example"],
    doc_md=__doc__,
) as dag:
    build = BuildRequestsOperator(
        task_id="build_requests",
        sql_conn_id=SOURCE_CONN_ID,
        sql=(
            "SELECT ticket_id, subject, body, customer_tier FROM support_tickets "
            "WHERE created_day = '{{ ds }}' ORDER BY ticket_id"
        ),
        key_column="ticket_id",
        model=OPENAI_CHAT_MODEL,
        system_prompt=SYSTEM_PROMPT,
        user_template="Subject: {subject}\n\n{body}",
        body={"max_tokens": 96, "temperature": 0.2},
        metadata_columns=["customer_tier"],
        output_path=str(WORK_DIR / "openai_nightly" / "{{ ds }}" / "requests.jsonl"),
    )
    submit = BatchOperator(
        task_id="submit_batch",
        conn_id=OPENAI_CONN_ID,
        input_path="{{ ti.xcom_pull(task_ids='build_requests')['path'] }}",
        metadata_manifest="{{ ti.xcom_pull(task_ids='build_requests')['metadata_path'] }}",
        poll_interval=POLL_INTERVAL,
        max_cost_usd=MAX_COST_USD,
    )
    load = BatchResultsOperator(
        task_id="load_results",
        conn_id=OPENAI_CONN_ID,
        # Read the manifest the submit task pushes even when it fails (an expired or cancelled
        # batch), so the requests that did finish, already paid for, are still loaded.
        submit_task_id="submit_batch",
        trigger_rule="all_done",
        warehouse_conn_id=WAREHOUSE_CONN_ID,
        results_table="openai_ticket_summaries",
        summary_table="openai_ticket_batch_spend",
        load_mode="replace_logical_date",
        follow_up_rounds=1,
        max_failed_fraction=0.2,
    )
    daily_stats = SQLExecuteQueryOperator(
        task_id="daily_stats", conn_id=WAREHOUSE_CONN_ID, sql=DAILY_STATS_SQL
    )
    build >> submit >> load >> daily_stats
