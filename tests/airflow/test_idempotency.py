"""Retry safety of the submit path against the local server: a task instance attaches only to
batches created for it, through retries, clears, crashes and ambiguous creates."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.client import NotFoundError, TogetherClient
from airflow_provider_batch.exceptions import TogetherBatchFailedError
from airflow_provider_batch.idempotency import PartOutcome, SubmitContext, submit_or_attach
from airflow_provider_batch.inputs import BatchLimits, split_batch_file
from airflow_provider_batch.ledger import (
    LedgerConflictError,
    LedgerUnavailableError,
    SubmissionLedger,
    TaskIdentity,
    sqlite_ledger,
)
from airflow_provider_batch.vendors import vendor_named

from apb_airflow_helpers import DictStateStore, FakeTI, write_input

IDENTITY = TaskIdentity("dag", "submit", "run-1", -1)
ENDPOINT = "/v1/chat/completions"


def _parts(tmp_path: Path, lines: int = 2, max_lines: int = 50_000, tag: str = "") -> list[Any]:
    path = write_input(tmp_path / f"in{tag}.jsonl", lines, tag=tag)
    return split_batch_file(path, tmp_path / f"parts{tag}", limits=BatchLimits(max_lines=max_lines))


def _submit(
    client: Any,
    parts: list[Any],
    ledger: SubmissionLedger,
    identity: TaskIdentity = IDENTITY,
    **kw: Any,
) -> list[PartOutcome]:
    # The vendor's client names its vendor (OpenAI: parts get ``method``/``url`` before upload);
    # Together's client has none, and a context without one submits the part as it is.
    vendor = getattr(client, "vendor", None)
    ctx = SubmitContext(
        identity=identity,
        ledger=ledger,
        endpoint=vendor.endpoints[0] if vendor is not None else ENDPOINT,
        legacy_store=kw.pop("store", None),
        vendor=kw.pop("vendor", vendor),
    )
    return submit_or_attach(client, parts, ctx, **kw)


@pytest.fixture
def ledger(tmp_path: Path) -> SubmissionLedger:
    return sqlite_ledger(str(tmp_path / "ledger.db"))


@contextmanager
def _crash_once(
    obj: Any,
    name: str,
    *,
    before: bool = True,
    when: Callable[..., bool] = lambda *args, **kwargs: True,
    error: BaseException | None = None,
) -> Iterator[None]:
    """Inside the block, the first call of ``obj.name`` that ``when`` accepts raises ``error``, and
    the block must end with that error. Other calls, and every call after the block, are real.

    :param before: raise instead of making the call, so it never reaches the server; ``False``
        makes the real call first, so the crash comes after the call took effect.
    :param when: given the call's arguments, whether this is the call to crash.
    :param error: what is raised; default a ``KeyboardInterrupt`` (the worker is killed).
    """
    where = "before" if before else "after"
    error = error if error is not None else KeyboardInterrupt(f"worker killed {where} {name}")
    real = getattr(obj, name)
    armed = [True]

    def crashing(*args: Any, **kwargs: Any) -> Any:
        if not (armed[0] and when(*args, **kwargs)):
            return real(*args, **kwargs)
        armed[0] = False
        if not before:
            real(*args, **kwargs)
        raise error

    with pytest.MonkeyPatch.context() as patch, pytest.raises(type(error)):
        patch.setattr(obj, name, crashing)
        yield


def test_identity_ignores_try_number_and_names_files() -> None:
    first = TaskIdentity.from_context({"ti": FakeTI(try_number=1)})
    retry = TaskIdentity.from_context({"ti": FakeTI(try_number=3)})
    assert first == retry
    assert TaskIdentity.from_context({"ti": FakeTI(map_index=2)}) != first
    assert TaskIdentity.from_context({"ti": FakeTI(run_id="run-2")}).key != first.key
    name = first.part_filename("ab" * 32, 7)
    assert name == f"apb-{first.key[:12]}-{'ab' * 8}-p0007.jsonl"


def test_retry_reattaches_through_the_ledger_without_listing_anything(
    tmp_path: Path, vendor_client: Any, vendor_server: Any, ledger: SubmissionLedger
) -> None:
    parts = _parts(tmp_path, lines=5, max_lines=2)
    first = _submit(vendor_client, parts, ledger)
    assert [o.path for o in first] == ["submitted"] * 3
    again = _submit(vendor_client, parts, ledger)
    assert [o.job.id for o in again] == [o.job.id for o in first]
    assert {o.path for o in again} == {"re-attached (ledger)"}
    stats = vendor_server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (3, 3)
    # Nothing on the submit path costs in proportion to the account's history.
    assert "GET /v1/files" not in stats["requests"] and "GET /v1/batches" not in stats["requests"]
    records = ledger.records_for(IDENTITY)
    assert [(r.part_index, r.state, r.generation) for r in records] == [
        (1, "created", 1),
        (2, "created", 1),
        (3, "created", 1),
    ]


@pytest.mark.parametrize(
    "other",
    [
        TaskIdentity("dag", "submit", "run-2", -1),
        TaskIdentity("dag", "submit", "run-1", 3),
        TaskIdentity("other_dag", "submit", "run-1", -1),
    ],
)
def test_identical_content_in_two_task_instances_gets_two_batches(
    tmp_path: Path,
    vendor_client: Any,
    vendor_server: Any,
    ledger: SubmissionLedger,
    other: TaskIdentity,
) -> None:
    parts = _parts(tmp_path)
    (mine,) = _submit(vendor_client, parts, ledger)
    (theirs,) = _submit(vendor_client, parts, ledger, identity=other)
    assert theirs.path == "submitted" and theirs.job.id != mine.job.id
    assert theirs.job.input_file_id != mine.job.input_file_id
    # Each re-run finds its own batch, never the newest one on shared content.
    assert _submit(vendor_client, parts, ledger)[0].job.id == mine.job.id
    assert _submit(vendor_client, parts, ledger, identity=other)[0].job.id == theirs.job.id
    assert vendor_server.stats()["batch_creates"] == 2


def test_a_file_already_owned_by_another_task_instance_is_refused_before_create(
    tmp_path: Path,
    vendor_client: Any,
    vendor_server: Any,
    ledger: SubmissionLedger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parts = _parts(tmp_path)
    (theirs,) = _submit(vendor_client, parts, ledger, identity=TaskIdentity("dag", "submit", "run-2"))
    # A Files API that de-duplicates content answers with the other run's file.
    monkeypatch.setattr(
        vendor_client.files, "upload", lambda *a, **k: vendor_client.files.retrieve(theirs.job.input_file_id)
    )
    with pytest.raises(LedgerConflictError, match="run-2"):
        _submit(vendor_client, parts, ledger)
    assert vendor_server.stats()["batch_creates"] == 1


def test_a_create_interrupted_after_it_took_effect_is_recovered_not_repeated(
    tmp_path: Path,
    vendor_client: Any,
    vendor_server: Any,
    ledger: SubmissionLedger,
) -> None:
    parts = _parts(tmp_path)
    with _crash_once(vendor_client.batches, "create", before=False):
        _submit(vendor_client, parts, ledger)
    (record,) = ledger.records_for(IDENTITY)
    assert record.state == "creating" and record.batch_id is None
    (outcome,) = _submit(vendor_client, parts, ledger)
    assert outcome.path == "recovered (interrupted create)"
    assert vendor_server.stats()["batch_creates"] == 1
    assert ledger.records_for(IDENTITY)[0].batch_id == outcome.job.id


def test_a_vendor_that_cannot_search_settles_an_interrupted_create_from_the_ledger(
    tmp_path: Path,
    vendor_client: Any,
    vendor_server: Any,
    ledger: SubmissionLedger,
) -> None:
    own = getattr(vendor_client, "vendor", None) or vendor_named("together")
    blind = type("Blind", (type(own),), {"recovery": "ledger"})()  # the ledger alone decides
    assert blind.find_created(vendor_client, "file-x") is None
    parts = _parts(tmp_path)
    with _crash_once(vendor_client.batches, "create", before=False):
        _submit(vendor_client, parts, ledger, vendor=blind)
    # the only unowned batch of the part's size created in the window, no rival: adopted
    (outcome,) = _submit(vendor_client, parts, ledger, vendor=blind)
    assert outcome.path == "recovered (interrupted create)"
    assert vendor_server.stats()["batch_creates"] == 1
    assert ledger.records_for(IDENTITY)[0].batch_id == outcome.job.id


def test_a_create_interrupted_before_it_reached_the_server_is_sent_once(
    tmp_path: Path,
    vendor_client: Any,
    vendor_server: Any,
    ledger: SubmissionLedger,
) -> None:
    parts = _parts(tmp_path)
    with _crash_once(vendor_client.batches, "create"):
        _submit(vendor_client, parts, ledger)
    (outcome,) = _submit(vendor_client, parts, ledger)
    assert outcome.path == "submitted"
    stats = vendor_server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (1, 1)


def test_unknown_batches_on_our_own_file_are_never_guessed_between(
    tmp_path: Path,
    vendor_client: Any,
    vendor_server: Any,
    ledger: SubmissionLedger,
) -> None:
    parts = _parts(tmp_path)
    with _crash_once(vendor_client.batches, "create"):
        _submit(vendor_client, parts, ledger)
    (record,) = ledger.records_for(IDENTITY)
    assert record.input_file_id is not None
    vendor_client.batches.create(record.input_file_id, ENDPOINT)  # e.g. someone else's tool on our file
    vendor_client.batches.create(record.input_file_id, ENDPOINT)
    with pytest.raises(LedgerConflictError, match="2 batches the submission ledger does not know"):
        _submit(vendor_client, parts, ledger)
    assert vendor_server.stats()["batch_creates"] == 2


def test_ambiguous_create_with_a_5xx_binds_only_to_our_own_batch(
    tmp_path: Path, vendor_client: Any, vendor_server: Any, ledger: SubmissionLedger
) -> None:
    """Two runs with identical content; one create answers 500 after taking effect."""
    parts = _parts(tmp_path)
    (theirs,) = _submit(vendor_client, parts, ledger, identity=TaskIdentity("dag", "submit", "run-2"))
    vendor_server.inject("POST /v1/batches", "500", times=1, after=True)
    (mine,) = _submit(vendor_client, parts, ledger)
    assert mine.job.id != theirs.job.id
    assert mine.job.input_file_id != theirs.job.input_file_id
    assert vendor_server.stats()["batch_creates"] == 2


def test_a_rerun_after_a_partial_submit_creates_only_the_missing_parts(
    tmp_path: Path,
    vendor_client: Any,
    vendor_server: Any,
    ledger: SubmissionLedger,
) -> None:
    parts = _parts(tmp_path, lines=5, max_lines=2)
    bound: list[str] = []
    calls = itertools.count()
    refused = RuntimeError("create of part 2 refused")
    with _crash_once(vendor_client.batches, "create", when=lambda *a, **k: next(calls) == 1, error=refused):
        _submit(vendor_client, parts, ledger, on_bound=lambda o: bound.append(o.job.id))
    assert len(bound) == 1  # part 1's batch was published before part 2 failed
    again = _submit(vendor_client, parts, ledger)
    assert again[0].job.id == bound[0] and again[0].path == "re-attached (ledger)"
    assert [o.path for o in again[1:]] == ["submitted", "submitted"]
    assert vendor_server.stats()["batch_creates"] == 3


def test_failed_batch_is_not_paid_for_twice_unless_forced(
    tmp_path: Path, vendor_client: Any, vendor_server: Any, ledger: SubmissionLedger
) -> None:
    vendor_server.configure(processing_seconds=60)
    parts = _parts(tmp_path)
    (first,) = _submit(vendor_client, parts, ledger)
    vendor_server.force_status(first.job.id, "FAILED")
    with pytest.raises(TogetherBatchFailedError, match="force_resubmit") as info:
        _submit(vendor_client, parts, ledger)
    assert info.value.batch_ids == [first.job.id]
    assert vendor_server.stats()["batch_creates"] == 1

    (forced,) = _submit(vendor_client, parts, ledger, force_resubmit=True)
    assert forced.path == "submitted" and forced.job.id != first.job.id
    (later,) = _submit(vendor_client, parts, ledger)  # the newest generation wins from now on
    assert later.job.id == forced.job.id
    stats = vendor_server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (1, 2)
    generations = [(r.generation, r.batch_id) for r in ledger.records_for(IDENTITY)]
    assert generations == [(1, first.job.id), (2, forced.job.id)]


@pytest.mark.parametrize("status", ["CANCELLED", "EXPIRED", "COMPLETED"])
def test_finished_batches_are_reattached(
    tmp_path: Path, vendor_client: Any, vendor_server: Any, ledger: SubmissionLedger, status: str
) -> None:
    vendor_server.configure(processing_seconds=60)
    parts = _parts(tmp_path)
    (first,) = _submit(vendor_client, parts, ledger)
    vendor_server.force_status(first.job.id, status)
    (again,) = _submit(vendor_client, parts, ledger)
    assert again.job.id == first.job.id and again.job.status.value == status
    (forced,) = _submit(vendor_client, parts, ledger, force_resubmit=True)
    assert (forced.job.id == first.job.id) is (status == "COMPLETED")


def test_a_batch_gone_from_the_api_is_replaced_by_a_new_generation(
    tmp_path: Path,
    vendor_client: Any,
    vendor_server: Any,
    ledger: SubmissionLedger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parts = _parts(tmp_path)
    (first,) = _submit(vendor_client, parts, ledger)
    real_retrieve = vendor_client.batches.retrieve

    def gone(batch_id: str) -> Any:  # the account no longer has that batch
        if batch_id == first.job.id:
            raise NotFoundError("GET", f"/batches/{batch_id}", 404, "not found")
        return real_retrieve(batch_id)

    monkeypatch.setattr(vendor_client.batches, "retrieve", gone)
    (again,) = _submit(vendor_client, parts, ledger)
    assert again.path == "submitted" and again.job.id != first.job.id
    states = [(r.generation, r.state) for r in ledger.records_for(IDENTITY)]
    assert states == [(1, "abandoned"), (2, "created")]


def test_a_batch_recorded_by_the_previous_release_is_adopted(
    tmp_path: Path, sync_client: TogetherClient, together_server: Any, ledger: SubmissionLedger
) -> None:
    """Together only: the previous release spoke to Together alone."""
    parts = _parts(tmp_path)
    uploaded = sync_client.files.upload(parts[0].path)
    old = sync_client.batches.create(uploaded.id, ENDPOINT).job
    store = DictStateStore()
    store.data[f"together_batch/p{parts[0].index:04d}/{parts[0].sha256[:16]}"] = {"batch_id": old.id}
    (outcome,) = _submit(sync_client, parts, ledger, store=store)
    assert outcome.job.id == old.id and outcome.path == "re-attached (ledger)"
    assert together_server.stats()["batch_creates"] == 1


def test_a_release_0_1_0_file_carrying_several_batches_is_never_guessed_between(
    tmp_path: Path, sync_client: TogetherClient, together_server: Any, ledger: SubmissionLedger
) -> None:
    """0.1.0 shared a file between task instances with identical content: which batch is ours?
    (Together only: 0.1.0 spoke to Together alone, and only its Files API de-duplicates.)"""
    parts = _parts(tmp_path)
    name = f"apb-{IDENTITY.key[:12]}-{parts[0].sha256[:16]}-p0001.jsonl"
    uploaded = sync_client.files.upload(parts[0].path, filename=name, dedupe=True)
    for _ in range(2):  # ours, and another run's on the same de-duplicated file
        sync_client.batches.create(uploaded.id, ENDPOINT)
    ctx = SubmitContext(identity=IDENTITY, ledger=ledger, endpoint=ENDPOINT, earlier_tries=True)
    with pytest.raises(LedgerConflictError, match=r"release 0\.1\.0 named for this task instance") as info:
        submit_or_attach(sync_client, parts, ctx)
    assert together_server.stats()["batch_creates"] == 2
    assert "force_resubmit=True" in str(info.value)
    # A first try cannot have been submitted before: it looks for no file and pays for its own.
    (first,) = _submit(sync_client, parts, ledger)
    assert first.path == "submitted"


def test_the_remedy_for_several_release_0_1_0_batches_submits_the_part_anew_once(
    tmp_path: Path, sync_client: TogetherClient, together_server: Any, ledger: SubmissionLedger
) -> None:
    """The conflict above names ``force_resubmit=True``: it submits one new batch, and a later try
    re-attaches to that one."""
    parts = _parts(tmp_path)
    name = f"apb-{IDENTITY.key[:12]}-{parts[0].sha256[:16]}-p0001.jsonl"
    uploaded = sync_client.files.upload(parts[0].path, filename=name, dedupe=True)
    for _ in range(2):
        sync_client.batches.create(uploaded.id, ENDPOINT)
    ctx = SubmitContext(identity=IDENTITY, ledger=ledger, endpoint=ENDPOINT, earlier_tries=True)
    (forced,) = submit_or_attach(sync_client, parts, ctx, force_resubmit=True)
    assert forced.path == "submitted" and together_server.stats()["batch_creates"] == 3
    (again,) = submit_or_attach(sync_client, parts, ctx, force_resubmit=True)
    assert again.job.id == forced.job.id and together_server.stats()["batch_creates"] == 3


def test_an_unreachable_ledger_stops_before_any_upload(
    tmp_path: Path, vendor_client: Any, vendor_server: Any
) -> None:
    def refuse() -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    with pytest.raises(LedgerUnavailableError, match="cannot be reached"):
        _submit(vendor_client, _parts(tmp_path), SubmissionLedger(refuse, dialect="sqlite"))
    stats = vendor_server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (0, 0)


def test_concurrent_first_use_of_the_ledger(tmp_path: Path) -> None:
    import threading

    path = str(tmp_path / "shared.db")
    errors: list[BaseException] = []

    def first_use(n: int) -> None:
        try:
            ledger = sqlite_ledger(path)
            ledger.open(
                TaskIdentity("d", "t", f"r{n}"),
                part_index=1,
                part_sha256="a" * 64,
                generation=1,
                request_count=1,
                endpoint=ENDPOINT,
                together_conn_id="c",
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(sqlite_ledger(path)._select("1 = 1", ())) == 16


def test_a_crash_after_the_bytes_arrived_reuses_the_file(
    tmp_path: Path,
    vendor_client: Any,
    vendor_server: Any,
    ledger: SubmissionLedger,
) -> None:
    parts = _parts(tmp_path)
    with _crash_once(vendor_client.files, "upload", before=False):
        _submit(vendor_client, parts, ledger)
    assert ledger.records_for(IDENTITY)[0].state == "uploading"
    (outcome,) = _submit(vendor_client, parts, ledger)
    stats = vendor_server.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (1, 1)
    assert outcome.job.input_file_id == ledger.records_for(IDENTITY)[0].input_file_id


def test_a_crash_before_the_bytes_arrived_uploads_again(
    tmp_path: Path,
    sync_client: TogetherClient,
    together_server: Any,
    ledger: SubmissionLedger,
) -> None:
    """Together only: its upload is two requests (the file's POST, then the bytes' PUT)."""
    parts = _parts(tmp_path)
    # Killed between the file's POST and its PUT.
    with _crash_once(sync_client, "_send", when=lambda spec, *a, **k: spec.method == "PUT"):
        _submit(sync_client, parts, ledger)
    (half,) = ledger.records_for(IDENTITY)
    assert half.state == "uploading" and half.input_file_id is not None
    (outcome,) = _submit(sync_client, parts, ledger)
    assert outcome.job.input_file_id != half.input_file_id
    assert together_server.stats()["batch_creates"] == 1
