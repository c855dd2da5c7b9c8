"""Run-time settings of the local Together-compatible server."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["BATCH_STATUSES", "DEFAULT_MODELS", "FAULT_KINDS", "ServerConfig"]

#: Every status a batch of the server goes through (``status_aliases`` renames them on the wire).
BATCH_STATUSES: tuple[str, ...] = (
    "VALIDATING",
    "IN_PROGRESS",
    "COMPLETED",
    "FAILED",
    "EXPIRED",
    "CANCELING",
    "CANCELLED",
)

#: Fault kinds the server can inject.
FAULT_KINDS: tuple[str, ...] = ("429", "500", "502", "503", "reset", "stall", "truncate")

#: Serverless models the simulated responder accepts (a line naming another model fails with
#: ``invalid_model``).
DEFAULT_MODELS: tuple[str, ...] = (
    "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
    "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo",
    "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
    "Qwen/Qwen2.5-72B-Instruct-Turbo",
    "Qwen/Qwen2.5-7B-Instruct-Turbo",
    "Qwen/Qwen3-235B-A22B-Instruct-2507-tput",
    "deepseek-ai/DeepSeek-V3",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "google/gemma-2-27b-it",
    "openai/gpt-oss-20b",
    "openai/gpt-oss-120b",
    "openai/whisper-large-v3",
)


class ServerConfig(BaseModel):
    """Settings of :class:`LocalTogetherServer`; every field but ``data_dir`` can be changed at run time
    from Python, and every field but ``api_key``, ``access_log`` and ``data_dir`` over ``/_control``.

    :param api_key: the bearer token every ``/v1`` and ``/_control`` route requires.
    :param validating_seconds: time a new batch stays ``VALIDATING``.
    :param processing_seconds: time a batch takes to go from 0 to 100 % while ``IN_PROGRESS``.
    :param cancel_seconds: time a batch stays ``CANCELING`` before it is ``CANCELLED``.
    :param completion_window_seconds: a batch not finished this long after creation is ``EXPIRED``.
    :param latency_ms: delay added to every ``/v1`` request (non-blocking).
    :param fault_rate: probability that a ``/v1`` or upload request gets a random fault.
    :param fault_kinds: the kinds random faults are drawn from (see :data:`FAULT_KINDS`).
    :param stall_seconds: how long a ``stall`` fault waits before answering.
    :param retry_after_seconds: ``Retry-After`` sent with an injected 429.
    :param seed: seed of the processing order (with the input's content) and of random faults (same
        seed, same run). Ids are always random, so they never repeat across resets or restarts.
    :param list_null_when_empty: answer ``GET /v1/batches`` with ``null`` when there are no batches.
    :param max_lines: most lines an input file may have.
    :param max_bytes: largest input file, in bytes.
    :param max_line_bytes: largest line; a longer one fails alone with ``error reading input file``.
    :param max_custom_id_len: longest ``custom_id``.
    :param models: the model catalog.
    :param data_dir: where file bytes are kept (a temporary directory when ``None``).
    :param access_log: file to append one line per request to (method, path, status, request id,
        duration); never headers.
    :param status_aliases: batch statuses reported on the wire under another name, e.g.
        ``{"IN_PROGRESS": "RUNNING"}``: how a client meets a status it does not know. The batch
        itself runs as usual; only ``GET``/``POST`` answers of ``/v1/batches`` show the alias.
    :param omit_line_fields: dotted paths left out of every output and error line a batch
        delivers from now on, e.g. ``("custom_id", "response.body.usage.total_tokens")``: how a
        client meets lines that lack a field it relies on.
    :param seed_files: an account history to start with: this many files, as the inputs, outputs
        and errors of ``seed_files // 3`` COMPLETED batches (plus up to two lone inputs), created
        in the past and holding no bytes. Applied when the server starts; ``reset()`` forgets them
        (``Store.seed_history`` adds more at any time).
    """

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    api_key: SecretStr = SecretStr("local-test-key")
    validating_seconds: float = Field(0.2, ge=0)
    processing_seconds: float = Field(1.0, ge=0)
    cancel_seconds: float = Field(0.2, ge=0)
    completion_window_seconds: float = Field(86400.0, gt=0)
    latency_ms: float = Field(0.0, ge=0)
    fault_rate: float = Field(0.0, ge=0, le=1)
    fault_kinds: tuple[str, ...] = ("429", "500", "502", "503")
    stall_seconds: float = Field(5.0, ge=0)
    retry_after_seconds: float = Field(1.0, ge=0)
    seed: int = 0
    list_null_when_empty: bool = True
    max_lines: int = Field(50_000, gt=0)
    max_bytes: int = Field(100 * 1024**2, gt=0)
    max_line_bytes: int = Field(10 * 1024**2, gt=0)
    max_custom_id_len: int = Field(64, gt=0)
    models: tuple[str, ...] = DEFAULT_MODELS
    data_dir: str | None = None
    access_log: str | None = None
    seed_files: int = Field(0, ge=0)
    status_aliases: dict[str, str] = Field(default_factory=dict)
    omit_line_fields: tuple[str, ...] = ()

    @field_validator("status_aliases")
    @classmethod
    def _known_statuses(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(BATCH_STATUSES))
        if unknown:
            raise ValueError(f"unknown batch statuses {unknown}; expected a subset of {BATCH_STATUSES}")
        return value

    @field_validator("fault_kinds", mode="before")
    @classmethod
    def _known_kinds(cls, value: object) -> object:
        kinds = value.split(",") if isinstance(value, str) else value
        unknown = [k for k in kinds if str(k) not in FAULT_KINDS]  # type: ignore[union-attr]
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; expected a subset of {FAULT_KINDS}")
        return tuple(str(k) for k in kinds)  # type: ignore[union-attr]
