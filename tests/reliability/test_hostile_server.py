"""Both clients against a server that answers badly on purpose (see ``hostile`` and ``scenarios``).

Every test runs with the sync and the async client, has a hard pytest-timeout of a few seconds
(a hang fails fast), checks that the key, though echoed back by the server in most answers, is in
no exception view and no DEBUG log line, and that nothing is reported as a success wrongly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.client import (
    APIConnectionError,
    APITimeoutError,
    BatchStatus,
    DownloadIncompleteError,
    InternalServerError,
    ListElementTooLargeError,
    ResponseTooLargeError,
    ResponseValidationError,
    StreamInterruptedError,
)
from airflow_provider_batch.client._body import ERROR_BODY_LIMIT
from tests.client.helpers import call, count, first
from tests.reliability.hostile import HostileServer
from tests.reliability.leaks import SECRET, assert_not_leaked
from tests.reliability.scenarios import (
    BIG_LIST_ELEMENTS,
    CUT_LIST_ELEMENTS_SENT,
    DOWNLOAD_DECLARED,
    DOWNLOAD_SENT,
    UNKNOWN_STATUS,
)

pytestmark = pytest.mark.timeout(8)


@pytest.fixture
def client_for(hostile: HostileServer, make_client: Any) -> Any:
    """``client_for(scenario, **settings)`` → a client of the current flavour aimed at ``scenario``."""

    def factory(scenario: str, **fields: Any) -> Any:
        settings = {
            "api_key": SECRET,
            "timeout": 2.0,
            "connect_timeout": 2.0,
            "upload_timeout": 2.0,
            "max_retries": 1,
            **fields,
        }
        return make_client(hostile.url(scenario), **settings)

    return factory


async def failing(thunk: Callable[[], Any], expected: type[BaseException]) -> Any:
    """Run ``thunk`` (a client call, sync or async) and return the ``expected`` error it raises."""
    with pytest.raises(expected) as info:
        await call(thunk())
    return info.value


def key_was_sent(hostile: HostileServer, scenario: str) -> None:
    """The key reached the server (and so was there to leak)."""
    seen = hostile.requests_for(scenario)
    assert seen and all(s.authorization == f"Bearer {SECRET}" for s in seen)


async def test_unknown_status_is_kept_and_never_terminal(client_for, hostile, debug_logs) -> None:
    client = client_for("unknown-status")
    for job in [await call(client.batches.retrieve("b-1")), *(await call(client.batches.list()))]:
        assert job.status is BatchStatus.UNKNOWN and job.raw_status == UNKNOWN_STATUS
        assert not job.status.is_terminal and not job.status.is_success
    assert_not_leaked(None, debug_logs)


@pytest.mark.parametrize("kind", ["batch", "file"])
async def test_missing_id_is_a_validation_error_naming_the_call(
    kind: str, client_for: Any, hostile: HostileServer, debug_logs: Any
) -> None:
    client = client_for("missing-id")
    resource, object_id = (client.batches, "b-1") if kind == "batch" else (client.files, "file-1")
    exc = await failing(lambda: resource.retrieve(object_id), ResponseValidationError)
    where = "GET /batches/b-1" if kind == "batch" else "GET /files/file-1"
    assert where in str(exc) and exc.path == where.split(" ")[1]
    assert len(hostile.requests_for("missing-id")) == 1, "a body that does not parse is not retried"
    key_was_sent(hostile, "missing-id")
    assert_not_leaked(exc, debug_logs)


async def test_unknown_extra_fields_are_tolerated(client_for, hostile, debug_logs) -> None:
    client = client_for("extra-fields")
    job = await call(client.batches.retrieve("b-1"))
    file = await call(client.files.retrieve("file-1"))
    assert job.id == "b-1" and job.status is BatchStatus.COMPLETED and job.output_file_id == "file-out"
    assert file.id == "file-1" and file.bytes == 10
    for model in (job, file):
        assert model.model_extra["shiny_new_field"] == {"nested": [1, 2, 3]}
        assert model.model_extra["billing_tier"] == "gold"
    assert_not_leaked(None, debug_logs)


async def test_html_502_page_is_a_typed_error_with_a_short_excerpt(
    client_for: Any, hostile: HostileServer, sleeps: Any, debug_logs: Any
) -> None:
    client = client_for("html-502", max_retries=2)
    exc = await failing(lambda: client.batches.retrieve("b-1"), InternalServerError)
    assert exc.status_code == 502 and exc.attempts == 3 and len(sleeps.delays) == 2
    assert exc.message.startswith("502 Bad Gateway") and len(exc.message) <= 200
    assert "<" not in exc.message and "GET /batches/b-1" in str(exc)
    assert len(hostile.requests_for("html-502")) == 3
    key_was_sent(hostile, "html-502")
    assert_not_leaked(exc, debug_logs)
    # The page puts the echoed key across the 200-character cut: redaction must come first.
    assert "Authorization: Bearer [redact" in exc.message and SECRET not in str(exc.body)


async def test_html_200_where_json_is_expected(client_for, hostile, debug_logs) -> None:
    client = client_for("html-200")
    exc = await failing(lambda: client.batches.retrieve("b-1"), ResponseValidationError)
    assert "GET /batches/b-1" in str(exc) and "not JSON" in str(exc)
    assert len(hostile.requests_for("html-200")) == 1
    assert_not_leaked(exc, debug_logs)


@pytest.mark.parametrize("scenario", ["array", "string", "null", "number"])
async def test_json_that_is_not_an_object(scenario, client_for, hostile, debug_logs) -> None:
    client = client_for(scenario)
    for thunk, where in [
        (lambda: client.batches.retrieve("b-1"), "GET /batches/b-1"),
        (lambda: client.files.retrieve("file-1"), "GET /files/file-1"),
        (lambda: client.batches.create("file-in"), "POST /batches"),
    ]:
        exc = await failing(thunk, ResponseValidationError)
        assert where in str(exc)
        assert_not_leaked(exc, debug_logs)


@pytest.mark.parametrize("scenario", ["huge-declared", "huge-chunked"])
async def test_50_mb_json_answer_hits_the_size_cap(scenario, client_for, hostile, debug_logs) -> None:
    """Default cap (32 MiB): a declared length over it fails before any body byte is read; a chunked
    body fails once 32 MiB have arrived. Neither is retried: the same call would get the same body."""
    client = client_for(scenario)
    exc = await failing(lambda: client.batches.retrieve("b-1"), ResponseTooLargeError)
    assert exc.limit == 32 * 1024 * 1024 and "GET /batches/b-1" in str(exc)
    assert "max_response_bytes" in str(exc)
    assert len(hostile.requests_for(scenario)) == 1
    assert_not_leaked(exc, debug_logs)


async def test_endless_chunked_json_answer_hits_the_size_cap(client_for, hostile, debug_logs) -> None:
    client = client_for("endless-200", max_response_bytes=2 * 1024 * 1024)
    exc = await failing(lambda: client.batches.retrieve("b-1"), ResponseTooLargeError)
    assert exc.limit == 2 * 1024 * 1024
    assert_not_leaked(exc, debug_logs)


async def test_endless_error_body_is_cut_and_the_status_still_counts(client_for, hostile, debug_logs) -> None:
    """An error answer is only excerpted, so its body is cut at 64 KiB rather than failing as too large."""
    client = client_for("endless-502")
    exc = await failing(lambda: client.batches.retrieve("b-1"), InternalServerError)
    assert exc.status_code == 502 and exc.attempts == 2
    assert 0 < len(exc.message) <= 200 and ERROR_BODY_LIMIT == 64 * 1024
    assert_not_leaked(exc, debug_logs)


async def test_server_that_never_answers_times_out(client_for, hostile, sleeps, debug_logs) -> None:
    client = client_for("silent", timeout=0.3)
    exc = await failing(lambda: client.batches.retrieve("b-1"), APITimeoutError)
    assert exc.attempts == 2 and "ReadTimeout" in str(exc) and "GET /batches/b-1" in str(exc)
    assert len(hostile.requests_for("silent")) == 2 and len(sleeps.delays) == 1
    assert_not_leaked(exc, debug_logs)


async def test_server_that_hangs_up_is_a_connection_error(client_for, hostile, debug_logs) -> None:
    client = client_for("close", max_retries=2)
    exc = await failing(lambda: client.batches.retrieve("b-1"), APIConnectionError)
    assert not isinstance(exc, APITimeoutError) and exc.attempts == 3
    assert len(hostile.requests_for("close")) == 3
    assert_not_leaked(exc, debug_logs)


async def test_short_download_leaves_no_file(client_for, hostile, tmp_path: Path, debug_logs) -> None:
    client = client_for("short-download")
    dest = tmp_path / "out" / "output.jsonl"
    exc = await failing(lambda: client.files.content("file-out", dest), DownloadIncompleteError)
    assert (exc.expected, exc.received) == (DOWNLOAD_DECLARED, DOWNLOAD_SENT)
    assert not dest.exists() and list(dest.parent.iterdir()) == []
    assert len(hostile.requests_for("short-download")) == 2, "a short download is retried once"
    assert_not_leaked(exc, debug_logs)


# -- streamed lists ----------------------------------------------------------------------------


async def test_list_over_the_body_cap_streams_in_full(client_for, hostile, debug_logs) -> None:
    """36 MiB of batches: ``list()`` used to fail with ResponseTooLargeError; now nothing but one
    element is ever held by the parser, and the count is exact."""
    client = client_for("big-list")
    assert await count(client.batches.iter()) == BIG_LIST_ELEMENTS
    jobs = await call(client.batches.list())
    assert len(jobs) == BIG_LIST_ELEMENTS and jobs[-1].id == "b-0"
    assert len(hostile.requests_for("big-list")) == 2
    assert_not_leaked(None, debug_logs)


async def test_one_huge_element_fails_at_the_element_cap(client_for, hostile, debug_logs) -> None:
    client = client_for("huge-element", max_retries=3)
    exc = await failing(lambda: client.batches.list(), ListElementTooLargeError)
    assert exc.limit == 1024 * 1024 and "GET /batches" in str(exc)
    assert isinstance(exc, ResponseTooLargeError)
    assert len(hostile.requests_for("huge-element")) == 1
    assert_not_leaked(exc, debug_logs)


async def test_an_endless_list_can_be_read_in_part_and_closed(client_for, hostile, debug_logs) -> None:
    client = client_for("endless-list")
    assert (await first(client.batches.iter())).id == "b-0"
    assert len(hostile.requests_for("endless-list")) == 1
    assert_not_leaked(None, debug_logs)


async def test_a_list_cut_midway(client_for, hostile, sleeps, debug_logs) -> None:
    """``iter()`` has handed out elements, so it stops with a typed error; ``list()`` starts over
    (and here fails again: every answer is cut)."""
    client = client_for("cut-list", max_retries=1)
    seen: list[str] = []

    async def consume() -> None:
        stream = client.batches.iter()
        if hasattr(stream, "__aiter__"):
            async for job in stream:
                seen.append(job.id)
        else:
            seen.extend(job.id for job in stream)

    exc = await failing(consume, StreamInterruptedError)
    assert exc.yielded == len(seen) == CUT_LIST_ELEMENTS_SENT and sleeps.delays == []
    assert len(hostile.requests_for("cut-list")) == 1
    assert_not_leaked(exc, debug_logs)

    later = await failing(lambda: client.batches.list(), APIConnectionError)
    assert not isinstance(later, StreamInterruptedError) and later.attempts == 2
    assert len(hostile.requests_for("cut-list")) == 3
    assert_not_leaked(later, debug_logs)


async def test_html_where_a_list_is_expected(client_for, hostile, debug_logs) -> None:
    client = client_for("html-200")
    exc = await failing(lambda: client.files.list(), ResponseValidationError)
    assert "GET /files" in str(exc) and "expected a list" in str(exc)
    assert_not_leaked(exc, debug_logs)
