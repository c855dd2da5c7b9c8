"""Together AI's Batch API: the first vendor. Its wire client is :mod:`airflow_provider_batch.client`
and its emulation :mod:`airflow_provider_batch.testing.server`, where they were before vendors had
folders; :mod:`.vendor` binds them to the vendor contract."""
