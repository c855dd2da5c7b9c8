"""Running the test DAGs of ``tests/airflow/dags`` with dag.test() and reading what they left."""

from __future__ import annotations

import importlib.util
from datetime import datetime
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

DAGS_FILE = Path(__file__).parent / "dags" / "apb_core_dags.py"


@cache
def dags_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("apb_core_dags", DAGS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def get_dag(dag_id: str) -> Any:
    from airflow.sdk import DAG

    found = [v for v in vars(dags_module()).values() if isinstance(v, DAG) and v.dag_id == dag_id]
    assert found, dag_id
    return found[0]


def run_dag(dag_id: str, conf: dict[str, Any], logical_date: datetime | None = None) -> Any:
    kwargs: dict[str, Any] = {"run_conf": conf}
    if logical_date is not None:  # the run id derives from run_after: pin both to re-run one run
        kwargs["logical_date"] = kwargs["run_after"] = logical_date
    return get_dag(dag_id).test(**kwargs)


def ti_states(dag_run: Any) -> dict[str, tuple[str, int]]:
    from airflow.utils.session import create_session

    with create_session() as session:
        from airflow.models.dagrun import DagRun

        dr = session.get(DagRun, dag_run.id)
        return {ti.task_id: (str(ti.state), ti.try_number) for ti in dr.get_task_instances(session=session)}


def xcom(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_run.dag_id,
                XComModel.run_id == dag_run.run_id,
                XComModel.task_id == task_id,
                XComModel.key == key,
            )
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def clear_task_state(dag_run: Any, task_id: str) -> None:
    """What a clear does to the task state store: drop every key of the task instance.

    Airflow 3.1 and 3.2 have no task state store, so there is nothing to drop.
    """
    try:
        from airflow._shared.state import TaskScope
        from airflow.state.metastore import MetastoreBackend
    except ImportError:
        return

    scope = TaskScope(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, map_index=-1)
    MetastoreBackend().clear(scope)
