"""Test-only DAG for tests/e2e/test_crash_points.py: SIGKILL the task process at a named step.

Each DAG run selects one day of ``support_tickets`` (``params.day``) and names the step to crash
at (``params.crash``). On try 1 only, the test subclasses below write a marker file describing
where they are and then ``SIGKILL`` their own process, exactly at that step; the Airflow retry
must then finish the run with one batch and exactly one row per request.

Steps: ``intent`` (the submission ledger holds the intent, nothing uploaded), ``mid_upload``
(file record created by the upload's POST and recorded in the ledger, bytes never PUT),
``uploaded`` (upload done, not yet marked complete in the ledger, no batch), ``created`` (batch
created, its id not recorded), ``download`` (input file downloaded, output
not yet), ``mid_load`` (results rows written inside the load transaction, before commit).
``deferred`` needs no hook here: the test SIGKILLs the triggerer instead.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NoReturn
from unittest import mock
from urllib.parse import urlsplit

from airflow.sdk import DAG

from airflow_provider_batch.collect import files as results_io
from airflow_provider_batch.collect import plan as plan_module
from airflow_provider_batch.operators.batch import TogetherBatchOperator
from airflow_provider_batch.operators.build import TogetherBuildRequestsOperator
from airflow_provider_batch.operators.results import TogetherBatchResultsOperator

DAG_ID = "apb_crash_points"
CRASH_DIR = Path(os.environ.get("APB_CRASH_DIR", "/tmp/apb-crash-points"))
WAREHOUSE_CONN_ID = "together_warehouse"


# ---- crash plumbing ----------------------------------------------------------------------------


def armed_step(context: Any) -> str | None:
    """The step to crash at, on the first try only."""
    if context["ti"].try_number != 1:
        return None
    return str(context["params"].get("crash") or "") or None


def crash(step: str, context: Any, **details: Any) -> NoReturn:
    """Leave a marker for the test, then die the way an OOM kill or a lost node does."""
    CRASH_DIR.mkdir(parents=True, exist_ok=True)
    marker = {"step": step, "run_id": context["run_id"], "task_id": context["ti"].task_id, "pid": os.getpid()}
    (CRASH_DIR / f"{step}.json").write_text(json.dumps({**marker, **details}))
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable: SIGKILL was sent")


class Proxy:
    """Delegates every attribute to ``target`` except the ones given as keywords."""

    def __init__(self, target: Any, **overrides: Any) -> None:
        self._target = target
        self._overrides = overrides

    def __getattr__(self, name: str) -> Any:
        if name in self._overrides:
            return self._overrides[name]
        return getattr(self._target, name)


def after(call: Callable[..., Any], step: str, context: Any, describe: Callable[[Any], dict]) -> Callable:
    """``call``, then the crash (with ``describe(result)`` in the marker)."""

    def wrapper(*args: Any, **kwargs: Any) -> NoReturn:
        crash(step, context, **describe(call(*args, **kwargs)))

    return wrapper


# ---- submit ------------------------------------------------------------------------------------


class CrashingBatchOperator(TogetherBatchOperator):
    """The submit operator, killable between its API calls."""

    def _submit(self, client: Any, hook: Any, parts: list[Any], context: Any, ledger: Any) -> Any:
        step = armed_step(context)
        if step == "intent":
            opened = after(ledger.open, step, context, lambda r: {"submission_id": r.submission_id})
            ledger = Proxy(ledger, open=opened)
        elif step == "mid_upload":
            client._send = _kill_before_put(client._send, context)
        elif step == "uploaded":
            upload = after(client.files.upload, step, context, lambda f: {"file_id": f.id})
            client = Proxy(client, files=Proxy(client.files, upload=upload))
        elif step == "created":
            create = after(client.batches.create, step, context, lambda r: {"batch_id": r.job.id})
            client = Proxy(client, batches=Proxy(client.batches, create=create))
        return super()._submit(client, hook, parts, context, ledger)


def _kill_before_put(send: Callable[..., Any], context: Any) -> Callable[..., Any]:
    def wrapper(spec: Any, *args: Any, **kwargs: Any) -> Any:
        if spec.method == "PUT":  # the POST created the named file record; its bytes never arrive
            crash("mid_upload", context, upload_path=urlsplit(spec.url or "").path)
        return send(spec, *args, **kwargs)

    return wrapper


# ---- results -----------------------------------------------------------------------------------


class CrashingResultsOperator(TogetherBatchResultsOperator):
    """The results operator, killable during the download or inside the load transaction."""

    def execute(self, context: Any) -> dict[str, Any]:
        step = armed_step(context)
        if step == "download":
            real = results_io.download_batch_files
            with mock.patch.object(results_io, "download_batch_files", _kill_mid_download(real, context)):
                return super().execute(context)
        if step == "mid_load":
            loader = _loader_killing_mid_load(context)
            with mock.patch.object(plan_module, "WarehouseLoader", loader):
                return super().execute(context)
        return super().execute(context)


def _kill_mid_download(real: Callable[..., Any], context: Any) -> Callable[..., Any]:
    def download(client: Any, job: Any, dest: Path, *args: Any, **kwargs: Any) -> Any:
        def content(file_id: str, target: Any) -> NoReturn:
            path = client.files.content(file_id, target)  # the input file arrives, the output never does
            crash("download", context, batch_id=job.id, downloaded=Path(path).name)

        return real(Proxy(client, files=Proxy(client.files, content=content)), job, dest, *args, **kwargs)

    return download


class _KillAfterFirstWrite:
    """A warehouse dialect that dies right after its first write, inside the open transaction."""

    def __init__(self, real: Any, context: Any) -> None:
        self.real, self.context = real, context

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def write(self, conn: Any, table: Any, *args: Any, **kwargs: Any) -> NoReturn:
        written = self.real.write(conn, table, *args, **kwargs)
        cur = conn.cursor()
        sql = f"SELECT count(*) FROM {table.sql(self.real.quote)} WHERE run_id = %s"
        cur.execute(sql, (self.context["run_id"],))
        visible = cur.fetchone()[0]
        crash("mid_load", self.context, table=table.name, written=written, visible_in_transaction=visible)


def _loader_killing_mid_load(context: Any) -> type:
    class KillingLoader(plan_module.WarehouseLoader):
        def dialect(self) -> Any:
            return _KillAfterFirstWrite(super().dialect(), context)

    return KillingLoader


# ---- the DAG -----------------------------------------------------------------------------------

with DAG(
    dag_id=DAG_ID,
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=16,
    params={"crash": "", "day": "2026-11-01"},
    default_args={"retries": 1, "retry_delay": timedelta(seconds=2)},
    tags=["test"],
) as dag:
    build = TogetherBuildRequestsOperator(
        task_id="build_requests",
        sql_conn_id=WAREHOUSE_CONN_ID,
        sql=(
            "SELECT ticket_id, subject, body, customer_tier FROM support_tickets "
            "WHERE created_day = '{{ params.day }}' ORDER BY ticket_id"
        ),
        key_column="ticket_id",
        model="meta-llama/Llama-3.3-70B-Instruct-Turbo",
        user_template="Subject: {subject}\n\n{body}",
        body={"max_tokens": 64},
        metadata_columns=["customer_tier"],
        output_path=str(CRASH_DIR / "inputs" / "{{ params.day }}" / "requests.jsonl"),
    )
    submit = CrashingBatchOperator(
        task_id="submit_batch",
        input_path="{{ ti.xcom_pull(task_ids='build_requests')['path'] }}",
        metadata_manifest="{{ ti.xcom_pull(task_ids='build_requests')['metadata_path'] }}",
        poll_interval=2,
    )
    load = CrashingResultsOperator(
        task_id="load_results",
        manifest=submit.output,
        warehouse_conn_id=WAREHOUSE_CONN_ID,
        results_table="crash_results",
        summary_table="crash_summary",
    )
    build >> submit >> load
