"""This provider's vendors as batch providers of apache-airflow-providers-common-ai (``@task.llm_batch``).

Installed with ``pip install "airflow-provider-batch[common-ai]"``. Nothing else in this provider
imports this package, so without the extra the provider works as before; importing it then raises
:class:`~airflow.exceptions.AirflowOptionalProviderFeatureException` with the install command.

``model_id="together:<model>"`` reaches :class:`TogetherBatchAdapter` through the entry point
``together`` of the group ``airflow.providers.common.ai.batch_adapters``; :func:`adapter_for`
builds the adapter of any registered vendor (Together, OpenAI, Anthropic).
"""

from __future__ import annotations

try:
    import airflow.providers.common.ai.batch.base  # noqa: F401
except ImportError as exc:  # the extra is not installed
    from airflow.exceptions import AirflowOptionalProviderFeatureException

    raise AirflowOptionalProviderFeatureException(
        "The batch adapters for @task.llm_batch needs apache-airflow-providers-common-ai>=1.0.0: "
        'pip install "airflow-provider-batch[common-ai]"'
    ) from exc

from airflow_provider_batch.common_ai.adapter import TogetherBatchAdapter, VendorBatchAdapter, adapter_for

__all__ = ["TogetherBatchAdapter", "VendorBatchAdapter", "adapter_for"]
