"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

The connection form is declared here (``ui-field-behaviour`` + ``conn-fields``), so the UI can
render it without importing the hook.
"""

from __future__ import annotations

from typing import Any

__all__ = ["get_provider_info"]

_INTEGRATION = "Together AI"

_CONN_FIELDS: dict[str, Any] = {
    "console_url_template": {
        "label": "Console URL template",
        "description": "Browser URL of a batch with a {batch_id} placeholder. "
        "Default: the base URL without /v1, plus /batches/{batch_id}.",
        "schema": {"type": ["string", "null"]},
    },
    "poll_interval": {
        "label": "Poll interval (seconds)",
        "description": "Default seconds between status polls (Together recommends 30-60).",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
    "price_table": {
        "label": "Price table (JSON)",
        "description": 'Overrides of USD prices per 1M tokens, e.g. {"batch_discount": 0.5, '
        '"models": {"org/model": {"input_per_1m": 0.88, "output_per_1m": 0.88}}}.',
        "schema": {"type": ["object", "string", "null"]},
    },
    "verify_tls": {
        "label": "Verify TLS certificates",
        "description": "Set to false only for a local or test endpoint; a warning is logged.",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "timeout": {
        "label": "HTTP timeout (seconds)",
        "description": "Read/write timeout of one HTTP exchange.",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    },
    "max_retries": {
        "label": "Max HTTP retries",
        "description": "Retries of a retryable HTTP failure (transport, 408, 409, 429, 5xx).",
        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 20},
    },
}


def _modules(*modules: str) -> list[dict[str, Any]]:
    return [{"integration-name": _INTEGRATION, "python-modules": list(modules)}]


def get_provider_info() -> dict[str, Any]:
    import logging

    from airflow_provider_batch import __version__
    from airflow_provider_batch._compat import warn_once_if_fernet_conflict

    # Every Airflow process reads this when it loads providers: the one place a user of Airflow
    # 3.1 with cryptography 51 hears why every connection "isn't defined".
    warn_once_if_fernet_conflict(logging.getLogger("airflow_provider_batch"))

    return {
        "package-name": "airflow-provider-batch",
        "name": "LLM Batch",
        "description": "Run LLM batch API jobs (Together AI, OpenAI and compatible servers) as "
        "scheduled, monitored Airflow tasks.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://docs.together.ai/docs/batch-inference",
                "tags": ["ai"],
            }
        ],
        "hooks": _modules("airflow_provider_batch.hooks.together"),
        "operators": _modules(
            "airflow_provider_batch.operators.build",
            "airflow_provider_batch.operators.batch",
            "airflow_provider_batch.operators.results",
        ),
        "sensors": _modules("airflow_provider_batch.sensors.batch"),
        "triggers": _modules("airflow_provider_batch.triggers.batch"),
        "extra-links": [
            "airflow_provider_batch.links.TogetherBatchLink",
            "airflow_provider_batch.links.TogetherBatchesPageLink",
            "airflow_provider_batch.links.BatchConsoleLink",
            "airflow_provider_batch.links.LLMBatchesPageLink",
        ],
        # The "LLM batches" UI page is an Airflow plugin registered through the
        # ``airflow.plugins`` entry point (pyproject.toml); listing it here too would load it twice.
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_batch.hooks.together.TogetherBatchHook",
                "hook-name": "Together AI",
                "connection-type": "together",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login", "extra"],
                    "relabeling": {"password": "API Key", "host": "Base URL"},
                    "placeholders": {"host": "https://api.together.ai/v1"},
                },
                "conn-fields": _CONN_FIELDS,
            }
        ],
    }
