"""What differs between the Airflow versions the provider supports (3.1, 3.2, 3.3).

Names whose home moved are imported here with a fallback; everything else comes from
``airflow.sdk`` directly.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

__all__ = [
    "AIRFLOW_HAS_TRIGGER_ON_KILL",
    "AirflowFailException",
    "AirflowSkipException",
    "BaseXCom",
    "TaskDeferred",
    "fernet_conflict",
    "warn_if_kill_cannot_cancel",
    "warn_once_if_fernet_conflict",
    "with_fernet_hint",
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


#: Airflow 3.1's ``get_fernet()`` sets ``is_encrypted`` on a ``MultiFernet``; cryptography 51 made
#: that class a Rust type that refuses new attributes. Every connection lookup then fails inside
#: the secrets backend, and Airflow reports the connection as "isn't defined". 3.2 no longer does it.
FERNET_CONFLICT = (
    "Airflow {airflow} with cryptography {cryptography}: Airflow before 3.2 cannot read any "
    "connection when cryptography is 51 or later and a Fernet key is set (its get_fernet() fails, "
    "and Airflow reports the connection as not defined). Install 'cryptography<51' (Airflow's "
    "constraints file does), or upgrade Airflow to 3.2 or later."
)


def _major_minor(version: str) -> tuple[int, int]:
    found = re.match(r"(\d+)(?:\.(\d+))?", version)
    if found is None:
        return (0, 0)
    return int(found.group(1)), int(found.group(2) or 0)


def fernet_conflict(
    airflow_version: str | None = None, cryptography_version: str | None = None
) -> str | None:
    """The plain-words explanation when this Airflow and this cryptography cannot read connections.

    ``None`` when the pair is fine. The versions default to the installed ones.
    """
    if airflow_version is None:
        from airflow import __version__ as airflow_version
    if cryptography_version is None:
        try:
            from cryptography import __version__ as cryptography_version
        except ImportError:  # pragma: no cover - Airflow requires it
            return None
    assert airflow_version is not None and cryptography_version is not None
    if _major_minor(airflow_version) < (3, 2) and _major_minor(cryptography_version) >= (51, 0):
        return FERNET_CONFLICT.format(airflow=airflow_version, cryptography=cryptography_version)
    return None


_fernet_warned = False


def warn_once_if_fernet_conflict(log: _Log) -> None:
    """Log :func:`fernet_conflict`'s explanation once per process, if it applies."""
    global _fernet_warned
    if _fernet_warned:
        return
    _fernet_warned = True
    message = fernet_conflict()
    if message:
        log.warning("%s", message)


def with_fernet_hint(exc: Exception) -> Exception:
    """A connection-lookup error, with the Fernet explanation appended when it applies."""
    message = fernet_conflict()
    if message is None:
        return exc
    return type(exc)(f"{exc} ({message})") if _rebuildable(exc) else exc


def _rebuildable(exc: Exception) -> bool:
    try:
        type(exc)("probe")
    except Exception:
        return False
    return True
