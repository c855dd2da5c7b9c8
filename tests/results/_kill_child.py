"""Child process of ``test_kill_mid_load.py``: load N rows and SIGKILL itself in the middle.

``python -m tests.results._kill_child '<json>'`` with ``conn_id``, ``results_table``,
``summary_table``, ``dialect``, ``rows``, ``chunk_size``, ``kill_after`` and ``marker``. The
connection the loader opens counts the statements that write rows into the results table
(``INSERT``, ``COPY [INTO]`` or ``MERGE``); right after the ``kill_after``-th has returned (its
rows are on the server, inside the open transaction) it writes the marker, with the number of rows the
transaction itself sees, and SIGKILLs its own process, as an OOM kill or a lost node would.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BATCH_ID = "kill-batch"


def rows_for(n: int) -> Any:
    from tests.results.test_warehouse import small_rec

    return small_rec(BATCH_ID, [f"k{i:06d}" for i in range(n)])


class KillSwitch:
    def __init__(self, table_sql: str, after: int, marker: Path) -> None:
        self.writes = re.compile(
            rf"\s*(INSERT\s+INTO|COPY(?:\s+INTO)?|MERGE\s+INTO)\s+{re.escape(table_sql)}\s", re.I
        )
        self.count_sql = f"SELECT COUNT(*) FROM {table_sql} WHERE batch_id = '{BATCH_ID}'"
        self.after, self.marker, self.seen = after, marker, 0

    def wrote(self, cur: Any, sql: str) -> None:
        if not self.writes.match(sql):
            return
        self.seen += 1
        if self.seen < self.after:
            return
        cur.execute(self.count_sql)
        (visible,) = cur.fetchone()
        self.marker.write_text(json.dumps({"statements": self.seen, "visible_in_transaction": visible}))
        os.kill(os.getpid(), signal.SIGKILL)


class Cursor:
    def __init__(self, cur: Any, switch: KillSwitch) -> None:
        self._cur, self._switch = cur, switch

    def __getattr__(self, name: str) -> Any:
        if name == "copy":  # only where the driver has it (psycopg 3)
            real = self._cur.copy

            @contextmanager
            def copy(sql: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
                with real(sql, *args, **kwargs) as stream:
                    yield stream
                self._switch.wrote(self._cur, sql)

            return copy
        return getattr(self._cur, name)

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        result = self._cur.execute(sql, *args, **kwargs)
        self._switch.wrote(self._cur, sql)
        return result

    def executemany(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        result = self._cur.executemany(sql, *args, **kwargs)
        self._switch.wrote(self._cur, sql)
        return result


class Connection:
    def __init__(self, conn: Any, switch: KillSwitch) -> None:
        self._conn, self._switch = conn, switch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or name == "autocommit":
            object.__setattr__(self, name, value)
        else:
            setattr(self._conn, name, value)

    @property
    def autocommit(self) -> Any:  # a property here too: MySqlHook.set_autocommit looks at the class
        return self._conn.autocommit

    @autocommit.setter
    def autocommit(self, value: Any) -> None:
        self._conn.autocommit = value

    def cursor(self, *args: Any, **kwargs: Any) -> Cursor:
        return Cursor(self._conn.cursor(*args, **kwargs), self._switch)

    def execute(self, sql: str, *args: Any) -> Any:  # sqlite3's shortcut; DuckDB's statements
        result = self._conn.execute(sql, *args)
        self._switch.wrote(self._conn, sql)  # DuckDB: the connection is its own cursor
        return result

    def from_arrow(self, data: Any) -> Relation:  # DuckDB: a relation's query inserts (a stream or a chunk)
        return Relation(self._conn.from_arrow(data), self._conn, self._switch)


class Relation:
    def __init__(self, relation: Any, conn: Any, switch: KillSwitch) -> None:
        self._relation, self._conn, self._switch = relation, conn, switch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._relation, name)

    def query(self, name: str, sql: str) -> Any:
        result = self._relation.query(name, sql)
        self._switch.wrote(self._conn, sql)
        return result


def main(spec: dict[str, Any]) -> None:
    from airflow.sdk import BaseHook

    from airflow_provider_batch.results import WarehouseLoader

    if spec.get("over_http"):  # fakesnow's server (Snowflake)
        from tests.results._warehouse import fakesnow_over_http

        fakesnow_over_http()
    hook = BaseHook.get_connection(spec["conn_id"]).get_hook()
    loader = WarehouseLoader(
        hook,
        results_table=spec["results_table"],
        summary_table=spec["summary_table"],
        metadata_columns=("row_id", "category"),
        dialect=spec["dialect"],
        chunk_size=spec["chunk_size"],
    )
    table_sql = loader.results_table.sql(loader.dialect().quote)
    switch = KillSwitch(table_sql, spec["kill_after"], Path(spec["marker"]))
    real_get_conn = hook.get_conn
    hook.get_conn = lambda: Connection(real_get_conn(), switch)
    loader.load_reconciliation(rows_for(spec["rows"]))
    raise SystemExit(f"the load finished without reaching write statement {spec['kill_after']}")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
