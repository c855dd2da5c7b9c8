"""Cases of the warehouse-parametrised suites that do not run on a warehouse, and why: one table per
warehouse (the root conftest reads :data:`NOT_APPLICABLE` for a case whose ``warehouse`` parameter
names one, as it reads ``tests/vendors/<name>/not_applicable.py`` for a vendor).

A key is ``file::test[params]`` (one case), ``file::test`` (every case of the test) or ``file``
(every case of the file). A case listed here is skipped at collection, with its reason; nothing in
the tests skips on a warehouse's name.
"""

from __future__ import annotations

_NO_LEDGER = "the submission ledger stays on SQLite, PostgreSQL or MySQL/MariaDB"
_FAKESNOW_REKEY = (
    "fakesnow 0.12.1's server answers HTTP 500 to the re-key's ALTER TABLE ... ADD PRIMARY KEY once "
    "earlier tests ran in its session (it passes alone): the Snowflake re-key of an older release's "
    "tables is not tested offline"
)
_BIGQUERY_GENERIC = "the generic dialect's row-by-row executemany: BigQuery has its own dialect"
_SNOWFLAKE_GENERIC = "the generic path on Snowflake is what the snowflake dialect replaces"

#: The name each warehouse's reasons are shown under ("not on BigQuery: ...").
DISPLAY_NAMES = {"bigquery": "BigQuery", "snowflake": "Snowflake", "duckdb": "DuckDB"}

#: warehouse (the ``warehouse`` fixture's parameter) -> {key -> why it does not apply there}.
NOT_APPLICABLE: dict[str, dict[str, str]] = {
    "bigquery": {
        "test_concurrent_ddl.py": "60 concurrent DDL connections test PostgreSQL/MySQL locking; "
        "BigQuery serialises DDL itself, and bqemulator runs one DuckDB connection",
        # 0.1.0 had no BigQuery dialect; what its migration can prove on bqemulator runs (the other
        # upgrade tests, test_existing_table_gains_the_newer_columns_and_keeps_its_rows).
        "test_upgrade.py::test_release_tables_are_migrated_in_place_and_keep_every_row": "bqemulator "
        "cannot parse or report a primary key (README, BigQuery)",
        "test_upgrade.py::test_a_failed_migration_changes_nothing": "BigQuery has no transactional "
        "DDL: each ALTER commits on its own, as on MySQL",
        "test_upgrade.py::test_a_run_submitted_by_0_1_0_is_found_again_after_the_upgrade": _NO_LEDGER,
        "test_upgrade.py::test_a_release_table_with_a_view_and_a_trigger_is_migrated_around_them": (
            "BigQuery has no triggers, and its key is never rebuilt"
        ),
        "test_kill_mid_load.py": "bqemulator does not isolate an open transaction: another connection "
        "sees its rows (README, BigQuery)",
        "test_dialects.py::test_the_ledger_and_the_loader_write_through_the_same_dialect": _NO_LEDGER,
        "test_warehouse.py::test_failure_mid_load_leaves_tables_as_they_were[bigquery-generic]": (
            _BIGQUERY_GENERIC
        ),
        "test_warehouse.py::test_merge_is_idempotent_and_updates[bigquery-generic]": _BIGQUERY_GENERIC,
        "test_warehouse.py::test_repeated_key_within_one_load_last_row_wins[bigquery-generic]": (
            _BIGQUERY_GENERIC
        ),
    },
    "snowflake": {
        "test_dialects.py::test_the_ledger_and_the_loader_write_through_the_same_dialect": _NO_LEDGER,
        "test_warehouse.py::test_failure_mid_load_leaves_tables_as_they_were[snowflake-generic]": (
            _SNOWFLAKE_GENERIC
        ),
        "test_warehouse.py::test_merge_is_idempotent_and_updates[snowflake-generic]": _SNOWFLAKE_GENERIC,
        "test_warehouse.py::test_repeated_key_within_one_load_last_row_wins[snowflake-generic]": (
            _SNOWFLAKE_GENERIC
        ),
        # Tables of an older release, which the first load re-keys.
        "test_warehouse.py::test_existing_table_gains_the_newer_columns_and_keeps_its_rows": _FAKESNOW_REKEY,
        "test_concurrent_ddl.py::test_concurrent_ensure_tables_add_a_missing_column_once": _FAKESNOW_REKEY,
        "test_endpoint_answers.py::test_a_release_table_gains_the_embedding_column_and_loads_vectors": (
            _FAKESNOW_REKEY
        ),
        "test_upgrade.py::test_release_tables_are_migrated_in_place_and_keep_every_row": _FAKESNOW_REKEY,
        "test_upgrade.py::test_a_rerun_of_a_migrated_run_takes_over_its_rows": _FAKESNOW_REKEY,
        "test_upgrade.py::test_a_release_table_with_another_dags_metadata_keeps_it": _FAKESNOW_REKEY,
        "test_upgrade.py::test_a_failed_migration_changes_nothing": _FAKESNOW_REKEY,
        "test_upgrade.py::test_ids_that_differ_only_in_case_accents_or_trailing_spaces_keep_their_own_rows"
        "[snowflake-migrated]": _FAKESNOW_REKEY,
        "test_upgrade.py::test_a_release_table_with_a_view_and_a_trigger_is_migrated_around_them": (
            _FAKESNOW_REKEY
        ),
    },
    "duckdb": {
        "test_warehouse.py::test_failure_mid_load_leaves_tables_as_they_were[duckdb-generic]": (
            "DuckDB's driver commits every statement: the generic path is not atomic there"
        ),
    },
}
