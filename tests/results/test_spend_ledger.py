"""The spend table never forgets a batch: the submission ledger's earlier batches get spend rows,
measured from their output files; one still running gets its status and NULL usage, and a later
load measures it. Against the local server, the real submission ledger and file SQLite."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_batch.client import TogetherClient
from airflow_provider_batch.collect.spend import earlier_batches
from airflow_provider_batch.ledger import TaskIdentity
from airflow_provider_batch.manifest import BatchRecord, SubmitManifest, SubmitOwner
from airflow_provider_batch.pricing import PriceTable
from airflow_provider_batch.results import RunContext, WarehouseLoader
from airflow_provider_batch.vendors import vendor_named
from tests.results._data import MODEL

SUBMIT = TaskIdentity("nightly", "submit", "scheduled__1", -1)
LOAD = RunContext(
    "nightly",
    "scheduled__1",
    datetime(2026, 3, 1, tzinfo=timezone.utc),
    datetime(2026, 3, 2, tzinfo=timezone.utc),
    "load",
    -1,
)

TOGETHER = vendor_named("together")


def _create(client: TogetherClient, path: Path, ids: list[str]) -> str:
    with path.open("w") as out:
        for cid in ids:
            body = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": f"Say {cid}"}]}
            out.write(json.dumps({"custom_id": cid, "body": body}) + "\n")
    file_id = client.files.upload(path, purpose="batch-api", filename=path.name).id
    return client.batches.create(file_id, "/v1/chat/completions").job.id


def _record(ledger, part: int, generation: int, batch_id: str) -> None:
    record = ledger.open(SUBMIT, part_index=part, part_sha256=f"{generation:064x}", generation=generation,
                         request_count=2, endpoint="/v1/chat/completions",
                         together_conn_id="together_default")  # fmt: skip
    ledger.record_batch(record, batch_id, None, None)


@pytest.fixture
def setup(together_server, together_ledger, tmp_path, monkeypatch):
    from airflow.providers.sqlite.hooks.sqlite import SqliteHook

    connection = {"conn_type": "sqlite", "host": str(tmp_path / "w.db")}
    monkeypatch.setenv("AIRFLOW_CONN_APB_SPEND", json.dumps(connection))
    loader = WarehouseLoader(SqliteHook(sqlite_conn_id="apb_spend"), results_table="r", summary_table="s")
    loader.ensure_tables()
    together_server.configure(processing_seconds=60)
    with TogetherClient(api_key=together_server.api_key, base_url=together_server.base_url) as client:
        yield client, together_server, together_ledger, loader, tmp_path


def _spend(loader) -> list[tuple]:
    from contextlib import closing

    with closing(loader.hook.get_conn()) as conn:
        return conn.execute(
            "SELECT batch_id, final_status, requests, succeeded, total_tokens, cost_usd_batch, superseded, "
            "superseded_by, task_id FROM s ORDER BY batch_id"
        ).fetchall()


def test_a_running_earlier_batch_is_recorded_then_measured(setup):
    client, server, ledger, loader, tmp = setup
    earlier = _create(client, tmp / "gen1.jsonl", ["a", "b"])
    _record(ledger, 0, 1, earlier)
    _record(ledger, 0, 2, "current-batch")
    manifest = SubmitManifest(batches=[BatchRecord(batch_id="current-batch", part=0, status="COMPLETED",
                                                   input_file_id="f")],
                              owner=SubmitOwner(**vars(SUBMIT)))  # fmt: skip
    prices = PriceTable.from_mapping({})

    found = earlier_batches(
        client, manifest, loader, run=LOAD, prices=prices, work_dir=tmp / "w1", vendor=TOGETHER
    )
    assert found.superseded == {earlier: "current-batch"}
    loader.load([], found.summaries, run=LOAD, superseded=found.superseded)
    (row,) = _spend(loader)
    assert row[0] == earlier and row[1] in ("VALIDATING", "IN_PROGRESS")
    assert row[2:] == (2, None, None, None, 1, "current-batch", "load")

    server.force_status(earlier, "COMPLETED")
    found = earlier_batches(
        client, manifest, loader, run=LOAD, prices=prices, work_dir=tmp / "w2", vendor=TOGETHER
    )
    loader.load([], found.summaries, run=LOAD, superseded=found.superseded)
    (row,) = _spend(loader)
    assert row[1:4] == ("COMPLETED", 2, 2) and row[4] > 0 and row[5] > 0
    assert row[6:] == (1, "current-batch", "load")

    # Measured and terminal: the next load leaves it alone (no download at all).
    before = server.stats()["requests"]
    found = earlier_batches(
        client, manifest, loader, run=LOAD, prices=prices, work_dir=tmp / "w3", vendor=TOGETHER
    )
    assert found.summaries == [] and found.superseded == {earlier: "current-batch"}
    assert server.stats()["requests"] == before


def test_another_owners_spend_row_is_not_remeasured_or_taken_over(setup):
    client, _server, ledger, loader, tmp = setup
    earlier = _create(client, tmp / "gen1.jsonl", ["a"])
    _record(ledger, 0, 1, earlier)
    other = RunContext("another_dag", "manual__1", None, LOAD.loaded_at, "load", -1)
    from airflow_provider_batch.collect.spend import _unmeasured

    record = SimpleNamespace(endpoint=None, request_count=1)
    loader.load([], [_unmeasured(earlier, "IN_PROGRESS", record, other, None)], run=other)
    manifest = SubmitManifest(
        batches=[BatchRecord(batch_id="current", part=0, status="COMPLETED", input_file_id="f")],
        owner=SubmitOwner(**vars(SUBMIT)),
    )
    found = earlier_batches(
        client,
        manifest,
        loader,
        run=LOAD,
        prices=PriceTable.from_mapping({}),
        work_dir=tmp / "w",
        vendor=TOGETHER,
    )
    assert found.summaries == []
    loader.load([], found.summaries, run=LOAD, superseded=found.superseded)
    assert _spend(loader) == [(earlier, "IN_PROGRESS", 1, None, None, None, 0, None, "load")]
    from contextlib import closing

    with closing(loader.hook.get_conn()) as conn:
        assert conn.execute("SELECT dag_id FROM s").fetchall() == [("another_dag",)]


def test_a_manifest_without_an_owner_asks_no_ledger(setup, monkeypatch):
    client, _, _, loader, tmp = setup
    import airflow_provider_batch.ledger.location as hooks_ledger

    monkeypatch.setattr(hooks_ledger, "get_ledger", lambda *a, **k: pytest.fail("no ledger for batch_ids="))
    manifest = SubmitManifest(batches=[BatchRecord(batch_id="x", status="UNKNOWN", input_file_id="")])
    prices = PriceTable.from_mapping({})
    found = earlier_batches(client, manifest, loader, run=LOAD, prices=prices, work_dir=tmp, vendor=TOGETHER)
    assert (found.summaries, found.superseded) == ([], {})
