"""Validation, budget estimate and split in one read of the input (``prepare_input``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.inputs import validate as validate_module
from airflow_provider_batch.inputs.budget import BudgetExceededError, UnboundedCostError, estimate_batch_cost
from airflow_provider_batch.inputs.limits import BatchLimits
from airflow_provider_batch.inputs.prepare import prepare_input
from airflow_provider_batch.inputs.split import split_batch_file
from airflow_provider_batch.inputs.validate import InputValidationError
from airflow_provider_batch.pricing import DEFAULT_PRICE_TABLE

from .factories import MODEL, chat_request, encode

OTHER_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"
CHAT = "/v1/chat/completions"


def _write(path: Path, requests: list[dict[str, Any]], *, last_newline: bool = True) -> Path:
    data = b"".join(encode(r) for r in requests)
    path.write_bytes(data if last_newline else data[:-1])
    return path


def _requests(n: int, **body: Any) -> list[dict[str, Any]]:
    return [chat_request(f"r-{i}", f"question number {i}", max_tokens=10 + i, **body) for i in range(n)]


def _prepare(path: Path, out: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("limits", BatchLimits())
    return prepare_input(
        path, out, endpoint=kwargs.pop("endpoint", CHAT), prices=DEFAULT_PRICE_TABLE, **kwargs
    )


@pytest.mark.parametrize("last_newline", [True, False])
@pytest.mark.parametrize("limits", [BatchLimits(), BatchLimits(max_lines=3), BatchLimits(max_bytes=700)])
def test_parts_and_estimate_match_the_separate_passes(
    tmp_path: Path, limits: BatchLimits, last_newline: bool
) -> None:
    source = _write(tmp_path / "in.jsonl", _requests(8), last_newline=last_newline)
    prepared = _prepare(source, tmp_path / "one-pass", limits=limits)
    separate = split_batch_file(source, tmp_path / "separate", limits=limits)
    assert [(p.index, p.lines, p.bytes, p.sha256) for p in prepared.parts] == [
        (p.index, p.lines, p.bytes, p.sha256) for p in separate
    ]
    for part in prepared.parts:
        data = part.path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == part.sha256 and len(data) == part.bytes
    assert b"".join(p.path.read_bytes() for p in prepared.parts).rstrip(b"\n") == source.read_bytes().rstrip(
        b"\n"
    )
    assert prepared.estimate == estimate_batch_cost(source, DEFAULT_PRICE_TABLE)
    assert prepared.report.lines == 8


def test_each_part_carries_its_models_and_its_share_of_the_estimate(tmp_path: Path) -> None:
    other = chat_request("o-1", "x", max_tokens=5)
    other["body"]["model"] = OTHER_MODEL
    requests = [*_requests(4), other]
    source = _write(tmp_path / "in.jsonl", requests)
    prepared = _prepare(source, tmp_path / "parts", limits=BatchLimits(max_lines=3))
    first, second = prepared.parts
    assert first.model == MODEL
    assert second.model == ", ".join(sorted([MODEL, OTHER_MODEL]))
    assert first.estimated_cost_usd and second.estimated_cost_usd
    assert first.estimated_cost_usd + second.estimated_cost_usd == pytest.approx(prepared.estimate.batch_usd)
    alone = _write(tmp_path / "first.jsonl", requests[:3])
    assert first.estimated_cost_usd == pytest.approx(
        estimate_batch_cost(alone, DEFAULT_PRICE_TABLE).batch_usd
    )


def test_every_line_is_decoded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _write(tmp_path / "in.jsonl", _requests(30))
    decoded: list[bytes] = []
    fast = validate_module._FAST_DECODE

    def counting(raw: bytes) -> Any:
        decoded.append(raw)
        return fast(raw)

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("a second JSON decode of the input")

    monkeypatch.setattr(validate_module, "_FAST_DECODE", counting)
    monkeypatch.setattr(json, "loads", refuse)
    prepared = _prepare(source, tmp_path / "parts", limits=BatchLimits(max_lines=7))
    assert len(decoded) == 30 and len(set(decoded)) == 30
    assert len(prepared.parts) == 5


def test_bad_input_names_line_field_and_rule_and_writes_nothing(tmp_path: Path) -> None:
    requests = _requests(6)
    del requests[4]["body"]["messages"]
    source = _write(tmp_path / "in.jsonl", requests)
    out = tmp_path / "parts"
    with pytest.raises(InputValidationError) as info:
        _prepare(source, out, limits=BatchLimits(max_lines=2), max_cost_usd=0.0)
    (problem,) = info.value.problems
    assert (problem.line, problem.custom_id, problem.rule) == (5, "r-4", "messages_missing")
    assert "body.messages" in str(info.value)
    assert not out.exists()


def test_a_budget_refusal_comes_before_any_part_is_written(tmp_path: Path) -> None:
    source = _write(tmp_path / "in.jsonl", _requests(6))
    out = tmp_path / "parts"
    with pytest.raises(BudgetExceededError, match="exceeds the limit"):
        _prepare(source, out, limits=BatchLimits(max_lines=2), max_cost_usd=1e-9)
    unbounded = _write(tmp_path / "unbounded.jsonl", [chat_request("u-1")])
    with pytest.raises(UnboundedCostError, match=r"line 1 \(custom_id='u-1'\): max_tokens_required"):
        _prepare(unbounded, out, max_cost_usd=1.0)
    assert not out.exists()


def test_audio_parts_name_their_model_but_carry_no_estimate(tmp_path: Path) -> None:
    endpoint = "/v1/audio/transcriptions"
    line = {
        "custom_id": "a-1",
        "method": "FILE",
        "body": {"model": "openai/whisper-large-v3", "file": "https://x/a.mp3"},
    }
    source = _write(tmp_path / "in.jsonl", [line])
    prepared = _prepare(source, tmp_path / "parts", endpoint=endpoint)
    (part,) = prepared.parts
    assert prepared.estimate is None
    assert (part.model, part.estimated_cost_usd, part.path) == ("openai/whisper-large-v3", None, source)
    with pytest.raises(UnboundedCostError, match="audio"):
        _prepare(source, tmp_path / "parts", endpoint=endpoint, max_cost_usd=1.0)


def test_a_line_too_large_for_any_part_is_refused(tmp_path: Path) -> None:
    source = _write(tmp_path / "in.jsonl", _requests(3))
    with pytest.raises(ValueError, match=r"line 1 is \d+ bytes; a part holds 50"):
        _prepare(source, tmp_path / "parts", limits=BatchLimits(max_bytes=50, max_line_bytes=10_000))
