"""Requests for OpenAI's Responses API and embeddings: refused before upload by line, field and
rule; estimated by the budget guard from their own fields; built from rows with their own body."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batch.endpoints import EMBEDDINGS, RESPONSES, endpoint_for
from airflow_provider_batch.inputs.budget import UnboundedCostError, estimate_batch_cost, guard_budget
from airflow_provider_batch.inputs.build import build_batch_file
from airflow_provider_batch.inputs.validate import InputValidationError, ensure_valid
from airflow_provider_batch.pricing import PriceTable
from airflow_provider_batch.vendors.openai.vendor import OpenAIVendor

OPENAI = OpenAIVendor.endpoints
PRICES = PriceTable(batch_discount=0.5, models={"m": {"input_per_1m": 1.0, "output_per_1m": 4.0}})


def _line(custom_id: str, **body: Any) -> dict[str, Any]:
    return {"custom_id": custom_id, "body": {"model": "m", **body}}


def _problems(path: Path, endpoint: str) -> list[tuple[int, str]]:
    with pytest.raises(InputValidationError) as err:
        ensure_valid(path, endpoint=endpoint, endpoints=OPENAI)
    return [(p.line, p.rule) for p in err.value.problems]


def test_bad_embeddings_lines_are_refused_by_line_and_rule(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl(
        [
            _line("ok", input="a text"),
            _line("none"),
            _line("empty", input=""),
            _line("number", input=3),
            _line("mixed", input=["a", 4]),
            _line("base64", input="a", encoding_format="base64"),
            _line("dims", input="a", dimensions=0),
            _line("tokens", input=[1, 2, 3]),
            {**_line("post", input="a"), "method": "POST", "url": EMBEDDINGS},
            {**_line("chat-url", input="a"), "url": "/v1/chat/completions"},
        ]
    )
    assert _problems(path, EMBEDDINGS) == [
        (2, "input_missing"),
        (3, "input_empty"),
        (4, "input_bad_type"),
        (5, "input_bad_type"),
        (6, "encoding_format_unsupported"),
        (7, "dimensions_invalid"),
        (10, "url_mismatch"),
    ]


def test_bad_responses_lines_are_refused_by_line_and_rule(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl(
        [
            _line("ok", input="hi", instructions="be brief", max_output_tokens=10),
            _line("items", input=[{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]),
            _line("none"),
            _line("blank", input="  "),
            _line("role", input=[{"role": "robot", "content": "x"}]),
            _line("max", input="hi", max_output_tokens=0),
            _line("chat", messages=[{"role": "user", "content": "hi"}]),
        ]
    )
    assert _problems(path, RESPONSES) == [
        (3, "input_missing"),
        (4, "input_empty"),
        (5, "input_bad_role"),
        (6, "max_tokens_invalid"),
        (7, "input_missing"),
    ]


def test_together_still_refuses_these_endpoints(write_jsonl: Callable[..., Path]) -> None:
    with pytest.raises(ValueError, match="unsupported endpoint '/v1/embeddings'"):
        ensure_valid(write_jsonl([_line("a", input="x")]), endpoint=EMBEDDINGS)


def test_embeddings_cost_is_bounded_by_their_input(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl(
        [_line("a", input="x" * 40), _line("b", input=["y" * 8, "z" * 4]), _line("c", input=[5, 6])]
    )
    est = guard_budget(path, endpoint=EMBEDDINGS, prices=PRICES, max_cost_usd=1.0)
    assert est is not None
    assert (est.prompt_tokens, est.max_completion_tokens, est.unbounded_requests) == (10 + 3 + 2, 0, 0)
    assert est.batch_usd == pytest.approx(15 * 1.0 / 1e6 * 0.5)


def test_responses_cost_counts_input_instructions_and_max_output_tokens(
    write_jsonl: Callable[..., Path],
) -> None:
    path = write_jsonl([_line("a", input="x" * 40, instructions="y" * 8, max_output_tokens=100)])
    est = estimate_batch_cost(path, PRICES, endpoint=RESPONSES)
    assert (est.prompt_tokens, est.max_completion_tokens) == ((4 + 10) + (4 + 2), 100)
    unbounded = write_jsonl([_line("open", input="hi")])
    with pytest.raises(UnboundedCostError, match="line 1") as err:
        guard_budget(unbounded, endpoint=RESPONSES, prices=PRICES, max_cost_usd=1.0)
    assert "set max_output_tokens in every request body" in str(err.value)
    fixed = write_jsonl([_line("open", input="hi", max_output_tokens=16)])  # the remedy works
    assert guard_budget(fixed, endpoint=RESPONSES, prices=PRICES, max_cost_usd=1.0) is not None


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        (EMBEDDINGS, {"model": "m", "input": "q1", "dimensions": 8}),
        (RESPONSES, {"model": "m", "input": "q1", "instructions": "sys", "dimensions": 8}),
    ],
)
def test_rows_build_the_endpoints_own_body(tmp_path: Path, endpoint: str, body: dict[str, Any]) -> None:
    out = tmp_path / "req.jsonl"
    built = build_batch_file(
        [{"id": 1, "q": "q1"}], out, key_column="id", model="m", user_template="{q}", system_prompt="sys",
        body={"dimensions": 8}, endpoint=endpoint, endpoints=OPENAI,
    )  # fmt: skip
    assert built.count == 1
    import json

    (line,) = [json.loads(raw) for raw in out.read_bytes().splitlines()]
    assert line == {"custom_id": "1", "body": body}
    ensure_valid(out, endpoint=endpoint, endpoints=OPENAI)
    with pytest.raises(ValueError, match="must not set"):
        build_batch_file(
            [{"id": 1, "q": "q1"}], tmp_path / "x.jsonl", key_column="id", model="m", user_template="{q}",
            body={"input": "x"}, endpoint=endpoint, endpoints=OPENAI,
        )  # fmt: skip
    assert endpoint_for(endpoint).path == endpoint
