"""Measure JSON parsers on a batch output file in the local server's format (the parser choice
recorded in BENCHMARKS.md). Needs ``orjson`` and ``msgspec`` importable.

    python scripts/bench_json_parsers.py [LINES]

Each variant reads every line once and extracts what a result row needs: ``custom_id``, status,
answer text, finish reason, model, usage, and the response body as JSON text.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import orjson

from airflow_provider_batch.testing.server.responder import chat_completion


def make_file(path: Path, n: int) -> None:
    with path.open("wb") as out:
        for i in range(n):
            body = {
                "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
                "max_tokens": 64,
                "messages": [{"role": "user", "content": f"Question number {i}: what is {i} squared?"}],
            }
            line = {
                "id": f"line-{i}",
                "custom_id": f"row-{i}",
                "response": {
                    "status_code": 200,
                    "body": chat_completion(body, created=1767261700, completion_id=f"c-{i}"),
                },
            }
            out.write(json.dumps(line).encode() + b"\n")


def _extract(obj: dict[str, Any]) -> tuple:
    response = obj["response"]
    body = response["body"]
    choice = body["choices"][0]
    usage = body["usage"]
    return (
        obj["custom_id"],
        response["status_code"],
        choice["message"]["content"],
        choice["finish_reason"],
        body["model"],
        usage["prompt_tokens"],
        usage["completion_tokens"],
        usage["total_tokens"],
    )


def stdlib(path: Path) -> int:
    n = 0
    with path.open("rb") as fh:
        for raw in fh:
            obj = json.loads(raw)
            _extract(obj)
            json.dumps(obj["response"]["body"], separators=(",", ":"), ensure_ascii=False)
            n += 1
    return n


def orjson_dicts(path: Path) -> int:
    n = 0
    with path.open("rb") as fh:
        for raw in fh:
            obj = orjson.loads(raw)
            _extract(obj)
            orjson.dumps(obj["response"]["body"])
            n += 1
    return n


def msgspec_dicts(path: Path) -> int:
    decode, encode = msgspec.json.Decoder().decode, msgspec.json.Encoder().encode
    n = 0
    with path.open("rb") as fh:
        for raw in fh:
            obj = decode(raw)
            _extract(obj)
            encode(obj["response"]["body"])
            n += 1
    return n


class Message(msgspec.Struct):
    content: Any = None


class Choice(msgspec.Struct):
    message: Message | None = None
    text: Any = None
    finish_reason: Any = None


class Usage(msgspec.Struct):
    prompt_tokens: Any = 0
    completion_tokens: Any = 0
    total_tokens: Any = None


class Body(msgspec.Struct):
    model: Any = None
    choices: list[Choice] | None = None
    usage: Usage | None = None


class Response(msgspec.Struct):
    status_code: Any = None
    body: msgspec.Raw = msgspec.Raw(b"null")


class Line(msgspec.Struct):
    custom_id: Any = None
    response: Response | None = None
    error: Any = None


def msgspec_structs(path: Path) -> int:
    line_decode, body_decode = msgspec.json.Decoder(Line).decode, msgspec.json.Decoder(Body).decode
    n = 0
    with path.open("rb") as fh:
        for raw in fh:
            line = line_decode(raw)
            response = line.response
            assert response is not None
            body = body_decode(response.body)  # the raw body bytes are kept as they came
            choice = body.choices[0] if body.choices else None
            _row = (
                line.custom_id,
                response.status_code,
                choice and choice.message and choice.message.content,
                choice and choice.finish_reason,
                body.model,
                body.usage,
            )
            n += 1
    return n


def provider(path: Path) -> int:
    """The provider's own reader (msgspec Structs, raw body kept), for reference."""
    from airflow_provider_batch.results.parse import ParsedFile

    return sum(1 for _ in ParsedFile(path, "output"))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "output.jsonl"
        make_file(path, n)
        size = path.stat().st_size
        print(f"{n} lines, {size / n:.0f} B per line")
        for fn in (stdlib, orjson_dicts, msgspec_dicts, msgspec_structs, provider):
            best = min(_timed(fn, path) for _ in range(5))
            print(f"{fn.__name__:16s} {best:.3f} s  {n / best / 1000:.0f}k lines/s")
    for name, decode in (("json", json.loads), ("orjson", orjson.loads), ("msgspec", msgspec.json.decode)):
        try:
            decode(b'{"x": NaN}')
            print(f"{name}: accepts NaN")
        except ValueError:
            print(f"{name}: rejects NaN")


def _timed(fn: Any, path: Path) -> float:
    start = time.process_time()
    fn(path)
    return time.process_time() - start


if __name__ == "__main__":
    main()
