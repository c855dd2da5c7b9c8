"""Synthetic batch files in the real wire format (reference §6), shared by tests and benchmarks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_batch.results import ExpectedRequest

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"


@dataclass
class SyntheticBatch:
    expected: list[ExpectedRequest]
    output_path: Path
    error_path: Path
    n_output: int
    n_error: int
    n_missing: int


def success_line(custom_id: str, i: int, model: str = MODEL) -> dict:
    return {
        "id": f"br_{i:043d}",
        "custom_id": custom_id,
        "response": {
            "status_code": 200,
            "body": {
                "id": f"chatcmpl-{i}",
                "object": "chat.completion",
                "created": 1767261700,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"answer {i}"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": 10 + i % 7,
                    "completion_tokens": 3 + i % 5,
                    "total_tokens": 13 + i % 7 + i % 5,
                },
            },
        },
    }


def error_line(custom_id: str, i: int) -> dict:
    code: str | int = "timeout" if i % 2 else 500
    return {"custom_id": custom_id, "error": {"message": f"Request failed {i}", "code": code}}


def make_batch(directory: Path, n: int) -> SyntheticBatch:
    """``n`` expected requests: 96 % in the output file, 3 % in the error file, 1 % in neither."""
    expected, n_out, n_err = [], 0, 0
    out_path, err_path = directory / "output.jsonl", directory / "error.jsonl"
    with out_path.open("w", encoding="utf-8") as out, err_path.open("w", encoding="utf-8") as err:
        for i in range(n):
            cid = f"req-{i:06d}"
            expected.append(ExpectedRequest(cid, MODEL, {"row_id": str(i), "category": f"c{i % 3}"}))
            bucket = i % 100
            if bucket < 96:
                out.write(json.dumps(success_line(cid, i)) + "\n")
                n_out += 1
            elif bucket < 99:
                err.write(json.dumps(error_line(cid, i)) + "\n")
                n_err += 1
    return SyntheticBatch(expected, out_path, err_path, n_out, n_err, n - n_out - n_err)
