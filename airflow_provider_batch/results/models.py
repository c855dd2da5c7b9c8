"""Row types shared by the parser, the reconciler and the warehouse loader.

The field order of :class:`ResultRow` and :class:`BatchSummary` is the column order of the
results and spend tables (see :data:`RESULT_COLUMNS` and :data:`SUMMARY_COLUMNS`), except that
a new results table has ``response_embedding``, the last field, after ``loaded_at`` (a table
from an earlier release gets it appended at its end).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from airflow_provider_batch.core.figures import CACHE_TOKEN_FIELDS, MONEY_FIELDS, TOKEN_FIELDS
from airflow_provider_batch.core.identity import OWNER_KEY_LENGTH, TaskIdentity, owner_key
from airflow_provider_batch.core.status import ROW_STATUSES, RowStatus

__all__ = [
    "RowStatus",
    "ExpectedRequest",
    "ParsedLine",
    "RunContext",
    "ResultRow",
    "BatchSummary",
    "Diagnostics",
    "RESULT_COLUMNS",
    "SUMMARY_COLUMNS",
    "RESULT_KEY",
    "SUMMARY_KEY",
    "meta_value",
    "owner_key",
    "OWNER_KEY_LENGTH",
    "OWNER_COLUMNS",
    "SUPERSEDED_COLUMNS",
]


@dataclass(frozen=True, slots=True)
class ExpectedRequest:
    """One request that was submitted: its id, model and the input row's metadata."""

    custom_id: str
    model: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a third of reading a line
class ParsedLine:
    """One line of an output or error file, reduced to what the tables need.

    ``succeeded`` is true only for a line that carries an answer: a 2xx ``response.status_code``
    and a body with a choice or a transcript. A line that could not be read at all (bad JSON,
    not an object, no ``custom_id``) has ``custom_id=None``, the reason in
    ``problem`` and, when it could still be made out, the id in ``reported_id``; the reconciler
    reports it instead of dropping it. ``response_json`` is the response body as JSON text: the
    bytes of the file as they came when read from a file.
    """

    custom_id: str | None
    succeeded: bool
    status_code: int | None = None
    response_text: str | None = None
    finish_reason: str | None = None
    model: str | None = None
    prompt_tokens: int | None = 0  # None: usage not finite, unknown
    completion_tokens: int | None = 0
    total_tokens: int | None = 0
    error_code: str | None = None
    error_message: str | None = None
    line_no: int = 0
    problem: str | None = None
    response_json: str | None = None
    reported_id: str | None = None
    #: An embeddings answer: its vector (or one per input), else ``None``.
    embedding: list[Any] | None = None
    #: Prompt-cache tokens counted apart from ``prompt_tokens`` (the endpoint's
    #: ``cache_usage_keys``: Anthropic's): written, of them with a one-hour lifetime, and read.
    cache_written: int = 0
    cache_written_1h: int = 0
    cache_read: int = 0


class RunContext(NamedTuple):
    """The Airflow task instance that loads the rows; stamped on every row and summary.

    The *owner* of a row is ``(dag_id, task_id, run_id, map_index)`` of the task instance that
    loaded it (:attr:`owner_key` is its compact hash). ``task_id`` and ``map_index`` come last so
    that ``RunContext(dag_id, run_id, logical_date, loaded_at)`` keeps working.

    ``map_indexes`` are the map indexes the task has in this run now (its current expansion,
    ``(-1,)`` unmapped), ``None`` when unknown: in replace mode, rows this run wrote at any other
    map index are left over from an earlier expansion (a re-run with fewer shards).
    """

    dag_id: str | None = None
    run_id: str | None = None
    logical_date: datetime | None = None
    loaded_at: datetime | None = None
    task_id: str | None = None
    map_index: int | None = None
    map_indexes: tuple[int, ...] | None = None

    @property
    def owner_key(self) -> str:
        """:func:`owner_key` of this task instance."""
        return owner_key(self.dag_id, self.task_id, self.run_id, self.map_index)

    @property
    def legacy_key(self) -> str:
        """The owner key a row of this run got when it was loaded before rows had owners (its
        task and map index were not recorded): :func:`owner_key` with both unknown."""
        return owner_key(self.dag_id, None, self.run_id, None)

    @property
    def identity(self) -> TaskIdentity | None:
        """The task instance as a :class:`TaskIdentity`; ``None`` when a part is unknown."""
        if self.dag_id is None or self.task_id is None or self.run_id is None or self.map_index is None:
            return None
        return TaskIdentity(self.dag_id, self.task_id, self.run_id, self.map_index)


class ResultRow(NamedTuple):
    """One row of the results table: one per expected request.

    ``metadata`` holds the input row's metadata; the loader spreads the configured metadata
    columns in its place (see :meth:`values`).

    ``answered_by_batch_id`` is the batch whose answer the row holds: ``batch_id`` itself, or a
    follow-up batch that re-sent the request (the row keeps its key).
    ``attempts`` counts the batches that carried the request up to that one (1 = the original).
    With follow-ups, tokens and ``cost_usd`` are summed over those attempts, so the results
    table's cost still equals the spend table's.

    The row's owner is ``dag_id, task_id, run_id, map_index`` (``owner_key`` is their hash; the
    loader fills it when it is ``None``), and the table key is ``(owner_key, batch_id,
    custom_id)``. ``superseded`` rows hold an answer that a later batch of the same owner
    replaced (``superseded_by``, ``superseded_at``); the loader sets those, a new row is current.

    ``response_embedding`` is an embeddings answer's vector (a list of floats; a list of vectors
    when the request embedded several inputs), ``None`` for any other answer. Its column holds
    JSON text, or a native ``double precision[]`` on PostgreSQL.

    ``cache_creation_tokens`` and ``cache_read_tokens`` are prompt-cache tokens a vendor counts
    apart from ``prompt_tokens`` (Anthropic's ``cache_creation_input_tokens`` and
    ``cache_read_input_tokens``; 0 elsewhere), priced into ``cost_usd`` and summed over attempts
    like the other tokens. They are the table's last columns.
    """

    batch_id: str
    custom_id: str
    status: str
    model: str | None
    response_text: str | None
    finish_reason: str | None
    prompt_tokens: int | None  # None (with cost_usd): usage unknown, see parse.USAGE_UNKNOWN_CODE
    completion_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None
    error_code: str | None
    error_message: str | None
    response_json: str | None
    metadata: Mapping[str, Any]
    dag_id: str | None
    run_id: str | None
    logical_date: datetime | None
    loaded_at: datetime | None
    answered_by_batch_id: str | None = None
    attempts: int = 1
    task_id: str | None = None
    map_index: int | None = None
    owner_key: str | None = None
    superseded: bool = False
    superseded_by: str | None = None
    superseded_at: datetime | None = None
    response_embedding: list[Any] | None = None
    cache_creation_tokens: int | None = 0
    cache_read_tokens: int | None = 0

    def values(self, metadata_columns: Sequence[str] = ()) -> tuple[Any, ...]:
        """Column values in table order, metadata spread into ``metadata_columns``."""
        meta = self.metadata
        return (
            self[:_META_POS]
            + tuple(meta_value(meta.get(name)) for name in metadata_columns)
            + self[_META_POS + 1 : _VECTOR_AT]
            + (self.response_embedding,)
            + self[_VECTOR_AT:_VECTOR_POS]
            + self[_VECTOR_POS + 1 :]
        )


_META_POS = ResultRow._fields.index("metadata")
_VECTOR_POS = ResultRow._fields.index("response_embedding")
#: Where a new results table has ``response_embedding``: before ``answered_by_batch_id``.
_VECTOR_AT = ResultRow._fields.index("answered_by_batch_id")


def meta_value(value: Any) -> str | None:
    """A metadata value as stored in its TEXT column: non-strings become compact JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """One row of the spend table: one per batch, kept forever (a ledger of money).

    The owner columns are those of the first task instance that loaded the batch. A batch whose
    usage is not measured yet (it is still running) has ``None`` counts, tokens and costs.
    ``superseded`` marks a batch whose answers a later batch of the same owner replaced.
    """

    batch_id: str
    final_status: str
    endpoint: str | None
    model: str | None
    requests: int
    succeeded: int
    failed: int
    missing: int
    expired: int
    cancelled: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd_batch: float
    cost_usd_list: float
    savings_usd: float
    submitted_at: datetime | None
    completed_at: datetime | None
    duration_seconds: float | None
    dag_id: str | None
    run_id: str | None
    logical_date: datetime | None
    loaded_at: datetime | None
    task_id: str | None = None
    map_index: int | None = None
    owner_key: str | None = None
    superseded: bool = False
    superseded_by: str | None = None
    superseded_at: datetime | None = None
    #: Prompt-cache tokens counted apart from ``prompt_tokens`` (see :class:`ResultRow`).
    cache_creation_tokens: int | None = 0
    cache_read_tokens: int | None = 0

    def values(self) -> tuple[Any, ...]:
        """Column values in table order (``owner_key`` filled from the owner when ``None``)."""
        values = dataclasses.astuple(self)
        if self.owner_key is None:
            key = owner_key(self.dag_id, self.task_id, self.run_id, self.map_index)
            values = (*values[:_SUMMARY_OWNER_KEY], key, *values[_SUMMARY_OWNER_KEY + 1 :])
        return values


@dataclass(slots=True)
class Diagnostics:
    """What did not fit one-row-per-expected-request, with bounded samples of ids."""

    duplicates: int = 0
    unknown_ids: int = 0
    invalid_lines: int = 0
    duplicate_samples: list[str] = field(default_factory=list)
    unknown_samples: list[str] = field(default_factory=list)
    invalid_samples: list[str] = field(default_factory=list)
    #: answered lines whose usage is not finite: tokens and cost unknown (not a mismatch)
    usage_unknown: int = 0
    usage_unknown_samples: list[str] = field(default_factory=list)

    sample_limit: int = 20

    @property
    def clean(self) -> bool:
        """True when every line matched exactly one expected request."""
        return not (self.duplicates or self.unknown_ids or self.invalid_lines)

    def add(self, kind: str, sample: str) -> None:
        """Count one ``duplicates`` / ``unknown_ids`` / ``invalid_lines`` / ``usage_unknown`` case,
        keeping a sample."""
        setattr(self, kind, getattr(self, kind) + 1)
        samples: list[str] = getattr(self, _SAMPLES[kind])
        if len(samples) < self.sample_limit:
            samples.append(sample)

    def as_dict(self) -> dict[str, Any]:
        """Counts and samples as plain data (for logs and XCom)."""
        data = dataclasses.asdict(self)
        data.pop("sample_limit")
        return data


_SAMPLES = {
    "duplicates": "duplicate_samples",
    "unknown_ids": "unknown_samples",
    "invalid_lines": "invalid_samples",
    "usage_unknown": "usage_unknown_samples",
}

_SUMMARY_OWNER_KEY = [f.name for f in dataclasses.fields(BatchSummary)].index("owner_key")

RESULT_KEY = ("owner_key", "batch_id", "custom_id")
SUMMARY_KEY = ("batch_id",)
#: Columns that say who owns a row; a later owner never overwrites them in the spend table.
OWNER_COLUMNS = ("dag_id", "task_id", "run_id", "map_index", "logical_date", "owner_key")
SUPERSEDED_COLUMNS = ("superseded", "superseded_by", "superseded_at")

_OWNER_KINDS = {"map_index": "int", "owner_key": "key", "superseded": "bool", "superseded_at": "timestamp"}


def _result_columns() -> tuple[tuple[str, str], ...]:
    kinds = {"batch_id": "key", "custom_id": "key"}
    kinds |= {"prompt_tokens": "int", "completion_tokens": "int", "total_tokens": "int"}
    kinds |= dict.fromkeys(CACHE_TOKEN_FIELDS, "int")
    kinds |= {"cost_usd": "money", "logical_date": "timestamp", "loaded_at": "timestamp", "attempts": "int"}
    kinds |= _OWNER_KINDS
    kinds["response_embedding"] = "vector"
    names = (
        *ResultRow._fields[:_VECTOR_AT],
        "response_embedding",
        *ResultRow._fields[_VECTOR_AT:_VECTOR_POS],
        *ResultRow._fields[_VECTOR_POS + 1 :],
    )
    return tuple((name, kinds.get(name, "text")) for name in names)


def _summary_columns() -> tuple[tuple[str, str], ...]:
    kinds: dict[str, str] = {"batch_id": "key"}
    for name in ("requests", *ROW_STATUSES, *TOKEN_FIELDS, *CACHE_TOKEN_FIELDS):
        kinds[name] = "int"
    for name in MONEY_FIELDS:
        kinds[name] = "money"
    for name in ("submitted_at", "completed_at", "logical_date", "loaded_at"):
        kinds[name] = "timestamp"
    kinds["duration_seconds"] = "float"
    kinds |= _OWNER_KINDS
    return tuple((f.name, kinds.get(f.name, "text")) for f in dataclasses.fields(BatchSummary))


RESULT_COLUMNS: tuple[tuple[str, str], ...] = _result_columns()
"""(name, kind) of the results table; ``metadata`` is a placeholder for the metadata columns."""

SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = _summary_columns()
"""(name, kind) of the spend table."""
