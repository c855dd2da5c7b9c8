"""Where OpenAI's doctor probe was before vendors had folders: it is now
:mod:`airflow_provider_batch.vendors.openai.doctor` (kept importable here for one release)."""

from __future__ import annotations

from airflow_provider_batch.vendors.openai.doctor import DEFAULT_MODEL, OPENAI_EXPECTATIONS, OpenAIProbe

__all__ = ["DEFAULT_MODEL", "OPENAI_EXPECTATIONS", "OpenAIProbe"]
