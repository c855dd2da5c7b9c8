"""Helpers of the common.ai adapter tests (imported by module name: tests have no packages)."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

DAGS_FILE = Path(__file__).parent / "dags" / "apb_commonai_dags.py"
MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"


def wait_until_done(adapter: Any, batch_id: str, timeout: float = 30.0) -> str:
    """Poll ``get_batch`` until the batch leaves ``in_progress``; returns the final status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = adapter.get_batch(batch_id).status
        if status != "in_progress":
            return status
        time.sleep(0.02)
    raise AssertionError(f"batch {batch_id} still running after {timeout}s")


def wait_for_progress(server: Any, batch_id: str, at_least: float, timeout: float = 30.0) -> None:
    """Wait until the local server reports ``progress >= at_least`` for a batch."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (batch,) = [b for b in server.batches() if b["id"] == batch_id]
        if batch["progress"] >= at_least:
            return
        time.sleep(0.02)
    raise AssertionError(f"batch {batch_id} did not reach {at_least}% in {timeout}s")


def force_first_batch(server: Any, status: str, timeout: float = 30.0) -> threading.Thread:
    """In the background: wait for the first batch to be created, then end it in ``status``."""

    def _force() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batches = server.batches()
            if batches:
                server.force_status(batches[0]["id"], status)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=_force, name=f"force-{status}", daemon=True)
    thread.start()
    return thread


@cache
def dags_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("apb_commonai_dags", DAGS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_dag(dag_id: str, **conf: Any) -> Any:
    """``dag.test()`` one of the DAGs of ``dags/apb_commonai_dags.py`` with ``conf`` as params."""
    from airflow.sdk import DAG

    (dag,) = [v for v in vars(dags_module()).values() if isinstance(v, DAG) and v.dag_id == dag_id]
    return dag.test(run_conf=conf)


def _row_of(model: Any, dag_run: Any, task_id: str, **where: Any) -> Any:
    """The first row of ``model`` for one task of a run (``where``: extra column equalities)."""
    from airflow.utils.session import create_session
    from sqlalchemy import select

    filters = {"dag_id": dag_run.dag_id, "run_id": dag_run.run_id, "task_id": task_id, **where}
    with create_session() as session:
        row = session.scalars(select(model).filter_by(**filters)).first()
        if row is not None:
            session.expunge(row)
        return row


def task_state(dag_run: Any, task_id: str, map_index: int = -1) -> tuple[str, int]:
    """``(state, try_number)`` of one task instance of a finished run."""
    from airflow.models.taskinstance import TaskInstance

    ti = _row_of(TaskInstance, dag_run, task_id, map_index=map_index)
    return str(ti.state), ti.try_number


def return_value(dag_run: Any, task_id: str, map_index: int = -1) -> Any:
    """The task's ``return_value`` XCom (common.ai's manifest), or ``None``."""
    from airflow.models.xcom import XComModel

    row = _row_of(XComModel, dag_run, task_id, key="return_value", map_index=map_index)
    return None if row is None else XComModel.deserialize_value(row)


def result_rows(result_dir: Path) -> list[dict[str, Any]]:
    """The rows of the one result JSONL common.ai landed under ``result_dir``, by index."""
    (path,) = sorted(result_dir.glob("*.jsonl"))
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted(rows, key=lambda row: row["index"])
