"""Hostile input through the whole pipeline (build -> submit -> results) into SQLite,
PostgreSQL and MariaDB: every id, metadata value and answer is stored exactly (PostgreSQL turns
NUL into U+FFFD, as documented), and hostile table or column names are refused before anything is
uploaded or paid for."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.testing.server.responder import chat_completion, count_tokens

from apb_pipeline_helpers import load_dags, rows, run_dag, ti_states

pytestmark = pytest.mark.timeout(180)

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
BIG = ("lorem ipsum dolor sit amet " * 3800)[:100_000]  # 100 KB
#: (custom_id, prompt, note, extra): every custom_id is at most 64 characters.
HOSTILE: list[tuple[str, str, str, str | None]] = [
    ('it\'s "quoted"', "say \"hi\" and 'bye'", 'O\'Brien "the" quote', "`backtick`"),
    ("'; DROP TABLE x; --", "'; DROP TABLE pipeline_results; --", "'); DELETE FROM x; --", "%s %(x)s ?"),
    ("back\\slash\\\\n\\u0000", "C:\\path\\to\\file \\n not a newline", "\\x00\\'", "\\"),
    ("emoji 🚀🔥👩‍👩‍👧", "Answer with emoji 🚀 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "🦄 ünïcödé", "👍🏽"),
    (
        "rtl \u202eevil\u202c \u200fmark\u200e",
        "\u05e9\u05dc\u05d5\u05dd \u202e reversed \u202c",
        "\u202e\u0645\u0631\u062d\u0628\u0627",
        "\u200f",
    ),
    ("k" * 63 + "🚀", "Sixty-four character id", "x" * 64, None),
    (
        "ctrl",
        "bell\x07 esc\x1b[31m red\x1b[0m tab\t cr\r lf\n vt\x0b ff\x0c ls\u2028 ps\u2029 end",
        "a\x01b\x1fc\x7f",
        "line1\nline2\r\n",
    ),
    ("nul", "before\x00after \x00 NUL in the prompt", "meta\x00with NUL", "\x00"),
    ("big", BIG, BIG, '{"json": [1, 2, 3]}'),
]


def _seed(path: Path, hostile: list[tuple[str, str, str, str | None]] = HOSTILE) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE hostile_rows (id TEXT PRIMARY KEY, question TEXT, note TEXT, extra TEXT)")
        conn.executemany("INSERT INTO hostile_rows VALUES (?, ?, ?, ?)", hostile)
    conn.close()


def _expected_answer(prompt: str) -> str:
    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "max_tokens": 24}
    return chat_completion(body)["choices"][0]["message"]["content"]


def _check(
    found: list[tuple], clean: Any = lambda v: v, hostile: list[tuple[str, str, str, str | None]] = HOSTILE
) -> None:
    """``found``: (custom_id, note, extra, status, prompt_tokens, response_text, response_json)."""
    by_id = {r[0]: r for r in found}
    assert len(found) == len(hostile) and set(by_id) == {h[0] for h in hostile}
    for custom_id, prompt, note, extra in hostile:
        _, got_note, got_extra, status, prompt_tokens, text, raw = by_id[custom_id]
        assert status == "succeeded", custom_id
        assert (got_note, got_extra) == (clean(note), clean(extra)), custom_id
        assert prompt_tokens == count_tokens(prompt), custom_id  # the exact prompt reached the model
        answer = _expected_answer(prompt)
        assert text == clean(answer), custom_id
        # JSON text escapes NUL as \u0000, so the raw response keeps it even in PostgreSQL.
        assert _raw_answer(json.loads(raw)) == answer, custom_id


def _raw_answer(body: dict[str, Any]) -> str:
    """The answer's text in a stored response body: a chat completion's, or a Message's blocks."""
    if "choices" in body:
        return str(body["choices"][0]["message"]["content"])
    return "".join(block["text"] for block in body["content"] if block["type"] == "text")


SELECT = "SELECT custom_id, note, extra, status, prompt_tokens, response_text, response_json FROM {}"


def test_hostile_values_are_stored_exactly_in_sqlite(pipeline: Any) -> None:
    _seed(pipeline.source)
    dag_run = run_dag("apb_pipeline_hostile", pipeline.work_dir)
    assert set(ti_states(dag_run).values()) == {("success", 1)}
    _check(rows(pipeline.warehouse, SELECT.format("pipeline_results")))
    assert rows(pipeline.warehouse, "SELECT requests, succeeded FROM pipeline_summary") == [
        (len(HOSTILE), len(HOSTILE))
    ]


@pytest.mark.parametrize("vendor_server", ["anthropic"], indirect=True)
def test_hostile_values_under_mapped_custom_ids_are_stored_exactly_on_anthropic(pipeline: Any) -> None:
    """Anthropic refuses the hostile ids themselves (``^[a-zA-Z0-9_-]{1,64}$``, refused before any
    spend): keys mapped with the documented reversible ``encode`` go through, and every prompt,
    metadata value and answer is stored exactly; ``decode`` gives each key back."""
    from airflow_provider_batch.vendors.anthropic.custom_ids import MAX_KEY_BYTES, decode, encode

    fits = [h for h in HOSTILE if len(h[0].encode()) <= MAX_KEY_BYTES]
    assert len(fits) == len(HOSTILE) - 1  # the 64-character id is too long to map; encode says so
    with pytest.raises(ValueError, match="at most"):
        encode("k" * 63 + "\U0001f680")
    mapped = [(encode(key), prompt, note, extra) for key, prompt, note, extra in fits]
    _seed(pipeline.source, mapped)
    dag_run = run_dag("apb_pipeline_hostile", pipeline.work_dir)
    assert set(ti_states(dag_run).values()) == {("success", 1)}
    found = rows(pipeline.warehouse, SELECT.format("pipeline_results"))
    _check(found, hostile=mapped)
    assert sorted(decode(r[0]) for r in found) == sorted(h[0] for h in fits)
    assert pipeline.server.stats()["batch_creates"] == 1


def test_hostile_values_are_stored_exactly_in_a_database_server(pipeline: Any, server_table: Any) -> None:
    db = server_table
    _seed(pipeline.source)
    dag_run = run_dag(db.dag_id.replace("_pipeline_", "_pipeline_hostile_"), pipeline.work_dir, fresh=True)
    assert ti_states(dag_run)["results"] == ("success", 1)
    if db.dag_id.endswith("_postgres"):
        # PostgreSQL text cannot hold NUL: the loader stores U+FFFD in its place (documented).
        _check(
            db.query(SELECT.format(db.quoted(db.table))),
            clean=lambda v: v.replace("\x00", "\ufffd") if isinstance(v, str) else v,
        )
    else:
        _check(db.query(SELECT.format(db.quoted(db.table))))


@pytest.mark.parametrize(
    "results, message",
    [
        ({"results_table": "x; DROP TABLE y"}, "unsafe results table name 'x; DROP TABLE y'"),
        ({"summary_table": 'sum"; DROP TABLE y; --'}, "unsafe summary table name"),
        ({"results_table": "a.b.c"}, "expected 'table' or 'schema.table'"),
        ({"metadata_columns": ["note", "status"]}, r"clash with result columns or repeat: \['status'\]"),
        ({"metadata_columns": ["a b"]}, "unsafe metadata column name 'a b'"),
        ({"metadata_columns": ['x"; DROP TABLE y; --']}, "unsafe metadata column name"),
        ({"metadata_columns": ["Note", "note"]}, r"repeat: \['note'\]"),
    ],
)
def test_hostile_names_are_refused_before_any_upload(
    pipeline: Any, results: dict[str, Any], message: str
) -> None:
    hostile_dag = load_dags()._hostile
    with pytest.raises(ValueError, match=message):
        hostile_dag("apb_pipeline_hostile_names", **results)
    stats = pipeline.server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (0, 0)
