"""What differs between the Airflow versions the provider supports (3.1, 3.2, 3.3).

Names whose home moved are imported here with a fallback; everything else comes from
``airflow.sdk`` directly.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = [
    "AIRFLOW_HAS_TRIGGER_ON_KILL",
    "AirflowFailException",
    "AirflowSkipException",
    "BaseXCom",
    "TaskDeferred",
    "warn_if_kill_cannot_cancel",
]

try:
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException, TaskDeferred
except ImportError:  # Airflow 3.1: only in airflow.exceptions (the classes its task runner catches)
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowFailException,
        AirflowSkipException,
        TaskDeferred,
    )

try:
    from airflow.sdk import BaseXCom
except ImportError:  # Airflow 3.1 does not re-export it from airflow.sdk
    from airflow.sdk.bases.xcom import BaseXCom


def _trigger_has_on_kill() -> bool:
    from airflow.triggers.base import BaseTrigger

    return "on_kill" in vars(BaseTrigger)


#: Airflow 3.3 calls a trigger's ``on_kill()`` when a user marks, clears or fails a deferred task.
#: Before 3.3 the triggerer only cancels ``run()`` and calls ``cleanup()``: such a kill cannot
#: cancel the batch.
AIRFLOW_HAS_TRIGGER_ON_KILL = _trigger_has_on_kill()


class _Log(Protocol):
    def warning(self, msg: str, /, *args: Any, **kwargs: Any) -> Any: ...


def warn_if_kill_cannot_cancel(log: _Log, *, cancel_on_kill: bool) -> None:
    """Say in the task log, before deferring, that ``cancel_on_kill`` cannot act on this Airflow."""
    if cancel_on_kill and not AIRFLOW_HAS_TRIGGER_ON_KILL:
        log.warning(
            "cancel_on_kill: this Airflow version cannot cancel batches when a user kills the deferred "
            "task (Airflow 3.3 can); they keep running and a re-run of the task re-attaches to them"
        )
