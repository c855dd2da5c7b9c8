"""Retry safety of the submit path against the local server: one batch per input and task identity."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.client import TogetherClient
from airflow_provider_batch.exceptions import TogetherBatchFailedError
from airflow_provider_batch.idempotency import SubmitLedger, TaskIdentity, submit_or_attach
from airflow_provider_batch.inputs import BatchLimits, split_batch_file

from apb_airflow_helpers import DictStateStore, FakeTI, write_input

IDENTITY = TaskIdentity("dag", "submit", "run-1", -1)
ENDPOINT = "/v1/chat/completions"


def _parts(tmp_path: Path, lines: int = 2, max_lines: int = 50_000, tag: str = "") -> list[Any]:
    path = write_input(tmp_path / f"in{tag}.jsonl", lines, tag=tag)
    return split_batch_file(path, tmp_path / f"parts{tag}", limits=BatchLimits(max_lines=max_lines))


def _submit(client: TogetherClient, parts: list[Any], store: Any = None, **kw: Any) -> list[Any]:
    return submit_or_attach(
        client, parts, identity=IDENTITY, ledger=SubmitLedger(store), endpoint=ENDPOINT, **kw
    )


def test_identity_ignores_try_number_and_names_files() -> None:
    first = TaskIdentity.from_context({"ti": FakeTI(try_number=1)})
    retry = TaskIdentity.from_context({"ti": FakeTI(try_number=3)})
    assert first == retry
    assert TaskIdentity.from_context({"ti": FakeTI(map_index=2)}) != first
    assert TaskIdentity.from_context({"ti": FakeTI(run_id="run-2")}).key != first.key
    name = first.part_filename("ab" * 32, 7)
    assert name == f"apb-{first.key[:12]}-{'ab' * 8}-p0007.jsonl"


def test_state_store_path(tmp_path: Path, sync_client: TogetherClient, together_server: Any) -> None:
    store = DictStateStore()
    parts = _parts(tmp_path)
    (first,) = _submit(sync_client, parts, store)
    assert first.path == "submitted"
    (record,) = store.data.values()
    assert record["phase"] == "submitted" and record["batch_id"] == first.job.id
    (again,) = _submit(sync_client, parts, store)
    assert again.path == "re-attached (task state store)" and again.job.id == first.job.id
    assert together_server.stats()["batch_creates"] == 1


def test_api_lookup_path_without_a_store(
    tmp_path: Path, sync_client: TogetherClient, together_server: Any
) -> None:
    parts = _parts(tmp_path)
    (first,) = _submit(sync_client, parts)
    (again,) = _submit(sync_client, parts)
    assert again.path == "re-attached (file/batch lookup)" and again.job.id == first.job.id
    stats = together_server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (1, 1)


def test_split_input_lists_once_for_all_parts(
    tmp_path: Path, sync_client: TogetherClient, together_server: Any
) -> None:
    parts = _parts(tmp_path, lines=5, max_lines=2)
    assert [p.index for p in parts] == [1, 2, 3]
    first = _submit(sync_client, parts)
    assert len({o.job.id for o in first}) == 3
    before = dict(together_server.stats()["requests"])
    again = _submit(sync_client, parts)
    assert [o.job.id for o in again] == [o.job.id for o in first]
    after = together_server.stats()["requests"]
    assert after["GET /v1/files"] - before.get("GET /v1/files", 0) == 1
    assert after["GET /v1/batches"] - before.get("GET /v1/batches", 0) == 1
    assert together_server.stats()["batch_creates"] == 3


def test_orphaned_intent_reuses_the_uploaded_file(
    tmp_path: Path, sync_client: TogetherClient, together_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    parts = _parts(tmp_path)
    filename = IDENTITY.part_filename(parts[0].sha256, parts[0].index)
    sync_client.files.upload(parts[0].path, purpose="batch-api", filename=filename)  # crash before create
    with caplog.at_level(logging.INFO, logger="airflow_provider_batch.idempotency"):
        (outcome,) = _submit(sync_client, parts, DictStateStore())
    assert outcome.path == "submitted"
    assert "re-using uploaded file" in caplog.text
    stats = together_server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (1, 1)


def test_failed_batch_is_not_paid_for_twice_unless_forced(
    tmp_path: Path, sync_client: TogetherClient, together_server: Any
) -> None:
    together_server.configure(processing_seconds=60)
    parts = _parts(tmp_path)
    (first,) = _submit(sync_client, parts)
    together_server.force_status(first.job.id, "FAILED")
    with pytest.raises(TogetherBatchFailedError, match="force_resubmit") as info:
        _submit(sync_client, parts)
    assert info.value.batch_ids == [first.job.id]
    assert together_server.stats()["batch_creates"] == 1

    (forced,) = _submit(sync_client, parts, force_resubmit=True)
    assert forced.path == "submitted" and forced.job.id != first.job.id
    (later,) = _submit(sync_client, parts)  # the newest batch wins from now on
    assert later.job.id == forced.job.id
    stats = together_server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (1, 2)


@pytest.mark.parametrize("status", ["CANCELLED", "EXPIRED", "COMPLETED"])
def test_finished_batches_are_reattached(
    tmp_path: Path, sync_client: TogetherClient, together_server: Any, status: str
) -> None:
    together_server.configure(processing_seconds=60)
    parts = _parts(tmp_path)
    (first,) = _submit(sync_client, parts)
    together_server.force_status(first.job.id, status)
    (again,) = _submit(sync_client, parts)
    assert again.job.id == first.job.id and again.job.status.value == status
    (forced,) = _submit(sync_client, parts, force_resubmit=True)
    assert (forced.job.id == first.job.id) is (status == "COMPLETED")


def test_stale_store_record_falls_back_to_the_api(
    tmp_path: Path, sync_client: TogetherClient, together_server: Any
) -> None:
    parts = _parts(tmp_path)
    (first,) = _submit(sync_client, parts)
    store = DictStateStore()
    store.data[SubmitLedger.key(parts[0].index, parts[0].sha256)] = {"phase": "submitted", "batch_id": "gone"}
    (again,) = _submit(sync_client, parts, store)
    assert again.job.id == first.job.id and again.path == "re-attached (file/batch lookup)"


def test_broken_store_never_blocks_the_submit(tmp_path: Path, sync_client: TogetherClient) -> None:
    class Broken:
        def get(self, *_: Any, **__: Any) -> Any:
            raise RuntimeError("store down")

        set = get

    (outcome,) = _submit(sync_client, _parts(tmp_path), Broken())
    assert outcome.path == "submitted"
    (again,) = _submit(sync_client, _parts(tmp_path), Broken())
    assert again.job.id == outcome.job.id


def test_crash_between_upload_init_and_put_uploads_again(
    tmp_path: Path, sync_client: TogetherClient, together_server: Any
) -> None:
    """A file record named for this part but never filled (crash before the PUT) is not reused."""
    from airflow_provider_batch.client import _ops as ops
    from airflow_provider_batch.client._files import sha256_file

    parts = _parts(tmp_path)
    filename = IDENTITY.part_filename(parts[0].sha256, parts[0].index)
    sync_client._send(ops.upload_init(filename, "batch-api", sha256_file(parts[0].path)))  # then the crash
    (empty,) = [f for f in sync_client.files.list() if f.filename == filename]
    assert empty.processed is False
    (outcome,) = _submit(sync_client, parts, DictStateStore())
    assert outcome.path == "submitted" and outcome.job.input_file_id != empty.id
    stats = together_server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (1, 1)
    (again,) = _submit(sync_client, parts)
    assert again.job.id == outcome.job.id
