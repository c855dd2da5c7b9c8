"""Test DAGs for the ``together:`` adapter of common.ai, run with dag.test() against the local server.

common.ai's own ``LLMBatchOperator`` and ``@task.llm_batch`` are the harness; everything comes in
through params (``dag.test(run_conf=...)``): the prompts, the result directory, the connection.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.providers.common.ai.batch.dispatch import register_adapter
from airflow.providers.common.ai.operators.llm_batch import LLMBatchOperator
from airflow.sdk import DAG, task
from pydantic import BaseModel

from airflow_provider_batch.common_ai import TogetherBatchAdapter

MODEL_ID = "together:meta-llama/Llama-3.3-70B-Instruct-Turbo"
START = datetime(2026, 1, 1)
PARAMS: dict[str, Any] = {"prompts": [], "result_path": "", "conn_id": "together_default"}
#: Env var naming a flag file; while it exists, the crash adapter dies right after submit.
CRASH_FLAG_ENV = "APB_COMMONAI_CRASH_FLAG"


class TicketTriage(BaseModel):
    """Structured output of the pydantic DAG."""

    category: str
    urgent: bool
    confidence: float


class CrashOnceAfterSubmitAdapter(TogetherBatchAdapter):
    """The Together adapter, dying once right after the batch is created: the worker crash that
    leaves common.ai with an intent record and no batch id."""

    name = "together_crash_test"

    def submit(self, requests: Any, **kwargs: Any) -> Any:
        result = super().submit(requests, **kwargs)
        flag = Path(os.environ.get(CRASH_FLAG_ENV, "/nonexistent"))
        if flag.is_file():
            flag.unlink()
            raise RuntimeError("simulated worker crash right after submit")
        return result


register_adapter(CrashOnceAfterSubmitAdapter)

_COMMON: dict[str, Any] = {"schedule": None, "start_date": START, "params": PARAMS}
_OPERATOR: dict[str, Any] = {
    "requests": "{{ params.prompts }}",
    "result_path": "{{ params.result_path }}",
    "llm_conn_id": "{{ params.conn_id }}",
    "max_tokens": 256,
    "poll_interval": 30,
}

with DAG("apb_commonai_text", render_template_as_native_obj=True, **_COMMON) as text_dag:
    LLMBatchOperator(task_id="summarise", model_id=MODEL_ID, deferrable=True, **_OPERATOR)

with DAG("apb_commonai_text_sync", render_template_as_native_obj=True, **_COMMON) as text_sync_dag:
    LLMBatchOperator(task_id="summarise", model_id=MODEL_ID, deferrable=False, **_OPERATOR)

with DAG(
    "apb_commonai_crash_once",
    render_template_as_native_obj=True,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=0)},
    **_COMMON,
) as crash_dag:
    LLMBatchOperator(
        task_id="summarise", model_id="together_crash_test:meta-llama/Llama-3.3-70B-Instruct-Turbo",
        deferrable=True, **_OPERATOR,
    )  # fmt: skip

_DECORATED: dict[str, Any] = {
    "llm_conn_id": "{{ params.conn_id }}",
    "model_id": MODEL_ID,
    "result_path": "{{ params.result_path }}",
    "poll_interval": 30,
    "deferrable": True,
}

with DAG("apb_commonai_pydantic", **_COMMON) as pydantic_dag:

    @task.llm_batch(
        output_type=TicketTriage, system_prompt="Triage the support ticket.", max_tokens=256, **_DECORATED
    )
    def triage(**context: Any) -> list[str]:
        return [f"Ticket: {text}" for text in context["params"]["prompts"]]

    triage()

with DAG("apb_commonai_mapped", **_COMMON) as mapped_dag:

    @task.llm_batch(max_tokens=64, **_DECORATED)
    def chunk_batch(chunk: list[str]) -> list[str]:
        return chunk

    # Two map indexes with byte-identical prompts: the .expand() remedy for inputs past one batch.
    chunk_batch.expand(chunk=[["same", "prompts"], ["same", "prompts"]])
