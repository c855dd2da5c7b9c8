"""The official ``anthropic`` SDK runs whole Message Batches against the local server's Anthropic
emulation, unchanged: create, poll, request counts, ``results()``, cancel, expiry, list with
pagination, delete, 401 and 404 (run on the newest SDK and on the floor in pyproject.toml)."""

from __future__ import annotations

import anthropic
import pytest

from airflow_provider_batch.testing.server import LocalTogetherServer
from tests.server.anthropic.conftest import MODEL, poll, request, wait_for_progress

_MAJOR = int(anthropic.__version__.split(".")[0])


def _sdk(server: LocalTogetherServer, key: str | None = None) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=key or server.api_key, base_url=server.root_url, max_retries=0)


def _results(sdk: anthropic.Anthropic, batch_id: str) -> dict[str, object]:
    return {line.custom_id: line.result for line in sdk.messages.batches.results(batch_id)}


def test_the_sdk_authenticates_as_its_version_does(server: LocalTogetherServer) -> None:
    """0.x and 1.x send ``X-Api-Key``, 2.x ``Authorization: Bearer``; both get in."""
    sdk = _sdk(server)
    expected = {"Authorization": f"Bearer {server.api_key}"} if _MAJOR >= 2 else {"X-Api-Key": server.api_key}
    assert sdk.auth_headers == expected
    assert sdk.default_headers["anthropic-version"]
    assert sdk.messages.batches.list().data == []


def test_sdk_runs_a_whole_batch(server: LocalTogetherServer) -> None:
    server.configure(processing_seconds=0.6)  # long enough that polling sees in_progress
    sdk = _sdk(server)
    requests = [request(f"row-{i}", f"Summarise item {i}") for i in range(5)]
    requests.append(request("no-max", "hello", max_tokens=None))
    requests.append(request("no-model", "hello", model="claude-none-1"))
    requests.append(request("capped", "Write a long essay", max_tokens=3))
    created = sdk.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    assert created.type == "message_batch" and created.processing_status == "in_progress"
    assert created.id.startswith("msgbatch_") and created.results_url is None and created.ended_at is None
    assert created.request_counts.processing == 8 and created.expires_at > created.created_at

    batch, seen = poll(lambda: sdk.messages.batches.retrieve(created.id))

    assert seen == ["in_progress", "ended"]
    counts = batch.request_counts
    assert (counts.processing, counts.succeeded, counts.errored, counts.canceled, counts.expired) == (
        0,
        6,
        2,
        0,
        0,
    )
    assert (
        batch.ended_at
        and batch.results_url
        and batch.cancel_initiated_at is None
        and batch.archived_at is None
    )
    results = _results(sdk, batch.id)
    assert sorted(results) == sorted(r["custom_id"] for r in requests)
    message = results["row-0"].message  # type: ignore[attr-defined]
    assert results["row-0"].type == "succeeded" and message.type == "message" and message.role == "assistant"
    assert message.model == MODEL and message.stop_reason == "end_turn" and message.content[0].text
    usage = message.usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.cache_creation_input_tokens == 0 and usage.cache_read_input_tokens == 0
    assert results["capped"].message.stop_reason == "max_tokens"  # type: ignore[attr-defined]
    assert results["capped"].message.usage.output_tokens == 3  # type: ignore[attr-defined]
    no_max, no_model = results["no-max"], results["no-model"]
    assert no_max.type == "errored" and no_max.error.error.type == "invalid_request_error"  # type: ignore[attr-defined]
    assert "max_tokens" in no_max.error.error.message  # type: ignore[attr-defined]
    assert no_model.error.error.type == "not_found_error"  # type: ignore[attr-defined]


def test_sdk_cancel_keeps_the_answered_requests(server: LocalTogetherServer) -> None:
    server.configure(processing_seconds=2.0, cancel_seconds=0.05)
    sdk = _sdk(server)
    created = sdk.messages.batches.create(requests=[request(f"r{i}", f"q {i}") for i in range(40)])  # type: ignore[arg-type]
    wait_for_progress(server, created.id, 0.1)  # a few requests are answered, most are not

    canceling = sdk.messages.batches.cancel(created.id)

    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at
    batch, seen = poll(lambda: sdk.messages.batches.retrieve(created.id))
    assert seen[-2:] == ["canceling", "ended"]
    counts = batch.request_counts
    assert 0 < counts.succeeded < 40 and counts.succeeded + counts.canceled == 40 and counts.processing == 0
    types = [result.type for result in _results(sdk, created.id).values()]
    assert types.count("succeeded") == counts.succeeded and types.count("canceled") == counts.canceled
    with pytest.raises(anthropic.BadRequestError):  # an ended batch cannot be canceled
        sdk.messages.batches.cancel(created.id)


def test_sdk_expiry_keeps_the_answered_requests(server: LocalTogetherServer) -> None:
    server.configure(processing_seconds=4.0, completion_window_seconds=1.0)  # a quarter gets done
    sdk = _sdk(server)
    created = sdk.messages.batches.create(requests=[request(f"e{i}", f"q {i}") for i in range(30)])  # type: ignore[arg-type]

    batch, _ = poll(lambda: sdk.messages.batches.retrieve(created.id))

    counts = batch.request_counts
    assert 0 < counts.succeeded < 30 and counts.expired == 30 - counts.succeeded
    assert {result.type for result in _results(sdk, created.id).values()} == {"succeeded", "expired"}


def test_sdk_lists_with_pagination_and_deletes(server: LocalTogetherServer) -> None:
    server.configure(processing_seconds=0.0, validating_seconds=0.0)
    sdk = _sdk(server)
    ids = [sdk.messages.batches.create(requests=[request("only", f"b {i}")]).id for i in range(5)]  # type: ignore[arg-type]
    newest_first = ids[::-1]
    for batch_id in ids:
        poll(lambda batch_id=batch_id: sdk.messages.batches.retrieve(batch_id))

    first = sdk.messages.batches.list(limit=2)
    assert [b.id for b in first.data] == newest_first[:2] and first.has_more
    assert (first.first_id, first.last_id) == (newest_first[0], newest_first[1])
    assert [b.id for b in sdk.messages.batches.list(limit=2)] == newest_first  # auto-pagination
    older = sdk.messages.batches.list(limit=10, after_id=newest_first[1])
    assert [b.id for b in older.data] == newest_first[2:] and not older.has_more
    newer = sdk.messages.batches.list(limit=1, before_id=newest_first[2])
    assert [b.id for b in newer.data] == [newest_first[1]] and newer.has_more

    deleted = sdk.messages.batches.delete(ids[0])

    assert (deleted.id, deleted.type) == (ids[0], "message_batch_deleted")
    with pytest.raises(anthropic.NotFoundError):
        sdk.messages.batches.retrieve(ids[0])
    assert [b.id for b in sdk.messages.batches.list(limit=20)] == newest_first[:-1]


def test_sdk_cannot_delete_a_batch_still_processing(server: LocalTogetherServer) -> None:
    server.configure(processing_seconds=5.0)
    sdk = _sdk(server)
    created = sdk.messages.batches.create(requests=[request("x", "y")])  # type: ignore[arg-type]
    with pytest.raises(anthropic.BadRequestError) as refused:
        sdk.messages.batches.delete(created.id)
    assert refused.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    sdk.messages.batches.cancel(created.id)
    poll(lambda: sdk.messages.batches.retrieve(created.id))
    assert sdk.messages.batches.delete(created.id).id == created.id


def test_sdk_401_and_404(server: LocalTogetherServer) -> None:
    with pytest.raises(anthropic.AuthenticationError) as denied:
        _sdk(server, key="wrong-key").messages.batches.list()
    assert denied.value.status_code == 401
    assert denied.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert "wrong-key" not in str(denied.value.body)
    sdk = _sdk(server)
    with pytest.raises(anthropic.NotFoundError) as missing:
        sdk.messages.batches.retrieve("msgbatch_01nothere")
    assert missing.value.body["type"] == "error"  # type: ignore[index]
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert missing.value.request_id and missing.value.request_id.startswith("req_")
    with pytest.raises(anthropic.NotFoundError):
        sdk.messages.batches.results("msgbatch_01nothere")
    with pytest.raises(anthropic.NotFoundError):
        sdk.messages.batches.cancel("msgbatch_01nothere")


def test_sdk_create_refused_as_a_whole(server: LocalTogetherServer) -> None:
    sdk = _sdk(server)
    bad_ids = (
        [request("has space", "x")],
        [request("twice", "x"), request("twice", "y")],
        [request("a" * 65, "x")],
    )
    for requests in bad_ids:
        with pytest.raises(anthropic.BadRequestError) as refused:
            sdk.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        assert refused.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
        assert "requests." in refused.value.body["error"]["message"]  # type: ignore[index]
    assert server.stats()["batch_creates"] == 0
