"""The lower bound on how often Together is polled, checked where a DAG is parsed and a connection read.

Together recommends polling a batch every 30-60 s; a batch takes minutes to hours, so polling
faster than every few seconds learns nothing sooner and only spends the API's rate limit (one
``GET`` per batch per poll, for every deferred task of every triggerer). The floor is
:data:`MIN_POLL_INTERVAL` seconds. Tests against the local Together-compatible server, where a
batch completes in under a second, opt out explicitly by setting the environment variable
:data:`MIN_POLL_INTERVAL_ENV` (e.g. ``APB_MIN_POLL_INTERVAL=0.01``) in the processes that parse
the DAGs and run the tasks.
"""

from __future__ import annotations

import math
import os

__all__ = ["MIN_POLL_INTERVAL", "MIN_POLL_INTERVAL_ENV", "check_poll_interval", "min_poll_interval"]

MIN_POLL_INTERVAL = 5.0
"""Smallest poll interval accepted, in seconds, unless :data:`MIN_POLL_INTERVAL_ENV` says otherwise."""

MIN_POLL_INTERVAL_ENV = "APB_MIN_POLL_INTERVAL"
"""Environment variable that replaces :data:`MIN_POLL_INTERVAL` (for tests against a local server)."""


def min_poll_interval() -> float:
    """The floor in force: :data:`MIN_POLL_INTERVAL_ENV` when set, else :data:`MIN_POLL_INTERVAL`.

    :raises ValueError: the environment variable is set but is not a positive number of seconds.
    """
    raw = os.environ.get(MIN_POLL_INTERVAL_ENV, "").strip()
    if not raw:
        return MIN_POLL_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{MIN_POLL_INTERVAL_ENV}={raw!r} must be a positive number of seconds")
    return value


def check_poll_interval(value: object, *, name: str, where: str, floor: bool = True) -> float:
    """Return ``value`` as seconds, or refuse it with a message naming ``name``, ``where`` and the bound.

    :param value: the interval; ``int`` or ``float`` (``bool`` is refused). Pass text through
        :func:`float` first if it may be text (a connection extra).
    :param name: the parameter's name, as the user wrote it (``poll_interval``, ``poke_interval``).
    :param where: who owns it, e.g. ``"TogetherBatchOperator 'submit'"`` or ``"connection 'x' extra"``.
    :param floor: also enforce :func:`min_poll_interval`; ``False`` checks only for a finite
        positive number (the trigger, which is re-created from stored kwargs and must not start
        failing on a value its operator accepted).
    :raises ValueError: not a number, not finite, not positive, or below the floor.
    """
    bound = min_poll_interval() if floor else 0.0
    rule = f">= {bound:g} s" if floor else "> 0 s"
    number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    if math.isfinite(number) and number > 0 and number >= bound:
        return number
    hint = ""
    if floor and math.isfinite(number) and number > 0:
        hint = (
            f"; Together recommends 30-60 s. Only tests against a local server may lower the floor, "
            f"with the {MIN_POLL_INTERVAL_ENV} environment variable"
        )
    raise ValueError(f"{where}: {name} must be a number of seconds {rule}, got {value!r:.40}{hint}")
