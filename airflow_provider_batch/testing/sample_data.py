"""Deterministic sample source data for the demo, the example DAGs and end-to-end tests."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["ticket_rows", "seed_support_tickets", "SUPPORT_TICKETS_DDL"]

SUPPORT_TICKETS_DDL = """CREATE TABLE IF NOT EXISTS support_tickets (
    ticket_id TEXT PRIMARY KEY,
    created_day TEXT NOT NULL,
    customer_tier TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL
)"""

_PRODUCTS = ["billing portal", "mobile app", "data export", "SSO login", "webhook delivery", "invoice PDF"]
_PROBLEMS = [
    "times out after a few seconds",
    "shows a blank page",
    "rejects valid credentials",
    "sends duplicate notifications",
    "is missing last week's records",
    "charges the wrong currency",
]
_TIERS = ["free", "pro", "enterprise"]


def ticket_rows(days: Sequence[date], per_day: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """Yield ``per_day`` tickets for each day, the same ones on every call."""
    rng = random.Random(seed)
    for day in days:
        for n in range(per_day):
            product, problem = rng.choice(_PRODUCTS), rng.choice(_PROBLEMS)
            yield {
                "ticket_id": f"T{day:%Y%m%d}-{n:05d}",
                "created_day": day.isoformat(),
                "customer_tier": rng.choice(_TIERS),
                "subject": f"{product.capitalize()} {problem}",
                "body": (
                    f"Hello, since this morning our {product} {problem}. "
                    f"It affects {rng.randint(2, 400)} users on our team. Can you help us fix it?"
                ),
            }


def seed_support_tickets(db_path: str | Path, days: Sequence[date], per_day: int) -> int:
    """Create ``support_tickets`` in an SQLite file and insert the sample rows (idempotent)."""
    with sqlite3.connect(str(db_path)) as conn:
        conn.execute(SUPPORT_TICKETS_DDL)
        rows = [tuple(r.values()) for r in ticket_rows(days, per_day)]
        conn.executemany("INSERT OR REPLACE INTO support_tickets VALUES (?, ?, ?, ?, ?)", rows)
    return len(rows)
