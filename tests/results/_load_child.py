"""Child process of ``test_concurrent_ddl.py``: one mapped results task loading into a shared warehouse.

:func:`load_slowly` runs in a forked process (started with the test's imports, so every child
is ready at once). It waits for ``go``, then ensures the tables and loads ``rows`` requests of
``batch_id``, reading them slowly: the stream takes about ``seconds``, as parsing a large output
file does. What happened goes back through ``report``: the row count, or the error.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any


def slowly(rows: Iterable[Any], n: int, seconds: float) -> Iterator[Any]:
    pause = seconds / max(n // 100, 1)
    for i, row in enumerate(rows):
        if i % 100 == 0:
            time.sleep(pause)
        yield row


def load_slowly(spec: dict[str, Any], go: Any, report: Any) -> None:
    from airflow.sdk import BaseHook

    from airflow_provider_batch.results import WarehouseLoader
    from tests.results.test_warehouse import small_rec

    try:
        hook = BaseHook.get_connection(spec["conn_id"]).get_hook()
        loader = WarehouseLoader(
            hook,
            results_table=spec["results_table"],
            summary_table=spec["summary_table"],
            metadata_columns=("row_id", "category"),
            chunk_size=500,
        )
        n = spec["rows"]
        rec = small_rec(spec["batch_id"], [f"r{i:06d}" for i in range(n)])
        go.wait()
        loader.ensure_tables()
        stats = loader.load(slowly(rec.rows(), n, spec["seconds"]), lambda: [rec.summary])
        report.put((spec["batch_id"], stats.rows, round(stats.seconds, 2)))
    except BaseException as exc:
        report.put((spec["batch_id"], None, f"{type(exc).__name__}: {exc}"))
        raise
