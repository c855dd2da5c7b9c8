"""Empty days: what the build, submit and results operators do when there is nothing to send.

A nightly query that returns no rows is normal. ``on_empty="skip"`` turns it into
``AirflowSkipException``, so downstream tasks follow Airflow's skip rules (with the default
trigger rule, submit and results are skipped: nothing is uploaded, no batch is paid for, no row is
loaded). ``on_empty="fail"`` fails the task with a message saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any, NoReturn

from airflow_provider_batch._compat import AirflowSkipException
from airflow_provider_batch.inputs.validate import EmptyInputError

__all__ = ["ON_EMPTY", "check_on_empty", "on_empty_input", "skip_if_upstream_skipped"]

ON_EMPTY = ("skip", "fail")

log = logging.getLogger(__name__)


def check_on_empty(on_empty: object) -> str:
    """Return ``on_empty`` if it is ``"skip"`` or ``"fail"``; raise ``ValueError`` otherwise."""
    if on_empty not in ON_EMPTY:
        raise ValueError(f"on_empty must be 'skip' or 'fail', got {on_empty!r:.40}")
    return str(on_empty)


def on_empty_input(on_empty: str, what: str) -> NoReturn:
    """Apply the policy to an input with no requests; ``what`` says which input, for the message.

    :raises AirflowSkipException: ``on_empty="skip"``.
    :raises EmptyInputError: ``on_empty="fail"``.
    """
    if on_empty == "skip":
        raise AirflowSkipException(
            f"{what}: no requests, so there is nothing to submit; skipping (on_empty='skip'). Nothing "
            "was uploaded or paid for; downstream tasks follow Airflow's skip rules"
        )
    raise EmptyInputError(
        f"{what}: no requests, so there is nothing to submit; failing because on_empty='fail' "
        "(pass on_empty='skip' to skip empty days). Nothing was uploaded"
    )


def skip_if_upstream_skipped(context: Any, task_ids: Collection[str]) -> None:
    """Skip when one of ``task_ids`` (this run's upstream tasks) was skipped, e.g. an empty day.

    Called by the results operator when it found no manifest to load: under
    ``trigger_rule="all_done"`` it runs after a skipped submit, and there is then nothing to load.
    Does nothing when the states cannot be read (an older Airflow, a test double).

    :raises AirflowSkipException: naming the skipped task(s).
    """
    ti = context.get("ti") if hasattr(context, "get") else None
    get_states = getattr(ti, "get_task_states", None)
    if not task_ids or ti is None or get_states is None:
        return
    try:
        states = get_states(dag_id=ti.dag_id, task_ids=sorted(task_ids), run_ids=[ti.run_id])
    except Exception as exc:  # the skip is a courtesy; the caller raises its own clear error
        log.warning("could not read the states of %s: %s", sorted(task_ids), exc)
        return
    skipped = sorted(t for t, s in (states.get(ti.run_id) or {}).items() if s == "skipped")
    if skipped:
        raise AirflowSkipException(
            f"nothing to load: upstream task(s) {', '.join(skipped)} were skipped (e.g. an empty day: "
            "no requests were built), so no batch was submitted"
        )
