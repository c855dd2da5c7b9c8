"""OpenAI's input lines carry ``method`` and ``url``: the vendor adds them on upload, to every line
that names neither, whatever the line's layout, across 1 MiB read boundaries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_batch.vendors import vendor_named

CHAT = "/v1/chat/completions"


def _line(i: int) -> str:
    if i % 997 == 7:  # leading blanks
        return "  " + json.dumps({"custom_id": f"s{i}", "body": {"a": 1}})
    if i % 997 == 9:  # names them already: kept byte for byte
        return json.dumps({"custom_id": f"m{i}", "method": "POST", "url": CHAT, "body": {}})
    if i % 997 == 11:  # the words appear, but only inside the body
        return json.dumps({"custom_id": f"u{i}", "body": {"note": '"url" and "method"'}})
    if i % 997 == 13:
        return json.dumps({"custom_id": f"e{i}", "body": {}})
    return json.dumps({"custom_id": f"r{i}", "body": {"x": "y" * (i % 300)}}, separators=(",", ":"))


@pytest.mark.parametrize("trailing_newline", [True, False])
def test_every_line_gets_method_and_url_once(tmp_path: Path, trailing_newline: bool) -> None:
    lines = [_line(i) for i in range(12_000)]  # about 2 MiB: several read blocks
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + ("\n" if trailing_newline else ""))
    wired = vendor_named("openai").wire_input(source, CHAT).read_text().splitlines()
    assert len(wired) == len(lines)
    for given, sent in zip(lines, wired, strict=True):
        before, after = json.loads(given), json.loads(sent)
        assert (after["method"], after["url"]) == ("POST", CHAT)
        assert {k: v for k, v in after.items() if k not in ("method", "url")} == {
            k: v for k, v in before.items() if k not in ("method", "url")
        }
        if "method" in before:
            assert sent == given


def test_together_uploads_the_part_as_it_is(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(_line(1) + "\n")
    assert vendor_named("together").wire_input(source, CHAT) == source
