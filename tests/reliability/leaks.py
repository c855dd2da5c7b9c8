"""Checks that the API key never escapes into what an operator (or a log shipper) gets to see."""

from __future__ import annotations

import traceback
from collections.abc import Iterable

import pytest

__all__ = ["SECRET", "assert_not_leaked", "exception_views", "leaks_in"]

#: A key nobody else uses, so any sighting of it (or of a piece of it) is ours.
SECRET = "sk-rlb-Zq7XwP4mVb9RkT2cYh5N"
_WINDOW = 8


def leaks_in(text: str, secret: str = SECRET) -> list[str]:
    """Every piece of ``secret`` (``_WINDOW`` characters or more) found in ``text``."""
    pieces = {secret[i : i + _WINDOW] for i in range(len(secret) - _WINDOW + 1)}
    return sorted(piece for piece in pieces if piece in text)


def exception_views(exc: BaseException) -> dict[str, str]:
    """The ways an exception is shown: str, repr, the formatted traceback (with its chain), and a
    traceback that captures the locals of every frame (as error trackers do)."""
    with_locals = traceback.TracebackException.from_exception(exc, capture_locals=True)
    return {
        "str": str(exc),
        "repr": repr(exc),
        "traceback": "".join(traceback.format_exception(exc)),
        "traceback_with_locals": "".join(with_locals.format()),
    }


def _log_views(caplog: pytest.LogCaptureFixture) -> Iterable[tuple[str, str]]:
    yield "caplog.text", caplog.text
    for record in caplog.records:
        yield f"log record {record.name}", f"{record.getMessage()} {record.args!r}"


def assert_not_leaked(exc: BaseException | None, caplog: pytest.LogCaptureFixture) -> None:
    """Fail when any piece of the key is in ``exc`` (every view) or in the captured logs."""
    views: list[tuple[str, str]] = list(exception_views(exc).items()) if exc is not None else []
    views += list(_log_views(caplog))
    found = {where: leaks_in(text) for where, text in views if leaks_in(text)}
    assert not found, f"API key pieces leaked: {found}"
