"""Environment for running the shipped example DAGs offline against the local server."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.testing.sample_data import seed_support_tickets
from tests import airflow_compat

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "dags_examples"
DAYS = [date(2026, 11, 1) + timedelta(days=n) for n in range(3)]
PER_DAY = 8
POLL_INTERVAL = 0.1


@pytest.fixture(scope="session")
def examples_env(
    together_server_session: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Connections and settings the examples read (their config module reads env at import)."""
    from airflow.utils import db

    db.initdb()
    work = tmp_path_factory.mktemp("examples")
    warehouse = work / "warehouse.db"
    seed_support_tickets(warehouse, DAYS, PER_DAY)
    server = together_server_session
    env = {
        # The examples poll at the connection's poll_interval extra (the local server is fast).
        "AIRFLOW_CONN_TOGETHER_DEFAULT": json.dumps(
            {
                "conn_type": "together",
                "password": server.api_key,
                "host": server.base_url,
                "extra": {"poll_interval": POLL_INTERVAL},
            }
        ),
        "AIRFLOW_CONN_TOGETHER_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
        "APB_WORK_DIR": str(work / "files"),
        "APB_START_DATE": DAYS[0].isoformat(),
        "APB_END_DATE": DAYS[-1].isoformat(),
    }
    saved = {k: os.environ.get(k) for k in [*env, "APB_POLL_INTERVAL"]}
    os.environ.update(env)
    os.environ.pop("APB_POLL_INTERVAL", None)  # unset: the examples' default is the connection's
    sys.path.insert(0, str(EXAMPLES))
    sys.modules.pop("_example_config", None)
    try:
        yield {
            "server": server,
            "warehouse": warehouse,
            "days": DAYS,
            "per_day": PER_DAY,
            "poll_interval": POLL_INTERVAL,
        }
    finally:
        sys.path.remove(str(EXAMPLES))
        sys.modules.pop("_example_config", None)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def dagbag(examples_env: dict[str, Any]) -> Any:
    return airflow_compat.dagbag(str(EXAMPLES))
