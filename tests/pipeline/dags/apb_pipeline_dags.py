"""Test DAGs for the whole pipeline: SQL rows -> build -> submit (deferred) -> results -> tables.

Every DAG reads its rows from table ``source_rows`` on the ``apb_pipeline_source`` connection and
writes into ``apb_pipeline_wh``; the tests point those connections at a fresh database each.
Per-run settings (the work directory) come through params, so the files stay static.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_batch.operators.batch import TogetherBatchOperator
from airflow_provider_batch.operators.build import TogetherBuildRequestsOperator
from airflow_provider_batch.operators.results import TogetherBatchResultsOperator

START = datetime(2026, 1, 1)
MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
SOURCE_CONN = "apb_pipeline_source"
WAREHOUSE_CONN = "apb_pipeline_wh"
RESULTS_TABLE = "pipeline_results"
SUMMARY_TABLE = "pipeline_summary"
PARAMS: dict[str, Any] = {"work_dir": ""}
#: The fault-storm DAG may retry every task; a retry of submit re-attaches, never re-pays.
RETRIES = {"retries": 4, "retry_delay": timedelta(seconds=0)}
#: The PostgreSQL test names its tables per test; the module is loaded after the variable is set.
PG_TABLE = os.environ.get("APB_PIPELINE_PG_TABLE", "apb_pipeline_pg")
MYSQL_TABLE = os.environ.get("APB_PIPELINE_MYSQL_TABLE", "apb_pipeline_mysql")


def _build(**kwargs: Any) -> TogetherBuildRequestsOperator:
    options: dict[str, Any] = {
        "sql": "SELECT id, question, segment FROM source_rows ORDER BY id",
        "metadata_columns": ["segment"],
        "body": {"max_tokens": 24},
        **kwargs,
    }
    return TogetherBuildRequestsOperator(
        task_id="build",
        sql_conn_id=SOURCE_CONN,
        key_column="id",
        id_prefix="row-",
        model=MODEL,
        user_template="Answer briefly: {question}",
        output_path="{{ params.work_dir }}/requests.jsonl",
        **options,
    )


def _submit(**kwargs: Any) -> TogetherBatchOperator:
    return TogetherBatchOperator(
        task_id="submit",
        input_path="{{ ti.xcom_pull(task_ids='build')['path'] }}",
        metadata_manifest="{{ ti.xcom_pull(task_ids='build')['metadata_path'] }}",
        poll_interval=0.05,
        **kwargs,
    )


class CrashAfterFollowUp(TogetherBatchResultsOperator):
    """Dies on its first try right after the follow-up batch was created (before merging it)."""

    def execute_follow_up(self, context: Any, event: Any = None, state: Any = None) -> Any:
        if context["ti"].try_number == 1:
            raise RuntimeError("simulated crash after the follow-up batch was created")
        return super().execute_follow_up(context, event, state)


def _pipeline(
    dag_id: str,
    *,
    default_args: dict[str, Any] | None = None,
    results_class: type[TogetherBatchResultsOperator] = TogetherBatchResultsOperator,
    build_options: dict[str, Any] | None = None,
    **results: Any,
) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START, params=PARAMS, default_args=default_args or {}) as dag:
        build = _build(**(build_options or {}))
        submit = _submit()
        build >> submit >> _results(submit, results_class, **results)
    return dag


def _results(
    submit: TogetherBatchOperator, results_class: type[TogetherBatchResultsOperator], **results: Any
) -> TogetherBatchResultsOperator:
    return results_class(
        task_id="results",
        manifest=submit.output,
        warehouse_conn_id=results.pop("warehouse_conn_id", WAREHOUSE_CONN),
        results_table=results.pop("results_table", RESULTS_TABLE),
        summary_table=results.pop("summary_table", SUMMARY_TABLE),
        **results,
    )


def _partial(dag_id: str, **results: Any) -> DAG:
    """Submit may end EXPIRED/CANCELLED (failing); results still collects what finished."""
    with DAG(dag_id, schedule=None, start_date=START, params=PARAMS) as dag:
        build = _build()
        submit = _submit()
        load = TogetherBatchResultsOperator(
            task_id="results",
            submit_task_id="submit",
            trigger_rule="all_done",
            warehouse_conn_id=WAREHOUSE_CONN,
            results_table=RESULTS_TABLE,
            summary_table=SUMMARY_TABLE,
            **results,
        )
        build >> submit >> load
    return dag


pipeline = _pipeline("apb_pipeline")
pipeline_storm = _pipeline("apb_pipeline_storm", default_args=RETRIES)
pipeline_replace = _pipeline("apb_pipeline_replace", load_mode="replace_logical_date")
pipeline_postgres = _pipeline(
    "apb_pipeline_postgres",
    warehouse_conn_id="apb_pipeline_pg",
    results_table=PG_TABLE,
    summary_table=f"{PG_TABLE}_summary",
)
pipeline_mysql = _pipeline(
    "apb_pipeline_mysql",
    warehouse_conn_id="apb_pipeline_mysql",
    results_table=MYSQL_TABLE,
    summary_table=f"{MYSQL_TABLE}_summary",
)
#: Every request carries the same long system prompt marked for the prompt cache (Anthropic's
#: emulation writes it on the first request and reads it on the others).
CACHED_SYSTEM = [{"type": "text", "text": "Rules: be brief. " * 400, "cache_control": {"type": "ephemeral"}}]
pipeline_cached = _pipeline(
    "apb_pipeline_cached", build_options={"body": {"max_tokens": 24, "system": CACHED_SYSTEM}}
)
partial_strict = _partial("apb_pipeline_partial_strict", fail_on_partial_error=True)
partial_fraction = _partial("apb_pipeline_partial_fraction", max_failed_fraction=0.05)
partial_lenient = _partial("apb_pipeline_partial_lenient")
follow_up = _pipeline("apb_pipeline_follow_up", follow_up_rounds=1, poll_interval=0.05)
cleanup = _pipeline("apb_pipeline_cleanup", follow_up_rounds=1, poll_interval=0.05, delete_input_files=True)
#: Deletes its inputs once loaded, without follow-ups; a re-run re-loads from output and error files.
cleanup_reload = _pipeline("apb_pipeline_cleanup_reload", delete_input_files=True)
follow_up_sync = _pipeline(
    "apb_pipeline_follow_up_sync", follow_up_rounds=2, deferrable=False, poll_interval=0.05
)
follow_up_crash = _pipeline(
    "apb_pipeline_follow_up_crash",
    results_class=CrashAfterFollowUp,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=0)},
    follow_up_rounds=1,
    poll_interval=0.05,
)


def _hostile(dag_id: str, **results: Any) -> DAG:
    """Hostile ids, prompts and metadata (table ``hostile_rows``) through the whole pipeline."""
    with DAG(dag_id, schedule=None, start_date=START, params=PARAMS) as dag:
        build = TogetherBuildRequestsOperator(
            task_id="build",
            sql_conn_id=SOURCE_CONN,
            sql="SELECT id, question, note, extra FROM hostile_rows ORDER BY id",
            key_column="id",
            model=MODEL,
            user_template="{question}",
            body={"max_tokens": 24},
            metadata_columns=results.pop("metadata_columns", ["note", "extra"]),
            output_path="{{ params.work_dir }}/requests.jsonl",
        )
        submit = _submit()
        build >> submit >> _results(submit, TogetherBatchResultsOperator, **results)
    return dag


hostile = _hostile("apb_pipeline_hostile")
hostile_postgres = _hostile(
    "apb_pipeline_hostile_postgres",
    warehouse_conn_id="apb_pipeline_pg",
    results_table=PG_TABLE,
    summary_table=f"{PG_TABLE}_summary",
)
hostile_mysql = _hostile(
    "apb_pipeline_hostile_mysql",
    warehouse_conn_id="apb_pipeline_mysql",
    results_table=MYSQL_TABLE,
    summary_table=f"{MYSQL_TABLE}_summary",
)


def _empty_day(dag_id: str, *, on_empty: str = "skip", trigger_rule: str = "all_success") -> DAG:
    """A day whose source query returns no rows (the tests seed ``source_rows`` empty)."""
    with DAG(dag_id, schedule=None, start_date=START, params=PARAMS) as dag:
        build = _build(on_empty=on_empty)
        submit = _submit()
        build >> submit >> _results(submit, TogetherBatchResultsOperator, trigger_rule=trigger_rule)
    return dag


empty_day = _empty_day("apb_pipeline_empty_day")
empty_day_fail = _empty_day("apb_pipeline_empty_day_fail", on_empty="fail")
empty_day_all_done = _empty_day("apb_pipeline_empty_day_all_done", trigger_rule="all_done")


# ---- ownership: runs, DAGs and map indexes sharing one results table -----------------------------

#: A second DAG with the same tables as apb_pipeline_replace (two DAGs sharing the default table).
pipeline_replace_b = _pipeline("apb_pipeline_replace_b", load_mode="replace_logical_date")
#: The DAG gained a metadata column (``tier``) after it had loaded into the tables.
pipeline_tier = _pipeline("apb_pipeline_tier", build_options={
    "sql": "SELECT id, question, segment, 'gold' AS tier FROM source_rows ORDER BY id",
    "metadata_columns": ["segment", "tier"],
})  # fmt: skip
SHARDS = 3


@task
def _build_shards(params: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """The README's large-job pattern: the source query sharded by ``id % shards`` (param, 3 by
    default), one file each."""
    from airflow_provider_batch.operators.build import build_requests_from_sql

    shards, count = [], int((params or {}).get("shards") or SHARDS)
    for shard in range(count):
        built = build_requests_from_sql(
            sql_conn_id=SOURCE_CONN,
            sql=f"SELECT id, question, segment FROM source_rows WHERE id % {count} = {shard} ORDER BY id",
            output_path=f"{(params or {})['work_dir']}/shard-{shard}.jsonl",
            key_column="id", id_prefix="row-", model=MODEL, user_template="Answer briefly: {question}",
            body={"max_tokens": 24}, metadata_columns=["segment"],
        )  # fmt: skip
        shards.append({"input_path": built["path"], "metadata_manifest": built["metadata_path"]})
    return shards


def _mapped_replace(dag_id: str, conn_id: str = WAREHOUSE_CONN, table: str = RESULTS_TABLE,
                    summary: str = SUMMARY_TABLE) -> DAG:  # fmt: skip
    """Mapped submit and mapped results in replace mode; ``params.shards`` sets the map length."""
    with DAG(dag_id, schedule=None, start_date=START, params={**PARAMS, "shards": SHARDS}) as dag:
        submit = TogetherBatchOperator.partial(task_id="submit", poll_interval=0.05).expand_kwargs(
            _build_shards()
        )
        TogetherBatchResultsOperator.partial(
            task_id="results", warehouse_conn_id=conn_id, results_table=table, summary_table=summary,
            load_mode="replace_logical_date",
        ).expand(manifest=submit.output)  # fmt: skip
    return dag


mapped_replace = _mapped_replace("apb_pipeline_mapped_replace")
mapped_replace_postgres = _mapped_replace(
    "apb_pipeline_mapped_replace_postgres", "apb_pipeline_pg", PG_TABLE, f"{PG_TABLE}_summary"
)
mapped_replace_mysql = _mapped_replace(
    "apb_pipeline_mapped_replace_mysql", "apb_pipeline_mysql", MYSQL_TABLE, f"{MYSQL_TABLE}_summary"
)


def _resubmit(dag_id: str, *, load_mode: str, trigger_rule: str) -> DAG:
    """Submit re-pays for a cancelled batch on a re-run (``force_resubmit``); results loads either
    the finished part of the cancelled batch (``all_done``) or nothing (``all_success``)."""
    with DAG(dag_id, schedule=None, start_date=START, params=PARAMS) as dag:
        build = _build()
        submit = _submit(force_resubmit=True)
        load = TogetherBatchResultsOperator(
            task_id="results", submit_task_id="submit", trigger_rule=trigger_rule,
            warehouse_conn_id=WAREHOUSE_CONN, results_table=RESULTS_TABLE, summary_table=SUMMARY_TABLE,
            load_mode=load_mode,
        )  # fmt: skip
        build >> submit >> load
    return dag


resubmit_replace = _resubmit("apb_pipeline_resubmit_replace", load_mode="replace_logical_date",
                             trigger_rule="all_done")  # fmt: skip
resubmit_merge = _resubmit("apb_pipeline_resubmit_merge", load_mode="merge", trigger_rule="all_done")
resubmit_unloaded = _resubmit("apb_pipeline_resubmit_unloaded", load_mode="merge", trigger_rule="all_success")


def _existing_batch(dag_id: str, **results: Any) -> DAG:
    """Only a results task, on a batch created elsewhere (``params.batch_id``)."""
    with DAG(dag_id, schedule=None, start_date=START, params={**PARAMS, "batch_id": ""}) as dag:
        TogetherBatchResultsOperator(
            task_id="results", batch_ids=["{{ params.batch_id }}"], warehouse_conn_id=WAREHOUSE_CONN,
            results_table=RESULTS_TABLE, summary_table=SUMMARY_TABLE, **results,
        )  # fmt: skip
    return dag


existing_batch = _existing_batch("apb_pipeline_existing_batch")
existing_batch_replace = _existing_batch(
    "apb_pipeline_existing_batch_replace", load_mode="replace_logical_date"
)


#: OpenAI's other endpoints (tests/pipeline/test_openai_endpoints_pipeline.py): the same three tasks,
#: with the endpoint's body; results into SQLite, PostgreSQL or MariaDB.
ENDPOINT_BUILDS: dict[str, dict[str, Any]] = {
    "embeddings": {
        "model": "text-embedding-3-small",
        "body": {"dimensions": 8},
        "user_template": "{question}",
    },
    "responses": {
        "model": "gpt-4o-mini",
        "body": {"max_output_tokens": 24},
        "user_template": "Answer briefly: {question}",
        "system_prompt": "You are terse.",
    },
}
_WAREHOUSES = {
    "sqlite": (WAREHOUSE_CONN, RESULTS_TABLE),
    "postgres": ("apb_pipeline_pg", PG_TABLE),
    "mysql": ("apb_pipeline_mysql", MYSQL_TABLE),
}


SOURCE_SQL = "SELECT id, question, segment FROM source_rows ORDER BY id"


def _openai_endpoint(kind: str, warehouse: str) -> DAG:
    conn_id, table = _WAREHOUSES[warehouse]
    with DAG(f"apb_openai_{kind}_{warehouse}", schedule=None, start_date=START, params=PARAMS) as dag:
        build = TogetherBuildRequestsOperator(
            task_id="build", sql_conn_id=SOURCE_CONN, sql=SOURCE_SQL, key_column="id", id_prefix="row-",
            metadata_columns=["segment"], endpoint=f"/v1/{kind}", vendor="openai",
            output_path="{{ params.work_dir }}/requests.jsonl", **ENDPOINT_BUILDS[kind],
        )  # fmt: skip
        submit = _submit(endpoint=f"/v1/{kind}")
        results = TogetherBatchResultsOperator(
            task_id="results", manifest=submit.output, warehouse_conn_id=conn_id, results_table=table,
            summary_table=f"{table}_summary",
        )  # fmt: skip
        build >> submit >> results
    return dag


openai_embeddings_sqlite = _openai_endpoint("embeddings", "sqlite")
openai_embeddings_postgres = _openai_endpoint("embeddings", "postgres")
openai_embeddings_mysql = _openai_endpoint("embeddings", "mysql")
openai_responses_sqlite = _openai_endpoint("responses", "sqlite")
