"""The Snowflake dialect's adoption of an earlier release's quoted tables, on a catalogue held in
memory with Snowflake's exact-case names (fakesnow matches names case-insensitively, so it cannot
hold ``"wf_results"`` beside ``WF_RESULTS``; the renames themselves run on fakesnow in
test_snowflake.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from airflow_provider_batch.warehouse.dialects import SnowflakeDialect
from airflow_provider_batch.warehouse.dialects._sql import Table
from airflow_provider_batch.warehouse.dialects.base import TableNameConflict


class Catalogue(SnowflakeDialect):
    """Tables by exact name -> columns; statements are recorded, not run."""

    def __init__(self, tables: dict[str, list[str]]) -> None:
        super().__init__()
        self.tables, self.statements = tables, []

    def _catalogued(self, conn: Any, table: Table, name: str) -> list[str]:
        return self.tables.get(name, [])

    def execute(self, conn: Any, sql: str, params: Any = ()) -> int:
        self.statements.append(sql)
        renamed = re.fullmatch(r'ALTER TABLE "an"\."(\w+)" RENAME TO an\.\w+', sql)
        if renamed:  # Snowflake catalogues the unquoted new name upper case
            self.tables[renamed[1].upper()] = self.tables.pop(renamed[1])
        return 0


RESULTS = (
    Table("wf_results", "an"),
    [("batch_id", "key"), ("custom_id", "key"), ("order", "text"), ("response_json", "text")],
)
SPEND = (Table("wf_spend", "an"), [("batch_id", "key"), ("submitted_at", "timestamp")])


def test_quoted_tables_and_columns_are_renamed_to_unquoted_names() -> None:
    dialect = Catalogue(
        {"wf_results": ["batch_id", "custom_id", "order", "theirs"], "wf_spend": ["batch_id"]}
    )
    changes = dialect.adopt_earlier_tables(None, [RESULTS, SPEND])
    assert dialect.statements[0] == 'ALTER TABLE "an"."wf_results" RENAME TO an.wf_results'
    assert 'ALTER TABLE an.wf_results RENAME COLUMN "order" TO "ORDER"' in dialect.statements
    assert 'ALTER TABLE "an"."wf_spend" RENAME TO an.wf_spend' in dialect.statements
    assert not any("theirs" in s for s in dialect.statements)  # not a column this release writes
    assert len(changes) == len(dialect.statements) == 6


def test_nothing_to_do_on_this_release_s_tables() -> None:
    dialect = Catalogue({"WF_RESULTS": ["BATCH_ID", "CUSTOM_ID", "ORDER"], "WF_SPEND": ["BATCH_ID"]})
    assert dialect.adopt_earlier_tables(None, [RESULTS, SPEND]) == []
    assert dialect.statements == []


def test_a_rename_cut_short_is_finished() -> None:
    dialect = Catalogue({"WF_RESULTS": ["BATCH_ID", "custom_id", "order"]})
    dialect.adopt_earlier_tables(None, [RESULTS])
    assert dialect.statements == [
        'ALTER TABLE an.wf_results RENAME COLUMN "custom_id" TO custom_id',
        'ALTER TABLE an.wf_results RENAME COLUMN "order" TO "ORDER"',
    ]


def test_both_tables_are_refused_before_any_rename() -> None:
    dialect = Catalogue(
        {
            "wf_results": ["batch_id"],
            "wf_spend": ["batch_id", "submitted_at", "theirs"],
            "WF_SPEND": ["BATCH_ID", "SUBMITTED_AT"],
        }
    )
    with pytest.raises(TableNameConflict) as caught:
        dialect.adopt_earlier_tables(None, [RESULTS, SPEND])
    assert dialect.statements == []  # the results table was not renamed either
    message = str(caught.value)
    assert message.startswith('"an"."wf_spend" and an.wf_spend: both')
    assert (
        'INSERT INTO an.wf_spend (batch_id, submitted_at) SELECT "batch_id", '
        'TRY_TO_TIMESTAMP_TZ("submitted_at") FROM "an"."wf_spend" '
        'WHERE "batch_id" NOT IN (SELECT batch_id FROM an.wf_spend); then DROP TABLE "an"."wf_spend"'
    ) in message
    assert "if an.wf_spend is empty, DROP TABLE an.wf_spend" in message


def test_the_copy_parses_json_text() -> None:
    tables = {"wf_results": ["batch_id", "response_json"], "WF_RESULTS": ["BATCH_ID", "RESPONSE_JSON"]}
    with pytest.raises(TableNameConflict, match=r'TRY_PARSE_JSON\("response_json"\) FROM'):
        Catalogue(tables).adopt_earlier_tables(None, [RESULTS])


def test_both_columns_are_refused() -> None:
    dialect = Catalogue({"WF_RESULTS": ["BATCH_ID", "custom_id", "CUSTOM_ID"]})
    with pytest.raises(TableNameConflict, match=r'"custom_id" .* and CUSTOM_ID exist'):
        dialect.adopt_earlier_tables(None, [RESULTS])
    assert dialect.statements == []
