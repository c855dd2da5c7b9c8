"""Pure tests of the streaming list parser (``_listing``): every body shape, cut at every byte."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_batch.client._core import Decision
from airflow_provider_batch.client._listing import (
    RESTART,
    ArraySplitter,
    ListReader,
    TooLarge,
    after_failure,
    collect,
)
from airflow_provider_batch.client.errors import (
    APIConnectionError,
    ListElementTooLargeError,
    ResponseValidationError,
    StreamInterruptedError,
)
from airflow_provider_batch.vendors.together.client import _ops as ops


def split(body: bytes, size: int, limit: int = 1 << 20) -> list[Any]:
    """Feed ``body`` in pieces of ``size`` bytes; the decoded elements."""
    splitter = ArraySplitter(limit)
    raw: list[bytes] = []
    for start in range(0, len(body), size):
        raw += splitter.feed(body[start : start + size])
    splitter.close()
    return [json.loads(element) for element in raw]


GOOD: list[tuple[bytes, list[Any]]] = [
    (b"null", []),
    (b" \n null \r\n", []),
    (b"[]", []),
    (b"[ \t]", []),
    (b'{"data": []}', []),
    (b'{"data": null}', []),
    (b'{"data":[{"id":"a"}]}', [{"id": "a"}]),
    (b'{"object": "list", "data": [{"id": "a"}], "has_more": {"x": [1, "]}"]}}', [{"id": "a"}]),
    (b'{"data": [{"id": "b"}], "object": "list"}', [{"id": "b"}]),
    (
        b'[{"id": "a\\"]}{\\\\"}, {"n": [1, {"x": "\\\\"}], "e": {}}, 3, -1.5e3, "s", true, false, null, []]',
        [{"id": 'a"]}{\\'}, {"n": [1, {"x": "\\"}], "e": {}}, 3, -1.5e3, "s", True, False, None, []],
    ),
    ('[{"name": "é✓ \\u00e9"}]'.encode(), [{"name": "é✓ é"}]),
    (b'\n[\n  {"id": "a"} ,\n  {"id": "b"}\n]\n', [{"id": "a"}, {"id": "b"}]),
]


@pytest.mark.parametrize(("body", "expected"), GOOD)
def test_every_shape_cut_at_every_byte(body: bytes, expected: list[Any]) -> None:
    for size in range(1, len(body) + 1):
        assert split(body, size) == expected, size


BAD = [
    b"",
    b"   ",
    b"nul",
    b"nullx",
    b"42",
    b'"text"',
    b"true",
    b"[1,]",
    b"[,1]",
    b"[1 2]",
    b"[1",
    b'[{"a": 1}',
    b'[{"a": 1]}',
    b'[{"a": }]',
    b'[{"a": "unterminated}]',
    b"[tru]",
    b"[1]]",
    b"[1] x",
    b"{}",
    b'{"object": "list"}',
    b'{"data": 5}',
    b'{"data": {"id": 1}}',
    b'{"data": [1], "data": []}',
    b'{"data": [1]',
    b'{"data" [1]}',
    b"{data: [1]}",
    b'{"data": [], "x": nope}',
    b'{"data": []}]',
    b"<html>502 Bad Gateway</html>",
]


@pytest.mark.parametrize("body", BAD)
def test_malformed_bodies_are_refused_wherever_they_are_cut(body: bytes) -> None:
    """By the splitter (``Malformed``), or by ``json.loads`` for what is inside an element."""
    for size in range(1, max(len(body), 1) + 1):
        with pytest.raises(ValueError):
            split(body, size)


@pytest.mark.parametrize("size", [7, 100, 5000])
def test_an_element_over_the_cap_is_refused_before_it_is_all_buffered(size: int) -> None:
    body = b'[{"id": "a"}, {"pad": "' + b"x" * 3000 + b'"}]'
    with pytest.raises(TooLarge):
        split(body, size, limit=1000)
    assert split(body, size, limit=4000)[0] == {"id": "a"}


AROUND = [b'{"data": [], "pad": "' + b"x" * 3000 + b'"}', b'{"' + b"k" * 3000 + b'": 0']


@pytest.mark.parametrize("body", AROUND)
def test_keys_and_values_around_the_list_are_capped_too(body: bytes) -> None:
    with pytest.raises(TooLarge):
        split(body, 64, limit=1000)


def test_memory_holds_one_element_and_one_chunk_however_long_the_list() -> None:
    element = json.dumps({"id": "file-x", "filename": "a.jsonl", "bytes": 100}).encode()
    splitter, peak, count = ArraySplitter(1 << 20), 0, 0
    splitter.feed(b'{"data": [')
    for n in range(20_000):
        count += len(splitter.feed((b"," if n else b"") + element))
        peak = max(peak, len(splitter._buf))
    count += len(splitter.feed(b"]}"))
    splitter.close()
    assert count == 20_000 and peak <= 2 * len(element) + 2


def test_deep_nesting_is_a_validation_error_not_a_crash() -> None:
    body = b"[" + b"[" * 100_000 + b"]" * 100_000 + b"]"
    reader = ListReader(ops.batch_list(), {}, ops.BATCH_LIST, 1 << 20)
    with pytest.raises(ResponseValidationError, match="element 1: not JSON"):
        reader.feed(body)


# -- the reader: models, filters and typed errors ------------------------------------------------


def read(shape: Any, body: bytes, size: int = 3) -> tuple[list[Any], ListReader[Any]]:
    reader = ListReader(ops.batch_list(), {"x-request-id": "req-9"}, shape, 1 << 20)
    out: list[Any] = []
    for start in range(0, len(body), size):
        out += reader.feed(body[start : start + size])
    out += reader.close()
    return out, reader


def test_reader_builds_models_and_counts_what_it_yields() -> None:
    body = json.dumps([{"id": "b-1", "status": "SOMETHING_NEW"}, {"id": "b-2", "status": "COMPLETED"}])
    jobs, reader = read(ops.BATCH_LIST, body.encode())
    assert [(j.id, j.raw_status) for j in jobs] == [("b-1", "SOMETHING_NEW"), ("b-2", "COMPLETED")]
    assert reader.yielded == reader.elements == 2


def test_reader_filter_skips_other_files_without_building_models() -> None:
    rows = [{"id": f"b-{n}", "input_file_id": f"f-{n % 3}"} for n in range(9)]
    rows[4]["created_at"] = "not a date"  # never validated: it is on another file
    jobs, reader = read(ops.batches_on_file("f-2"), json.dumps(rows).encode())
    assert [j.id for j in jobs] == ["b-2", "b-5", "b-8"]
    assert (reader.elements, reader.yielded) == (9, 3)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"id": "b-1"}, {"no_id": 1}]', "element 2: 1 validation error"),
        (b'[{"id": "b-1"}, {"id": 1e999999x}]', "element 2: not JSON"),
        (b'[{"id": "b-1"},', "ends before the list does"),
        (b'"a string"', "expected a list"),
    ],
)
def test_reader_errors_name_the_call_and_the_request_id(body: bytes, message: str) -> None:
    with pytest.raises(ResponseValidationError, match=message) as caught:
        read(ops.BATCH_LIST, body)
    assert "GET /batches" in str(caught.value) and caught.value.request_id == "req-9"


def test_reader_too_large_error_is_typed() -> None:
    reader = ListReader(ops.file_list(), {}, ops.FILE_LIST, 100)
    with pytest.raises(ListElementTooLargeError, match="max_list_element_bytes") as caught:
        reader.feed(b'{"data": [{"id": "' + b"x" * 200)
    assert caught.value.limit == 100 and "GET /files" in str(caught.value)


# -- after a failure: retry from scratch or stop -------------------------------------------------


def _failed(retry: bool = True) -> Decision:
    error = APIConnectionError("GET", "/files", "RemoteProtocolError", attempts=1)
    return Decision(error, retry=retry, delay=1.0)


def _reader_that_yielded(count: int) -> ListReader[Any]:
    reader = ListReader(ops.file_list(), {}, ops.FILE_LIST, 1 << 20)
    reader.yielded = count
    return reader


@pytest.mark.parametrize(
    ("reader", "restartable"),
    [(None, False), (_reader_that_yielded(0), False), (_reader_that_yielded(3), True)],
)
def test_a_stream_that_yielded_nothing_or_is_collected_is_retried(reader: Any, restartable: bool) -> None:
    decision = _failed()
    assert after_failure(decision, reader, restartable) is decision


def test_a_stream_that_yielded_stops_with_a_typed_error() -> None:
    decision = after_failure(_failed(), _reader_that_yielded(3), restartable=False)
    assert not decision.retry and isinstance(decision.error, StreamInterruptedError)
    assert decision.error.yielded == 3 and isinstance(decision.error.error, APIConnectionError)
    expected = "GET /files failed after 1 attempt(s): broke off after 3 element(s) were yielded (Remote"
    assert str(decision.error).startswith(expected)


def test_collect_starts_again_at_a_restart() -> None:
    assert collect([1, 2, RESTART, 1, 2, 3]) == [1, 2, 3]
