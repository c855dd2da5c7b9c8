"""Settings shared by the example DAGs, overridable through environment variables.

Offline (the default) everything points at the local Together-compatible server and an
embedded SQLite warehouse; against the real API only the ``together_default`` connection changes.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

TOGETHER_CONN_ID = os.environ.get("APB_TOGETHER_CONN_ID", "together_default")
# The OpenAI example reads a connection of type ``openai`` (password = key, host = base URL).
OPENAI_CONN_ID = os.environ.get("APB_OPENAI_CONN_ID", "openai_default")
# The Anthropic example reads a connection of type ``anthropic`` (password = key, host = base URL).
ANTHROPIC_CONN_ID = os.environ.get("APB_ANTHROPIC_CONN_ID", "anthropic_default")
WAREHOUSE_CONN_ID = os.environ.get("APB_WAREHOUSE_CONN_ID", "together_warehouse")
SOURCE_CONN_ID = os.environ.get("APB_SOURCE_CONN_ID", WAREHOUSE_CONN_ID)
# The schema (BigQuery: dataset) of the nightly examples' results tables in the warehouse; unset,
# the tables are named unqualified (the connection's default schema). BigQuery needs one.
WAREHOUSE_SCHEMA = os.environ.get("APB_WAREHOUSE_SCHEMA", "")
WORK_DIR = Path(os.environ.get("APB_WORK_DIR", "/tmp/airflow-provider-batch"))
CHAT_MODEL = os.environ.get("APB_CHAT_MODEL", "meta-llama/Llama-3.3-70B-Instruct-Turbo")
AUDIO_MODEL = os.environ.get("APB_AUDIO_MODEL", "openai/whisper-large-v3")
OPENAI_CHAT_MODEL = os.environ.get("APB_OPENAI_CHAT_MODEL", "gpt-4o-mini")
ANTHROPIC_CHAT_MODEL = os.environ.get("APB_ANTHROPIC_CHAT_MODEL", "claude-haiku-4-5")
# Unset (the default): every task polls at the Together connection's ``poll_interval`` extra,
# else the provider's default (30 s for the operators, Airflow's 60 s for the sensor).
POLL_INTERVAL = float(os.environ["APB_POLL_INTERVAL"]) if os.environ.get("APB_POLL_INTERVAL") else None
START_DATE = datetime.fromisoformat(os.environ.get("APB_START_DATE", "2026-11-01")).replace(
    tzinfo=timezone.utc
)
END_DATE = (
    datetime.fromisoformat(os.environ["APB_END_DATE"]).replace(tzinfo=timezone.utc)
    if os.environ.get("APB_END_DATE")
    else None
)
MAX_COST_USD = float(os.environ.get("APB_MAX_COST_USD", "25"))


def warehouse_table(name: str) -> str:
    """``name`` in the results warehouse: ``schema.name`` when ``APB_WAREHOUSE_SCHEMA`` is set."""
    return f"{WAREHOUSE_SCHEMA}.{name}" if WAREHOUSE_SCHEMA else name
