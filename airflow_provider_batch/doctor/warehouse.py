"""``doctor --warehouse-conn-id``: load a few rows into scratch tables of the user's warehouse,
through the results task's own loader, and check what comes back against what the provider
relies on.

Everything goes through :class:`~airflow_provider_batch.results.warehouse.WarehouseLoader` and
the connection's dialect (:func:`~airflow_provider_batch.warehouse.dialects.dialect_for`), the
code the results operator runs. Four scratch tables are made, named ``apb_doctor_<8 hex>_…`` (a
fresh suffix per run, so they cannot be a user's), and dropped at the end, also when a step
fails; a drop that fails is reported with the statement to run.

The steps: the dialect and its load path; the tables and their key; a first owned load (seen
from a second connection before the commit, then read back value by value); a second run's load
of the same batch; a ``replace_logical_date`` load; a metadata column added on a later load;
plain unquoted SQL over the names; the migration of a table of an earlier shape; the clean-up
and the timings. A difference is ``WARN`` when a pipeline would still load correct rows,
``FAIL`` when it would load wrong rows or break.
"""

from __future__ import annotations

import contextlib
import json
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from airflow_provider_batch.doctor._report import Finding, Report, Severity, Step, StepAbort, StepRunner
from airflow_provider_batch.results._adapt import adapted, result_adapter
from airflow_provider_batch.results._migrate import present_columns
from airflow_provider_batch.results.models import (
    CACHE_TOKEN_FIELDS,
    RESULT_COLUMNS,
    RESULT_KEY,
    SUMMARY_COLUMNS,
    SUPERSEDED_COLUMNS,
    BatchSummary,
    ResultRow,
    RunContext,
)
from airflow_provider_batch.results.warehouse import ADDED_RESULT_COLUMNS, LoadStats, WarehouseLoader
from airflow_provider_batch.warehouse.dialects._sql import Table, parse_table
from airflow_provider_batch.warehouse.dialects.base import Column, SqlDialect

__all__ = [
    "EARLIER_RESULT_COLUMNS",
    "EARLIER_RESULT_KEY",
    "EARLIER_SUMMARY_COLUMNS",
    "ScratchTables",
    "connection_secrets",
    "run_warehouse_doctor",
]

#: The results table before rows had owners: no owner, superseded, embedding or prompt-cache
#: columns, keyed by ``(batch_id, custom_id)``; the oldest shape the migration starts from.
EARLIER_RESULT_COLUMNS: tuple[Column, ...] = tuple(
    (name, kind)
    for name, kind in RESULT_COLUMNS
    if name not in {*ADDED_RESULT_COLUMNS, *CACHE_TOKEN_FIELDS, "metadata"}
)
EARLIER_RESULT_KEY = ("batch_id", "custom_id")
#: The spend table of that time: no task, map index, owner key, superseded or cache columns.
EARLIER_SUMMARY_COLUMNS: tuple[Column, ...] = tuple(
    (name, kind)
    for name, kind in SUMMARY_COLUMNS
    if name not in {"task_id", "map_index", "owner_key", *SUPERSEDED_COLUMNS, *CACHE_TOKEN_FIELDS}
)

_SECRET_WORDS = ("password", "secret", "token", "key", "credential", "passphrase")
_DAG, _TASK = "apb_doctor", "results"
_META = "doctor_segment"
_UTC = timezone.utc
#: Stamped as a results task would, but in another zone: it must come back as the same instant.
_LOADED_AT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=5, minutes=30)))
_DAYS = [datetime(2026, 1, d, tzinfo=_UTC) for d in (1, 2, 3)]
_ANSWER = {"id": "doctor", "choices": [{"index": 0, "message": {"content": "ok"}}], "score": 1.5}
#: (custom_id, cost_usd, response_text, embedding): money that needs all 9 decimal places.
_SAMPLES = (
    ("doctor-1", Decimal("0.000123456"), "Grüße aus 東京 ✓", None),
    ("doctor-2", Decimal("1234.567891234"), "plain", None),
    ("doctor-3", Decimal("0.000000001"), "", [0.25, -0.5, 0.125]),
)
#: Each dialect's load path in a line (the module docstring's first line for any other).
_LOAD_PATHS = {
    "generic": "delete-then-insert with executemany, atomic only where the driver's transactions are",
}


def connection_secrets(connection: Any) -> list[str]:
    """What of an Airflow connection must never be printed: its password and every extra value
    under a key that names a secret (``private_key``, ``keyfile_dict``, ``token``, …)."""
    found = [connection.password or ""]
    try:
        extra = connection.extra_dejson or {}
    except Exception:
        extra = {}

    def walk(value: Any, secret: bool) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, secret or any(word in str(key).lower() for word in _SECRET_WORDS))
            if secret:
                found.append(json.dumps(value))
        elif isinstance(value, (list, tuple)):
            for inner in value:
                walk(inner, secret)
        elif secret and isinstance(value, str):
            found.append(value)
            found.extend(line for line in value.splitlines() if len(line) >= 8)

    walk(extra, False)
    return [s for s in found if s]


@dataclass(frozen=True)
class ScratchTables:
    """The four tables one run makes: results and spend, and an earlier-shape pair."""

    prefix: str
    schema: str | None = None

    @classmethod
    def fresh(cls, schema: str | None) -> ScratchTables:
        if schema is not None:
            parse_table(f"{schema}.x", "warehouse schema")
        return cls(f"apb_doctor_{uuid.uuid4().hex[:8]}", schema)

    def name(self, part: str) -> str:
        """``[schema.]apb_doctor_<hex>_<part>``."""
        return ".".join(filter(None, (self.schema, f"{self.prefix}_{part}")))

    @property
    def all(self) -> list[str]:
        return [self.name(p) for p in ("results", "summary", "old_results", "old_summary")]


@dataclass
class _Check:
    """The warehouse run's state: the loader, the dialect, what was read back so far."""

    hook: Any
    tables: ScratchTables
    runner: StepRunner
    loader: WarehouseLoader = field(init=False)
    dialect: SqlDialect = field(init=False)
    loads: dict[str, LoadStats] = field(default_factory=dict)
    first_read: list[tuple[Any, ...]] = field(default_factory=list)
    _reader: Any = None

    def __post_init__(self) -> None:
        self.loader = WarehouseLoader(
            self.hook, results_table=self.tables.name("results"), summary_table=self.tables.name("summary")
        )

    # -- helpers --------------------------------------------------------------------------------

    def q(self, name: str) -> str:
        return self.dialect.quote.format(name)

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        """A connection for reads, its transaction ended after each use: one kept open for the
        run (a Snowflake or BigQuery session costs a login), a fresh one on DuckDB (its file
        takes one connection at a time while loads run)."""
        if self.dialect.name == "duckdb":
            with closing(self.dialect.connect(self.hook)) as conn:
                yield conn
            return
        if self._reader is None:
            self._reader = self.dialect.connect(self.hook)
        try:
            yield self._reader
        finally:
            with contextlib.suppress(Exception):
                self._reader.rollback()

    def close_reader(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(Exception):
                self._reader.close()
            self._reader = None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.reading() as conn:
            return self.dialect.query(conn, sql, params)

    def counts(self, table: Table) -> dict[str, int]:
        """Rows per owner key."""
        key = self.q("owner_key")
        rows = self.query(f"SELECT {key}, COUNT(*) FROM {table.sql(self.dialect.quote)} GROUP BY {key}")
        return {str(k): int(n) for k, n in rows}

    def read(self, table: Table, run: RunContext, columns: Sequence[str]) -> list[tuple[Any, ...]]:
        cols = ", ".join(self.q(c) for c in columns)
        sql = (
            f"SELECT {cols} FROM {table.sql(self.dialect.quote)} WHERE {self.q('owner_key')} = "
            f"{self.dialect.placeholder} ORDER BY {self.q('custom_id')}"
        )
        return [tuple(r) for r in self.query(sql, (run.owner_key,))]

    def load(self, name: str, loader: WarehouseLoader, run: RunContext, batch: str, **kw: Any) -> LoadStats:
        rows = _rows(run, batch, kw.pop("metadata", {}))
        stats = loader.load(rows, kw.pop("summaries", [_summary(run, batch, rows)]), run=run, **kw)
        self.loads[name] = stats
        return stats

    # -- steps ----------------------------------------------------------------------------------

    def dialect_step(self) -> None:
        with self.runner.step("warehouse.dialect", "Warehouse: dialect and load path") as step:
            self.dialect = self.loader.dialect()
            name = self.dialect.name
            path = _LOAD_PATHS.get(name) or _first_line(sys.modules[type(self.dialect).__module__].__doc__)
            step.info(f"dialect {name} ({type(self.dialect).__name__}) for hook {type(self.hook).__name__}")
            step.info(f"load path: {path}")
            with closing(self.dialect.connect(self.hook)):
                pass
            step.add(Severity.OK, "connected")
            if name == "generic":
                step.add(
                    Severity.WARN,
                    "no dialect of its own: rows are deleted then inserted, atomic only where the "
                    "driver's transactions are, and the table's key is never read nor changed",
                )
            step.info("scratch tables: " + ", ".join(self.tables.all))
            step.data = {"dialect": name, "class": type(self.dialect).__name__, "load_path": path,
                         "hook": type(self.hook).__name__, "tables": self.tables.all}  # fmt: skip

    def create_step(self) -> None:
        with self.runner.step(
            "warehouse.create", "Warehouse: create the tables with the ownership key"
        ) as step:
            self.loader.ensure_tables()
            key = self._check_key(step, self.loader.results_table)
            with self.reading() as conn:
                present = present_columns(conn, self.dialect, self.loader.results_table)
            missing = sorted({c.lower() for c in self.loader.result_columns} - {c.lower() for c in present})
            if missing:
                step.add(Severity.FAIL, f"the new results table lacks columns: {', '.join(missing)}")
            else:
                step.add(Severity.OK, f"results table has all {len(present)} columns")
            step.data = {"primary_key": key, "columns": present}

    def _check_key(self, step: Step, table: Table) -> list[str] | None:
        with self.reading() as conn:
            key = self.dialect.primary_key(conn, table)
        if key is None:
            step.info(
                "the database does not tell its primary key here; every write is an upsert on "
                f"({', '.join(RESULT_KEY)}) all the same"
            )
            return None
        if [k.lower() for k in key] != list(RESULT_KEY):
            step.add(
                Severity.FAIL,
                f"primary key ({', '.join(key)}), not ({', '.join(RESULT_KEY)}): a second run of the same "
                "batch would overwrite the first run's rows",
            )
        else:
            step.add(Severity.OK, f"primary key ({', '.join(key)}): the ownership key, read back")
        return list(key)

    def first_load_step(self) -> None:
        run = _run("a", _DAYS[0])
        with self.runner.step("warehouse.first_load", "Warehouse: a first owned load, read back") as step:
            peeked: list[str] = []

            def summaries() -> list[BatchSummary]:
                peeked.append(self._peek(run))  # every row is written; nothing committed yet
                return [_summary(run, "b1", _rows(run, "b1", {}))]

            stats = self.load("first_load", self.loader, run, "b1", summaries=summaries)
            step.info(f"wrote {stats.rows} rows and {stats.summaries} spend row in {stats.seconds:.3f} s")
            seen = peeked[0] if peeked else "not looked"
            if seen == "0":
                step.add(Severity.OK, "a second connection saw none of the rows before the commit")
            elif seen.isdigit():
                step.add(
                    Severity.WARN,
                    f"a second connection saw {seen} rows before the load committed: readers can see a "
                    "load half done",
                )
            else:
                step.info(seen)
            self.first_read = self.read(self.loader.results_table, run, _READ)
            step.extend(_compare(self.first_read, run))
            step.info(
                "storage: response_json as "
                f"{self.dialect.column_type('response_json', 'text')}, response_embedding as "
                f"{self.dialect.column_type('response_embedding', 'vector')}, cost_usd as "
                f"{self.dialect.column_type('cost_usd', 'money')}"
            )
            step.data = {"rows": stats.rows, "seconds": stats.seconds, "seen_before_commit": seen,
                         "read_back": [list(map(str, r)) for r in self.first_read]}  # fmt: skip

    def _peek(self, run: RunContext) -> str:
        if self.dialect.name == "duckdb":
            return "a DuckDB file takes one writing connection: not looked at from a second one"
        try:
            table = self.loader.results_table.sql(self.dialect.quote)
            sql = f"SELECT COUNT(*) FROM {table} WHERE {self.q('owner_key')} = {self.dialect.placeholder}"
            with closing(self.dialect.wait_for_locks(self.dialect.connect(self.hook), 5000)) as conn:
                found = self.dialect.query(conn, sql, (run.owner_key,))
                with contextlib.suppress(Exception):
                    conn.rollback()
            return str(int(found[0][0]))
        except Exception as exc:
            return f"could not look from a second connection before the commit: {type(exc).__name__}: {exc}"

    def second_run_step(self) -> None:
        first, second = _run("a", _DAYS[0]), _run("b", _DAYS[1])
        title = "Warehouse: a second run loads the same batch"
        with self.runner.step("warehouse.second_run", title) as step:
            stats = self.load("second_run", self.loader, second, "b1")
            counts = self.counts(self.loader.results_table)
            again = self.read(self.loader.results_table, first, _READ)
            if counts.get(first.owner_key) != len(_SAMPLES) or again != self.first_read:
                step.add(
                    Severity.FAIL,
                    f"the first run's rows changed (now {counts.get(first.owner_key, 0)} of "
                    f"{len(_SAMPLES)}): runs of one batch would overwrite each other",
                )
            else:
                step.add(Severity.OK, "the first run's rows are untouched")
            if counts.get(second.owner_key) != len(_SAMPLES):
                step.add(Severity.FAIL, f"the second run holds {counts.get(second.owner_key, 0)} rows, "
                         f"not {len(_SAMPLES)}")  # fmt: skip
            else:
                step.add(Severity.OK, f"the second run has its own {stats.rows} rows")
            step.data = {"rows_per_owner": counts, "seconds": stats.seconds}

    def replace_step(self) -> None:
        first, second = _run("a", _DAYS[0]), _run("b", _DAYS[1])
        rerun = _run("c", _DAYS[0])
        title = "Warehouse: replace_logical_date replaces only its own date's rows"
        with self.runner.step("warehouse.replace", title) as step:
            stats = self.load("replace", self.loader, rerun, "b2", mode="replace_logical_date",
                              logical_date=_DAYS[0])  # fmt: skip
            counts = self.counts(self.loader.results_table)
            step.info(f"deleted {stats.deleted_rows} rows of the earlier run of {_DAYS[0].date()}")
            if counts.get(first.owner_key, 0):
                step.add(Severity.FAIL, f"{counts[first.owner_key]} rows of the earlier run of the same date "
                         "remain: the date's rows would be counted twice")  # fmt: skip
            else:
                step.add(Severity.OK, "the earlier run of the same date was replaced")
            if counts.get(second.owner_key) != len(_SAMPLES):
                left = counts.get(second.owner_key, 0)
                step.add(Severity.FAIL, f"the run of another date lost rows ({left} of {len(_SAMPLES)} left)")
            else:
                step.add(Severity.OK, f"the run of {_DAYS[1].date()} is untouched")
            spend = self.query(
                f"SELECT COUNT(*) FROM {self.loader.summary_table.sql(self.dialect.quote)} "
                f"WHERE {self.q('batch_id')} = {self.dialect.placeholder}",
                ("b1",),
            )
            if int(spend[0][0]) != 1:
                step.add(Severity.FAIL, "the replaced batch's spend row is gone: spend is never deleted")
            else:
                step.add(Severity.OK, "the replaced batch's spend row is kept")
            step.data = {"rows_per_owner": counts, "deleted": stats.deleted_rows, "seconds": stats.seconds}

    def metadata_step(self) -> None:
        run, before = _run("d", _DAYS[2]), _run("b", _DAYS[1])
        title = f"Warehouse: a later load adds a metadata column ({_META})"
        with self.runner.step("warehouse.metadata", title) as step:
            loader = WarehouseLoader(
                self.hook,
                results_table=self.tables.name("results"),
                summary_table=self.tables.name("summary"),
                metadata_columns=(_META,),
            )
            loader.ensure_tables()
            stats = self.load("metadata", loader, run, "b3", metadata={_META: "gold"})
            with self.reading() as conn:
                present = present_columns(conn, self.dialect, loader.results_table)
            if _META not in {c.lower() for c in present}:
                step.add(Severity.FAIL, f"column {_META} was not added")
                return
            new = {r[0] for r in self.read(loader.results_table, run, [_META])}
            old = {r[0] for r in self.read(loader.results_table, before, [_META])}
            if new != {"gold"}:
                step.add(
                    Severity.FAIL, f"the new load's {_META} reads back {sorted(map(str, new))}, not gold"
                )
            else:
                step.add(Severity.OK, "added; the new load's rows hold its value")
            if old != {None}:
                step.add(Severity.WARN, f"older rows hold {sorted(map(str, old))} in {_META}, not NULL")
            else:
                step.add(Severity.OK, "older rows hold NULL there")
            step.data = {"columns": present, "seconds": stats.seconds}

    def names_step(self) -> None:
        title = "Warehouse: names readable by plain unquoted SQL"
        with self.runner.step("warehouse.names", title) as step:
            results, summary = self.tables.name("results"), self.tables.name("summary")
            statements = [
                f"SELECT batch_id, custom_id, owner_key, cost_usd, logical_date, {_META} FROM {results}",
                f"SELECT batch_id, cost_usd_batch, owner_key FROM {summary}",
            ]
            failed = []
            for sql in statements:
                try:
                    self.query(sql)
                except Exception as exc:
                    failed.append(f"{sql}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
            for problem in failed:
                step.add(Severity.WARN, f"plain SQL fails, a user's query would need quoted names: {problem}")
            if not failed:
                step.add(Severity.OK, "plain SELECT with unquoted table and column names works")
            with self.reading() as conn:
                stored = present_columns(conn, self.dialect, self.loader.results_table)
            case = (
                "upper"
                if all(c.isupper() for c in stored)
                else "lower"
                if all(c.islower() for c in stored)
                else "mixed"
            )
            step.info(f"column names stored in {case} case (e.g. {', '.join(stored[:3])})")
            step.data = {"stored_case": case, "failed": failed}

    def migration_step(self) -> None:
        legacy = RunContext(_DAG, "doctor__old", _DAYS[0], _LOADED_AT)
        later = _run("e", _DAYS[0])
        title = "Warehouse: migrate a table of an earlier shape (before rows had owners)"
        with self.runner.step("warehouse.migration", title) as step:
            old_results, old_summary = (
                parse_table(self.tables.name("old_results")),
                parse_table(self.tables.name("old_summary")),
            )
            self._create_earlier(old_results, old_summary, legacy)
            step.info(f"created {old_results.name} keyed ({', '.join(EARLIER_RESULT_KEY)}) with one row")
            loader = WarehouseLoader(
                self.hook, results_table=self.tables.name("old_results"),
                summary_table=self.tables.name("old_summary"),
            )  # fmt: skip
            with self.reading() as conn:
                earlier = present_columns(conn, self.dialect, old_results)
            loader.ensure_tables()
            with self.reading() as conn:
                present = present_columns(conn, self.dialect, old_results)
            added = [c for c in present if c.lower() not in {e.lower() for e in earlier}]
            step.info(f"the migration added {len(added)} column(s): {', '.join(added)}")
            missing = sorted({c.lower() for c in loader.result_columns} - {c.lower() for c in present})
            if missing:
                step.add(Severity.FAIL, f"after the migration the table lacks: {', '.join(missing)}")
            else:
                step.add(Severity.OK, f"every column of this release is there ({len(present)})")
            key = self._check_key(step, old_results)
            kept = self.read(old_results, RunContext(_DAG, "doctor__old"), ["custom_id", "superseded"])
            legacy_key = legacy.legacy_key
            if [r[0] for r in kept] != ["doctor-1"] or any(bool(r[1]) for r in kept):
                step.add(Severity.FAIL, f"the earlier row did not get owner_key {legacy_key} and superseded "
                         f"false (found {kept})")  # fmt: skip
            else:
                step.add(Severity.OK, "the earlier row is kept, owned by its run (task unknown), current")
            stats = self.load("migration", loader, later, "b1")
            counts = self.counts(old_results)
            if counts.get(legacy_key) != 1 or counts.get(later.owner_key) != len(_SAMPLES):
                step.add(Severity.FAIL, f"a later run's load of the same batch collided with the earlier row "
                         f"(rows per owner: {counts})")  # fmt: skip
            else:
                step.add(Severity.OK, "a later run's load of the same batch sits beside the earlier row")
            step.data = {"primary_key": key, "columns": present, "rows_per_owner": counts,
                         "seconds": stats.seconds}  # fmt: skip

    def _create_earlier(self, results: Table, summary: Table, run: RunContext) -> None:
        """The earlier shape, made with this dialect's types, and one row in each table."""
        dialect = self.dialect
        row = _rows(run, "b1", {})[0]
        full = dict(zip(self.loader.result_columns, result_adapter((), dialect)(row), strict=True))
        names = [n for n, _ in EARLIER_RESULT_COLUMNS]
        spend = dict(zip([n for n, _ in SUMMARY_COLUMNS], _summary(run, "b1", [row]).values(), strict=True))
        spend_names = [n for n, _ in EARLIER_SUMMARY_COLUMNS]
        spend_row = list(adapted([tuple(spend[n] for n in spend_names)], EARLIER_SUMMARY_COLUMNS, dialect))
        with closing(dialect.connect(self.hook)) as conn:
            try:
                for table, columns, key in (
                    (results, EARLIER_RESULT_COLUMNS, EARLIER_RESULT_KEY),
                    (summary, EARLIER_SUMMARY_COLUMNS, ("batch_id",)),
                ):
                    dialect.execute(conn, dialect.create_table_sql(table, columns, key))
                conn.commit()
                dialect.begin(conn)
                dialect.write(conn, results, EARLIER_RESULT_COLUMNS, EARLIER_RESULT_KEY,
                              [tuple(full[n] for n in names)], chunk_size=100)  # fmt: skip
                dialect.write(conn, summary, EARLIER_SUMMARY_COLUMNS, ("batch_id",), spend_row,
                              chunk_size=100, bulk=False)  # fmt: skip
                conn.commit()
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.rollback()
                raise

    def cleanup_step(self) -> None:
        with self.runner.step("warehouse.cleanup", "Warehouse: drop the scratch tables, timings") as step:
            self.close_reader()
            dropped, left = [], []
            for name in reversed(self.tables.all):
                sql = f"DROP TABLE IF EXISTS {parse_table(name).sql(self.dialect.quote)}"
                try:
                    with closing(self.dialect.connect(self.hook)) as conn:
                        self.dialect.execute(conn, sql)
                        conn.commit()
                    dropped.append(name)
                except Exception as exc:
                    left.append(name)
                    step.add(
                        Severity.WARN, f"could not drop {name} ({type(exc).__name__}: {exc}); run: {sql}"
                    )
            step.info(
                f"dropped {len(dropped)} table(s): {', '.join(reversed(dropped))}"
                if dropped
                else "dropped nothing"
            )
            for name, seconds in self.runner.timings.items():
                step.info(f"{name.removeprefix('warehouse.')}: {seconds:.3f} s")
            step.data = {"dropped": dropped, "left": left, "seconds": dict(self.runner.timings),
                         "load_seconds": {k: round(v.seconds, 4) for k, v in self.loads.items()}}  # fmt: skip


_READ = ("custom_id", "cost_usd", "response_text", "response_json", "logical_date", "loaded_at",
         "response_embedding", "superseded")  # fmt: skip


def _first_line(doc: str | None) -> str:
    """A docstring's first paragraph on one line, without reST literals."""
    first = (doc or "").strip().split("\n\n")[0]
    return " ".join(first.replace("``", "").split()) or "unknown"


def _run(tag: str, day: datetime) -> RunContext:
    return RunContext(_DAG, f"doctor__{tag}", day, _LOADED_AT, _TASK, -1, (-1,))


def _rows(run: RunContext, batch: str, metadata: dict[str, str]) -> list[ResultRow]:
    return [
        ResultRow(
            batch,
            custom_id,
            "succeeded",
            "doctor-model",
            text,
            "stop",
            3,
            2,
            5,
            float(cost),
            None,
            None,
            json.dumps({**_ANSWER, "id": custom_id}),
            metadata,
            run.dag_id,
            run.run_id,
            run.logical_date,
            run.loaded_at,
            batch,
            1,
            run.task_id,
            run.map_index,
            response_embedding=vector,
        )
        for custom_id, cost, text, vector in _SAMPLES
    ]


def _summary(run: RunContext, batch: str, rows: Sequence[ResultRow]) -> BatchSummary:
    cost = float(sum(Decimal(str(r.cost_usd)) for r in rows))
    n = len(rows)
    return BatchSummary(
        batch, "completed", "/v1/chat/completions", "doctor-model", n, n, 0, 0, 0, 0, 3 * n, 2 * n, 5 * n,
        cost, cost * 2, cost, _LOADED_AT, _LOADED_AT, 1.0, run.dag_id, run.run_id, run.logical_date,
        run.loaded_at, run.task_id, run.map_index,
    )  # fmt: skip


def _differences(read: list[tuple[Any, ...]], run: RunContext) -> dict[str, list[str]]:
    """Per kind of value, the rows read back that differ from what was written."""
    problems: dict[str, list[str]] = {}
    for (custom_id, cost, text, vector), got in zip(_SAMPLES, read, strict=True):
        wrote_by_kind = {
            "money": cost, "text": text, "json": {**_ANSWER, "id": custom_id},
            "timestamp": (run.logical_date, _LOADED_AT), "vector": vector, "superseded": False,
        }  # fmt: skip
        for kind, wrote in wrote_by_kind.items():
            try:
                value = _READERS[kind](got)
            except Exception as exc:
                value = f"unreadable ({type(exc).__name__}: {exc})"
            if value != wrote:
                found = f"{custom_id}: wrote {_show(wrote)}, read {_show(value)}"
                problems.setdefault(kind, []).append(found)
    return problems


def _compare(read: list[tuple[Any, ...]], run: RunContext) -> Iterator[Finding]:
    """Findings for the rows read back against what was written (``_READ`` order)."""
    if len(read) != len(_SAMPLES):
        yield Finding(Severity.FAIL, f"read back {len(read)} rows, wrote {len(_SAMPLES)}")
        return
    problems = _differences(read, run)
    meaning = {
        "money": "costs would be wrong: the provider relies on 9 decimal places",
        "text": "answers would not read back as written",
        "json": "response_json would not parse back to the answer",
        "timestamp": "timestamps would not be the same instants in UTC",
        "vector": "embeddings would not read back as written",
        "superseded": "current rows would read as superseded",
    }
    for kind, found in problems.items():
        yield Finding(Severity.FAIL, f"{kind}: {meaning[kind]}; " + "; ".join(found))
    for kind in meaning:
        if kind not in problems:
            yield Finding(Severity.OK, f"{kind} reads back equal")
    naive = [v for v in read[0][4:6] if isinstance(v, datetime) and v.tzinfo is None]
    if naive:
        yield Finding(Severity.INFO, "timestamps come back without a zone: they are UTC")
    elif any(isinstance(v, str) for v in read[0][4:6]):
        yield Finding(Severity.INFO, "timestamps are stored as ISO 8601 text in UTC")


#: How each kind of value is read from a row of ``_READ``.
_READERS: dict[str, Callable[[tuple[Any, ...]], Any]] = {
    "money": lambda got: _money(got[1]),
    "text": lambda got: got[2],
    "json": lambda got: _json(got[3]),
    "timestamp": lambda got: (_utc(got[4]), _utc(got[5])),
    "vector": lambda got: _vector(got[6]),
    "superseded": lambda got: bool(got[7]),
}


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    if isinstance(value, datetime):
        return value.isoformat()
    return json.dumps(value, default=str, ensure_ascii=False) if not isinstance(value, str) else repr(value)


def _money(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal("1e-9")).normalize()


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    return value.astimezone(_UTC)


def _json(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        value = value.decode()
    return json.loads(value) if isinstance(value, str) else value


def _vector(value: Any) -> list[float] | None:
    value = _json(value)
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return None  # BigQuery's arrays are never NULL: an empty one is no embedding
    if isinstance(value, dict):  # DuckDB's union, BigQuery's struct
        value = next(v for v in value.values() if v is not None)
    value = list(value)
    if value and isinstance(value[0], dict):
        value = [next(iter(v.values())) for v in value]
    if len(value) == 1 and isinstance(value[0], (list, tuple)):
        value = value[0]
    return [float(v) for v in value]


def run_warehouse_doctor(
    hook: Any,
    tables: ScratchTables,
    report: Report,
    emit: Callable[[Step], None],
    *,
    clock: Callable[[], float],
) -> Report:
    """Run the warehouse steps on ``hook`` into ``tables`` and fill ``report``; the tables are
    dropped at the end whatever happened."""
    runner = StepRunner(report, emit, clock)
    check = _Check(hook, tables, runner)
    try:
        check.dialect_step()
    except StepAbort:
        return report
    try:
        check.create_step()
        check.first_load_step()
        check.second_run_step()
        check.replace_step()
        check.metadata_step()
        check.names_step()
        check.migration_step()
    except StepAbort:
        pass
    finally:
        check.cleanup_step()
    return report
