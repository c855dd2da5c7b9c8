"""Where Anthropic's doctor probe was before vendors had folders: it is now
:mod:`airflow_provider_batch.vendors.anthropic.doctor` (kept importable here for one release)."""

from __future__ import annotations

from airflow_provider_batch.vendors.anthropic.doctor import (
    ANTHROPIC_EXPECTATIONS,
    DEFAULT_MODEL,
    AnthropicProbe,
)

__all__ = ["ANTHROPIC_EXPECTATIONS", "DEFAULT_MODEL", "AnthropicProbe"]
