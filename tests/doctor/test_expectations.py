"""The vendor-neutral checks, on Together's expectations, as pure functions."""

from __future__ import annotations

import json

from airflow_provider_batch.doctor import Redactor, Severity
from airflow_provider_batch.doctor.expectations import check_echo, check_lines, check_statuses
from airflow_provider_batch.doctor.together import TOGETHER_EXPECTATIONS as TOGETHER


def _line(usage: dict[str, int] | None) -> bytes:
    body = {"model": "m", "choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
    if usage is not None:
        body["usage"] = usage
    return json.dumps(
        {"id": "br_x", "custom_id": "a", "response": {"status_code": 200, "body": body}}
    ).encode()


def test_statuses_out_of_order_and_unknown_are_warnings() -> None:
    found = check_statuses(
        TOGETHER.statuses, ["VALIDATING", "IN_PROGRESS", "VALIDATING", "QUEUED", "COMPLETED"]
    )
    assert [f.severity for f in found] == [Severity.WARN, Severity.WARN]
    assert "'VALIDATING' came after 'IN_PROGRESS'" in found[0].message
    assert "'QUEUED' is not one the provider knows" in found[1].message
    assert check_statuses(TOGETHER.statuses, ["VALIDATING", "VALIDATING", "IN_PROGRESS", "COMPLETED"]) == []
    assert check_statuses(TOGETHER.statuses, ["IN_PROGRESS", "CANCELING", "CANCELLED"]) == []


def test_usage_total_inconsistent_warns_and_missing_prompt_fails() -> None:
    check = check_lines(
        TOGETHER, "output", [_line({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 9})]
    )
    assert [f.severity for f in check.usage_findings] == [Severity.WARN]
    check = check_lines(TOGETHER, "output", [_line({"completion_tokens": 2, "total_tokens": 2})])
    assert [f.severity for f in check.usage_findings] == [Severity.FAIL]
    assert check.answered == 1 and check.custom_ids == ["a"]


def test_answer_the_parser_cannot_read_fails() -> None:
    raw = json.dumps({"custom_id": "a", "response": {"status_code": 200, "body": {"data": []}}}).encode()
    check = check_lines(TOGETHER, "output", [raw])
    assert any(f.severity is Severity.FAIL and "would load it as failed" in f.message for f in check.findings)


def test_echo_flags_missing_and_foreign_ids() -> None:
    found = check_echo(["a", "b"], ["a", "c"])
    assert {f.severity for f in found} == {Severity.FAIL} and len(found) == 2


def test_redactor_hides_the_key_in_every_form() -> None:
    redact = Redactor(["sk-abc-123\n"])
    text = "key sk-abc-123\n, repr b'Bearer sk-abc-123\\n', header Authorization: Bearer other-token"
    assert redact(text) == "key ***, repr b'Bearer ***', header Authorization: Bearer ***"
