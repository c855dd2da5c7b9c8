"""Validator speed and memory on a full-size batch input (100 MB, 50,000 requests).

Three ways of reading the same file are timed in the same run, each in its own subprocess so
peak-RSS growth is measured cleanly (``VmHWM`` after the work minus ``VmRSS`` before it):

* ``json_loads``: bare ``json.loads`` per line (the floor: parse only, no checks);
* ``validate``: :func:`validate_batch_file` (every rule);
* ``pydantic``: a pydantic model per line (``model_validate_json``), the obvious alternative.

Targets: validate < 2x json_loads (median of interleaved runs), RSS growth < 200 MB. Results go
to ``results/validate.json``.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchmark

REQUESTS = 50_000
LINE_BYTES = 2_000
REPEATS = 3
RESULTS = Path(__file__).parent / "results" / "validate.json"
REPO_ROOT = Path(__file__).resolve().parents[2]

_WORDS = [
    "the",
    "review",
    "said",
    "shipping",
    "was",
    "slow",
    "but",
    "the",
    "product",
    "works",
    "well",
    "and",
    "the",
    "colour",
    "is",
    "nice",
    "café",
    "naïve",
    "résumé",
    "日本語",
    "emoji",
    "🙂",
    "quote",
    '"',
    "backslash",
    "\\",
    "tab\t",
    "newline\n",
]

_CHILD = r"""
import json, sys, time


def _status_kb(field):
    # VmHWM is this address space's own peak; ru_maxrss would carry the parent's peak over exec.
    with open("/proc/self/status") as status:
        for row in status:
            if row.startswith(field + ":"):
                return int(row.split()[1])
    raise RuntimeError(field)


mode, path = sys.argv[1], sys.argv[2]
if mode == "validate":
    from airflow_provider_batch.inputs.validate import validate_batch_file
elif mode == "pydantic":
    from pydantic import BaseModel, ConfigDict, Field

    class Message(BaseModel):
        role: str
        content: str

    class Body(BaseModel):
        model_config = ConfigDict(extra="allow")
        model: str
        messages: list[Message] = Field(min_length=1)
        max_tokens: int | None = Field(default=None, gt=0)

    class Line(BaseModel):
        custom_id: str = Field(min_length=1, max_length=64)
        body: Body
# Growth = peak RSS during the work minus the RSS resident just before it (an upper bound: an
# import-time peak cannot hide allocations made by the work).
before = _status_kb("VmRSS")
start = time.perf_counter()
if mode == "json_loads":
    with open(path, "rb") as fh:
        for line in fh:
            json.loads(line)
    ok = True
elif mode == "validate":
    ok = validate_batch_file(path).ok
else:
    seen = set()
    with open(path, "rb") as fh:
        for line in fh:
            seen.add(Line.model_validate_json(line).custom_id)
    ok = len(seen) == 50_000
elapsed = time.perf_counter() - start
after = _status_kb("VmHWM")
print(json.dumps({"seconds": elapsed, "rss_growth_mb": (after - before) / 1024, "peak_rss_mb": after / 1024,
                  "ok": ok}))
"""


def _prompts(rng: random.Random, count: int) -> list[str]:
    prompts = []
    for _ in range(count):
        words: list[str] = []
        length = 0
        while length < LINE_BYTES - 300:
            word = rng.choice(_WORDS)
            words.append(word)
            length += len(word.encode()) + 1
        prompts.append(" ".join(words))
    return prompts


def _write_input(path: Path) -> int:
    rng = random.Random(20261121)
    pool = _prompts(rng, 500)  # varied text without paying for 50,000 random prompts
    model = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    with open(path, "wb") as fh:
        for i in range(REQUESTS):
            line = {
                "custom_id": f"review-{i:08d}",
                "body": {
                    "model": model,
                    "max_tokens": 256,
                    "messages": [
                        {"role": "system", "content": "Classify the sentiment of the review."},
                        {"role": "user", "content": pool[rng.randrange(len(pool))]},
                    ],
                },
            }
            fh.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
    return path.stat().st_size


def _run(mode: str, path: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=600,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"], f"{mode} did not accept the valid benchmark file"
    return result


def test_validate_speed_and_memory(tmp_path: Path) -> None:
    path = tmp_path / "bench.jsonl"
    size = _write_input(path)
    runs: dict[str, list[dict[str, float]]] = {"json_loads": [], "validate": [], "pydantic": []}
    for _ in range(REPEATS):  # interleaved, so background load hits every mode alike
        for mode in runs:
            runs[mode].append(_run(mode, path))
    summary = {
        mode: {
            "median_seconds": round(statistics.median(r["seconds"] for r in results), 3),
            "min_seconds": round(min(r["seconds"] for r in results), 3),
            "max_rss_growth_mb": round(max(r["rss_growth_mb"] for r in results), 1),
            "max_peak_rss_mb": round(max(r["peak_rss_mb"] for r in results), 1),
        }
        for mode, results in runs.items()
    }
    base = summary["json_loads"]["median_seconds"]
    for entry in summary.values():
        entry["ratio_to_json_loads"] = round(entry["median_seconds"] / base, 2)
    report = {
        "file_bytes": size,
        "requests": REQUESTS,
        "repeats": REPEATS,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "results": summary,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nvalidate benchmark: {size / 1e6:.1f} MB, {REQUESTS} requests, median of {REPEATS}")
    print(f"{'mode':<12}{'median s':>10}{'min s':>10}{'x json':>8}{'RSS +MB':>10}{'peak MB':>10}")
    for mode, entry in summary.items():
        print(
            f"{mode:<12}{entry['median_seconds']:>10.3f}{entry['min_seconds']:>10.3f}"
            f"{entry['ratio_to_json_loads']:>8.2f}{entry['max_rss_growth_mb']:>10.1f}"
            f"{entry['max_peak_rss_mb']:>10.1f}"
        )
    assert summary["validate"]["ratio_to_json_loads"] < 2.0
    assert summary["validate"]["max_rss_growth_mb"] < 200
