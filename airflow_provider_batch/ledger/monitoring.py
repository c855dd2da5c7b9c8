"""The batches page's read queries: which batches, their follow-ups, and spend per day.

The page reads the ledger through this module only; nothing here writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from airflow_provider_batch.core.figures import CACHE_TOKEN_FIELDS, MONEY_FIELDS
from airflow_provider_batch.ledger._store import LedgerError, LedgerStore, LedgerUnavailableError, _iso
from airflow_provider_batch.ledger.records import (
    BatchOutcome,
    BatchQuery,
    DailySpend,
    FailureBucket,
    SubmissionRecord,
    neutral_status,
)
from airflow_provider_batch.vendors import DEFAULT_VENDOR

__all__ = [
    "BatchOutcome",
    "BatchQuery",
    "DailySpend",
    "FailureBucket",
    "LedgerError",
    "LedgerUnavailableError",
    "Monitoring",
    "WINDOW_SUMMARY_COLUMNS",
    "SubmissionRecord",
]

#: The final status of a ledger row's (alias ``s``) newest outcome, as an SQL scalar.
_NEWEST_FINAL_STATUS = (
    "(SELECT o.final_status FROM {o} o WHERE o.batch_id = s.batch_id ORDER BY o.loaded_at DESC LIMIT 1)"
)
#: The page's orders; a loaded figure is the newest load's (-1 before any load: last).
_SORTS = {
    "date": "COALESCE(s.logical_date, s.created_at) DESC",
    "spend": "COALESCE((SELECT MAX(o.cost_usd_batch) FROM {o} o WHERE o.batch_id = s.batch_id), -1) DESC",
    "failures": "COALESCE((SELECT MAX(o.failed) FROM {o} o WHERE o.batch_id = s.batch_id), -1) DESC",
}


class Monitoring(LedgerStore):
    """Read-only queries for the batches page (and anything else that only watches)."""

    def dag_ids(self) -> set[str]:
        """Every DAG with a batch in the ledger (the reader filters these by permission)."""
        self.ensure()
        with self._tx() as cur:
            cur.execute(self._sql("SELECT DISTINCT dag_id FROM {t} WHERE batch_id IS NOT NULL"))
            return {str(row[0]) for row in cur.fetchall()}

    def find_batches(self, query: BatchQuery) -> list[SubmissionRecord]:
        """The records with a batch that match ``query``, newest first, one page."""
        if query.dag_ids is not None and not query.dag_ids:
            return []
        params: list[Any] = []
        clauses = ["batch_id IS NOT NULL", *self._matching(query, params, "s.")]
        if query.top_level:
            clauses.append("parent_batch_id IS NULL")
        clauses.extend(_window(query, params))
        order = f"{_SORTS[query.sort]}, created_at DESC, part_index DESC, generation DESC"
        page = f"{order} LIMIT {int(query.limit)} OFFSET {int(query.offset)}"
        return self._select(" AND ".join(clauses), tuple(params), order=page)

    def _matching(self, query: BatchQuery, params: list[Any], s: str) -> list[str]:
        """``query``'s filters on the submissions table (aliased ``s``, columns prefixed ``s``)."""
        clauses: list[str] = []
        exact = {"dag_id": query.dag_id, "run_id": query.run_id, "task_id": query.task_id,
                 "map_index": query.map_index}  # fmt: skip
        for column, value in exact.items():
            if value is not None:
                clauses.append(f"{s}{column} = ?")
                params.append(value)
        if query.status is not None:
            # The status the page shows: the newest load's final status, else the last one seen.
            clauses.append(f"UPPER(COALESCE({_NEWEST_FINAL_STATUS}, {s}last_status, {s}state)) = ?")
            params.append(neutral_status(query.status))
        if query.vendor is not None:
            clauses.append(f"COALESCE({s}vendor, '{DEFAULT_VENDOR}') = ?")
            params.append(query.vendor)
        if query.dag_ids is not None:
            clauses.append(self._in(f"{s}dag_id", query.dag_ids, params))
        return clauses

    def _in(self, column: str, values: frozenset[str] | list[str], params: list[Any]) -> str:
        names = sorted(values)
        params.extend(names)
        return f"{column} IN ({', '.join('?' for _ in names)})"

    def follow_ups_of(
        self, batch_ids: list[str], *, dag_ids: frozenset[str] | None = None
    ) -> dict[str, list[SubmissionRecord]]:
        """The follow-up batches (every round) of each of ``batch_ids``, oldest first."""
        found: dict[str, list[SubmissionRecord]] = {}
        if not batch_ids or (dag_ids is not None and not dag_ids):
            return found
        for start in range(0, len(batch_ids), 500):
            params: list[Any] = []
            where = self._in("parent_batch_id", list(batch_ids[start : start + 500]), params)
            if dag_ids is not None:
                where += " AND " + self._in("dag_id", dag_ids, params)
            for record in self._select(f"{where} AND batch_id IS NOT NULL", tuple(params)):
                found.setdefault(str(record.parent_batch_id), []).append(record)
        return found

    def daily_spend(
        self,
        *,
        since: datetime,
        until: datetime | None = None,
        dag_ids: frozenset[str] | None = None,
        query: BatchQuery | None = None,
        by: Literal["loaded", "logical"] = "loaded",
    ) -> list[DailySpend]:
        """Spend, savings, prompt-cache tokens and failed requests per UTC day, vendor and model,
        oldest day first.

        ``by="loaded"`` counts a batch on the day its results were loaded; ``by="logical"`` on its
        DAG run's logical date (a run without one, on its load day), so a backfill of three dates
        loaded today is three days. ``since``/``until`` bound that same date. ``query`` narrows
        the batches as the page's filters do (its paging is ignored). A batch loaded into several
        tables is counted once (its newest load): the money was spent once.
        """
        if dag_ids is not None and not dag_ids:
            return []
        rows = self._spend_rows(since, until, dag_ids, query, by)
        newest: dict[str, dict[str, Any]] = {}
        for row in rows:
            kept = newest.get(row["batch_id"])
            if kept is None or str(row["loaded_at"]) > str(kept["loaded_at"]):
                newest[row["batch_id"]] = row
        sums: dict[tuple[str, str, str], list[float]] = {}
        for row in newest.values():
            day = str((row["logical_date"] if by == "logical" else None) or row["loaded_at"])[:10]
            key = (day, row["vendor"] or DEFAULT_VENDOR, row["model"] or "(unknown model)")
            figures = (1, *(row[name] for name in _DAILY_FIGURES[1:]))
            total = sums.setdefault(key, [0.0] * len(figures))
            for i, value in enumerate(figures):
                total[i] += float(value or 0)  # cache tokens: NULL on outcomes older than the columns
        return [
            DailySpend.model_validate(
                {"day": day, "vendor": vendor, "model": model, **dict(zip(_DAILY_FIGURES, t, strict=True))}
            )
            for (day, vendor, model), t in sorted(sums.items())
        ]

    def _spend_rows(
        self,
        since: datetime,
        until: datetime | None,
        dag_ids: frozenset[str] | None,
        query: BatchQuery | None,
        by: str,
    ) -> list[dict[str, Any]]:
        self.ensure()
        loaded = ("batch_id", "loaded_at", *_DAILY_FIGURES[1:])
        columns = (*loaded, "model", "vendor", "logical_date")
        select = ", ".join(f"o.{c}" for c in loaded) + ", s.model, s.vendor, s.logical_date"
        day = "COALESCE(s.logical_date, o.loaded_at)" if by == "logical" else "o.loaded_at"
        params: list[Any] = [_iso(since)]
        clauses = [f"{day} >= ?"]
        if until is not None:
            clauses.append(f"{day} < ?")
            params.append(_iso(until))
        wanted = (query or BatchQuery()).model_copy(update={"dag_ids": dag_ids})
        clauses.extend(self._matching(wanted, params, "s."))
        where = " AND ".join(clauses)
        sql = f"SELECT {select} FROM {{o}} o JOIN {{t}} s ON s.batch_id = o.batch_id WHERE {where}"
        with self._tx() as cur:
            cur.execute(self._sql(sql), tuple(params))
            return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]

    # -- the page's summary of a whole window (every page of it) ----------------------------------

    def summary_rows(self, query: BatchQuery) -> tuple[list[dict[str, Any]], list[str]]:
        """Every batch matching ``query``'s filters and window, follow-ups included (paging, order
        and ``top_level`` ignored), added up per status the page shows (the newest load's, else the
        last one seen): :data:`WINDOW_SUMMARY_COLUMNS`, figures of each batch's newest load. Second: the
        failure lists (JSON) of those loads in which a follow-up answered something."""
        if query.dag_ids is not None and not query.dag_ids:
            return [], []
        self.ensure()
        params: list[Any] = []
        where = " AND ".join(
            ["s.batch_id IS NOT NULL", *self._matching(query, params, "s."), *_window(query, params)]
        )
        newest = "o.batch_id = s.batch_id"
        with self._tx() as cur:  # a batch loaded into several tables counts once: its newest load
            cur.execute(self._sql("SELECT batch_id FROM {o} GROUP BY batch_id HAVING COUNT(*) > 1 LIMIT 1"))
            if cur.fetchall():
                newest += (
                    " AND o.loaded_at = (SELECT MAX(n.loaded_at) FROM {o} n WHERE n.batch_id = s.batch_id)"
                )
        joined = f"FROM {{t}} s LEFT JOIN {{o}} o ON {newest} WHERE {where}"
        status = "UPPER(COALESCE(o.final_status, s.last_status, s.state))"
        sums = (
            f"SELECT {status}, COUNT(*), SUM(CASE WHEN o.batch_id IS NULL THEN 1 ELSE 0 END), "
            "SUM(COALESCE(o.succeeded, 0)), SUM(COALESCE(o.failed, 0)), "
            "SUM(CASE WHEN o.failed > 0 AND o.succeeded = 0 THEN 1 ELSE 0 END), "
            "SUM(COALESCE(o.cost_usd_batch, 0)), "
            "SUM(COALESCE(s.request_count, 0) * (100 - COALESCE(s.last_progress, 0)) / 100.0), "
            + ", ".join(f"SUM(COALESCE(o.{name}, 0))" for name in CACHE_TOKEN_FIELDS)
            + " "
            f"{joined} GROUP BY {status}"
        )
        # Few loads have answered failures: look for them first (an inner join lets the database).
        answered = (
            f"SELECT o.failures_json FROM {{o}} o JOIN {{t}} s ON {newest} "
            f"WHERE o.failures_json LIKE ? AND {where}"
        )
        with self._tx() as cur:
            cur.execute(self._sql(sums), tuple(params))
            rows = [dict(zip(WINDOW_SUMMARY_COLUMNS, row, strict=True)) for row in cur.fetchall()]
            cur.execute(self._sql(answered), ('%"answered_by": ["%', *params))
            return rows, [str(row[0]) for row in cur.fetchall()]


#: What :meth:`Monitoring.daily_spend` adds up per day (``batches`` counts; the rest are outcome columns).
_DAILY_FIGURES = ("batches", "requests", "failed", *MONEY_FIELDS, *CACHE_TOKEN_FIELDS)
#: The columns of :meth:`Monitoring.summary_rows`, one row per status shown.
WINDOW_SUMMARY_COLUMNS = ("status", "batches", "not_loaded", "succeeded", "failed", "none_answered",
                   "cost_usd_batch", "waiting", *CACHE_TOKEN_FIELDS)  # fmt: skip


def _window(query: BatchQuery, params: list[Any]) -> list[str]:
    """``query``'s ``since``/``until`` on when each submission was recorded."""
    clauses = []
    for column_op, bound in (("s.created_at >= ?", query.since), ("s.created_at < ?", query.until)):
        if bound is not None:
            clauses.append(column_op)
            params.append(_iso(bound))
    return clauses
