"""Answer parsing and best-effort clean-up that every vendor's client shares (no I/O here)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from airflow_provider_batch.client._core import RequestSpec, request_id
from airflow_provider_batch.client.errors import BatchAPIError, NotFoundError, ResponseValidationError
from airflow_provider_batch.client.models import FileCleanupReport, FileDeleted

__all__ = ["FileCleanup", "delete_each", "invalid_body", "parse_json", "parse_model"]

logger = logging.getLogger("airflow_provider_batch.client")

M = TypeVar("M", bound=BaseModel)


def parse_json(spec: RequestSpec, response: httpx.Response) -> Any:
    """The answer's JSON; a body that is not JSON raises :class:`ResponseValidationError`."""
    try:
        return response.json()
    except ValueError as exc:
        raise invalid_body(spec, response, f"not JSON ({type(exc).__name__})") from None


def invalid_body(spec: RequestSpec, response: httpx.Response, detail: str) -> ResponseValidationError:
    return ResponseValidationError(spec.method, spec.where, detail, request_id=request_id(response.headers))


def parse_model(spec: RequestSpec, response: httpx.Response, data: Any, parse: Callable[[Any], M]) -> M:
    """``parse(data)``; a validation failure raises :class:`ResponseValidationError` (no field values)."""
    try:
        return parse(data)
    except ValidationError as exc:
        raise invalid_body(spec, response, f"{exc.error_count()} validation error(s)") from None


class FileCleanup:
    """Tally of a best-effort delete of several files (see ``files.delete_many``)."""

    def __init__(self) -> None:
        self._report = FileCleanupReport()

    def outcome(self, file_id: str, answer: FileDeleted | None, error: BatchAPIError | None) -> None:
        """Record one delete: its answer, or the error it raised (a 404 means already gone)."""
        if isinstance(error, NotFoundError):
            self._report.missing.append(file_id)
        elif error is not None:
            self._report.failed[file_id] = f"{type(error).__name__}: {error}"
            logger.warning("Could not delete file %s: %s", file_id, self._report.failed[file_id])
        elif answer is not None and not answer.deleted:
            self._report.failed[file_id] = "the API answered deleted=false"
            logger.warning("Could not delete file %s: the API answered deleted=false", file_id)
        else:
            self._report.deleted.append(file_id)

    def report(self) -> FileCleanupReport:
        return self._report


def delete_each(delete: Callable[[str], FileDeleted], file_ids: Iterable[str]) -> FileCleanupReport:
    """Delete files one by one, best effort: every file is tried (duplicates once); failures are
    reported and logged, never raised, and a file already gone counts as missing."""
    tally = FileCleanup()
    for file_id in dict.fromkeys(file_ids):
        try:
            answer = delete(file_id)
        except BatchAPIError as exc:
            tally.outcome(file_id, None, exc)
        else:
            tally.outcome(file_id, answer, None)
    return tally.report()
