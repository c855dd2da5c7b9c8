"""Request-line factories shared by the batch-inputs tests."""

from __future__ import annotations

import json
from typing import Any

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"


def chat_request(custom_id: str = "r-1", content: str = "Hello", **body: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "body": {"model": MODEL, "messages": [{"role": "user", "content": content}], **body},
    }


def encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"
