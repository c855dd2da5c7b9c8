"""Moved to :mod:`airflow_provider_batch.vendors.together.client._sync`;
this old path is the same module."""

import sys

from airflow_provider_batch.vendors.together.client import _sync as _moved

sys.modules[__name__] = _moved
