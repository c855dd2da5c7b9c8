"""Classification with structured output: a JSON schema in ``response_format``, parsed into typed columns.

Each ticket is classified into a category, a priority and a sentiment score. The model must answer
with JSON matching ``TICKET_SCHEMA``; the last task validates every answer with pydantic and upserts
the typed values into ``ticket_classes``. An answer that does not match the schema is counted and
logged, never loaded half-parsed.
"""

from __future__ import annotations

import json
from typing import Literal

from airflow.sdk import DAG, BaseHook, task
from pydantic import BaseModel, Field, ValidationError

from airflow_provider_batch.operators.batch import TogetherBatchOperator
from airflow_provider_batch.operators.build import TogetherBuildRequestsOperator
from airflow_provider_batch.operators.results import TogetherBatchResultsOperator

from _example_config import (
    CHAT_MODEL,
    POLL_INTERVAL,
    SOURCE_CONN_ID,
    START_DATE,
    TOGETHER_CONN_ID,
    WAREHOUSE_CONN_ID,
    WORK_DIR,
)


class TicketClass(BaseModel):
    category: Literal["bug", "billing", "access", "feature_request", "other"]
    priority: Literal["low", "medium", "high", "urgent"]
    sentiment: float = Field(ge=-1, le=1)
    needs_human: bool


TICKET_SCHEMA = TicketClass.model_json_schema()
TICKET_SCHEMA["additionalProperties"] = False

with DAG(
    dag_id="together_ticket_classification",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    tags=["together", "batch", "example", "structured-output"],
    doc_md=__doc__,
) as dag:
    build = TogetherBuildRequestsOperator(
        task_id="build_requests",
        sql_conn_id=SOURCE_CONN_ID,
        sql="SELECT ticket_id, subject, body FROM support_tickets ORDER BY ticket_id LIMIT 200",
        key_column="ticket_id",
        id_prefix="cls-",
        model=CHAT_MODEL,
        system_prompt="Classify the support ticket. Answer only with JSON matching the schema.",
        user_template="Subject: {subject}\n\n{body}",
        body={
            "max_tokens": 128,
            "temperature": 0,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "ticket_class", "schema": TICKET_SCHEMA, "strict": True},
            },
        },
        output_path=str(WORK_DIR / "classification" / "{{ run_id | replace(':', '_') }}" / "requests.jsonl"),
    )
    submit = TogetherBatchOperator(
        task_id="submit_batch",
        input_path="{{ ti.xcom_pull(task_ids='build_requests')['path'] }}",
        together_conn_id=TOGETHER_CONN_ID,
        poll_interval=POLL_INTERVAL,
    )
    load = TogetherBatchResultsOperator(
        task_id="load_results",
        manifest=submit.output,
        together_conn_id=TOGETHER_CONN_ID,
        warehouse_conn_id=WAREHOUSE_CONN_ID,
        results_table="ticket_class_raw",
        summary_table="ticket_class_spend",
    )

    @task
    def parse_into_columns(run_id: str | None = None) -> dict[str, int]:
        """Validate each JSON answer against the schema and upsert typed columns."""
        hook = BaseHook.get_connection(WAREHOUSE_CONN_ID).get_hook()
        hook.run(
            "CREATE TABLE IF NOT EXISTS ticket_classes (custom_id TEXT PRIMARY KEY, category TEXT, "
            "priority TEXT, sentiment REAL, needs_human BOOLEAN)"
        )
        answers = hook.get_records(
            "SELECT custom_id, response_text FROM ticket_class_raw "
            f"WHERE status = 'succeeded' AND NOT superseded AND run_id = {hook.placeholder}",
            parameters=(run_id,),
        )
        parsed, invalid = [], 0
        for custom_id, text in answers:
            try:
                value = TicketClass.model_validate(json.loads(text))
            except (ValueError, ValidationError):
                invalid += 1
                continue
            parsed.append((custom_id, value.category, value.priority, value.sentiment, value.needs_human))
        hook.insert_rows(
            "ticket_classes",
            parsed,
            replace=True,
            replace_index="custom_id",
            target_fields=["custom_id", "category", "priority", "sentiment", "needs_human"],
        )
        return {"parsed": len(parsed), "invalid": invalid}

    build >> submit >> load >> parse_into_columns()
