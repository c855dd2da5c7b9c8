"""Turn rows into bind-ready tuples for a dialect (the per-row hot path of a load)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from airflow_provider_batch.results.models import ResultRow, meta_value, owner_key
from airflow_provider_batch.warehouse.dialects._sql import to_utc
from airflow_provider_batch.warehouse.dialects.base import SqlDialect

__all__ = ["adapted", "result_adapter"]

_FIELDS = ResultRow._fields
_META = _FIELDS.index("metadata")
_TAIL = (
    "dag_id", "run_id", "logical_date", "loaded_at", "answered_by_batch_id", "attempts",
    "task_id", "map_index", "owner_key", "superseded", "superseded_by", "superseded_at", "response_embedding",
    "cache_creation_tokens", "cache_read_tokens",
)  # fmt: skip
# The adapter below relies on this layout; fail at import, not with misplaced columns.
assert _FIELDS[_META + 1 :] == _TAIL, _FIELDS
_TEXT = _FIELDS.index("response_text")
_ERROR = _FIELDS.index("error_message")
_VECTOR = _FIELDS.index("response_embedding")
#: The columns after the embedding (the prompt-cache tokens) are the table's last, as they are.
_LAST = _VECTOR + 1
#: A new table has the embedding column after ``loaded_at`` (see ``models.RESULT_COLUMNS``).
_VECTOR_IN_TAIL = _TAIL.index("answered_by_batch_id")


def result_adapter(metadata_columns: Sequence[str], dialect: SqlDialect) -> Callable[[ResultRow], tuple]:
    """A function ``ResultRow -> tuple`` in table order, specialised for speed.

    Metadata is spread into its columns, timestamps take the dialect's form (converted once per
    distinct value), an embedding takes the dialect's form (:meth:`SqlDialect.vector`), and
    text that the database cannot hold is cleaned when the dialect says so.
    """
    tail_of = _tail_converter(timestamp_converter(dialect))
    vector = dialect.vector
    columns = tuple(metadata_columns)
    at = _META + len(columns) + _VECTOR_IN_TAIL  # the embedding's place in the table's columns
    clean = dialect.clean_text
    if clean is None:

        def adapt(row: ResultRow) -> tuple:
            metas = tuple(map(row[_META].get, columns))
            for value in metas:
                if value.__class__ is not str:  # rare: a non-text value or a missing column
                    metas = tuple([v if v.__class__ is str else meta_value(v) for v in metas])
                    break
            values = row[:_META] + metas + tail_of(row[_META + 1 : _VECTOR]) + row[_LAST:]
            embedding = row[_VECTOR]
            return values if embedding is None else (*values[:at], vector(embedding), *values[at + 1 :])

        return adapt

    def meta_clean(value: Any) -> str | None:
        text = meta_value(value)
        return clean(text) if text and "\x00" in text else text

    def adapt_clean(row: ResultRow) -> tuple:
        meta = row[_META]
        metas = tuple(
            [v if (v := meta.get(c)).__class__ is str and "\x00" not in v else meta_clean(v) for c in columns]
        )
        values = row[:_META] + metas + tail_of(row[_META + 1 : _VECTOR]) + row[_LAST:]
        embedding = row[_VECTOR]
        if embedding is not None:
            values = (*values[:at], vector(embedding), *values[at + 1 :])
        text, error = row[_TEXT], row[_ERROR]
        # Only free text can realistically carry NUL; ids and codes come from the API or our input.
        if (text and "\x00" in text) or (error and "\x00" in error):
            values = tuple(clean(v) if v.__class__ is str else v for v in values)
        return values

    return adapt_clean


def _tail_converter(convert: Callable[[Any], Any]) -> Callable[[tuple], tuple]:
    """The columns after the metadata up to the embedding (see ``_TAIL``) -> bind form in table
    order, with ``owner_key`` filled in when the row has none and the embedding column (after
    ``loaded_at``) ``None``: the adapter sets it; one load has one or a few distinct tails."""
    cache: dict[tuple, tuple] = {}

    def tail_of(tail: tuple) -> tuple:
        try:
            return cache[tail]
        except KeyError:
            if len(cache) > 1024:
                cache.clear()
            dag_id, run_id, logical_date, loaded_at, answered_by, attempts, task_id, map_index = tail[:8]
            key = tail[8] if tail[8] is not None else owner_key(dag_id, task_id, run_id, map_index)
            converted = cache[tail] = (
                dag_id, run_id, convert(logical_date), convert(loaded_at), None, answered_by, attempts,
                task_id, map_index, key, bool(tail[9]), tail[10], convert(tail[11]),
            )  # fmt: skip
            return converted

    return tail_of


def adapted(
    values: Iterable[tuple[Any, ...]], columns: Sequence[tuple[str, str]], dialect: SqlDialect
) -> Iterator[tuple[Any, ...]]:
    """Bind-ready tuples for any table (used for the small summary table)."""
    ts_positions = [i for i, (_, kind) in enumerate(columns) if kind == "timestamp"]
    convert = timestamp_converter(dialect)
    clean = dialect.clean_text
    for row in values:
        out = list(row)
        for pos in ts_positions:
            out[pos] = convert(out[pos])
        if clean is not None:
            out = [clean(v) if type(v) is str and "\x00" in v else v for v in out]
        yield tuple(out)


def timestamp_converter(dialect: SqlDialect) -> Callable[[Any], Any]:
    """UTC in the dialect's form; a load stamps a few distinct datetimes, each converted once."""
    cache: dict[datetime, Any] = {}

    def convert(value: Any) -> Any:
        if not isinstance(value, datetime):
            return value
        try:
            return cache[value]
        except KeyError:
            converted = cache[value] = dialect.timestamp(to_utc(value))
            return converted

    return convert
