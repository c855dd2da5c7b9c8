"""Together's audio endpoints: transcriptions and translations (``"method": "FILE"`` lines).

The body names the audio by URL (``body.file``); the answer is a transcript, either a text body
(``response_format="text"``) or an object with ``text``. Together bills audio by its duration,
which the file cannot tell, so the budget guard does not estimate these batches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from airflow_provider_batch.endpoints._checks import RuleHit, SchemaTokens
from airflow_provider_batch.endpoints.base import Answer, Endpoint

__all__ = [
    "AUDIO_TRANSCRIPTIONS",
    "AUDIO_TRANSLATIONS",
    "AudioEndpoint",
    "TranscriptionsEndpoint",
    "TranslationsEndpoint",
]

AUDIO_TRANSCRIPTIONS = "/v1/audio/transcriptions"
AUDIO_TRANSLATIONS = "/v1/audio/translations"


class AudioEndpoint(Endpoint):
    """What Together's two audio endpoints share."""

    method: ClassVar[str] = "FILE"
    answer_name: ClassVar[str] = "a choice or a transcript"
    reads_by_shape: ClassVar[bool] = True
    estimable: ClassVar[bool] = False
    reserved_fields: ClassVar[frozenset[str]] = frozenset({"model", "file"})
    row_source: ClassVar[str] = "audio_url"

    def check_method(self, method: Any, out: list[RuleHit]) -> None:
        if method != "FILE":
            out.append(("method_not_file", f'{self.path} lines need "method": "FILE", got {method!r}'))

    def check_body(self, body: dict[str, Any], out: list[RuleHit]) -> None:
        file = body.get("file")
        if type(file) is not str or not file.strip():
            out.append(("missing_file", "'body.file' must be a non-empty string (the audio URL)"))

    def build_body(
        self, model: str, value: str, system_prompt: str | None, extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"model": model, "file": value, **extra}

    def read_answer(self, body: Any) -> Answer | None:
        if isinstance(body, str):  # response_format "text"
            return Answer(body)
        text = body.get("text") if isinstance(body, dict) else None
        return Answer(text) if isinstance(text, str) else None

    def prompt_tokens(self, body: dict[str, Any], schema_tokens: SchemaTokens) -> int:
        return 0  # not estimated (see the module docstring)


class TranscriptionsEndpoint(AudioEndpoint):
    """Speech to text in the spoken language."""

    path: ClassVar[str] = AUDIO_TRANSCRIPTIONS


class TranslationsEndpoint(AudioEndpoint):
    """Speech to English text."""

    path: ClassVar[str] = AUDIO_TRANSLATIONS
