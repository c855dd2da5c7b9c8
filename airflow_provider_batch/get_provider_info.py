"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

__all__ = ["get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    from airflow_provider_batch import __version__

    return {
        "package-name": "airflow-provider-batch",
        "name": "Together AI Batch",
        "description": "Run Together AI Batch API jobs as scheduled, monitored Airflow tasks.",
        "versions": [__version__],
    }
