"""The ``daily_stats`` step the nightly backfill examples share: rebuild one day's row of a stats
table from the results the run loaded (rows a follow-up superseded are left out).

``day`` is ``VARCHAR(10)``, so the statements run on every warehouse the examples use (SQLite,
PostgreSQL, MySQL/MariaDB, where a ``TEXT`` column cannot be a key).
"""

from __future__ import annotations


def daily_stats_sql(stats_table: str, results_table: str) -> list[str]:
    """The statements that rebuild the logical date's row of ``stats_table`` from ``results_table``."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {stats_table} (
        day VARCHAR(10) PRIMARY KEY, tickets INTEGER, succeeded INTEGER, failed INTEGER,
        total_tokens INTEGER, cost_usd REAL, enterprise_tickets INTEGER)""",
        f"DELETE FROM {stats_table} WHERE day = '{{{{ ds }}}}'",
        f"""INSERT INTO {stats_table}
       SELECT '{{{{ ds }}}}', COUNT(*),
              SUM(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END),
              SUM(CASE WHEN status <> 'succeeded' THEN 1 ELSE 0 END),
              COALESCE(SUM(total_tokens), 0), COALESCE(SUM(cost_usd), 0),
              SUM(CASE WHEN customer_tier = 'enterprise' THEN 1 ELSE 0 END)
       FROM {results_table} WHERE run_id = '{{{{ run_id }}}}' AND NOT superseded""",
    ]
