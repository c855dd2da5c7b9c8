"""Where Together's doctor probe was before vendors had folders: it is now
:mod:`airflow_provider_batch.vendors.together.doctor` (kept importable here for one release)."""

from __future__ import annotations

from airflow_provider_batch.doctor.wire import chat_plan
from airflow_provider_batch.vendors.together.doctor import DEFAULT_MODEL, TOGETHER_EXPECTATIONS, TogetherProbe

__all__ = ["DEFAULT_MODEL", "TOGETHER_EXPECTATIONS", "TogetherProbe", "chat_plan"]
